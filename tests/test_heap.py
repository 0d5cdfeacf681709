"""The firmware's heap stays flat in a 64 KB heap: no crash, no growth from one day to the next.

A two-day proof (about 10 s); `make bench` (bench/bench_heap.py) runs the full week.
"""
from simulator.heapprobe import measure

TOLERANCE = 1024  # bytes: free-heap high-water marks are read without a forced collect


def test_two_days_in_64k_without_crash_or_heap_growth():
    run = measure(days=2, heap="64k", every=60)
    assert run.crashes == 0
    assert len(run.samples) > 2000  # the console answered all along
    hw = run.high_water()
    assert sorted(hw) == [0, 1]
    assert hw[1] >= hw[0] - TOLERANCE, hw
    assert min(free for _, free in run.samples) > 0
