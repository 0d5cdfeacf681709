"""What a scenario is, apart from the TOML that spells it (simulator/scenario.py): the post
as configured (`Post`: lamp, sensor, place; the physics of a post is models/world.py
`PhysicalPost`), the injected faults, the run, and the causes and alarm names they map to;
parse_time reads the ISO UTC times of scenarios and of the firmware's reports alike."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

LAMPS = ("led", "hps")
SENSORS = ("ideal", "adc", "cse7766")

# physical cause -> the TALQ alarms it should raise (../shared/NOTES.md)
CAUSES: dict[str, tuple[str, ...]] = {
    "lamp_dead": ("lampFailure",),
    "relay_welded": ("lampUnexpectedOn", "relayFailure"),
    "relay_open": ("relayFailure", "lampFailure"),
    "hid_end_of_life": ("cyclingFailure",),
    "led_string_open": ("lampPowerTooLow",),
    "driver_fault_high": ("lampPowerTooHigh",),
    "capacitor_failed": ("powerFactorTooLow",),
    "supply_sag": ("supplyVoltageTooLow",),
    "supply_swell": ("supplyVoltageTooHigh",),
    "mains_loss": ("supplyLoss",),
    "dimming_stuck": ("dimmingFailure",),
    "overheat": ("highTemperature",),
    # the photocell is no lamp: TALQ's LampMonitorFunction has no event for it, so the
    # firmware reports it as its own event (`ev: photocell`, state fault/ok), which the
    # scorer counts under that name (simulator/score.py alarm_records)
    "photocell_stuck_dark": ("photocell",),
    "photocell_stuck_light": ("photocell",),
}
PHOTOCELL_CAUSES = ("photocell_stuck_dark", "photocell_stuck_light")
# every alarm name the scorer sees: the firmware's twelve TALQ alarms and its photocell event
ALARM_NAMES = ("lampFailure", "lampUnexpectedOn", "cyclingFailure", "lampPowerTooLow",
               "lampPowerTooHigh", "powerFactorTooLow", "supplyVoltageTooLow",
               "supplyVoltageTooHigh", "supplyLoss", "relayFailure", "dimmingFailure",
               "highTemperature", "photocell")




def show_value(v) -> str:
    """A value as a message shows it: repr, cut to 40 characters (files are untrusted)."""
    r = v.isoformat() if isinstance(v, (dt.date, dt.time)) else repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


def parse_time(text) -> int:
    """Unix seconds of an ISO 8601 UTC time (a TOML datetime or a string)."""
    if isinstance(text, dt.datetime):
        t = text
    elif isinstance(text, str):
        try:
            t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{show_value(text)} is not an ISO time like 2026-01-15T22:00:00Z") from None
    else:
        raise ValueError(f"{show_value(text)} is not an ISO time like 2026-01-15T22:00:00Z")
    if t.tzinfo is None:
        raise ValueError(f"{show_value(text)} has no time zone; end it with Z for UTC")
    try:
        return int(t.timestamp())
    except (OverflowError, ValueError):
        raise ValueError(f"{show_value(text)} is outside the years 2000-2099") from None


def active(at: int, until: int | None, t: int) -> bool:
    """Whether something that starts at `at` and ends at `until` (exclusive; None: never)
    is in effect at t: the one rule for faults, mains cuts and network events."""
    return at <= t and (until is None or t < until)


@dataclass
class Fault:
    kind: str
    at: int  # unix seconds
    until: int | None = None
    params: dict = field(default_factory=dict)

    @property
    def expected(self) -> tuple[str, ...]:
        return CAUSES[self.kind]

    def active(self, t: int) -> bool:
        return active(self.at, self.until, t)


@dataclass
class Post:
    id: str = "NL-0001"
    lamp: str = "led"
    rated_w: float = 60.0
    latitude: float = 52.03
    longitude: float = 5.56
    sensor: str = "ideal"
    holdup_s: float = 2.0  # seconds the board runs on its capacitor after the mains goes
    strings: int = 4  # LED strings in the luminaire (led_string_open drops ~1/N)
    ct_a: float = 0.0  # adc front end: CT/shunt full-scale, A peak (0 = sized from rated_w)
    photocell: bool = False  # a photocell is fitted (tick flag bit 1; config `photocell`)
    nominal_v: float = 230.0  # the post's rated supply (lamp, ballast, firmware `nominal_v`)
    hz: int = 50  # and frequency (firmware `hz`)


@dataclass
class Scenario:
    path: str
    post: Post
    start: int  # unix seconds
    duration: int  # seconds
    seed: int
    faults: list[Fault]
    supply: dict = field(default_factory=dict)  # [supply] keys (simulator/models/params.py)
    # [firmware]: extra config.json keys provisioned to the post (dim_level, thresholds...);
    # the firmware validates them and reports any it rejects as an `error` report
    firmware: dict = field(default_factory=dict)
    network: list = field(default_factory=list)  # simulator.netproxy.NetEvent, from [[network]]
    # [climate]: mean/daily/seasonal degC (simulator/models/params.py CLIMATE); {} = legacy 10 +- 6
    climate: dict = field(default_factory=dict)
    # [expect]: not_raised (alarm names that must never be raised in the run) and timezone
    # (IANA name: the dimming window is checked against that zone's civil time)
    expect: dict = field(default_factory=dict)

    @property
    def end(self) -> int:
        return self.start + self.duration
