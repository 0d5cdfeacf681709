"""The console's output budget on the ESP32 HAL: a burst costs a tick a bounded UART time.

At 115200 baud a byte takes ~87 us and a console write blocks until the UART
has it. Before, ten `Status` lines in one read were all answered in one tick
(~24 KB, ~2 s blocked; 500 would outlast the 30 s watchdog). Now a tick runs
commands until 1 KB went out and answers the rest `busy`.
"""
import json
import machine
import board

NIGHT = 821822400
CFG = json.dumps({"id": "NL-0001", "lat": 52.03, "lon": 5.56, "sensor": "ideal"})
BOUND = 6000  # bytes a tick: 1 KB budget + one Status (~2.5 KB) + `busy` lines for 64 bytes read


class _Meter:
    """The console stream, recording how many bytes each tick wrote."""

    def __init__(self, hal, inner):
        self.hal = hal
        self.inner = inner
        self.per_tick = {}

    def any(self):
        return self.inner.any()

    def readinto(self, buf):
        return self.inner.readinto(buf)

    def write(self, data):
        self.per_tick[self.hal.now] = self.per_tick.get(self.hal.now, 0) + len(data)
        self.inner.write(data)


def test_a_burst_is_answered_over_ticks_within_the_budget():
    from lamppost import app
    board.fresh(files={"config.json": CFG})
    board.boot()
    h = board.hal(NIGHT, until=NIGHT + 30)
    m = h._console = _Meter(h, h._console)
    machine.UARTS[0].rx.extend(b"Status\n" * 10)
    try:
        app.App(h).run()
    except board.Stop:
        pass
    lines = [json.loads(x) for x in bytes(machine.UARTS[0].tx).decode().splitlines()]
    replies = [d for d in lines if "cmd" in d]
    assert [d["cmd"] for d in replies] == ["status"] * 10, replies  # one reply per line
    done = [d for d in replies if d.get("error") != "busy"]
    assert 1 <= len(done) < 10 and all("fw" in d for d in done), len(done)
    assert max(m.per_tick.values()) <= BOUND, m.per_tick
