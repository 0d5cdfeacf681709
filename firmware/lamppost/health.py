"""Watchdog policy: the hardware watchdog is fed only while every registered task is healthy.

A task (the main loop, the network task in net.py) registers with the longest
silence it may keep and beats whenever it makes progress. One stalled task
stops the feeding, so the board resets instead of running half-alive; the
boot-loop guard (lamppost.safe) turns repeated resets into safe mode.
"""


class Health:
    def __init__(self, max_step=5):
        self.tasks = {}  # name -> [last beat, max silence s]
        self.stale = None  # name of the first task found stale, for reports
        self.last = None  # time of the previous check
        self.max_step = max_step  # checks come every second: a bigger step is the clock being set

    def watch(self, name, max_s, now):
        """Register task name, which must beat at least every max_s seconds from now on."""
        self.tasks[name] = [now, max_s]

    def forget(self, name):
        self.tasks.pop(name, None)

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
