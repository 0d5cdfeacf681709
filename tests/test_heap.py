"""The firmware's heap stays flat in the heap budget: no crash, no growth from one day to the next.

The budget is the simulator's default heap (simulator.firmware_proc.DEFAULT_HEAP).

A two-day proof (about 10 s); `make bench` (bench/bench_heap.py) runs the full week.
"""
from simulator.firmware_proc import DEFAULT_HEAP
from simulator.heapprobe import measure

TOLERANCE = 1024  # bytes: free-heap high-water marks are read without a forced collect


def test_two_days_in_the_heap_budget_without_crash_or_heap_growth():
    run = measure(days=2, heap=DEFAULT_HEAP, every=60)
    assert run.crashes == 0
    assert len(run.samples) > 2000  # the console answered all along
    hw = run.high_water()
    assert sorted(hw) == [0, 1]
    assert hw[1] >= hw[0] - TOLERANCE, hw
    assert min(free for _, free in run.samples) > 0
