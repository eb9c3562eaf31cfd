"""The SQLite tables HQ and every node hold identically (the shared member directory,
master data), below both shells so neither imports the other: the same schema and
the same code at both ends keep their bytes and digests equal."""
