"""Serial console: reply latency (wall and simulated ticks), reply sizes, heap, event-log flash writes.

Runs the real firmware unpaced (as fast as lockstep goes) and talks to it
through the simulator's pty with lampctl's serial layer, like a technician.
"""
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

from host_tools.lampctl import serial_link as sl
from testbed.cli import DEMO
from simulator.firmware_proc import DEFAULT_HEAP
from simulator.runner import Simulation
from simulator.scenario import load

COMMANDS = [("Alarms", ""), ("Readings", ""), ("Status", ""), ("Log", "20"), ("Config", ""),
            ("Help", ""), ("Nonsense", "x")]
N = 30


def _sim(path, speed=None):
    sim = Simulation(load(str(path)), speed=speed, hold=True)
    th = threading.Thread(target=sim.run, daemon=True)
    th.start()
    sim.ready.wait(30)
    return sim, th


def main(out: Path) -> None:
    sim, th = _sim(DEMO)
    rows = []
    try:
        with sl.Device(sim.serial_path, timeout=10) as dev:
            for cmd, payload in COMMANDS:
                wall, ticks, size = [], [], 0
                for _ in range(N):
                    t0, k0 = time.perf_counter(), sim.results.ticks
                    r = dev.request(cmd, payload)
                    wall.append(time.perf_counter() - t0)
                    ticks.append(sim.results.ticks - k0)
                    size = len(json.dumps(r))
                rows.append({"command": f"{cmd} {payload}".strip(), "wall_ms": 1e3 * statistics.median(wall),
                             "ticks": statistics.median(ticks), "bytes": size})
            mem = dev.request("Status", "mem")["mem"]
            # let the demo's two days run out, then ask how often the event log touched flash
            while sim.results.ticks < sim.sc.duration:
                time.sleep(0.2)
            days = sim.results.ticks / 86400
            writes = dev.request("Status", "mem")["mem"]["log_writes"]
            entries = len(dev.request("Log", "20")["entries"])
    finally:
        sim.stop()
        th.join(10)
        sim.close()
    print(f"{'command':<12} {'median wall':>12} {'ticks':>6} {'reply bytes':>12}")
    for r in rows:
        print(f"{r['command']:<12} {r['wall_ms']:>9.2f} ms {r['ticks']:>6.0f} {r['bytes']:>12}")
    base = rows[0]["wall_ms"]
    print(f"Status costs {rows[2]['wall_ms'] / base:.1f}x an Alarms round trip "
          f"(handlers are imported per command)")
    print(f"heap with the read handlers loaded: {mem['heap_used']} B used, {mem['heap_free']} B free "
          f"of the {DEFAULT_HEAP} heap (64-bit unix port)")
    print(f"event log: {writes} flash appends in {days:.1f} simulated days "
          f"({writes / days:.0f}/day; budget <= 1440/day steady)")
    (out / "console.json").write_text(json.dumps(
        {"commands": rows, "heap": mem, "log_writes": writes, "days": days,
         "log_entries_seen": entries}, indent=1))


if __name__ == "__main__":
    main(Path(tempfile.mkdtemp()))
