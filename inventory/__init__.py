"""Inventory rules that need no I/O: costing (I8). Pure, like protocol/ and conflict/."""
