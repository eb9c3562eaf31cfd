"""The shared member directory in SQLite: the same tables at every node and in HQ's
SQLite backend, so the two cannot drift apart.

Records are stored whole (canonical msgpack of `conflict.wire.to_payload`) beside
the columns lookups need. Adding a record is a union: a record already held is
skipped, a different record under a held id is refused. Every view (survivor,
balances, card status) is computed by `conflict/` from the records, only ever
over the connected part of the directory a lookup touches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from conflict.card_life import (
    CardChange,
    effective,
    password_hash,
    winning_replacement,
)
from conflict.card_status import CardEvent, status
from conflict.cards import CardIssue
from conflict.contacts import Contact, history, position_text
from conflict.directory import Directory
from conflict.duplicates import (
    DuplicateResolution,
    Registration,
    Separation,
    Sighting,
    find_duplicates,
    rank,
)
from conflict.errors import (
    CardChangeConflict,
    CardEventConflict,
    CardIssueConflict,
    ContactConflict,
    DuplicateIdConflict,
    LedgerEntryConflict,
    RedemptionConflict,
    RegistrationConflict,
    ReinstatementConflict,
    SightingConflict,
)
from conflict.ledger import LEDGER_UNITS, LedgerEntry
from conflict.profile import PROFILE_FIELDS, StampedField, merge_profiles, values
from conflict.voucher_use import Reinstatement, standing
from conflict.vouchers import Redemption
from conflict.wire import DirectoryRecord, from_payload, record_id, to_payload
from protocol import codec
from protocol.errors import require
from protocol.limits import MAX_AT_MS, MAX_REPLACEMENTS
from shared_tables.sql import Connection

# Part of each side's migrations; a change here must be a new migration there.
DIRECTORY_SCHEMA = """
    CREATE TABLE dir_registrations (
        member_id TEXT PRIMARY KEY,
        hlc INTEGER NOT NULL,
        node TEXT NOT NULL,
        record BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE dir_keys (
        key TEXT NOT NULL,
        member_id TEXT NOT NULL,
        PRIMARY KEY (key, member_id)
    ) WITHOUT ROWID;
    CREATE TABLE dir_card_events (
        event_id TEXT PRIMARY KEY,
        card_id TEXT NOT NULL,
        record BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX dir_card_events_by_card ON dir_card_events (card_id);
    CREATE TABLE dir_ledger (
        entry_id TEXT PRIMARY KEY,
        card_id TEXT NOT NULL,
        ledger TEXT NOT NULL,
        amount INTEGER NOT NULL,
        hlc INTEGER NOT NULL,
        node TEXT NOT NULL,
        record BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX dir_ledger_by_card ON dir_ledger (card_id, ledger);
    CREATE TABLE dir_separations (
        member_a TEXT NOT NULL,
        member_b TEXT NOT NULL,
        PRIMARY KEY (member_a, member_b)
    ) WITHOUT ROWID;
    CREATE TABLE dir_redemptions (
        redemption_id TEXT PRIMARY KEY,
        voucher_id TEXT NOT NULL,
        record BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX dir_redemptions_by_voucher ON dir_redemptions (voucher_id)
"""

# HQ's order of first sight per registration (conflict.duplicates.Sighting); a
# later migration than DIRECTORY_SCHEMA on both sides.
SIGHTINGS_SCHEMA = """
    CREATE TABLE dir_sightings (
        member_id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        record BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX dir_sightings_by_seq ON dir_sightings (seq)
"""

# Cards of a type (conflict.cards) and count-card uses per service item (the ledger's
# item); a later migration than SIGHTINGS_SCHEMA on both sides.
CARDS_SCHEMA = """
    ALTER TABLE dir_ledger ADD COLUMN item TEXT NOT NULL DEFAULT '';
    CREATE TABLE dir_cards (
        card_id TEXT PRIMARY KEY,
        member_id TEXT NOT NULL,
        record BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX dir_cards_by_member ON dir_cards (member_id)
"""

# A card's changes after its sale (conflict.card_life), found by the number they are
# filed under and by the new number a replacement hands over; a later migration than
# CARDS_SCHEMA on both sides.
CARD_CHANGES_SCHEMA = """
    CREATE TABLE dir_card_changes (
        change_id TEXT PRIMARY KEY,
        card_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        new_card TEXT NOT NULL,
        record BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX dir_card_changes_by_card ON dir_card_changes (card_id);
    CREATE INDEX dir_card_changes_by_new_card ON dir_card_changes (new_card) WHERE new_card <> ''
"""

# A member's contact history (conflict.contacts), found by member, newest first; a
# later migration than CARD_CHANGES_SCHEMA on both sides.
CONTACTS_SCHEMA = """
    CREATE TABLE dir_contacts (
        contact_id TEXT PRIMARY KEY,
        member_id TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        record BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX dir_contacts_by_member ON dir_contacts (member_id, at_ms, contact_id)
"""

# Returns that gave a voucher's use back (conflict.voucher_use.Reinstatement), found by
# voucher; a later migration than CONTACTS_SCHEMA on both sides.
REINSTATEMENTS_SCHEMA = """
    CREATE TABLE dir_reinstatements (
        reinstatement_id TEXT PRIMARY KEY,
        redemption_id TEXT NOT NULL,
        voucher_id TEXT NOT NULL,
        record BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX dir_reinstatements_by_voucher ON dir_reinstatements (voucher_id)
"""

# The points lots a replica still has to look at (loyalty.lot_ledger), filled as the
# ledger's records arrive: lots that will expire, by when (the node that earned them
# books their expiry), and cards whose points a return left owing (the next earning
# settles the debt first). Work lists, not records: each replica empties its own. A
# later migration than REINSTATEMENTS_SCHEMA on both sides.
POINTS_LOTS_SCHEMA = """
    CREATE TABLE points_due (
        lot_id TEXT PRIMARY KEY,
        card_id TEXT NOT NULL,
        due_ms INTEGER NOT NULL,
        node TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX points_due_by_node ON points_due (node, due_ms);
    CREATE TABLE points_owing (card_id TEXT PRIMARY KEY) WITHOUT ROWID
"""

# Ids per IN (...) query, well under SQLite's default limit of 32,766 parameters.
SQL_CHUNK = 500

_CONFLICT_ERRORS: dict[type, type[DuplicateIdConflict]] = {
    Registration: RegistrationConflict,
    CardEvent: CardEventConflict,
    LedgerEntry: LedgerEntryConflict,
    Redemption: RedemptionConflict,
    Sighting: SightingConflict,
    CardIssue: CardIssueConflict,
    CardChange: CardChangeConflict,
    Contact: ContactConflict,
    Reinstatement: ReinstatementConflict,
}


def add_records(conn: Connection, records: Iterable[DirectoryRecord]) -> list[DirectoryRecord]:
    """Union the records into the store; return those it did not hold yet."""
    fresh: list[DirectoryRecord] = []
    for record in records:
        if isinstance(record, tuple):  # a separation: a pair, nothing else to compare
            cursor = conn.execute("INSERT OR IGNORE INTO dir_separations VALUES (?, ?)", record)
            if cursor.rowcount:
                fresh.append(record)
            continue
        blob = codec.pack(to_payload(record))
        held = _held_blob(conn, record)
        if held is not None:
            if held != blob:
                raise _CONFLICT_ERRORS[type(record)](
                    f"id {record_id(record)!r} names two different records; the second is refused"
                )
            continue
        _insert(conn, record, blob)
        fresh.append(record)
    return fresh


def _held_blob(conn: Connection, record: DirectoryRecord) -> bytes | None:
    table, column = _TABLES[type(record)]
    row = conn.execute(f"SELECT record FROM {table} WHERE {column} = ?", (record_id(record),)).fetchone()
    return None if row is None else bytes(row[0])


_TABLES: dict[type, tuple[str, str]] = {
    Registration: ("dir_registrations", "member_id"),
    CardEvent: ("dir_card_events", "event_id"),
    LedgerEntry: ("dir_ledger", "entry_id"),
    Redemption: ("dir_redemptions", "redemption_id"),
    Sighting: ("dir_sightings", "member_id"),
    CardIssue: ("dir_cards", "card_id"),
    CardChange: ("dir_card_changes", "change_id"),
    Contact: ("dir_contacts", "contact_id"),
    Reinstatement: ("dir_reinstatements", "reinstatement_id"),
}


def _insert(conn: Connection, record: DirectoryRecord, blob: bytes) -> None:
    if isinstance(record, Registration):
        conn.execute(
            "INSERT INTO dir_registrations VALUES (?, ?, ?, ?)",
            (record.member_id, record.hlc, record.node, blob),
        )
        conn.executemany(
            "INSERT OR IGNORE INTO dir_keys VALUES (?, ?)", [(key, record.member_id) for key in record.keys]
        )
    elif isinstance(record, CardEvent):
        conn.execute("INSERT INTO dir_card_events VALUES (?, ?, ?)", (record.event_id, record.card_id, blob))
    elif isinstance(record, LedgerEntry):
        conn.execute(
            "INSERT INTO dir_ledger (entry_id, card_id, ledger, amount, hlc, node, record, item)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.entry_id,
                record.card_id,
                record.ledger,
                record.amount,
                record.hlc,
                record.node,
                blob,
                record.item,
            ),
        )
        if record.expires_at_ms:
            conn.execute(
                "INSERT INTO points_due VALUES (?, ?, ?, ?)",
                (record.entry_id, record.card_id, record.expires_at_ms, record.node),
            )
        elif record.kind == "return" and record.ledger == "points" and -record.amount > _lotted(record):
            conn.execute("INSERT OR IGNORE INTO points_owing VALUES (?)", (record.card_id,))
        elif record.kind == "refund" and record.of:
            _due_again(conn, [lot_id for lot_id, _ in record.lots])
    elif isinstance(record, Redemption):
        conn.execute(
            "INSERT INTO dir_redemptions VALUES (?, ?, ?)", (record.redemption_id, record.voucher_id, blob)
        )
    elif isinstance(record, Sighting):
        conn.execute("INSERT INTO dir_sightings VALUES (?, ?, ?)", (record.member_id, record.seq, blob))
    elif isinstance(record, CardIssue):
        conn.execute("INSERT INTO dir_cards VALUES (?, ?, ?)", (record.card_id, record.member_id, blob))
    elif isinstance(record, CardChange):
        conn.execute(
            "INSERT INTO dir_card_changes VALUES (?, ?, ?, ?, ?)",
            (record.change_id, record.card_id, record.kind, record.new_card, blob),
        )
    elif isinstance(record, Contact):
        conn.execute(
            "INSERT INTO dir_contacts VALUES (?, ?, ?, ?)",
            (record.contact_id, record.member_id, record.at_ms, blob),
        )
    elif isinstance(record, Reinstatement):
        conn.execute(
            "INSERT INTO dir_reinstatements VALUES (?, ?, ?, ?)",
            (record.reinstatement_id, record.redemption_id, record.voucher_id, blob),
        )


def _due_again(conn: Connection, lot_ids: list[str]) -> None:
    """Points put back into lots expire with them: each lot is on the work list again."""
    for lot_id in lot_ids:
        row = conn.execute("SELECT record FROM dir_ledger WHERE entry_id = ?", (lot_id,)).fetchone()
        lot = None if row is None else _decode(row[0])
        if isinstance(lot, LedgerEntry) and lot.expires_at_ms:
            conn.execute(
                "INSERT OR IGNORE INTO points_due VALUES (?, ?, ?, ?)",
                (lot.entry_id, lot.card_id, lot.expires_at_ms, lot.node),
            )


def _lotted(entry: LedgerEntry) -> int:
    return sum(points for _, points in entry.lots)


def _decode(blob: Any) -> Any:
    return from_payload(codec.unpack(bytes(blob)))


# -- lookups -------------------------------------------------------------------


def registration(conn: Connection, member_id: str) -> Registration | None:
    row = conn.execute("SELECT record FROM dir_registrations WHERE member_id = ?", (member_id,)).fetchone()
    return None if row is None else _decode(row[0])


@dataclass(frozen=True)
class Group:
    """The registrations a member is connected to through shared phones and cards,
    with the operators' separations among them and the duplicate resolution."""

    registrations: dict[str, Registration]
    separations: frozenset[Separation]
    sightings: dict[str, Sighting]
    resolution: DuplicateResolution

    def survivor(self, member_id: str) -> str:
        return self.resolution.survivor(member_id)

    def members_of(self, survivor: str) -> tuple[str, ...]:
        """The survivor first, then its aliases by rank."""
        return next((g for g in self.resolution.groups if g[0] == survivor), (survivor,))


def group_of(conn: Connection, member_id: str) -> Group:
    """Everything that can decide who `member_id` is. Duplicate resolution over this
    connected component equals resolution over the whole directory, because
    registrations that share no key with it can neither join nor crowd it."""
    found: dict[str, Registration] = {}
    pending = [member_id]
    seen_keys: set[str] = set()
    while pending:
        current = pending.pop()
        if current in found:
            continue
        held = registration(conn, current)
        if held is None:
            continue
        found[current] = held
        for key in held.keys:
            if key in seen_keys:
                continue
            seen_keys.add(key)
            pending.extend(m for (m,) in conn.execute("SELECT member_id FROM dir_keys WHERE key = ?", (key,)))
    separations = _separations_among(conn, found)
    sightings = sightings_of(conn, found)
    return Group(found, separations, sightings, find_duplicates(found.values(), separations, sightings))


def survivors(conn: Connection) -> dict[str, str]:
    """Every member id this replica holds -> the survivor it stands for, resolved once over
    the whole directory (what a walk over every member needs, not a lookup's)."""
    registrations = [_decode(blob) for (blob,) in conn.execute("SELECT record FROM dir_registrations")]
    separations = frozenset(
        (str(a), str(b)) for a, b in conn.execute("SELECT member_a, member_b FROM dir_separations")
    )
    sightings = {
        str(member): Sighting(str(member), int(seq))
        for member, seq in conn.execute("SELECT member_id, seq FROM dir_sightings")
    }
    resolution = find_duplicates(registrations, separations, sightings)
    ids = {r.member_id for r in registrations} | {str(m) for (m,) in conn.execute("SELECT id FROM members")}
    return {member: resolution.survivor(member) for member in sorted(ids)}


def sightings_of(conn: Connection, members: Iterable[str]) -> dict[str, Sighting]:
    """HQ's sightings of these members' registrations (those it has sent so far)."""
    wanted = sorted(set(members))
    found: dict[str, Sighting] = {}
    # A group is a handful of members; chunks keep any group under SQLite's bound on parameters.
    for start in range(0, len(wanted), SQL_CHUNK):
        chunk = wanted[start : start + SQL_CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(f"SELECT member_id, seq FROM dir_sightings WHERE member_id IN ({marks})", chunk)
        found.update((member, Sighting(member, int(seq))) for member, seq in rows)
    return found


def unsighted(conn: Connection) -> list[Registration]:
    """Registrations held without HQ's sighting, in the order HQ sights a backlog:
    by stamp, then member id (the order that ranked them before sightings existed)."""
    rows = conn.execute(
        "SELECT record FROM dir_registrations WHERE member_id NOT IN (SELECT member_id FROM dir_sightings)"
        " ORDER BY hlc, member_id, node"
    )
    return [_decode(blob) for (blob,) in rows]


def next_sighting(conn: Connection) -> int:
    """HQ's next order number (HQ writes sightings in one transaction at a time)."""
    return int(conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM dir_sightings").fetchone()[0])


def _separations_among(conn: Connection, members: Iterable[str]) -> frozenset[Separation]:
    members = set(members)
    pairs: set[Separation] = set()
    for member in members:
        rows = conn.execute(
            "SELECT member_a, member_b FROM dir_separations WHERE member_a = ? OR member_b = ?",
            (member, member),
        )
        pairs.update((a, b) for a, b in rows if a in members and b in members)
    return frozenset(pairs)


def members_with_key(conn: Connection, key: str) -> list[str]:
    """Survivor ids of the members registered with a phone ("phone:...") or card ("card:...")."""
    survivors: set[str] = set()
    for (member_id,) in conn.execute("SELECT member_id FROM dir_keys WHERE key = ?", (key,)).fetchall():
        survivors.add(group_of(conn, member_id).survivor(member_id))
    return sorted(survivors)


def card_owner(conn: Connection, card_id: str) -> str | None:
    """The member first registered with the card (first by `conflict.duplicates.rank`),
    or else the member a card of a type was issued to; before alias resolution (as
    `conflict.directory.Directory.card_owners`)."""
    held = [
        registration(conn, m)
        for (m,) in conn.execute("SELECT member_id FROM dir_keys WHERE key = ?", ("card:" + card_id,))
    ]
    owners = [r for r in held if r is not None]
    sightings = sightings_of(conn, (r.member_id for r in owners))
    ranked = sorted(owners, key=lambda r: rank(r, sightings))
    if ranked:
        return ranked[0].member_id
    row = conn.execute("SELECT member_id FROM dir_cards WHERE card_id = ?", (card_id,)).fetchone()
    if row is not None:
        return str(row[0])
    root = card_root(conn, card_id)
    # A replacement's new number is held by whoever holds the card it stands for.
    return None if root == card_id else card_owner(conn, root)


def card_record(conn: Connection, card_id: str) -> CardIssue | None:
    """The card's type and terms now, for a card of a type (None for a plain card): its
    issue with its upgrades and renewals (conflict.card_life), under any of its numbers."""
    root = card_root(conn, card_id)
    issued = issued_card(conn, root)
    return None if issued is None else effective(issued, card_changes(conn, root))


def issued_card(conn: Connection, card_id: str) -> CardIssue | None:
    """The card record as it was issued under this very number, before any change."""
    row = conn.execute("SELECT record FROM dir_cards WHERE card_id = ?", (card_id,)).fetchone()
    return None if row is None else _decode(row[0])


def card_root(conn: Connection, card_id: str) -> str:
    """The number the card was first issued under, on which its ledger entries are
    booked (conflict.card_life); a number no replacement handed over is its own root."""
    seen = {card_id}
    for _ in range(MAX_REPLACEMENTS):
        into = winning_replacement(
            _decode(blob)
            for (blob,) in conn.execute(
                "SELECT record FROM dir_card_changes WHERE new_card = ? AND kind = 'replace'", (card_id,)
            )
        )
        if into is None or into.card_id in seen:
            break
        card_id = into.card_id
        seen.add(card_id)
    return card_id


def card_changes(conn: Connection, card_id: str) -> list[CardChange]:
    """The changes filed under a number: a root's renewals, upgrades and passwords, and
    the replacements of that number."""
    rows = conn.execute("SELECT record FROM dir_card_changes WHERE card_id = ?", (card_id,))
    return [_decode(blob) for (blob,) in rows]


def card_change(conn: Connection, change_id: str) -> CardChange | None:
    row = conn.execute("SELECT record FROM dir_card_changes WHERE change_id = ?", (change_id,)).fetchone()
    return None if row is None else _decode(row[0])


def card_password(conn: Connection, card_id: str) -> str | None:
    """The hash of the card's password under any of its numbers; None when it has none."""
    return password_hash(card_changes(conn, card_root(conn, card_id)))


def replaced_by(conn: Connection, card_id: str) -> str | None:
    """The number that replaced this one, if any (the first, when there were two)."""
    found = winning_replacement(c for c in card_changes(conn, card_id) if c.kind == "replace")
    return None if found is None else found.new_card


def cards_issued_to(conn: Connection, members: Iterable[str]) -> list[str]:
    """The numbers of the cards of a type issued to these members."""
    found: list[str] = []
    for member in sorted(set(members)):
        found += [c for (c,) in conn.execute("SELECT card_id FROM dir_cards WHERE member_id = ?", (member,))]
    return sorted(found)


def card_uses(conn: Connection, card_id: str) -> dict[str, int]:
    """Service item -> the uses the card holds of it (items ever granted, zeros kept)."""
    rows = conn.execute(
        "SELECT item, COALESCE(SUM(amount), 0) FROM dir_ledger WHERE card_id = ? AND ledger = 'uses'"
        " GROUP BY item ORDER BY item",
        (card_root(conn, card_id),),
    )
    return {str(item): int(total) for item, total in rows}


def card_entries(conn: Connection, card_id: str) -> list[LedgerEntry]:
    """The ledger entries of the card under any of its numbers (all are on its root)."""
    rows = conn.execute("SELECT record FROM dir_ledger WHERE card_id = ?", (card_root(conn, card_id),))
    return [_decode(blob) for (blob,) in rows]


def cards_on_ledger(conn: Connection, ledger: str) -> list[str]:
    """Every card with entries on `ledger` (the cards that ever had credit, say)."""
    rows = conn.execute(
        "SELECT DISTINCT card_id FROM dir_ledger WHERE ledger = ? ORDER BY card_id", (ledger,)
    )
    return [str(card_id) for (card_id,) in rows]


def card_balance(conn: Connection, card_id: str, ledger: str, item: str | None = None) -> int:
    """The card's balance on one ledger; of one service item's uses if `item` is given."""
    card_id = card_root(conn, card_id)
    if item is None:
        row = conn.execute(
            "SELECT COALESCE(SUM(amount), 0) FROM dir_ledger WHERE card_id = ? AND ledger = ?",
            (card_id, ledger),
        ).fetchone()
    else:
        row = conn.execute(
            "SELECT COALESCE(SUM(amount), 0) FROM dir_ledger WHERE card_id = ? AND ledger = ? AND item = ?",
            (card_id, ledger, item),
        ).fetchone()
    return int(row[0])


def card_events(conn: Connection, card_id: str) -> list[CardEvent]:
    rows = conn.execute("SELECT record FROM dir_card_events WHERE card_id = ?", (card_id,))
    return [_decode(blob) for (blob,) in rows]


def card_status(conn: Connection, card_id: str) -> str:
    """As `conflict.directory.Directory.card_status`: replaced numbers are refused, and a
    card returned under its root is returned under every number."""
    root = card_root(conn, card_id)
    if current_number(conn, root) != card_id:
        return "replaced"
    if root != card_id and status(card_events(conn, root)) == "returned":
        return "returned"
    return status(card_events(conn, card_id))


def current_number(conn: Connection, root: str) -> str:
    """The one number the card may be used under (conflict.card_life.current_number)."""
    number, seen = root, {root}
    for _ in range(MAX_REPLACEMENTS):
        winner = winning_replacement(c for c in card_changes(conn, number) if c.kind == "replace")
        if winner is None or winner.new_card in seen:
            break
        number = winner.new_card
        seen.add(number)
    return number


def redemptions_of(conn: Connection, voucher_id: str) -> list[Redemption]:
    rows = conn.execute("SELECT record FROM dir_redemptions WHERE voucher_id = ?", (voucher_id,))
    return [_decode(blob) for (blob,) in rows]


def reinstatements_of(conn: Connection, voucher_id: str) -> list[Reinstatement]:
    rows = conn.execute("SELECT record FROM dir_reinstatements WHERE voucher_id = ?", (voucher_id,))
    return [_decode(blob) for (blob,) in rows]


def voucher_uses(conn: Connection, voucher_id: str) -> list[Redemption]:
    """The redemptions of the voucher no return reinstated (conflict.voucher_use rule 3)."""
    return standing(redemptions_of(conn, voucher_id), reinstatements_of(conn, voucher_id))


def card_json(conn: Connection, card_id: str) -> dict[str, Any]:
    balances = {ledger: card_balance(conn, card_id, ledger) for ledger in LEDGER_UNITS}
    view: dict[str, Any] = {
        "card": card_id,
        "status": card_status(conn, card_id),
        "balances": balances,
        # A stored-value balance below zero is what offline overdrafts left owing.
        "debt_fen": max(0, -balances["stored_value"]),
        "uses": card_uses(conn, card_id),
    }
    root = card_root(conn, card_id)
    if root != card_id:
        view["replaces"] = root  # the number its balances and history are kept under
    successor = replaced_by(conn, card_id)
    if successor is not None:
        view["replaced_by"] = successor
    view["has_password"] = card_password(conn, card_id) is not None
    issued = card_record(conn, card_id)
    if issued is not None:
        view["card_type"] = {
            "code": issued.card_type,
            "level": issued.level,
            "discount_rate": issued.discount_rate,
            "valid_from": issued.valid_from,
            "valid_until": issued.valid_until or None,
            "services": sorted(issued.services),
        }
    return view


def member_json(conn: Connection, member_id: str) -> dict[str, Any] | None:
    """A member as a till or an operator sees it: the survivor of its duplicate group,
    with the merged profile (every field, null where never given), every card of the
    group, and the group's balances."""
    group = _person_of(conn, member_id)
    if group is None:
        return None
    survivor = group.survivor(member_id)
    members = group.members_of(survivor)
    profile = _group_profile(conn, members)
    cards = _with_replacements(
        conn,
        {card for m in members if m in group.registrations for card in group.registrations[m].card_numbers}
        | set(cards_issued_to(conn, members)),
    )
    card_views = [card_json(conn, card) for card in cards if card_owner(conn, card) in members]
    # A replaced card and its new number show one card's balances: count them once.
    once = {view.get("replaces", view["card"]): view["balances"] for view in card_views}
    totals = {ledger: sum(b[ledger] for b in once.values()) for ledger in LEDGER_UNITS}
    home = conn.execute("SELECT home_branch FROM members WHERE id = ?", (survivor,)).fetchone()
    return {
        "id": survivor,
        "home_branch": home[0] if home is not None else group.registrations[survivor].node,
        **dict.fromkeys(PROFILE_FIELDS),
        **values(profile),
        "aliases": list(members[1:]),
        "looked_up_as": member_id,
        "cards": card_views,
        "balances": totals,
        "level": graded_level(conn, members),
    }


def graded_level(conn: Connection, members: Iterable[str]) -> dict[str, Any] | None:
    """The level HQ last graded the person into (hq.levels), under any id of the group;
    None if HQ never graded them."""
    found = None
    for member in sorted(set(members)):
        row = conn.execute(
            "SELECT level, spend_fen, visits, graded_at_ms FROM member_levels WHERE member_id = ?", (member,)
        ).fetchone()
        if row is not None and (found is None or row[3] > found["graded_at_ms"]):
            found = dict(zip(("code", "spend_fen", "visits", "graded_at_ms"), row, strict=True))
    return None if found is None or found["code"] is None else found


def contact_history(
    conn: Connection, member_id: str, limit: int, before: tuple[int, str] | None = None
) -> dict[str, Any] | None:
    """A member's contact history as a person reads it: the contacts of the whole
    duplicate group, newest first (conflict.contacts.history), at most `limit` of them,
    from the one after `before` (the position, at_ms and contact id, that the page
    before named as its `next`); None for a member this replica does not know."""
    require(limit >= 1, f"a page holds at least one contact, not {limit}")
    group = _person_of(conn, member_id)
    if group is None:
        return None
    survivor = group.survivor(member_id)
    members = sorted(group.members_of(survivor))[:SQL_CHUNK]  # a group is a handful of members
    marks = ",".join("?" * len(members))
    after = (MAX_AT_MS + 1, "") if before is None else before
    rows = conn.execute(
        f"SELECT record FROM dir_contacts WHERE member_id IN ({marks})"
        " AND (at_ms < ? OR (at_ms = ? AND contact_id < ?))"
        " ORDER BY at_ms DESC, contact_id DESC LIMIT ?",
        (*members, after[0], after[0], after[1], limit + 1),
    )
    found = history((_decode(blob) for (blob,) in rows), members)
    page = found[:limit]
    logins = _operator_logins(conn, {c.operator for c in page})
    return {
        "member_id": survivor,
        "looked_up_as": member_id,
        "contacts": [{**contact_json(c), "operator_login": logins.get(c.operator)} for c in page],
        "next": position_text(page[-1]) if len(found) > limit else None,
    }


def _operator_logins(conn: Connection, operator_ids: set[str]) -> dict[str, str]:
    """The logins of the operators this replica knows (HQ: every one; a branch: its own)."""
    wanted = sorted(operator_ids)
    if not wanted:
        return {}
    marks = ",".join("?" * len(wanted))
    rows = conn.execute(f"SELECT id, login FROM operators WHERE id IN ({marks})", wanted)
    return {str(operator_id): str(login) for operator_id, login in rows}


def contact(conn: Connection, contact_id: str) -> Contact | None:
    row = conn.execute("SELECT record FROM dir_contacts WHERE contact_id = ?", (contact_id,)).fetchone()
    found = None if row is None else _decode(row[0])
    return found if isinstance(found, Contact) else None


def contact_json(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.contact_id,
        "member_id": contact.member_id,
        "operator": contact.operator,
        "at_ms": contact.at_ms,
        "channel": contact.channel,
        "note": contact.note,
        "branch": contact.node,
    }


def _with_replacements(conn: Connection, cards: set[str]) -> list[str]:
    """The numbers and every number handed over to replace one of them, sorted."""
    found, pending = set(cards), list(cards)
    while pending and len(found) < len(cards) * (MAX_REPLACEMENTS + 1):
        for change in card_changes(conn, pending.pop()):
            if change.kind == "replace" and change.new_card not in found:
                found.add(change.new_card)
                pending.append(change.new_card)
    return sorted(found)


def _person_of(conn: Connection, member_id: str) -> Group | None:
    """The duplicate group a member id belongs to; None for an id this replica does not know."""
    group = group_of(conn, member_id)
    if member_id not in group.registrations:
        # A member registered before the directory kept registrations (schema 1)
        # has a profile only: no cards, no duplicates to resolve.
        if conn.execute("SELECT 1 FROM members WHERE id = ?", (member_id,)).fetchone() is None:
            return None
        group = Group({}, frozenset(), {}, DuplicateResolution())
    return group


def group_values(conn: Connection, members: Iterable[str]) -> dict[str, Any]:
    """The profile's values a duplicate group shows (every field, None where never given)."""
    return {**dict.fromkeys(PROFILE_FIELDS), **values(_group_profile(conn, members))}


def _group_profile(conn: Connection, members: Iterable[str]) -> dict[str, StampedField]:
    """The profile a duplicate group shows: last writer per field across its members."""
    profile: dict[str, StampedField] = {}
    for member in sorted(members):
        profile = merge_profiles(profile, load_profile(conn, member))
    return profile


def referrer_chain(conn: Connection, member_id: str, depth: int) -> list[str]:
    """Who referred the member, who referred that one, and so on upwards: at most
    `depth` members, nearest first, each as its duplicate group's survivor (the person,
    as `member_json` shows them). The walk stops at a member with no referrer, at a
    referrer this replica does not know (not synced yet), and where the chain comes
    back to a member it has passed: two branches apart may each write one side of a
    loop, and last-writer-wins per field keeps both sides."""
    require(depth >= 0, f"a referrer chain is at most `depth` long, and depth {depth} is below zero")
    group = _person_of(conn, member_id)
    if group is None:
        return []
    current = group.survivor(member_id)
    passed = {current}
    chain: list[str] = []
    while len(chain) < depth:
        stamped = _group_profile(conn, group.members_of(current)).get("referrer")
        referrer = None if stamped is None else stamped[0]
        if referrer is None:
            break
        group = _person_of(conn, referrer)
        if group is None:
            break
        current = group.survivor(referrer)
        if current in passed:
            break
        passed.add(current)
        chain.append(current)
    return chain


def load_profile(conn: Connection, member_id: str) -> dict[str, StampedField]:
    row = conn.execute("SELECT profile FROM members WHERE id = ?", (member_id,)).fetchone()
    return {} if row is None else decode_profile(row[0])


def decode_profile(blob: Any) -> dict[str, StampedField]:
    return {name: tuple(stamped) for name, stamped in codec.unpack(bytes(blob)).items()}


def store_profile(
    conn: Connection, member_id: str, home_branch: str, profile: dict[str, StampedField]
) -> None:
    """Keep a member's stamped profile, and its current values in columns for lookups.
    A member's home branch is set by its first write and never moves."""
    current = values(profile)
    conn.execute(
        "INSERT INTO members (id, name, phone, birthday, home_branch, profile)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
        " phone = excluded.phone, birthday = excluded.birthday, profile = excluded.profile",
        (
            member_id,
            current.get("name", ""),
            current.get("phone", ""),
            current.get("birthday"),
            home_branch,
            codec.pack({name: list(stamped) for name, stamped in profile.items()}),
        ),
    )


def merge_profile(
    conn: Connection, member_id: str, home_branch: str, incoming: dict[str, StampedField]
) -> tuple[str, dict[str, StampedField]]:
    """Merge stamped fields into the member's profile, field by field (conflict.profile);
    the member's home branch (`home_branch` if the member is new) and merged profile."""
    row = conn.execute("SELECT home_branch, profile FROM members WHERE id = ?", (member_id,)).fetchone()
    held = {} if row is None else decode_profile(row[1])
    home = home_branch if row is None else str(row[0])
    merged = merge_profiles(held, incoming)
    store_profile(conn, member_id, home, merged)
    return home, merged


def load_directory(conn: Connection) -> Directory:
    """The whole directory as one mergeable state (for comparing replicas)."""
    records: dict[type, dict[str, Any]] = {kind: {} for kind in _TABLES}
    for table, _ in _TABLES.values():
        for (blob,) in conn.execute(f"SELECT record FROM {table}"):
            record = _decode(blob)
            records[type(record)][record_id(record)] = record
    separations = frozenset(conn.execute("SELECT member_a, member_b FROM dir_separations").fetchall())
    profiles = {
        member_id: load_profile(conn, member_id) for (member_id,) in conn.execute("SELECT id FROM members")
    }
    return Directory(
        profiles=profiles,
        card_events=records[CardEvent],
        ledger=records[LedgerEntry],
        registrations=records[Registration],
        separations=frozenset((a, b) for a, b in separations),
        sightings=records[Sighting],
        redemptions=records[Redemption],
        cards=records[CardIssue],
        changes=records[CardChange],
        contacts=records[Contact],
        reinstatements=records[Reinstatement],
    )
