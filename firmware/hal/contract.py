"""The HAL contract: every member the firmware core (lamppost/) may use of a HAL.

Documentation and a check, never loaded on a board (lampctl build leaves it out):
tests/test_hal_contract.py parses hal/host.py and hal/esp32.py (with its mixin
hal/esp32_net.py) and fails when either lacks a member named here, or when a
module under lamppost/ imports hal, machine or network. main.py picks the HAL
once and passes it into lamppost.app.main / lamppost.safe.main; the core never
tests hasattr/getattr for a platform gap: a platform that has nothing to do
implements the member as a no-op (or says so in an attribute).

Times are 2000-epoch seconds (lamppost/clock.py). `r` is a lamppost.reading.Reading.
"""


class Hal:
    """Attributes (class or instance) and methods; the docstrings are the contract."""

    name = "host"  # "host" or "esp32": Status shows it
    chip = "host"  # the chip an OTA bundle must be built for: "host" (the simulator), "esp32", "esp32s3", ...
    repl = False  # True when Maintenance can hand a REPL over for a deploy (ESP32)
    watchdog = False  # True when a hardware watchdog runs: the core must feed() it (lamppost/health.py Watchdog)
    raw = memoryview(b"")  # front-end bytes of the last tick, decoded by lamppost/meter.py
    relay = False  # last lamp output set
    dim = 100  # last dim level set, 0-100
    now = 0  # time of the last tick

    def wait_tick(self, r):
        """Block until the next one-second tick; fill r.mains, r.dark, r.temp and raw; return the time."""
        raise NotImplementedError

    def set_lamp(self, on, dim):
        """Switch the relay on/off and set the dim level (0-100 %)."""

    def uart_write(self, data):
        """Send bytes on the console; bounded time per tick (see uart_busy)."""

    def uart_busy(self):
        """True once this tick's console send budget is spent: the console answers `busy`."""
        return False

    def uart_read(self):
        """Console bytes waiting (a buffer valid until the next call), or None; never blocks."""
        return None

    def reset_cause(self):
        """Why the board restarted, in words: "power-on", "watchdog", "reset-or-panic", ..."""
        return "power-on"

    def reset(self, code=1):
        """Restart; never returns. Code 0 is a deliberate restart, anything else a crash
        (the ESP32 marks the RTC boot record so boot.py counts only crashes)."""
        raise SystemExit(code)

    def maintenance(self):
        """Make the next boot a safe-mode boot with the REPL for a deploy, then restart (only when repl)."""

    def feed(self):
        """Feed the hardware watchdog (no-op without one)."""

    def clear_crashes(self):
        """Zero the boot-loop counter in the RTC boot record (no-op without one)."""

    def wifi_start(self, cfg):
        """Join the WiFi named in cfg (wifi_ssid, wifi_pass, id); no-op where the link is given."""

    def net_up(self):
        """True while the network is associated; never blocks."""
        return False

    def wifi_info(self):
        """{"rssi": dBm, "channel": n, "ssid": name} of the link, or None where there is no
        radio to ask (STATE's Wifi, lamppost/uplink.py); never blocks."""
        return None

    def session_time(self, now):
        """Seconds on the clock of the console's login and lockout timers, given the tick's
        time now. A board: now. The simulator's --console runs: wall seconds, so a person's
        login lasts login_s of their time however fast the simulation runs (hal/host.py)."""
        return now

    def net_open(self, host, port, tls=False, ca=None, fresh=False):
        """A non-blocking TCP (TLS with the DER CA file ca) socket whose connect has begun;
        fresh: resolve the name again (hal/sockets.py)."""
        raise OSError(113)
