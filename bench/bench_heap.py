"""Heap over a simulated week in the stated budget (the simulator default), and the smallest heap that survives two days.

The simulator may load the firmware from source, which needs heap to compile:
on a board the bundle is .mpy, so "does not boot" here is an upper bound.
"""
import json
from pathlib import Path

from simulator.broker import Broker
from simulator.firmware_proc import DEFAULT_HEAP
from simulator.heapprobe import HeapRun, measure

BUDGET = DEFAULT_HEAP  # the heap the simulator gives the firmware: the stated budget


def _week_table(week: HeapRun, what: str) -> int:
    """Print the per-day free heap of a week's run; return its growth from day 2 to day 7 in bytes."""
    hw, lw = week.high_water(), week.low_water()
    print(f"week {what} in -X heapsize={BUDGET}: {week.ticks} ticks in {week.wall_s:.1f} s, "
          f"{len(week.samples)} heap samples, crashes: {week.crashes}")
    print("day  free high-water B  free low-water B  vs day 2")
    for d in sorted(hw):
        print(f"{d + 1:>3}  {hw[d]:>17}  {lw[d]:>16}  {hw[d] - hw.get(1, hw[d]):>+8}")
    growth = hw.get(1, 0) - min(hw[d] for d in hw if d >= 1)
    print(f"heap growth day 2 -> day 7 (drop of the free high-water mark): {growth} B")
    return growth


def main(out: Path) -> None:
    week = measure(days=7, heap=BUDGET, every=60)
    hw, lw = week.high_water(), week.low_water()
    growth = _week_table(week, "serial only")
    with Broker("auto") as b:  # the same week with WiFi/MQTT up: the session's buffers stay live
        mq = measure(days=7, heap=BUDGET, every=60, broker=b.addr)
    mq_growth = _week_table(mq, f"with MQTT ({b.kind})")
    smallest = None
    kb = int(BUDGET.rstrip("k"))
    for size in [f"{kb - 8 * i}k" for i in range(1, 6)]:
        try:
            r = measure(days=2, heap=size, every=600)
        except Exception as e:  # noqa: BLE001 - the firmware did not even boot
            print(f"two days in -X heapsize={size}: does not boot ({type(e).__name__}: {e})")
            break
        print(f"two days in -X heapsize={size}: crashes {r.crashes}")
        if r.crashes:
            break
        smallest = size
    print(f"smallest heap that ran two days without a crash: {smallest}")
    (out / "heap.json").write_text(json.dumps({
        "budget": BUDGET, "ticks": week.ticks, "wall_s": week.wall_s, "crashes": week.crashes,
        "high_water": hw, "low_water": lw, "growth_day2_to_day7": growth, "smallest_2d_heap": smallest,
        "mqtt_week": {"crashes": mq.crashes, "high_water": mq.high_water(), "low_water": mq.low_water(),
                      "growth_day2_to_day7": mq_growth},
    }, indent=1))
