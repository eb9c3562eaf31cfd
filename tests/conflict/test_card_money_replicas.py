"""Card operations at 2 to 5 replicas, each deciding on what it has seen, delivered to
every replica in any order with repeats: all end byte-identical, and for every card its
balances, uses and credit are the sums of their ledgers, the stored-value conservation
law holds (paid in + bonus + adjustments = spent + paid out + forfeited + outstanding),
what may be paid back never exceeds what was paid in, and every number of a replaced
card shows the card's one set of balances."""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from conflict.card_life import CardChange, current_number
from conflict.credit import credit_position
from conflict.directory import Directory
from conflict.ledger import LedgerEntry
from conflict.stored_value import stored_value
from conflict.wire import DirectoryRecord
from tests.conflict.strategies import PROPERTY

CARDS = ("C-1", "C-2")
OPS = (
    "issue",
    "top_up",
    "bonus",
    "spend",
    "payout",
    "forfeit",
    "use",
    "grant_uses",
    "charge",
    "repay",
    "replace",
)


@dataclass(frozen=True)
class Op:
    replica: int
    kind: str
    card: str
    amount: int


ops = st.lists(
    st.builds(
        Op,
        st.integers(0, 4),
        st.sampled_from(OPS),
        st.sampled_from(CARDS),
        st.integers(1, 50_000),
    ),
    max_size=25,
)


def _apply(directory: Directory, records: list[DirectoryRecord]) -> Directory:
    for record in records:
        if isinstance(record, LedgerEntry):
            directory = directory.with_entry(record)
        else:
            assert isinstance(record, CardChange)
            directory = directory.with_change(record)
    return directory


def _decide(seen: Directory, op: Op, number: int, node: str, hlc: int) -> list[DirectoryRecord]:
    """What a till at `node` books for `op`, from what it has seen (as node.services do:
    a payout within what may be paid back here, a forfeit of what is left beyond it)."""
    root = seen.card_root(op.card)
    entry_id = f"{node}-{number}"
    entries = [e for e in seen.ledger.values() if e.card_id == root]
    held = stored_value(entries, root)

    def entry(ledger: str, kind: str, amount: int, item: str = "") -> list[DirectoryRecord]:
        return [LedgerEntry(entry_id, root, ledger, kind, amount, hlc, node, item)] if amount else []

    if op.kind in ("issue", "top_up", "bonus"):
        return entry("stored_value", op.kind, op.amount)
    if op.kind == "spend":
        return entry("stored_value", "spend", -op.amount)  # offline: may overdraw
    if op.kind == "payout":
        return entry("stored_value", "payout", -min(op.amount, held.refundable))
    if op.kind == "forfeit":
        return entry("stored_value", "forfeit", -held.bonus_left)
    if op.kind == "grant_uses":
        return entry("uses", "grant", op.amount % 20 + 1, "svc")
    if op.kind == "use":
        return entry("uses", "use", -1, "svc")
    if op.kind == "charge":
        return entry("credit", "charge", -op.amount)
    if op.kind == "repay":
        owed = credit_position(entries, root).owed
        return entry("credit", "repay", min(op.amount, owed))
    # The member hands over the number this till takes for the card now.
    presented = current_number(root, seen.changes.values())
    return [CardChange(entry_id, presented, "replace", hlc, node, new_card=f"{op.card}-r{number}")]


@PROPERTY
@given(st.integers(2, 5), ops, st.randoms(use_true_random=False))
def test_card_operations_at_several_replicas_converge_and_conserve_money(
    replicas: int, script: list[Op], rnd: random.Random
) -> None:
    seen = [Directory() for _ in range(replicas)]
    written: list[DirectoryRecord] = []
    for number, op in enumerate(script):
        at = op.replica % replicas
        records = _decide(seen[at], op, number, f"N{at}", number)
        seen[at] = _apply(seen[at], records)
        written += records
        # Now and then a replica hears of some of what others wrote, in its own order.
        listener = rnd.randrange(replicas)
        heard = rnd.sample(written, k=min(len(written), rnd.choice((0, 0, 0, 1, 2))))
        seen[listener] = _apply(seen[listener], heard)
    for at in range(replicas):
        copies = written * 2
        rnd.shuffle(copies)
        seen[at] = _apply(seen[at], copies)
    assert len({d.encode() for d in seen}) == 1
    final = seen[0]
    for card in CARDS:
        entries = [e for e in final.ledger.values() if e.card_id == card]
        held = stored_value(entries, card)
        outstanding = sum(e.amount for e in entries if e.ledger == "stored_value")
        assert held.balance == outstanding
        # The law, by kind: paid in + bonus + adjustments = taken + outstanding.
        assert held.paid_in + held.bonus + held.adjusted == held.taken + outstanding
        paid_in = sum(
            e.amount for e in entries if e.ledger == "stored_value" and e.amount > 0 and e.kind != "bonus"
        )
        assert held.paid_in == paid_in
        assert held.refundable <= held.paid_in
        credit = credit_position(entries, card)
        assert credit.owed == -sum(
            e.amount for e in entries if e.ledger == "credit" and e.kind in ("charge", "repay")
        )
        # Every number of the card shows the card: its root and its status.
        numbers = {card} | {c.new_card for c in final.changes.values() if final.card_root(c.new_card) == card}
        for shown in numbers:
            assert final.card_root(shown) == card
        live = [n for n in numbers if final.card_status(n) == "active"]
        assert len(live) == 1, f"card {card} is usable under {live}"
        assert live == [current_number(card, final.changes.values())]
