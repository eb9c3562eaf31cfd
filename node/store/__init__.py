"""The branch's store, the bottom layer of a node: the schema and its migrations,
the group-commit writer with the change log it appends to, the read threads, and
the replication bookmarks kept beside the data."""
