"""Reading wrk's report (benchmarks.http_load): the latency percentiles come from the
distribution's own lines, whatever the stdev columns above them end in."""

from __future__ import annotations

import pytest

from benchmarks.http_load import Phase, _wrk_ms, read_wrk

# wrk --latency's report, as printed, with a stdev column that ends in "50%" just
# above the distribution (which once read the word "Latency" as the median).
REPORT = """Running 5s test @ http://127.0.0.1:8702/api/sales
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.10ms    1.20ms  20.00ms   87.00%
    Req/Sec     1.00k   100.00     1.20k    72.50%
  Latency Distribution
     50%  500.00us
     75%    3.50ms
     90%    4.00ms
     99%    2.50s
  10000 requests in 5.00s, 2.00MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:   2000.00
"""


def test_the_percentiles_are_read_from_the_distribution_lines() -> None:
    assert read_wrk(REPORT, "checkout") == Phase("checkout", 2000.0, 0.5, 2500.0, 7)


def test_a_latency_in_an_unknown_unit_is_refused_by_name() -> None:
    with pytest.raises(RuntimeError, match="cannot read: 'Latency'"):
        _wrk_ms("Latency")
