"""The ESP32 HAL against fake peripherals that follow the ESP32 port's API."""
import json
import struct
import machine
import board
from lamppost.reading import Reading

NIGHT = 821822400
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


def test_adc_front_end_window():
    board.fresh(files={"config.json": CFG})
    seq = [0]
    import hal.esp32

    def wave():
        seq[0] += 1
        hal.esp32.time.us += 50  # an ESP32 ADC read takes tens of microseconds
        return 1000000 + seq[0] * 1000
    machine.ADC_UV[34] = wave
    machine.ADC_UV[35] = 2000000
    h = board.hal(NIGHT, sensor="adc")
    h.wait_tick(Reading())
    raw = bytes(h.raw)
    n, us = struct.unpack_from("<HH", raw, 0)
    assert n == 400 and len(raw) == 4 + 4 * n and 50 <= us < 60, (n, us)
    pairs = struct.unpack_from("<%dH" % (2 * n), raw, 4)
    assert pairs[1] == 2000 and pairs[3] == 2000
    assert pairs[2] - pairs[0] == 1  # consecutive voltage samples, in mV


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


def test_board_json_moves_pins():
    board.fresh(files={"config.json": CFG, "board.json": json.dumps({"relay": 4})})
    h = board.hal(NIGHT)
    h.set_lamp(True, 100)
    assert machine.PINS[4].value() == 1


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
    assert st["hal"] == "esp32" and st["lamp"] == "on"
    assert machine.PINS[26].value() == 1
    assert machine.WDTS[0].feeds >= 1190
