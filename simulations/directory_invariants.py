"""What must hold of the shared member directory after a run, judged from outside.

The checkers read each branch's SQLite file and HQ's store, decode the converged
directory with conflict/ (the pure merge rules) and compare it with what the
tills were told (the engine's Ledger) and with HQ's conflict queue.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from conflict.directory import Directory, decode
from conflict.wire import ENTRY_KINDS
from hq.conflicts import HQ_NODE
from protocol.contract import CARD_CHANGE, CARD_ISSUE
from protocol.entry import decode_entry
from shared_tables import directory_store
from simulations.model import Violation
from simulations.shop import issue_entries

if TYPE_CHECKING:
    from simulations.engine import Simulation

Checker = Callable[["Simulation"], Awaitable[list[Violation]]]

# A conflict HQ keeps for what the directory implies: waiting for an operator, or decided.
SURFACED = ("open", "resolved")
# Violations of one invariant listed one by one before the rest are counted.
MAX_EXAMPLES = 3


@contextlib.contextmanager
def _branch_db(sim: Simulation, code: str) -> Iterator[sqlite3.Connection]:
    path: Path = sim.nodes[code].root / "node.sqlite"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        yield conn


async def _hq_directory(sim: Simulation) -> Directory:
    return decode(await sim.hq.hq.store.directory_bytes())


def _examples(invariant: str, problems: list[str]) -> list[Violation]:
    found = [Violation(invariant, problem) for problem in problems[:MAX_EXAMPLES]]
    if len(problems) > MAX_EXAMPLES:
        found.append(Violation(invariant, f"... and {len(problems) - MAX_EXAMPLES} more like these"))
    return found


def _differences(held: Directory, reference: Directory) -> str:
    """Which parts of two directories differ, with their sizes, for a person to start from."""
    parts = []
    names = ("registrations", "sightings", "profiles", "ledger", "card_events", "redemptions", "separations")
    for name in names:
        mine, theirs = getattr(held, name), getattr(reference, name)
        if mine != theirs:
            parts.append(f"{name} ({len(mine)} here, {len(theirs)} at HQ)")
    return ", ".join(parts) or "the encodings only"


async def directory_converged(sim: Simulation) -> list[Violation]:
    """After the heal every branch holds HQ's directory, byte for byte."""
    hq_bytes = await sim.hq.hq.store.directory_bytes()
    found = []
    for code in sorted(sim.nodes):
        with _branch_db(sim, code) as conn:
            held = directory_store.load_directory(conn)
        if held.encode() != hq_bytes:
            found.append(
                Violation(
                    "directory converges",
                    f"{code}'s directory differs from HQ's in {_differences(held, decode(hq_bytes))}",
                )
            )
    return found


async def _entity_counts(sim: Simulation) -> Counter[tuple[str, str, str]]:
    """(kind, op, entity id) -> how many entries of HQ's copies of the branches' logs carry it."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for code in sorted(sim.nodes):
        for raw in await sim.hq.hq.store.log_entries(code, 1, 10**9):
            entry = decode_entry(raw)
            counts[(entry.kind, entry.op, entry.entity_id)] += 1
    return counts


async def directory_writes_exactly_once(sim: Simulation) -> list[Violation]:
    """Every top-up, spend, points award, card event, voucher use and registration a till
    was told about is in the directory as told, and in HQ's logs once; nothing else is,
    but for the records HQ writes when an operator resolves a conflict."""
    directory = await _hq_directory(sim)
    counts = await _entity_counts(sim)
    ledger = sim.ledger
    problems = []
    ledger_kind = ENTRY_KINDS["ledger"]
    # A card sold from a type books its stored value and uses in the sale's one entry.
    carried_by = {
        entry_id: (*CARD_ISSUE.key, sale_id)
        for sale_id, sold in ledger.card_sales.items()
        for entry_id in issue_entries(sale_id, sold)
    }
    # An upgrade grants the uses its new type bundles beyond the old one's in its change.
    carried_by |= {
        entry_id: (*CARD_CHANGE.key, change) for entry_id, change in ledger.carried_by_change.items()
    }
    for entry_id, told in sorted(ledger.entries.items()):
        held = directory.ledger.get(entry_id)
        logged = counts[carried_by.get(entry_id, (*ledger_kind, entry_id))]
        if held is None:
            problems.append(f"{told.ledger} entry {entry_id} ({told.amount}, at {told.branch}) is lost")
        elif (held.ledger, held.amount, held.node, held.item) != (
            told.ledger,
            told.amount,
            told.branch,
            told.item,
        ) or (told.card_id is not None and held.card_id != told.card_id):
            problems.append(f"entry {entry_id} was told {told}, the directory holds {held}")
        elif logged != 1:
            problems.append(f"entry {entry_id} is in HQ's logs {logged} times")
    for entry_id, held in sorted(directory.ledger.items()):
        if entry_id not in ledger.entries and held.node != HQ_NODE:
            problems.append(f"entry {entry_id} ({held.ledger} {held.amount} at {held.node}) was never told")
    event_kind = ENTRY_KINDS["card_event"]
    for event_id, (branch, card, action) in sorted(ledger.card_events.items()):
        event = directory.card_events.get(event_id)
        if event is None or (event.node, event.card_id, event.kind) != (branch, card, action):
            problems.append(f"{action} of card {card} at {branch} ({event_id}) is lost or changed")
        elif counts[(*event_kind, event_id)] != 1:
            problems.append(f"card event {event_id} is in HQ's logs {counts[(*event_kind, event_id)]} times")
    redeem_kind = ENTRY_KINDS["redemption"]
    for redemption_id, (branch, voucher, amount_fen) in sorted(ledger.redemptions.items()):
        redemption = directory.redemptions.get(redemption_id)
        if redemption is None or (redemption.node, redemption.voucher_id, redemption.amount_fen) != (
            branch,
            voucher,
            amount_fen,
        ):
            problems.append(f"use of voucher {voucher} at {branch} ({redemption_id}) is lost or changed")
        elif counts[(*redeem_kind, redemption_id)] != 1:
            problems.append(
                f"redemption {redemption_id} is in HQ's logs {counts[(*redeem_kind, redemption_id)]} times"
            )
    for member in ledger.members:
        registration = directory.registrations.get(member.member_id)
        if registration is None or (registration.phone, registration.node) != (member.phone, member.branch):
            problems.append(f"registration of {member.member_id} at {member.branch} is lost or changed")
        elif registration.card_numbers != frozenset(member.cards):
            problems.append(f"{member.member_id} holds cards {sorted(registration.card_numbers)}")
    # HQ orders every registration it holds once: the order duplicates survive in.
    unsighted = sorted(set(directory.registrations) - set(directory.sightings))
    if unsighted:
        problems.append(f"HQ holds {len(unsighted)} registrations it never sighted, e.g. {unsighted[0]}")
    seqs = sorted(sighting.seq for sighting in directory.sightings.values())
    if seqs != list(range(1, len(seqs) + 1)):
        problems.append(f"HQ's sightings are not numbered 1 to {len(seqs)} once each")
    return _examples("directory writes exactly once", problems)


async def balances_equal_ledger(sim: Simulation) -> list[Violation]:
    """Per ledger, the members' balances (by survivor) and the unowned cards' add up to the
    sum of the entries; every replica's per-card balances and HQ's member view agree."""
    directory = await _hq_directory(sim)
    problems = []
    per_card: dict[tuple[str, str], int] = {}
    for entry in directory.ledger.values():
        key = (entry.card_id, entry.ledger)
        per_card[key] = per_card.get(key, 0) + entry.amount
    by_survivor = directory.balances_by_survivor()
    unowned = directory.unowned_balances()
    for ledger in sorted({ledger for _, ledger in per_card}):
        entries_sum = sum(amount for (_, held), amount in per_card.items() if held == ledger)
        balances_sum = sum(b.get(ledger, 0) for b in by_survivor.values())
        balances_sum += sum(amount for (_, held), amount in unowned.items() if held == ledger)
        if balances_sum != entries_sum:
            problems.append(f"{ledger}: balances add up to {balances_sum}, its entries to {entries_sum}")
    held_per_card = {key: amount for key, amount in per_card.items() if amount}
    for code in sorted(sim.nodes):
        with _branch_db(sim, code) as conn:
            rows = conn.execute(
                "SELECT card_id, ledger, SUM(amount) FROM dir_ledger GROUP BY card_id, ledger"
            ).fetchall()
        at_branch = {(card, ledger): int(total) for card, ledger, total in rows if total}
        if at_branch != held_per_card:
            wrong = sorted(set(at_branch.items()) ^ set(held_per_card.items()))
            problems.append(f"{code}: {len(wrong)} card balances differ from the entries, e.g. {wrong[0]}")
    for survivor, balances in by_survivor.items():
        member = await sim.hq.hq.store.member(survivor)
        shown = {} if member is None else {k: v for k, v in member["balances"].items() if v}
        if shown != {k: v for k, v in balances.items() if v}:
            problems.append(f"HQ shows member {survivor} with balances {shown}, its entries say {balances}")
    return _examples("balances equal the ledger", problems)


async def conflicts_surfaced(sim: Simulation) -> list[Violation]:
    """Every duplicate, overdraft, reused voucher, card replaced twice and stale upgrade the
    converged directory implies has its
    conflict in HQ's queue (open or resolved), and no open conflict is left that it does not."""
    directory = await _hq_directory(sim)
    expected = {f"duplicate:{alias}": "duplicate_member" for alias in directory.duplicates.aliases}
    expected |= {f"overdraft:{record.entry_id}": "overdraft" for record in directory.overdrafts()}
    expected |= {f"voucher:{r.redemption_id}": "voucher_reused" for r in directory.vouchers().flagged}
    expected |= {
        f"replaced:{loser.change_id}": "card_replaced_twice" for _, loser in directory.double_replacements()
    }
    expected |= {f"upgrade:{upgrade.change_id}": "stale_upgrade" for _, upgrade in directory.stale_upgrades()}
    queue = {conflict.id: conflict for conflict in await sim.hq.hq.store.conflicts(None)}
    # (what is wrong, kind) -> conflict ids, so a person sees each failure and its size.
    wrong: dict[tuple[str, str], list[str]] = {}
    for conflict_id, kind in sorted(expected.items()):
        held = queue.get(conflict_id)
        if held is None:
            wrong.setdefault(("missing from HQ's queue", kind), []).append(conflict_id)
        elif held.kind != kind or held.state not in SURFACED:
            wrong.setdefault((f"{held.state} as {held.kind}", kind), []).append(conflict_id)
    for conflict_id, held in sorted(queue.items()):
        if held.state == "open" and conflict_id not in expected:
            wrong.setdefault(("open though the directory no longer implies them", held.kind), []).append(
                conflict_id
            )
    return [
        Violation("conflicts surfaced", f"{len(ids)} {kind} conflicts {what}, e.g. {ids[0]}")
        for (what, kind), ids in sorted(wrong.items())
    ]


async def lost_cards_stay_lost(sim: Simulation) -> list[Violation]:
    """A loss reported anywhere, and cleared by no unlock that saw it, leaves the card lost
    at HQ and at every branch (the shop rule: a loss report wins over concurrent activity)."""
    directory = await _hq_directory(sim)
    reported = sorted(
        {
            (card, event_id)
            for event_id, (_, card, action) in sim.ledger.card_events.items()
            if action == "report_lost"
        }
    )
    cleared: set[str] = set()
    returned: set[str] = set()
    for event in directory.card_events.values():
        if event.kind == "unlock":
            cleared |= event.seen
        elif event.kind == "return":
            returned.add(event.card_id)
    lost = sorted({card for card, event_id in reported if event_id not in cleared})
    problems = []
    for card in lost:
        expected = "returned" if card in returned else "lost"
        shown = await sim.hq.hq.store.card(card)
        if shown is None or shown["status"] != expected:
            problems.append(
                f"HQ shows card {card} {None if shown is None else shown['status']}, not {expected}"
            )
    for code in sorted(sim.nodes):
        with _branch_db(sim, code) as conn:
            wrong = [
                card for card in lost if directory_store.card_status(conn, card) not in ("lost", "returned")
            ]
        if wrong:
            problems.append(
                f"{code}: {len(wrong)} cards reported lost and never unlocked are not lost, e.g. {wrong[0]}"
            )
    return _examples("lost cards stay lost", problems)


DIRECTORY_INVARIANTS: tuple[Checker, ...] = (
    directory_converged,
    directory_writes_exactly_once,
    balances_equal_ledger,
    conflicts_surfaced,
    lost_cards_stay_lost,
)
