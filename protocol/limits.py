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
