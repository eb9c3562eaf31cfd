"""Branchline's own server processes on loopback: started as `python -m branchline ...`,
awaited until they answer, stopped cleanly or killed. Shared by `branchline up` and
the simulator's real-process mode, so neither reaches into the other; and logging in
to them as a client (launch.logins), which the benchmarks use too."""
