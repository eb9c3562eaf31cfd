"""A branch node: local store, business services, change log, replicator, till API."""
