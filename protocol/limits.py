"""Bounds of the wire, each with the reason for its value."""

from __future__ import annotations

# A sale with 200 lines and a long member profile encode to a few KiB; 64 KiB
# leaves room for later payloads while keeping one entry far below a batch.
MAX_ENTRY_BYTES = 64 * 1024

# One head signature vouches for a whole batch, so large batches make ingest
# cheap; 500 entries of a typical 300-byte sale is ~150 KiB per request.
MAX_BATCH_ENTRIES = 500

# Bound on a push or feed body as a whole; HTTP servers refuse larger bodies
# before decoding (413). 500 entries at the entry bound would exceed this, so
# senders cut batches by bytes as well as by count.
MAX_MESSAGE_BYTES = 2 * 1024 * 1024

# Accepted clock drift between an entry's hybrid timestamp and the receiver's
# wall clock. A branch PC an hour off is a real-world mistake we still accept
# (ordering stays causal through the HLC); beyond that a clock is broken and a
# person must fix it before the branch's entries are accepted.
MAX_CLOCK_DRIFT_MS = 60 * 60 * 1000

# Identifiers (branch codes, SKUs, entity ids) are short; bound them so a
# hostile name cannot bloat indexes.
MAX_NAME_CHARS = 64

# -- payload bounds -------------------------------------------------------------
# The loosest value a node (or HQ, for its feed) can legitimately write in each
# field of an entry's payload, so the wire contract (protocol/contract.py) that
# writer and reader both check against cannot refuse what the writer committed.
# These are structural bounds. What HQ is willing to count (a sale of a hundred
# billion yuan, say) is a business rule and stays at HQ, stricter and separate.

# msgpack carries and SQLite stores signed 64-bit integers. A figure that depends
# on a warehouse's history (a cost of goods, a stock level, a revaluation) has no
# tighter bound a node could state in advance, so it gets this one.
MIN_INT64 = -(2**63)
MAX_INT64 = 2**63 - 1

# Ten million yuan: no single price, unit cost, tender or top-up in a shop comes
# near it; larger is a typo at the till or in HQ's master data.
MAX_AMOUNT_FEN = 1_000_000_000

# A long supermarket receipt; more lines or units are a runaway till.
MAX_SALE_LINES = 200
MAX_SALE_LINE_QTY = 100_000
MAX_TENDERS = 8
# A line's price is at most MAX_AMOUNT_FEN a unit, so a sale adds up to at most
# 2 * 10**16 fen. (Tenders must cover it, which caps a real one far lower, at
# MAX_TENDERED_FEN; the bound keeps to what each field alone allows.)
MAX_SALE_LINE_FEN = MAX_SALE_LINE_QTY * MAX_AMOUNT_FEN
MAX_SALE_FEN = MAX_SALE_LINES * MAX_SALE_LINE_FEN
MAX_TENDERED_FEN = MAX_TENDERS * MAX_AMOUNT_FEN

# A full delivery from a supplier, typed at a branch (receipts, returns,
# stocktakes, transfers); more is a runaway client.
MAX_DOCUMENT_LINES = 500
MAX_DOCUMENT_LINE_QTY = 1_000_000
MAX_DOCUMENT_LINE_FEN = MAX_DOCUMENT_LINE_QTY * MAX_AMOUNT_FEN  # 10**15
MAX_DOCUMENT_FEN = MAX_DOCUMENT_LINES * MAX_DOCUMENT_LINE_FEN  # 5 * 10**17, still below 2**63

# A replenishment order has one line per product of one supplier under its lower
# limit, which no till input bounds (nor the quantity, which tops stock up from
# wherever it stands, negative included). An order line encodes to at least 27
# bytes, so no entry within MAX_ENTRY_BYTES holds more than 2,427 of them.
MAX_ORDER_LINES = 2_500

# A ledger movement (stored value in fen, points, uses, credit): ten billion yuan
# is far above any card, and a sum of a million such entries still fits 64 bits.
MAX_LEDGER_AMOUNT = 10**12
# The points lots one movement may name (loyalty.lot_ledger): a (lot id, points) pair
# is at most about 100 bytes, so 500 of them keep a spend well inside MAX_ENTRY_BYTES.
MAX_POINTS_LOT_PARTS = 500
# A member holds a few cards; bound what one registration may claim.
MAX_CARDS_PER_REGISTRATION = 32
# An unlock or resume names the open reports its branch saw; a card has a handful.
MAX_SEEN_EVENTS = 256
# A card type's bundle: the service items it grants uses of, and the gifts handed over
# with it (the seed's 16,800-yuan card has three); a time card's listed services.
MAX_CARD_BUNDLE_LINES = 32
MAX_TIME_CARD_SERVICES = 64
# Uses of one service item a card may be granted at once: a lifetime of weekly visits.
MAX_CARD_USES = 10_000
# Days a card type's validity may run, and a renewal extend it: a hundred years.
MAX_CARD_VALIDITY_DAYS = 36_500
# Replacements a card number may be from the number first issued: a card is replaced a
# handful of times in its life; a longer chain is refused rather than walked.
MAX_REPLACEMENTS = 16
# Member levels HQ grades into: a handful of ranks, earned over up to ten years, by up
# to a visit a day for as long.
MAX_LEVEL_RANK = 1_000
MAX_LEVEL_PERIOD_DAYS = 3_660
MAX_LEVEL_VISITS = 1_000_000
# Points rules (loyalty.rules): a factor in thousandths up to 10,000x, or 10,000 points
# per yuan (ten times the seed's largest promotion, 1,000 extra points per yuan; more
# is a typo at HQ); points that expire after a hundred years never do; a referral
# chain deeper than ten is a pyramid, not a loyalty scheme; one point paying 100 yuan
# is far beyond any scheme (the seed's pays 1 fen: 100 points per yuan).
MAX_POINTS_FACTOR_MILLI = 10_000_000
MAX_POINTS_EXPIRY_DAYS = MAX_CARD_VALIDITY_DAYS
MAX_REFERRAL_DEPTH = 10
MAX_POINT_VALUE_FEN = 10_000
MAX_POINTS_RULE_CODE_CHARS = 40
# The reasons a sale's points carry: one per rule that applied, and a line's rules are
# its item, level, tier, holiday, base and extra; plus the tenders' and a combination.
MAX_POINTS_REASONS = 6 * MAX_SALE_LINES + MAX_TENDERS + 1

# A person's name as a till takes it, and a phone number: "+" and up to 20 digits.
MAX_MEMBER_NAME_CHARS = 64
MAX_PHONE_CHARS = 21
BIRTHDAY_CHARS = 10  # YYYY-MM-DD
# A day as cards' validity names it: YYYY-MM-DD with a month and a day that can exist.
# Days compare as text; no rule needs to know that 30 February never comes.
DATE_PATTERN = r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
# The rest of a member's profile as a till takes it: a postal address down to the
# building and room; a district's code or name; a licence plate (a mainland plate
# has 7 or 8 characters, a foreign or trailer plate a few more); the code of the
# employee who signed the member up (employees' master data will give codes their
# shape; until then a short code); a few lines about the family and the member,
# typed at the counter. Together, in UTF-8, they stay a few KiB of one entry.
MAX_ADDRESS_CHARS = 200
MAX_REGION_CHARS = 64
MAX_CAR_PLATE_CHARS = 16
MAX_EMPLOYEE_CODE_CHARS = 32
MAX_FAMILY_NOTES_CHARS = 500
MAX_MEMBER_NOTES_CHARS = 500
# A contact with a member (who called, visited or wrote, and what was said): a few
# lines typed after the call, as long as the member's own notes.
MAX_CONTACT_NOTE_CHARS = 500
# A member's photo travels once, whole, in one change-log entry (member/photo), so it
# fits MAX_ENTRY_BYTES with 4 KiB to spare for the entry's other fields (a few hundred
# bytes). 60 KiB holds a 480 x 480 JPEG portrait (30 to 50 KiB at quality 80), which is
# what a till's camera or a clerk's resize gives; a bigger file is refused at the till.
MAX_PHOTO_BYTES = 60 * 1024

# A hold is named after its sale and card; HQ refuses longer names when it places one.
MAX_HOLD_ID_CHARS = 100
# HQ names its own directory records after what they settle
# ("resolution:overdraft:<entry id>"), so they run longer than an entity id.
MAX_RECORD_ID_CHARS = 2 * MAX_NAME_CHARS

# Free text a person adds to a document: a purchase order, a transfer, a
# discrepancy (at a branch), a conflict's resolution (at HQ).
MAX_NOTE_CHARS = 200
MAX_RESOLUTION_NOTE_CHARS = 500
# Who resolved a conflict, as HQ takes it from the operator's request.
MAX_OPERATOR_CHARS = 64

# Master data as HQ authors it: a product's name, its unit, and the short texts
# (spec, model, colour, a supplier's contact); a supplier's phone with spaces
# and dashes; stock limits.
MAX_MASTER_NAME_CHARS = 200
MAX_UNIT_CHARS = 16
MAX_MASTER_TEXT_CHARS = 64
MAX_SUPPLIER_PHONE_CHARS = 33
MAX_LIMIT_QTY = 1_000_000_000
# A product's barcode: the text a scanner types before its Enter. EAN-13, EAN-8 and
# UPC-A are 8 to 13 digits; Code 128 carries any printable ASCII, and a shop's own
# labels stay well under 32 characters. Never a space: a scanner sends none inside a
# code, and one typed by hand is a typo the till's search would not find.
MAX_BARCODE_CHARS = 32
BARCODE_PATTERN = rf"[!-~]{{1,{MAX_BARCODE_CHARS}}}"

# A timestamp in milliseconds must be a date Python can represent: the end of
# year 9999. A signed entry beyond it is a broken node, whatever else it says.
MAX_AT_MS = 253_402_300_799_999

# Branch codes name files, feeds and log origins: letters, digits, - and _, up to 32.
MAX_BRANCH_CODE_CHARS = 32
BRANCH_CODE_PATTERN = rf"[A-Za-z0-9][A-Za-z0-9_-]{{0,{MAX_BRANCH_CODE_CHARS - 1}}}"
# An operator's login: what a cashier types at the till, also used in URLs and logs.
MAX_LOGIN_CHARS = 64
LOGIN_PATTERN = rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_LOGIN_CHARS - 1}}}"
MAX_PERMISSIONS = 100  # module:action pairs an operator can hold (14 modules x 5 actions)
