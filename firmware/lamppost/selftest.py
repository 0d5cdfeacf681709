"""SelfTest: switch off, on, dim, off again and judge what the meter saw at each step.

As controllers do after mains returns: it proves the relay switches both
ways, the lamp draws about its rated power, and dimming lowers it. Each step
holds its outputs for a settle time (LED 5 s, HPS warm-up 240 s), then takes
the reading. It runs as the schedule's highest priority and reports once, at
the end, through done(result).
"""

# (name, relay, dim)
STEPS = (("off", False, 100), ("on", True, 100), ("dim", True, 50), ("off2", False, 100))


class SelfTest:
    def __init__(self, now, rated_w, settle_s, done, on_w=6.0):
        self.rated_w = rated_w
        self.settle_s = settle_s
        self.on_w = on_w  # more than this with the relay open means the relay is stuck closed
        self.done = done
        self.i = 0
        self.t0 = now
        self.seen = {}
        self.result = None

    def state(self):
        if self.result is not None:
            return self.result
        return {"state": "running", "step": STEPS[self.i][0]}

    def step(self, now, r):
        """(relay, dim) to hold now, or None when finished."""
        if self.i >= len(STEPS):
            return None
        name, on, dim = STEPS[self.i]
        if now - self.t0 >= self.settle_s:
            self.seen[name] = round(r.P, 1) if r.ok else None
            self.i += 1
            self.t0 = now
            if self.i >= len(STEPS):
                self.result = self.judge()
                self.done(self.result)
                return None
            name, on, dim = STEPS[self.i]
        return on, dim

    def judge(self):
        s = self.seen
        found = []
        if None in s.values():
            found.append("no valid meter reading")
        else:
            if s["off"] > self.on_w or s["off2"] > self.on_w:
                found.append("power with relay open: relay stuck closed")
            if s["on"] < 0.5 * self.rated_w:
                found.append("lamp draws %.0f%% of rated power when on" % (100 * s["on"] / self.rated_w))
            elif s["on"] > 1.3 * self.rated_w:
                found.append("lamp draws %.0f%% of rated power" % (100 * s["on"] / self.rated_w))
            elif s["dim"] > 0.8 * s["on"]:
                found.append("dimming to 50% did not lower the power")
        return {"state": "pass" if not found else "fail", "found": found,
                "Power": {"off": s.get("off"), "on": s.get("on"), "dim50": s.get("dim"),
                          "off_again": s.get("off2")}}
