"""Watchdog policy: the hardware watchdog is fed only while every registered task is healthy.

A task (the main loop, the network task in uplink.py) registers with the longest
silence it may keep and beats whenever it makes progress. One stalled task
stops the feeding, so the board resets instead of running half-alive; the
boot-loop guard (hal/bootrec.py, boot.py) turns repeated resets into safe mode.
`Watchdog` is that policy for a HAL whose `watchdog` is on; the HAL only feeds.
"""
from micropython import const

STABLE_S = const(600)  # ticks of normal running that clear the boot-loop counter


class Health:
    def __init__(self, max_step=5):
        self.tasks = {}  # name -> [last beat, max silence s]
        self.stale = None  # name of the first task found stale, for reports
        self.last = None  # time of the previous check
        self.max_step = max_step  # checks come every second: a bigger step is the clock being set

    def watch(self, name, max_s, now):
        """Register task name, which must beat at least every max_s seconds from now on."""
        self.tasks[name] = [now, max_s]

    def beat(self, name, now):
        t = self.tasks.get(name)
        if t is not None:
            t[0] = now

    def ok(self, now):
        """True when every task beat within its limit; otherwise remembers the stale one.

        Called once a tick. When the clock jumps (NTP setting it, backwards or by
        hours), every beat moves with it, so setting the time never starves the watchdog.
        """
        last = self.last
        if last is not None and not 0 <= now - last <= self.max_step:
            shift = now - last - 1
            for t in self.tasks.values():
                t[0] += shift
        self.last = now
        for name, t in self.tasks.items():
            if now - t[0] > t[1]:
                self.stale = name
                return False
        self.stale = None
        return True


class Watchdog(Health):
    """The feeding policy over a HAL with a hardware watchdog (hal.watchdog, ESP32 normal mode).

    App calls tick(now) after every hal.wait_tick: the main loop is a task that
    must beat every 10 s; the HAL's watchdog is fed only while every task is
    healthy; after STABLE_S ticks (ticks, not the clock: NTP may jump it) the
    boot-loop counter is cleared once (hal.clear_crashes).
    """

    def __init__(self, hal):
        super().__init__()
        self.hal = hal
        self.ticks = 0

    def tick(self, now):
        if self.ticks == 0:
            self.watch("loop", 10, now)
        self.ticks += 1
        self.beat("loop", now)
        if self.ok(now):
            self.hal.feed()
        if self.ticks == STABLE_S + 1:
            self.hal.clear_crashes()
