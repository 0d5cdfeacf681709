"""One set of electrical readings, preallocated once and updated in place every tick."""


class Reading:
    def __init__(self):
        self.V = 0.0  # Voltage, V rms
        self.I = 0.0  # Current, A rms
        self.P = 0.0  # Power (active), W
        self.S = 0.0  # ApparentPower, VA
        self.PF = 0.0  # Factor
        self.Hz = 0.0  # Frequency
        self.temp = 0.0  # controller temperature, degC
        self.mains = True  # supply present
        self.dark = False  # photocell says dark (if fitted)
        self.ok = False  # the front end delivered a valid measurement this tick
