"""Pure merge rules for what more than one place may write (the member directory)."""
