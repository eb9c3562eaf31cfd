"""The `branchline` command: one CLI over HQ, nodes, `up` and simulations."""
