"""Watchdog policy (lamppost.health) on MicroPython: stale tasks stop the feeding, clock jumps do not."""
from lamppost.health import Health


def test_a_silent_task_turns_unhealthy_and_recovers_on_its_beat():
    h = Health()
    h.watch("loop", 10, 1000)
    h.watch("net", 60, 1000)
    states = []
    for now in range(1001, 1100):
        h.beat("loop", now)
        if now == 1080:
            h.beat("net", now)
        states.append(h.ok(now))
    assert all(states[:60]) and not any(states[60:79]) and all(states[79:])


def test_setting_the_clock_does_not_starve_the_watchdog():
    for jump in (820000000, 3600, -3600, 7):
        h = Health()
        h.watch("net", 60, 100)
        assert h.ok(101)
        # NTP sets the clock between two ticks; checks then go on once a second
        states = [h.ok(now + jump) for now in range(102, 180)]
        assert all(states[:59]), jump
        assert not any(states[60:]), jump  # silence after the jump still counts
