"""The ESP32 HAL against fake peripherals that follow the ESP32 port's API."""
import json
import struct
import machine
import board
from hal import bootrec
from lamppost.reading import Reading

NIGHT = 821822400


def _find(d, key):
    """d[key] in a reply, wherever the console nests it (Status has sections)."""
    if isinstance(d, dict):
        if key in d:
            return d[key]
        for v in d.values():
            got = _find(v, key)
            if got is not None:
                return got
    return None
CFG = json.dumps({"id": "NL-0001", "lat": 52.03, "lon": 5.56, "sensor": "ideal"})


def test_inputs_fill_the_reading():
    board.fresh(files={"config.json": CFG})
    h = board.hal(NIGHT)
    r = Reading()
    machine.PINS[27].value(0)  # opto pulls low: mains present
    machine.PINS[14].value(1)  # photocell: dark
    machine.ADC_UV[36] = 1650000  # NTC = 10k: 25 degC
    t = h.wait_tick(r)
    assert t == NIGHT + 1 or t == NIGHT
    assert r.mains and r.dark and abs(r.temp - 25.0) < 0.1
    machine.PINS[27].value(1)
    machine.PINS[14].value(0)
    machine.ADC_UV[36] = 0  # shorted sensor
    h.wait_tick(r)
    assert not r.mains and not r.dark and r.temp == -273.0


def test_ticks_are_one_rtc_second_apart():
    board.fresh(files={"config.json": CFG})
    h = board.hal(NIGHT)
    r = Reading()
    ts = [h.wait_tick(r) for _ in range(5)]
    assert [b - a for a, b in zip(ts, ts[1:])] == [1, 1, 1, 1]
    assert h.now2000() < 2 ** 30  # small int on a 32-bit board


def test_lamp_relay_and_dimming_pwm():
    board.fresh(files={"config.json": CFG})
    h = board.hal(NIGHT)
    h.set_lamp(True, 40)
    assert machine.PINS[26].value() == 1
    assert machine.PINS[25].pwm.duty_u16() == 40 * 65535 // 100
    h.set_lamp(False, 100)
    assert machine.PINS[26].value() == 0


def test_adc_window_decodes_to_the_mains_it_sampled(before_wrap=None):
    """A 230 V / 0.26 A in-phase sine at the ADC pins, sampled by the HAL, read back by the meter."""
    import math
    import hal.esp32
    from lamppost.meter import Meter
    board.fresh(files={"config.json": CFG})

    def wave(peak_uv, lag_us):
        def read():
            t = (hal.esp32.time.us + lag_us) * 1e-6
            return int(1300000 + peak_uv * math.sin(2 * math.pi * 50.0 * t))
        return read
    v_peak = 230.0 * math.sqrt(2) / 400.0 * 1000000  # V_FS 400 V peak = 1000 mV at the pin
    i_peak = 0.26 * math.sqrt(2) / 1.5 * 1000000  # i_fs 1.5 A peak = 1000 mV
    machine.ADC_UV[34] = wave(v_peak, 0)
    machine.ADC_UV[35] = wave(i_peak, 0)
    h = board.hal(NIGHT, sensor="adc", before_wrap=before_wrap)
    h.wait_tick(Reading())
    raw = bytes(h.raw)
    kind, pairs, per, osr = struct.unpack_from("<BHHB", raw, 0)
    assert (kind, pairs, osr, len(raw)) == (0x57, 400, 4, 6 + 4 * 400)
    assert 500 <= per < 540, per  # the schedule held
    r = Reading()
    Meter("adc", v_fs=400.0, i_fs=1.5).decode(h.raw, r)
    assert r.ok
    assert abs(r.V - 230.0) < 4.0, r.V
    assert abs(r.I - 0.26) < 0.01, r.I
    assert abs(r.P - 59.8) < 3.0, r.P
    assert abs(r.Hz - 50.0) < 0.5, r.Hz


def test_adc_sampling_schedule_survives_the_ticks_wrap():
    """ticks_us wraps every 2^30 us (~18 min) on an ESP32: a window across the wrap samples the same."""
    test_adc_window_decodes_to_the_mains_it_sampled(before_wrap=100000)  # wraps mid-window


def test_cse7766_front_end_passes_uart1_bytes():
    board.fresh(files={"config.json": CFG})
    h = board.hal(NIGHT, sensor="cse7766")
    u1 = machine.UARTS[1]
    assert u1.baudrate == 4800
    frame = bytes(range(24))
    u1.rx.extend(frame * 3)
    h.wait_tick(Reading())
    assert bytes(h.raw) == frame * 3
    h.wait_tick(Reading())
    assert len(h.raw) == 0


def test_console_uart_is_non_blocking():
    board.fresh(files={"config.json": CFG})
    h = board.hal(NIGHT)
    assert h.uart_read() is None
    machine.UARTS[0].rx.extend(b"status\n")
    assert bytes(h.uart_read()) == b"status\n"
    h.uart_write(b"x\n")
    assert bytes(machine.UARTS[0].tx) == b"x\n"


def test_reset_cause_names_why_the_board_restarted():
    for cause, name in ((machine.PWRON_RESET, "power-on"), (machine.WDT_RESET, "watchdog"),
                        (machine.SOFT_RESET, "soft-reboot"), (machine.HARD_RESET, "reset-or-panic")):
        board.fresh(cause, files={"config.json": CFG})
        assert board.hal(NIGHT).reset_cause() == name


def _main_hal():
    """Run main.py as the board does after boot.py; returns the HAL it passed to app.main."""
    import sys
    from lamppost import app
    got = []
    real = app.main
    app.main = got.append
    sys.modules.pop("main", None)
    try:
        import main  # noqa: F401
    finally:
        app.main = real
    return got[0]


def test_board_json_moves_pins():
    """main.py builds the HAL from board.json's pins and config.json's sensor."""
    cfg = json.dumps({"id": "NL-0001", "lat": 52.03, "lon": 5.56, "sensor": "cse7766"})
    board.fresh(files={"config.json": cfg, "board.json": json.dumps({"relay": 4})})
    board.boot()
    h = _main_hal()
    h.set_lamp(True, 100)
    assert machine.PINS[4].value() == 1
    assert h.sensor == "cse7766" and h.watchdog and len(machine.WDTS) == 1


def test_whole_firmware_runs_on_the_esp32_hal():
    """App.run on the fake board for 20 minutes of night: boots, switches on, answers Status."""
    from lamppost import app
    board.fresh(files={"config.json": CFG})
    board.boot()
    h = board.hal(NIGHT, until=NIGHT + 1200)
    machine.UARTS[0].rx.extend(b"status\n")
    try:
        app.App(h).run()
    except board.Stop:
        pass
    lines = [json.loads(x) for x in bytes(machine.UARTS[0].tx).decode().splitlines()]
    evs = [d.get("ev") or d.get("cmd") for d in lines]
    assert evs[:2] == ["boot", "switch"], evs
    st = [d for d in lines if d.get("cmd") == "status"][0]
    lamp = st.get("lamp") or (st.get("readings") or {}).get("lamp")  # flat, or in Status sections
    assert _find(st, "hal") == "esp32" and lamp == "on", st
    assert machine.PINS[26].value() == 1
    assert machine.WDTS[0].feeds >= 1190


def test_firmware_meters_and_detects_through_the_esp32_adc():
    """Real sampling path: sines at the ADC pins -> HAL window -> meter -> lampFailure when the lamp dies."""
    import math
    import hal.esp32
    from lamppost import app
    cfg = json.dumps({"id": "NL-0001", "lat": 52.03, "lon": 5.56, "sensor": "adc", "rated_w": 60})
    board.fresh(files={"config.json": cfg})
    board.boot()
    lamp_ok = [True]
    clock = [None]

    def pin(peak_uv, needs_lamp):
        def read():
            if needs_lamp and not (machine.PINS[26].value() and lamp_ok[0]):
                return 1300000
            t = clock[0].us * 1e-6
            return int(1300000 + peak_uv * math.sin(2 * math.pi * 50.0 * t))
        return read
    machine.ADC_UV[34] = pin(230.0 * math.sqrt(2) / 400.0 * 1e6, False)
    machine.ADC_UV[35] = pin(0.26 * math.sqrt(2) / 1.5 * 1e6, True)
    h = board.hal(NIGHT, sensor="adc", until=NIGHT + 40)
    clock[0] = hal.esp32.time
    u = machine.UARTS[0]
    a = app.App(h)
    try:
        a.run()
    except board.Stop:
        pass
    assert abs(a.r.V - 230.0) < 5 and abs(a.r.P - 60.0) < 4, (a.r.V, a.r.P)
    lamp_ok[0] = False  # the LED driver dies
    clock[0].until = NIGHT + 60
    try:
        a.run()
    except board.Stop:
        pass
    alarms = [json.loads(x) for x in bytes(u.tx).decode().splitlines() if b'"alarm"' in x.encode()]
    assert [(d["alarm"], d["state"]) for d in alarms] == [("lampFailure", "raised")], alarms


class _KbdIntr:
    """Stands in for `micropython` inside hal.esp32: records kbd_intr calls."""

    def __init__(self):
        self.calls = []

    def kbd_intr(self, c):
        self.calls.append(c)


def _kbd():
    import hal.esp32
    k = hal.esp32.micropython = _KbdIntr()
    return k


def test_ctrl_c_is_an_ordinary_byte_while_the_firmware_runs():
    """A stray 0x03 from a technician's cable must not stop detection (KeyboardInterrupt would)."""
    from lamppost import app
    board.fresh(files={"config.json": CFG})
    board.boot()
    k = _kbd()
    h = board.hal(NIGHT, until=NIGHT + 120)
    assert k.calls == [-1]  # off before the main loop starts
    machine.UARTS[0].rx.extend(b"\r\x03\x03\r\x01\r\nstatus\n")  # what mpremote sends to stop a program
    try:
        app.App(h).run()
    except board.Stop:
        pass
    lines = [json.loads(x) for x in bytes(machine.UARTS[0].tx).decode().splitlines()]
    assert [d for d in lines if d.get("cmd") == "status"]
    assert machine.WDTS[0].feeds >= 115 and machine.RESETS == []


def test_safe_mode_keeps_ctrl_c_for_mpremote():
    from lamppost import safe
    board.fresh(machine.WDT_RESET, bootrec.record(2, bootrec.RUN), files={"config.json": CFG})
    assert board.boot().MODE
    k = _kbd()
    board.hal(NIGHT)
    assert k.calls == [] and machine.WDTS == []


def test_maintenance_command_restarts_into_safe_mode_with_the_repl():
    """The documented way to the REPL for a deploy: Login, Maintenance (lampctl deploy --pin does it)."""
    from lamppost import app, safe
    board.fresh(files={"config.json": CFG})
    board.boot()
    k = _kbd()
    h = board.hal(NIGHT, until=NIGHT + 60)
    u = machine.UARTS[0]
    u.rx.extend(b"Maintenance\nLogin 0000\nMaintenance\n")
    try:
        app.App(h).run()
    except machine.ResetCalled:
        pass
    else:
        raise AssertionError("Maintenance did not restart the board")
    replies = [json.loads(x) for x in bytes(u.tx).decode().splitlines() if '"cmd"' in x]
    m = [d for d in replies if d["cmd"] == "maintenance"]
    assert m[0]["error"].startswith("login required") and "error" not in m[1], m
    assert machine.RTC_MEM == bootrec.MAINT and k.calls == [-1, 3]
    s = board.boot()
    assert s.MODE and s.REASON == "maintenance"
    k = _kbd()
    board.hal(NIGHT)
    assert machine.WDTS == [] and k.calls == []  # no watchdog, Ctrl-C works: mpremote can copy


def test_maintenance_is_refused_over_mqtt():
    from lamppost import app
    board.fresh(files={"config.json": CFG})
    board.boot()
    a = app.App(board.hal(NIGHT))
    d = a.cmds.execute("maintenance", "", True)  # even signed: no REPL over the air
    assert "serial console" in d["error"] and a.cmds.reboot_at is None
