"""The firmware's heap stays flat in the heap budget: no crash, no growth from one day to the next.

The budget is the simulator's default heap (simulator.firmware_proc.DEFAULT_HEAP).

A two-day proof: 172,800 virtual seconds of the real firmware. Measured 2026-12-01 on
merged main: 230 to 540 s on 2 cores under a load average of 12-20 (about 1,100 virtual seconds per
second, the same as before the merge); the cost is the simulation, not a crash or growth.
`make bench` (bench/bench_heap.py) runs the full week.
"""
import pytest

from simulator.firmware_proc import DEFAULT_HEAP
from simulator.heapprobe import measure

TOLERANCE = 1024  # bytes: free-heap high-water marks are read without a forced collect


@pytest.mark.timeout(1200)  # the suite's 300 s is for one hung test; this one is long by design
def test_two_days_in_the_heap_budget_without_crash_or_heap_growth():
    run = measure(days=2, heap=DEFAULT_HEAP, every=60)
    assert run.crashes == 0
    assert len(run.samples) > 2000  # the console answered all along
    hw = run.high_water()
    assert sorted(hw) == [0, 1]
    assert hw[1] >= hw[0] - TOLERANCE, hw
    assert min(free for _, free in run.samples) > 0
