"""Fault detection: each TALQ alarm is a small state machine over the readings.

An alarm's condition is only judged while it is observable (e.g. lampFailure
only while the lamp is commanded on, past the blanking time after a switch);
otherwise the alarm holds its state. A condition must persist `raise_s`
seconds to raise and be absent `clear_s` seconds to clear, which filters
restrikes, inrush and single noisy samples. Each alarm counts its raises
(DALI-2 Part 253 style) and the counts are persisted by the caller.
"""
from micropython import const

RAISED = const(1)
CLEARED = const(2)

LAMP_FAILURE = "lampFailure"
LAMP_UNEXPECTED_ON = "lampUnexpectedOn"


class Alarm:
    """Raise after the condition holds raise_s seconds, clear after it is gone clear_s."""

    def __init__(self, name, raise_s, clear_s, count=0):
        self.name = name
        self.raise_s = raise_s
        self.clear_s = clear_s
        self.active = False
        self.since = -1  # when the condition last started to disagree with `active`
        self.count = count

    def update(self, now, observable, cond):
        """RAISED or CLEARED on a change of state, else 0."""
        if not observable or cond == self.active:
            self.since = -1
            return 0
        if self.since < 0:
            self.since = now
        if now - self.since >= (self.raise_s if cond else self.clear_s):
            self.active = cond
            self.since = -1
            if cond:
                self.count += 1
                return RAISED
            return CLEARED
        return 0


class Engine:
    """Judges every alarm once per tick against the expected power of the lamp."""

    def __init__(self, cfg, counts=None):
        counts = counts or {}
        self.rated_w = cfg["rated_w"]
        self.blank_s = 2  # after a switch: inrush and the one-tick actuator delay
        self.fail_frac = 0.2  # lampFailure below 20% of expected (Echelon CPD 3000 default)
        self.on_w = max(6.0, 0.1 * self.rated_w)  # lit while commanded off (Echelon: >6 W)
        self.alarms = [
            Alarm(LAMP_FAILURE, 2, 5, counts.get(LAMP_FAILURE, 0)),
            Alarm(LAMP_UNEXPECTED_ON, 2, 5, counts.get(LAMP_UNEXPECTED_ON, 0)),
        ]
        self.switched = -10**6

    def switch(self, now):
        """Tell the engine the lamp was just commanded on or off (starts blanking)."""
        self.switched = now

    def expected_w(self, dim):
        return self.rated_w * dim / 100.0

    def step(self, now, cmd_on, dim, r, out):
        """Judge the alarms; call out(alarm, RAISED|CLEARED) for each change."""
        settled = r.ok and r.mains and now - self.switched >= self.blank_s
        fail, uon = self.alarms
        ch = fail.update(now, settled and cmd_on, r.P < self.fail_frac * self.expected_w(dim))
        if ch:
            out(fail, ch)
        ch = uon.update(now, settled and not cmd_on, r.P > self.on_w)
        if ch:
            out(uon, ch)

    def counts(self):
        return {a.name: a.count for a in self.alarms}

    def active(self):
        return [a.name for a in self.alarms if a.active]
