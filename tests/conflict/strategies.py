"""Hypothesis strategies for the merge rules: small id pools so records collide often.

Every record is minted once (by its id) and then only copied, as real nodes do;
stamps are unique per (node, write) because an HLC never repeats at one node.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st

from conflict.card_status import CardEvent
from conflict.cards import CardIssue
from conflict.contacts import CHANNELS, Contact
from conflict.directory import Directory
from conflict.duplicates import Registration, Sighting
from conflict.ledger import ENTRY_SIGNS, LedgerEntry
from conflict.voucher_use import Reinstatement
from conflict.vouchers import Redemption

# Enough examples to find a one-in-a-hundred case, few enough to keep the package fast.
PROPERTY = settings(max_examples=150, deadline=None)
FEW = settings(max_examples=60, deadline=None)

NODES = ("A", "B", "C", "D", "E")
CARDS = ("card-1", "card-2", "card-3")
ITEMS = ("svc-a", "svc-b", "")  # uses of a service item, or of none (a legacy uses entry)
PHONES = ("138-0001", "138-0002", "138-0003")

# Cards of a type: one a registration may also claim, and two only issued.
TYPED_CARDS = ("card-1", "card-4", "card-5")

nodes = st.sampled_from(NODES)
hlcs = st.integers(min_value=0, max_value=50)


@st.composite
def ledger_entries(draw: st.DrawFn, entry_id: str | None = None) -> LedgerEntry:
    ledger = draw(st.sampled_from(sorted(ENTRY_SIGNS)))
    kind = draw(st.sampled_from(sorted(ENTRY_SIGNS[ledger])))
    size = draw(st.integers(min_value=1, max_value=20_000))
    sign = ENTRY_SIGNS[ledger][kind] or draw(st.sampled_from((1, -1)))
    return LedgerEntry(
        entry_id=entry_id if entry_id is not None else draw(st.uuids()).hex,
        card_id=draw(st.sampled_from(CARDS)),
        ledger=ledger,
        kind=kind,
        amount=sign * size,
        hlc=draw(hlcs),
        node=draw(nodes),
        item=draw(st.sampled_from(ITEMS)) if ledger == "uses" else "",
    )


def unique_by_id(records: list[LedgerEntry]) -> dict[str, LedgerEntry]:
    return {r.entry_id: r for r in records}


# A fixed pool of entries: ledgers drawn from it overlap, as replicas' copies do.
_KINDS = [
    (ledger, kind, sign) for ledger, signs in sorted(ENTRY_SIGNS.items()) for kind, sign in signs.items()
]
ENTRY_POOL = [
    LedgerEntry(f"e{i}", CARDS[i % 3], ledger, kind, (s or (-1) ** i) * (1000 + 700 * i), i % 7, NODES[i % 5])
    for i, (ledger, kind, s) in enumerate(_KINDS)
]
ledgers = st.one_of(
    st.lists(st.sampled_from(ENTRY_POOL), max_size=12), st.lists(ledger_entries(), max_size=12)
).map(unique_by_id)


@st.composite
def card_event_sets(draw: st.DrawFn, max_events: int = 10) -> dict[str, CardEvent]:
    """Events of one card; an unlock or resume sees a random subset of the earlier ones."""
    events: dict[str, CardEvent] = {}
    for i in range(draw(st.integers(min_value=0, max_value=max_events))):
        kind = draw(st.sampled_from(("report_lost", "unlock", "suspend", "resume", "return")))
        seen: frozenset[str] = frozenset()
        if kind in ("unlock", "resume"):
            target = "report_lost" if kind == "unlock" else "suspend"
            earlier = sorted(e.event_id for e in events.values() if e.kind == target)
            seen = (
                frozenset(draw(st.lists(st.sampled_from(earlier), unique=True))) if earlier else frozenset()
            )
        event = CardEvent(f"ev-{i}", "card-1", kind, draw(hlcs), draw(nodes), seen)
        events[event.event_id] = event
    return events


@st.composite
def registrations(draw: st.DrawFn, member_id: str) -> Registration:
    return Registration(
        member_id=member_id,
        phone=draw(st.none() | st.sampled_from(PHONES)),
        card_numbers=frozenset(draw(st.lists(st.sampled_from(CARDS), max_size=2))),
        hlc=draw(hlcs),
        node=draw(nodes),
    )


@st.composite
def registration_sets(draw: st.DrawFn) -> dict[str, Registration]:
    count = draw(st.integers(min_value=0, max_value=8))
    return {f"m{i}": draw(registrations(f"m{i}")) for i in range(count)}


@st.composite
def separation_sets(draw: st.DrawFn, member_ids: list[str]) -> frozenset[tuple[str, str]]:
    if len(member_ids) < 2:
        return frozenset()
    pairs = draw(
        st.lists(st.lists(st.sampled_from(member_ids), min_size=2, max_size=2, unique=True), max_size=3)
    )
    return frozenset((min(p), max(p)) for p in pairs)


@st.composite
def sighting_sets(draw: st.DrawFn, member_ids: list[str]) -> dict[str, Sighting]:
    """HQ's sightings of some of the members (and maybe of one held elsewhere), in a
    random order: a replica may not have heard of them all yet."""
    candidates = [*member_ids, "m-elsewhere"]
    order = draw(st.lists(st.sampled_from(candidates), unique=True))
    return {m: Sighting(m, seq) for seq, m in enumerate(order, start=1)}


@st.composite
def redemption_sets(draw: st.DrawFn) -> dict[str, Redemption]:
    out: dict[str, Redemption] = {}
    for i in range(draw(st.integers(min_value=0, max_value=8))):
        r = Redemption(
            f"red-{i}",
            draw(st.sampled_from(("v1", "v2", "v3"))),
            draw(st.integers(min_value=0, max_value=5000)),
            draw(hlcs),
            draw(nodes),
        )
        out[r.redemption_id] = r
    return out


@st.composite
def operations(draw: st.DrawFn, replicas: int) -> list[tuple[int, Directory]]:
    """Writes made at random replicas: (replica index, a one-record Directory)."""
    ops: list[tuple[int, Directory]] = []
    registered: list[str] = []
    sighted: list[str] = []
    lost_reports: list[str] = []
    suspensions: list[str] = []
    issued: list[str] = []
    redeemed: list[tuple[str, str]] = []  # (redemption id, voucher)
    for i in range(draw(st.integers(min_value=0, max_value=14))):
        at = draw(st.integers(min_value=0, max_value=replicas - 1))
        node = NODES[at]
        clock = i + 1
        what = draw(
            st.sampled_from(
                (
                    "profile",
                    "entry",
                    "entry",
                    "card",
                    "register",
                    "sight",
                    "separate",
                    "voucher",
                    "reinstate",
                    "issue",
                    "contact",
                )
            )
        )
        op_id = f"op-{i}"
        if what == "profile":
            member = draw(st.sampled_from(("m0", "m1", "m2")))
            field = draw(st.sampled_from(("name", "phone", "birthday")))
            value = draw(st.text(max_size=3))
            ops.append((at, Directory().with_profile(member, {field: (value, clock, node)})))
        elif what == "entry":
            entry = draw(ledger_entries(entry_id=op_id))
            entry = LedgerEntry(
                entry.entry_id, entry.card_id, entry.ledger, entry.kind, entry.amount, clock, node, entry.item
            )
            ops.append((at, Directory().with_entry(entry)))
        elif what == "card":
            kind = draw(st.sampled_from(("report_lost", "unlock", "suspend", "resume", "return")))
            pool = lost_reports if kind == "unlock" else suspensions if kind == "resume" else []
            seen = frozenset(draw(st.lists(st.sampled_from(pool), unique=True))) if pool else frozenset()
            event = CardEvent(op_id, draw(st.sampled_from(CARDS)), kind, clock, node, seen)
            if kind == "report_lost":
                lost_reports.append(op_id)
            if kind == "suspend":
                suspensions.append(op_id)
            ops.append((at, Directory().with_card_event(event)))
        elif what == "register":
            member = f"m{len(registered)}"
            registered.append(member)
            reg = draw(registrations(member))
            reg = Registration(reg.member_id, reg.phone, reg.card_numbers, clock, node)
            ops.append((at, Directory().with_registration(reg)))
        elif what == "sight" and len(sighted) < len(registered):
            # Only HQ (replica 0) sights, each registration once, in its own order.
            member = draw(st.sampled_from([m for m in registered if m not in sighted]))
            sighted.append(member)
            ops.append((0, Directory().with_sighting(Sighting(member, len(sighted)))))
        elif what == "separate" and len(registered) >= 2:
            a, b = draw(st.lists(st.sampled_from(registered), min_size=2, max_size=2, unique=True))
            ops.append((at, Directory().with_separation(a, b)))
        elif what == "issue" and len(issued) < len(TYPED_CARDS):
            # Each card number is handed out once (a second issue of it is a conflict).
            card_id = draw(st.sampled_from([c for c in TYPED_CARDS if c not in issued]))
            issued.append(card_id)
            card = CardIssue(
                card_id,
                draw(st.sampled_from(("m0", "m1", "m2"))),
                "GOLD",
                draw(st.sampled_from(("", "gold"))),
                draw(st.integers(min_value=1, max_value=100)),
                "2026-01-01",
                draw(st.sampled_from(("", "2026-01-01", "2026-12-31"))),
                frozenset(draw(st.lists(st.sampled_from(ITEMS[:2]), unique=True))),
                clock,
                node,
            )
            ops.append((at, Directory().with_card(card)))
        elif what == "contact":
            contact = Contact(
                op_id,
                draw(st.sampled_from(("m0", "m1", "m2"))),
                f"op-{node}",
                draw(st.integers(min_value=0, max_value=5)) * 60_000,  # minutes apart, or the same one
                draw(st.sampled_from(CHANNELS)),
                draw(st.text(min_size=1, max_size=3)),
                clock,
                node,
            )
            ops.append((at, Directory().with_contact(contact)))
        elif what == "voucher":
            voucher = draw(st.sampled_from(("v1", "v2")))
            amount = draw(st.integers(min_value=0, max_value=5000))
            ops.append((at, Directory().with_redemption(Redemption(op_id, voucher, amount, clock, node))))
            redeemed.append((op_id, voucher))
        elif what == "reinstate" and redeemed:
            # A return gives a use back (conflict.voucher_use); a second return of the
            # same use is another record, as two returns at two branches would be.
            redemption_id, voucher = draw(st.sampled_from(redeemed))
            reinstatement = Reinstatement(op_id, redemption_id, voucher, clock, node)
            ops.append((at, Directory().with_reinstatement(reinstatement)))
    return ops
