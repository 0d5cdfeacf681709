"""Shipping to a board, without hardware: build, provision, flash and deploy command lines."""
from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
import serial
from hypothesis import given, settings, strategies as st

from conftest import mp_env
from host_tools.lampctl import build, flashing, provision
from host_tools.lampctl.cli import main as lampctl
from simulator.firmware_proc import micropython_path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
GOOD = {"id": "NL-0001", "wifi": "Gemeente:s3cretpass", "broker": "mqtt.example.nl:8883",
        "lat": "52.03", "lon": "5.56", "lamp": "led"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    return out, build.build(out, requirements=out / "none.txt")


# --- build -------------------------------------------------------------------------------------

def test_build_compiles_every_module_and_reports_sizes(built):
    out, rep = built
    sources = {p.relative_to(FIRMWARE).with_suffix("").as_posix() for p in FIRMWARE.rglob("*.py")}
    reported = {Path(m.path).with_suffix("").as_posix() for m in rep.modules}
    assert reported == sources
    for src in FIRMWARE.rglob("*.py"):
        mpy = out / "mpy" / src.relative_to(FIRMWARE).with_suffix(".mpy")
        assert mpy.read_bytes()[:2] == b"M\x06", mpy  # .mpy v6
    assert rep.total() == sum(p.stat().st_size for p in (out / "bundle").rglob("*")
                              if p.is_file() and p.name != "MANIFEST.json")
    table = rep.table()
    assert "lamppost/app.mpy" in table and f"{rep.total()}" in table and "v6.3" in table


def test_bundle_is_what_a_board_needs_and_holds_no_test_fakes(built):
    out, rep = built
    bundle = out / "bundle"
    files = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    assert {"boot.py", "main.py", "lamppost/app.mpy", "hal/esp32.mpy", "MANIFEST.json"} <= files
    assert "hal/host.mpy" not in files  # the simulator's HAL stays home
    fakes = {p.stem for p in (ROOT / "tests" / "fakes").glob("*.py")}
    assert {"machine", "network"} <= fakes
    tops = {Path(f).with_suffix("").parts[0] for f in files}
    assert not tops & fakes
    assert not [f for f in files if Path(f).name.startswith("test_") or "tests/" in f]
    manifest = json.loads((bundle / "MANIFEST.json").read_text())
    assert set(manifest["files"]) == files - {"MANIFEST.json"}


def test_check_bundle_refuses_a_fake_or_a_test(tmp_path):
    # the build knows the board's own module names without reading tests/: every fake is one
    assert {p.stem for p in (ROOT / "tests" / "fakes").glob("*.py")} <= set(build.PLATFORM)
    for bad in ("machine.mpy", "lib/network.mpy", "lamppost/test_x.mpy"):
        b = tmp_path / bad.replace("/", "_")
        (b / bad).parent.mkdir(parents=True)
        (b / bad).write_bytes(b"M\x06")
        with pytest.raises(build.BuildError):
            build.check_bundle(b)


def test_compiled_firmware_runs_on_micropython(tmp_path):
    """The .mpy files alone (viper included, built for this host) import and work on MicroPython."""
    build.build(tmp_path, requirements=tmp_path / "none.txt", arch="host")
    code = ("from lamppost import app, safe, clock, health, config, adc\n"
            "import hal.esp32\n"
            "from hal import bootrec\n"
            "assert clock.iso(0) == '2000-01-01T00:00:00Z'\n"
            "assert bootrec.on_boot(bootrec.record(2), bootrec.WDT)[1]\n"
            "print('ok', app.__file__, adc.__file__)\n")
    env = mp_env()
    env["MICROPYPATH"] = f"{tmp_path / 'mpy'}:{ROOT / 'tests' / 'fakes'}"
    p = subprocess.run([micropython_path(), "-X", "heapsize=128k", "-c", code], env=env,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout.startswith("ok") and "adc.mpy" in p.stdout, p.stdout + p.stderr


def test_bundle_is_built_for_the_chips_architecture(built, tmp_path):
    out, rep = built
    assert (rep.chip, rep.arch) == ("esp32", "xtensawin")
    rv = build.build(tmp_path, requirements=tmp_path / "none.txt", chip="esp32c3")
    assert json.loads((tmp_path / "bundle" / "MANIFEST.json").read_text())["arch"] == "rv32imc"
    assert rv.arch == "rv32imc" and "esp32c3 (rv32imc)" in rv.table()
    # the viper code differs; plain bytecode modules do not
    assert (out / "bundle/lamppost/adc.mpy").read_bytes() != (tmp_path / "bundle/lamppost/adc.mpy").read_bytes()
    assert (out / "bundle/lamppost/clock.mpy").read_bytes()[4:] == (tmp_path / "bundle/lamppost/clock.mpy").read_bytes()[4:]


def test_deploy_refuses_a_bundle_for_another_chip(built, capsys):
    out, _ = built
    assert lampctl(["deploy", "--port", "/dev/ttyACM0", "--chip", "esp32c3", "--bundle", str(out / "bundle"),
                    "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "wrong chip" in err and "make firmware CHIP=esp32c3" in err


def _sdist(path: Path) -> Path:
    buf = tarfile.open(path, "w:gz")
    for name, text in {"tinylib-1.0/tinylib/__init__.py": "X = 1\n",
                       "tinylib-1.0/tinylib/core.py": "def f():\n    return 2\n",
                       "tinylib-1.0/setup.py": "raise SystemExit\n",
                       "tinylib-1.0/tests/test_core.py": "assert 0\n"}.items():
        data = text.encode()
        info = tarfile.TarInfo(name)
        info.size = len(data)
        buf.addfile(info, io.BytesIO(data))
    buf.close()
    return path


def test_libraries_are_installed_compiled_into_lib(tmp_path):
    archive = _sdist(tmp_path / "tinylib-1.0.tar.gz")
    req = tmp_path / "req.txt"
    req.write_text(f"# a comment\n{archive}  # pinned archive\n")
    rep = build.build(tmp_path / "out", requirements=req)
    lib = tmp_path / "out" / "bundle" / "lib"
    assert sorted(p.relative_to(lib).as_posix() for p in lib.rglob("*.mpy")) == \
        ["tinylib/__init__.mpy", "tinylib/core.mpy"]
    assert rep.libs == [str(archive)] and "lib/tinylib/core.mpy" in rep.table()


def test_unpinned_library_is_refused(tmp_path):
    req = tmp_path / "req.txt"
    req.write_text("micropython-umqtt.simple\n")
    with pytest.raises(build.BuildError, match="req.txt:1: pin an exact version"):
        build.read_requirements(req)


def test_syntax_error_names_the_module(tmp_path):
    fw = tmp_path / "fw"
    (fw / "lamppost").mkdir(parents=True)
    (fw / "lamppost" / "bad.py").write_text("def f(:\n")
    with pytest.raises(build.BuildError, match="lamppost/bad.py"):
        build.build(tmp_path / "out", requirements=tmp_path / "none", firmware=fw)


# --- provision ---------------------------------------------------------------------------------

def test_provision_writes_a_validated_config_with_credentials(tmp_path, capsys):
    rc = lampctl(["provision", "--id", "NL-0001", "--wifi", "Gemeente:s3cretpass", "--broker",
                  "mqtt.example.nl:8883", "--lat", "52.03", "--lon", "5.56", "--lamp", "hps",
                  "--rated-w", "150", "--out", str(tmp_path)])
    assert rc == 0
    path = tmp_path / "NL-0001" / "config.json"
    cfg = json.loads(path.read_text())
    broker_pass = cfg.pop("mqtt_pass")  # its own broker account (tests/test_broker_acl.py)
    assert len(broker_pass) >= 20 and cfg.pop("mqtt_user") == "NL-0001"
    assert cfg == {"id": "NL-0001", "lamp": "hps", "rated_w": 150.0, "lat": 52.03, "lon": 5.56,
                   "wifi_ssid": "Gemeente", "wifi_pass": "s3cretpass", "mqtt_host": "mqtt.example.nl",
                   "mqtt_port": 8883}
    assert path.stat().st_mode & 0o077 == 0  # credentials: owner only
    assert "s3cretpass" not in capsys.readouterr().out
    # the firmware itself accepts it (same schema): every non-network key loads without problems
    fw = provision.firmware_config()
    assert all(fw.check(k, v) == v for k, v in cfg.items() if k in fw.SCHEMA)


@pytest.mark.parametrize("change,words", [
    ({"id": "NL 0001"}, "id 'NL 0001'"),
    ({"id": "NL/0001"}, "letters, digits"),
    ({"id": "x" * 33}, "1-32"),
    ({"id": None}, "--id"),
    ({"lat": "95"}, "lat: must be within -90.0..90.0"),
    ({"lon": "east"}, "lon: must be a number"),
    ({"wifi": None}, "missing credentials"),
    ({"wifi": "ssidonly"}, "SSID:PASSWORD"),
    ({"wifi": "net:short"}, "8-63"),
    ({"broker": None}, "broker: missing"),
    ({"broker": "host:99999"}, "mqtt_port: must be within 1..65535"),
    ({"lamp": "sodium"}, "lamp: must be one of led|hps"),
    ({"lon": None}, "lat without lon: give both --lat and --lon"),
    ({"lat": None}, "lon without lat: give both --lat and --lon"),
    ({"mqtt-user": "NL-0001"}, "mqtt_user without mqtt_pass: give --mqtt-pass"),
    ({"mqtt-pass": "s3cret"}, "mqtt_pass without mqtt_user"),
])
def test_provision_rejects_bad_input_with_a_clear_error(tmp_path, capsys, change, words):
    fields = {**GOOD, **change}
    argv = ["provision", "--out", str(tmp_path)]
    for k, v in fields.items():
        if v is not None:
            argv += [f"--{k}", v]
    assert lampctl(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err, err
    assert not list(tmp_path.iterdir())


def test_provision_with_json_reports_errors_and_warnings_as_json(tmp_path, capsys):
    base = ["provision", "--out", str(tmp_path), "--id", "NL-1", "--wifi", "G:s3cretpass",
            "--broker", "b"]
    for argv in (["--json", *base, "--lat", "52"], [*base, "--lat", "52", "--json"]):
        assert lampctl(argv) == 2
        out = capsys.readouterr()
        err = json.loads(out.out)
        assert "lat without lon" in err["error"] and err["exit"] == 2 and "lat without lon" in out.err
    assert lampctl(["--json", *base, "--set", "cmd_key"]) == 2
    assert "KEY=VALUE" in json.loads(capsys.readouterr().out)["error"]
    assert not list(tmp_path.iterdir())
    # the default service PIN is accepted but warned about, on stderr and in the JSON
    assert lampctl([*base, "--lat", "52", "--lon", "5", "--json"]) == 0
    out = capsys.readouterr()
    post, = json.loads(out.out)
    assert any("0000" in w for w in post["warnings"]) and "PIN left at the default 0000" in out.err
    assert lampctl([*base, "--lat", "52", "--lon", "5", "--pin", "4711", "--rated-w", "60",
                    "--json"]) == 0
    out = capsys.readouterr()
    post, = json.loads(out.out)
    assert post["warnings"] == [] and "0000" not in out.err and post["settings"]["pin"] == "***"
    assert json.loads((tmp_path / "NL-1" / "config.json").read_text())["pin"] == "4711"


def _der(path: Path) -> Path:
    path.write_bytes(bytes((0x30, 0x82, 0x01, 0x0A)) + b"\1" * 266)  # a DER SEQUENCE header
    return path


def test_provision_writes_the_network_keys_the_readme_documents(tmp_path, capsys):
    ca = _der(tmp_path / "broker-ca.der")
    rc = lampctl(["provision", "--id", "NL-0001", "--wifi", "Gemeente:s3cretpass", "--broker",
                  "mqtt.example.nl", "--tls", "--ca", str(ca), "--set", "cmd_key=hmac-secret",
                  "--set", "mqtt_keepalive=120", "--set", "outbox_max=500", "--out", str(tmp_path / "p")])
    assert rc == 0, capsys.readouterr().err
    d = tmp_path / "p" / "NL-0001"
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["mqtt_tls"] is True and cfg["mqtt_port"] == 8883 and cfg["mqtt_ca"] == "broker-ca.der"
    assert cfg["cmd_key"] == "hmac-secret" and cfg["mqtt_keepalive"] == 120 and cfg["outbox_max"] == 500
    assert (d / "broker-ca.der").read_bytes() == ca.read_bytes()
    assert "hmac-secret" not in capsys.readouterr().out  # uplinkcfg marks cmd_key secret
    # the firmware's load() merges uplinkcfg on a post with a broker: every key passes its check()
    from lamppost_common.firmware import schema  # config.SCHEMA + uplinkcfg.SCHEMA, as load() merges
    assert set(cfg) <= set(schema())


def test_provision_follows_the_firmware_network_limits(tmp_path, capsys):
    long_host = "h" * 65 + ".example.nl"  # uplinkcfg allows 64 characters
    assert lampctl(["provision", "--out", str(tmp_path), "--id", "NL-1", "--wifi", "G:s3cretpass",
                    "--broker", long_host]) == 2
    assert "mqtt_host: must be text of 0-64" in capsys.readouterr().err
    assert lampctl(["provision", "--out", str(tmp_path), "--id", "NL-1", "--wifi", "G:s3cretpass",
                    "--broker", "b:8883", "--tls"]) == 2
    assert "--ca FILE.der" in capsys.readouterr().err
    pem = tmp_path / "ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    assert lampctl(["provision", "--out", str(tmp_path), "--id", "NL-1", "--wifi", "G:s3cretpass",
                    "--broker", "b", "--ca", str(pem)]) == 2
    err = capsys.readouterr().err
    assert "PEM" in err and "-outform der" in err and "Traceback" not in err
    assert not list((tmp_path).glob("NL-1"))


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=0, max_size=40))
def test_post_ids_are_safe_names_or_rejected(pid):
    try:
        cfg = provision.post_config({**GOOD, "id": pid})
    except provision.ProvisionError as e:
        assert "id" in str(e)
        ok = False
    else:
        ok = True
        assert cfg["id"] == pid
    # accepted exactly when it can name an MQTT topic level and a folder
    safe = 1 <= len(pid) <= 32 and pid[0].isascii() and pid[0].isalnum() and all(
        c.isascii() and (c.isalnum() or c in "-_") for c in pid)
    assert ok == safe


@settings(max_examples=60, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(-200, 200))
def test_coordinates_outside_the_globe_are_rejected(lat, lon):
    try:
        cfg = provision.post_config({**GOOD, "lat": lat, "lon": lon})
    except provision.ProvisionError:
        assert not (-90 <= lat <= 90 and -180 <= lon <= 180)
    else:
        assert -90 <= cfg["lat"] <= 90 and -180 <= cfg["lon"] <= 180


def test_many_posts_from_csv_give_one_bundle_config_each(tmp_path):
    csv = tmp_path / "posts.csv"
    csv.write_text("id,lat,lon,lamp,rated_w\nNL-0001,52.03,5.56,led,60\nNL-0002,52.04,5.57,hps,150\n"
                   "NL-0003,52.05,5.58,led,40\n")
    rc = lampctl(["provision", "--from", str(csv), "--wifi", "Gemeente:s3cretpass",
                  "--broker", "mqtt.example.nl", "--out", str(tmp_path / "posts")])
    assert rc == 0
    got = {p.parent.name: json.loads(p.read_text()) for p in (tmp_path / "posts").glob("*/config.json")}
    assert sorted(got) == ["NL-0001", "NL-0002", "NL-0003"]
    assert got["NL-0002"]["lamp"] == "hps" and got["NL-0002"]["rated_w"] == 150.0
    assert all(c["mqtt_host"] == "mqtt.example.nl" and c["wifi_ssid"] == "Gemeente" for c in got.values())


def test_toml_posts_with_one_bad_row_write_nothing(tmp_path, capsys):
    toml = tmp_path / "posts.toml"
    toml.write_text('[defaults]\nwifi = "Gemeente:s3cretpass"\nbroker = "mqtt.example.nl"\n\n'
                    '[[post]]\nid = "NL-0001"\nlat = 52.0\nlon = 5.5\n\n'
                    '[[post]]\nid = "NL-0002"\nlat = 152.0\nlon = 5.5\n\n'
                    '[[post]]\nid = "NL-0001"\nlat = 52.0\nlon = 5.5\n')
    assert lampctl(["provision", "--from", str(toml), "--out", str(tmp_path / "posts")]) == 2
    err = capsys.readouterr().err
    assert "post[1]" in err and "lat" in err and "already used" in err
    assert not (tmp_path / "posts").exists()


# --- flash -------------------------------------------------------------------------------------

def _image(path: Path, chip_id: int) -> Path:
    path.write_bytes(bytes((0xE9, 3, 2, 0x2F)) + b"\0" * 8 + struct.pack("<H", chip_id) + b"\0" * 64)
    return path


@pytest.mark.parametrize("chip,offset,chip_id", [("esp32", "0x1000", 0), ("esp32s3", "0x0", 9),
                                                  ("esp32c3", "0x0", 5)])
def test_flash_command_lines_per_chip(tmp_path, capsys, chip, offset, chip_id):
    img = _image(tmp_path / f"{chip}.bin", chip_id)
    assert lampctl(["--json", "flash", "--port", "/dev/ttyUSB0", "--chip", chip, "--image", str(img),
                    "--dry-run"]) == 0
    erase, write = json.loads(capsys.readouterr().out)["commands"]
    tail = ["-m", "esptool", "--chip", chip, "--port", "/dev/ttyUSB0", "--baud", "460800"]
    assert erase[1:] == tail + ["erase-flash"]
    assert write[1:] == tail + ["write-flash", offset, str(img)]


def test_flash_refuses_missing_image_and_wrong_chip(tmp_path, capsys):
    assert lampctl(["flash", "--port", "/dev/ttyUSB0", "--image", str(tmp_path / "nope.bin")]) == 2
    assert "not found" in capsys.readouterr().err
    img = _image(tmp_path / "s3.bin", 9)
    assert lampctl(["flash", "--port", "/dev/ttyUSB0", "--chip", "esp32", "--image", str(img), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "wrong chip" in err and "esp32s3" in err
    (tmp_path / "fw.uf2").write_bytes(b"UF2\n" * 10)
    assert lampctl(["flash", "--port", "/dev/ttyUSB0", "--image", str(tmp_path / "fw.uf2")]) == 2
    assert "not an ESP firmware image" in capsys.readouterr().err


def test_busy_and_missing_ports_are_named(tmp_path, capsys):
    img = _image(tmp_path / "esp32.bin", 0)
    master, slave = os.openpty()
    path = os.ttyname(slave)
    holder = serial.Serial(path, exclusive=True)  # a serial monitor holds the port
    try:
        assert lampctl(["flash", "--port", path, "--image", str(img)]) == 2
        assert "busy" in capsys.readouterr().err
    finally:
        holder.close()
        os.close(master)
        os.close(slave)
    assert lampctl(["flash", "--port", str(tmp_path / "ttyUSB7"), "--image", str(img)]) == 2
    err = capsys.readouterr().err
    assert "no serial port" in err and "`lampctl ports`" in err


def test_a_uucp_lock_file_of_a_live_program_makes_the_port_busy(tmp_path, capsys, monkeypatch):
    """minicom and picocom mark a port with /var/lock/LCK..<dev> (no flock): flash and the console see it."""
    from host_tools.lampctl import serial_link as sl
    img = _image(tmp_path / "esp32.bin", 0)
    locks = tmp_path / "lock"
    locks.mkdir()
    monkeypatch.setattr(sl, "LOCK_DIRS", (str(tmp_path / "none"), str(locks)))
    master, slave = os.openpty()
    path = os.ttyname(slave)
    holder = subprocess.Popen(["sleep", "30"])  # the program holding the lock
    lock = locks / ("LCK.." + path[5:].replace("/", "_"))
    try:
        lock.write_text(f"{holder.pid:10d}\n")
        assert lampctl(["flash", "--port", path, "--image", str(img)]) == 2
        err = capsys.readouterr().err
        assert "busy" in err and f"PID {holder.pid}" in err and "sleep" in err
        assert lampctl(["--json", "--port", path, "alarms"]) == sl.NO_PORT
        out = capsys.readouterr()
        assert "busy" in json.loads(out.out)["error"] and "Traceback" not in out.err
        holder.kill()
        holder.wait()  # the owner is gone: a stale lock file does not block the port
        assert lampctl(["--port", path, "--timeout", "0.2", "alarms"]) == 4  # opened; nobody answers
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        os.close(master)
        os.close(slave)


def test_make_flash_and_deploy_name_the_make_variables_they_miss():
    def make(*argv):  # -o: never (re)build .venv for this
        p = subprocess.run(["make", "-s", "-o", ".venv/.installed", *argv], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
        return p.returncode, p.stderr
    code, err = make("flash", "PORT=/dev/ttyUSB0")
    assert code != 0 and "IMAGE=FILE.bin" in err and "--image" not in err, err
    code, err = make("flash", "IMAGE=fw.bin")
    assert code != 0 and "PORT=/dev/ttyUSB0" in err, err
    code, err = make("deploy")
    assert code != 0 and "PORT=/dev/ttyUSB0" in err, err


def test_dry_run_help_says_the_port_is_not_checked(capsys):
    for cmd in ("flash", "deploy"):
        with pytest.raises(SystemExit):
            lampctl([cmd, "--help"])
        assert "port is not checked" in " ".join(capsys.readouterr().out.split())


def test_lampctl_help_opens_with_what_it_does_for_the_user(capsys):
    with pytest.raises(SystemExit):
        lampctl(["--help"])
    out = capsys.readouterr().out
    desc = out.split("\n\n")[1]  # after the usage block
    assert "entry point" not in desc and "registered" not in desc
    assert "streetlight" in desc or "board" in desc, desc


# --- deploy ------------------------------------------------------------------------------------

def test_deploy_command_lines_copy_bundle_and_config(built, tmp_path, capsys):
    out, _ = built
    assert provision.provision([("t", GOOD)], tmp_path / "posts")
    assert lampctl(["--json", "deploy", "--port", "/dev/ttyACM0", "--post", "NL-0001", "--posts",
                    str(tmp_path / "posts"), "--bundle", str(out / "bundle"), "--dry-run"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["cwd"] == str(out / "bundle")
    maint, copy = plan["commands"]
    assert maint[1:6] == ["-m", "mpremote", "connect", "/dev/ttyACM0", "exec"]
    assert "LPMAINT" in maint[6] and maint[-1] == "reset"  # a maintenance boot: no watchdog mid-copy
    i = copy.index("cp")
    assert copy[i + 1:i + 8] == ["-r", "boot.py", "hal", "lamppost", "main.py", "otaboot.mpy", ":"]
    assert "ota.json" in copy[copy.index("exec") + 1]  # a cable deploy abandons OTA slots
    assert [str(tmp_path / "posts" / "NL-0001" / "config.json"), ":config.json"] == copy[-4:-2]
    assert copy[-1] == "reset" and "rmdir" in copy[copy.index("exec") + 1]


def test_deploy_copies_the_posts_tls_ca_to_the_board(built, tmp_path, capsys):
    out, _ = built
    ca = _der(tmp_path / "ca.der")
    assert provision.provision([("t", {**GOOD, "ca": str(ca)})], tmp_path / "posts")
    assert lampctl(["--json", "deploy", "--port", "/dev/ttyACM0", "--post", "NL-0001", "--posts",
                    str(tmp_path / "posts"), "--bundle", str(out / "bundle"), "--dry-run"]) == 0
    copy = json.loads(capsys.readouterr().out)["commands"][1]
    i = copy.index(":ca.der")
    assert copy[i - 1] == str(tmp_path / "posts" / "NL-0001" / "ca.der")


def test_deploy_without_config_keeps_the_boards(built, capsys):
    out, _ = built
    assert lampctl(["--json", "deploy", "--port", "/dev/ttyACM0", "--bundle", str(out / "bundle"),
                    "--dry-run"]) == 0
    copy = json.loads(capsys.readouterr().out)["commands"][1]
    assert ":config.json" not in copy


def test_deploy_refuses_missing_bundle_or_config(built, tmp_path, capsys):
    out, _ = built
    assert lampctl(["deploy", "--port", "/dev/ttyACM0", "--bundle", str(tmp_path / "nobundle")]) == 2
    assert "make firmware" in capsys.readouterr().err
    assert lampctl(["deploy", "--port", "/dev/ttyACM0", "--bundle", str(out / "bundle"), "--post", "NL-9",
                    "--posts", str(tmp_path)]) == 2
    assert "lampctl provision" in capsys.readouterr().err


# --- against a port with no board behind it (a pty): the real tools run, the errors are plain ---

@pytest.fixture
def silent_port():
    master, slave = os.openpty()
    yield os.ttyname(slave)
    os.close(master)
    os.close(slave)


def test_flash_on_a_silent_port_runs_esptool_and_says_what_to_do(tmp_path, capsys, monkeypatch, silent_port):
    img = _image(tmp_path / "esp32.bin", 0)
    real = flashing.esptool_cmds
    monkeypatch.setattr(flashing, "esptool_cmds", lambda *a: [
        c[:-1] + ["--connect-attempts", "1", c[-1]] if c[-1] == "erase-flash" else c for c in real(*a)])
    assert lampctl(["flash", "--port", silent_port, "--image", str(img)]) == 2
    cap = capsys.readouterr()
    assert "Failed to connect" in cap.out  # esptool accepted the command line and tried
    assert "no answer from the board" in cap.err and "Traceback" not in cap.err


def test_deploy_to_a_board_that_does_not_answer_times_out_plainly(built, capsys, monkeypatch, silent_port):
    out, _ = built
    monkeypatch.setattr(flashing, "DEPLOY_TIMEOUTS", (3.0, 3.0))
    assert lampctl(["deploy", "--port", silent_port, "--bundle", str(out / "bundle")]) == 2
    err = capsys.readouterr().err
    assert "did not answer within 3 s" in err and "Traceback" not in err


def _console_board(master: int, seen: list, safe: bool = False, stop=None):
    """Play a board's console on a pty master: answers Login and Maintenance like the firmware.
    Ends when `stop` is set: the test closes the master only after that, so this thread never
    reads a later test's pty that reused the fd number (it once answered another test's Login)."""
    import select
    buf = b""
    end = time.monotonic() + 120  # a loaded machine may start lampctl late
    while time.monotonic() < end and not (stop and stop.is_set()):
        r, _, _ = select.select([master], [], [], 0.1)
        if not r:
            continue
        try:
            data = os.read(master, 256)
        except OSError:
            return
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            text = line.decode().strip()
            seen.append(text)
            name = text.split(" ")[0].lower()
            if safe:
                reply = {"cmd": name, "error": "safe mode: only Status, Help, Normal", "safe": True}
            elif name == "login":
                reply = {"cmd": "login", "login": "yes", "idle_logout_s": 600}
            else:
                reply = {"cmd": "maintenance", "maintenance": "restarting into safe mode in 1 s"}
            os.write(master, json.dumps(reply).encode() + b"\r\n")
            if name == "maintenance" and not safe:
                os.write(master, b"ets Jun  8 2016 00:22:57\r\n")  # the ROM's boot lines are skipped
                os.write(master, b'{"ev": "safe", "reason": "maintenance", "crashes": 0}\r\n')


@pytest.mark.parametrize("safe", [False, True])
def test_deploy_with_the_pin_asks_the_running_firmware_for_a_maintenance_boot(built, capsys, monkeypatch, safe):
    """The firmware ignores Ctrl-C, so mpremote alone cannot stop it: Login + Maintenance first."""
    import threading
    out, _ = built
    master, slave = os.openpty()
    seen: list = []
    stop = threading.Event()
    t = threading.Thread(target=_console_board, args=(master, seen, safe, stop), daemon=True)
    t.start()
    ran = []
    monkeypatch.setattr(flashing, "run", lambda cmds, *a, **k: ran.append(cmds))
    try:
        # a generous reply deadline: the board thread answers at once, but a loaded machine
        # may not schedule it within lampctl's 3 s default (the reply is what is waited on)
        assert lampctl(["deploy", "--port", os.ttyname(slave), "--pin", "1234", "--timeout", "30",
                        "--bundle", str(out / "bundle")]) == 0
    finally:
        stop.set()
        t.join(10)
        os.close(slave)
        os.close(master)
    assert seen == (["Login 1234"] if safe else ["Login 1234", "Maintenance"]), seen
    assert ("restarted in safe mode" in capsys.readouterr().out) is not safe
    maint, copy = ran[0]
    assert "LPMAINT" in maint[6] and copy[-1] == "reset"  # mpremote's steps follow, as before
