"""Watchdog policy: the hardware watchdog is fed only while every registered task is healthy.

A task (the main loop, later the network service) registers with the longest
silence it may keep and beats whenever it makes progress. One stalled task
stops the feeding, so the board resets instead of running half-alive; the
boot-loop guard (lamppost.safe) turns repeated resets into safe mode.
"""


class Health:
    def __init__(self):
        self.tasks = {}  # name -> [last beat, max silence s]
        self.stale = None  # name of the first task found stale, for reports

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
        """True when every task beat within its limit; otherwise remembers the stale one."""
        for name, t in self.tasks.items():
            if now - t[0] > t[1]:
                self.stale = name
                return False
        self.stale = None
        return True
