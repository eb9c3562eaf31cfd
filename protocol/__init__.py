"""The wire and the log, sans-IO: entries, chains, clocks, signatures, messages
and the replicator's decisions. Bytes in, values out; no sockets, no database."""
