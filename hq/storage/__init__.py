"""HQ's storage behind one small interface; SQLite is the embedded default."""
