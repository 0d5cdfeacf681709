"""Shipping for a technician (issue 17): flash says where a MicroPython image comes from,
deploy --dry-run shows the console step too, and the ship commands' --help offers only options
that apply to them."""
from __future__ import annotations

import json
import re

import pytest

from host_tools.lampctl import flashing
from host_tools.lampctl.cli import main as lampctl


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as e:
        lampctl([*argv, "--help"])
    assert e.value.code == 0
    return capsys.readouterr().out


def _bundle(tmp_path):
    b = tmp_path / "bundle"
    b.mkdir()
    (b / "main.py").write_text("")
    (b / "MANIFEST.json").write_text(json.dumps({"arch": "xtensawin"}))
    return b


def test_flash_without_an_image_names_the_download_page_and_the_pinned_release(tmp_path, capsys):
    version = flashing.micropython_version()
    assert re.fullmatch(r"1\.\d+\.\d+", version)
    assert lampctl(["flash", "--port", "/dev/ttyUSB0", "--chip", "esp32s3"]) == 2
    err = capsys.readouterr().err
    assert "https://micropython.org/download/ESP32_GENERIC_S3/" in err and f"v{version}" in err
    assert lampctl(["flash", "--port", "/dev/ttyUSB0", "--image", str(tmp_path / "nope.bin")]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "https://micropython.org/download/ESP32_GENERIC/" in err
    assert "micropython.org/download" in " ".join(_help(capsys, "flash").split())


def test_deploy_dry_run_shows_the_console_step_without_the_pin(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LAMPCTL_PIN", raising=False)
    b = _bundle(tmp_path)
    assert lampctl(["deploy", "--port", "/dev/ttyUSB0", "--bundle", str(b), "--pin", "pq7w",
                    "--dry-run"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("# on the console of /dev/ttyUSB0 first")
    assert lines[1:3] == ["#   Login ****", "#   Maintenance"]
    assert "pq7w" not in out and "-m mpremote connect /dev/ttyUSB0" in out
    assert lampctl(["--json", "deploy", "--port", "/dev/ttyUSB0", "--bundle", str(b),
                    "--dry-run"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["console"][0] == "Status fw" and "PIN is missing" in plan["console"][1]
    monkeypatch.setenv("LAMPCTL_PIN", "123456")
    assert lampctl(["--json", "deploy", "--port", "/dev/ttyUSB0", "--bundle", str(b),
                    "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["console"][:2] == ["Login ******", "Maintenance"]


def test_ship_commands_offer_only_their_own_options(capsys):
    for cmd in ("build", "flash", "provision"):
        text = _help(capsys, cmd)
        assert "--timeout" not in text and "seconds to wait for a reply" not in text, cmd
        assert "log in before a command" not in text, cmd  # the console's --pin
    assert "--timeout" in _help(capsys, "deploy")  # it asks the console first
    assert "--timeout" in _help(capsys, "status")


# --- provision -----------------------------------------------------------------------------

ASSETS = ("id,municipality,street,pole number,cabinet,luminaire type,contractor,lat,lon,lamp,rated_w,wifi\n"
          "HT-0001,houten,Lindelaan,LP001,K1,Philips Luma,citytec,52.03,5.16,led,60,Gemeente\n"
          "HT-0002,houten,Lindelaan,LP002,K1,Philips Luma,citytec,52.0303,5.16,hps,150,\n")


def test_provisioning_csv_keeps_asset_columns_and_imports_into_the_register(tmp_path, capsys):
    from host_tools.ops.cli import main as ops
    csv = tmp_path / "posts.csv"
    csv.write_text(ASSETS)
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('wifi_pass = "s3cretpass"\npin = "4711"\n')
    secrets.chmod(0o600)
    # HT-0001 joins the WiFi (its password from the secrets file), HT-0002 is serial-only
    assert lampctl(["--json", "provision", "--from", str(csv), "--secrets", str(secrets),
                    "--broker", "mqtt.example.nl", "--out", str(tmp_path / "posts")]) == 2
    assert "broker" in json.loads(capsys.readouterr().out)["error"]  # HT-0002: broker, no WiFi
    csv.write_text(ASSETS.replace(",wifi\n", ",wifi,broker\n").replace(",Gemeente\n", ",Gemeente,mqtt.example.nl\n")
                   .replace(",150,\n", ",150,,\n"))
    assert lampctl(["--json", "provision", "--from", str(csv), "--secrets", str(secrets),
                    "--out", str(tmp_path / "posts")]) == 0
    out = capsys.readouterr()
    posts = {p["id"]: p for p in json.loads(out.out)}
    assert posts["HT-0001"]["register"] == {
        "municipality": "houten", "street": "Lindelaan", "light_point": "LP001", "cabinet": "K1",
        "luminaire": "Philips Luma", "contractor": "citytec"}
    cfg = json.loads((tmp_path / "posts" / "HT-0002" / "config.json").read_text())
    assert cfg == {"id": "HT-0002", "lat": 52.0303, "lon": 5.16, "lamp": "hps", "rated_w": 150.0,
                   "pin": "4711"}  # no asset column and no network key reaches the board
    assert any("serial-only" in w for w in posts["HT-0002"]["warnings"])
    cfg = json.loads((tmp_path / "posts" / "HT-0001" / "config.json").read_text())
    assert (cfg["wifi_ssid"], cfg["wifi_pass"], cfg["mqtt_host"]) == ("Gemeente", "s3cretpass", "mqtt.example.nl")
    assert cfg["site"] == "houten"  # HA unique_ids lp_houten_HT-0001_*: another town's HT-0001 differs
    assert "register import" in out.err
    pw = (tmp_path / "posts" / "_broker" / "password_file").read_text()
    assert "HT-0001:" in pw and "HT-0002" not in pw  # a broker account only where there is a broker
    # the same file goes into the operations register as it is
    db = str(tmp_path / "ops.sqlite")
    assert ops(["--db", db, "register", "import", str(csv), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["added"] == 2
    assert ops(["--db", db, "--json", "register", "list"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert (rows["HT-0002"]["light_point"], rows["HT-0002"]["cabinet"]) == ("LP002", "K1")
    assert "pin" not in rows["HT-0002"] and "4711" not in json.dumps(rows)


def test_missing_rated_w_is_a_warning_naming_the_default(tmp_path, capsys):
    assert lampctl(["provision", "--id", "NL-9", "--lat", "52", "--lon", "5", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "NL-9: warning: no rated_w: the board assumes 60 W" in err
    assert json.loads((tmp_path / "NL-9" / "config.json").read_text())["id"] == "NL-9"
    assert lampctl(["provision", "--id", "NL-9", "--wifi", "G:s3cretpass", "--out", str(tmp_path)]) == 2
    assert "broker: missing" in capsys.readouterr().err  # WiFi without a broker is a mistake


def test_secrets_from_a_file_or_asked_never_only_the_command_line(tmp_path, capsys):
    base = ["provision", "--id", "NL-1", "--lat", "52", "--lon", "5", "--rated-w", "60",
            "--broker", "b", "--out", str(tmp_path / "p")]
    assert lampctl([*base, "--wifi", "G:s3cretpass", "--pin", "4711"]) == 0
    err = capsys.readouterr().err
    assert "WiFi password (--wifi SSID:PASSWORD) was given on the command line" in err
    assert "pin (--pin) was given on the command line" in err
    s = tmp_path / "s.toml"
    s.write_text('wifi_pass = "s3cretpass"\ncmd_key = "k3y"\n')
    s.chmod(0o644)
    assert lampctl([*base, "--wifi", "G", "--secrets", str(s)]) == 0
    err = capsys.readouterr().err
    assert "command line" not in err and "chmod 600" in err
    cfg = json.loads((tmp_path / "p" / "NL-1" / "config.json").read_text())
    assert (cfg["wifi_ssid"], cfg["wifi_pass"], cfg["cmd_key"]) == ("G", "s3cretpass", "k3y")
    s.write_text('wifi_pass = "s3cretpass"\nmqtt_host = "b"\n')
    assert lampctl([*base, "--wifi", "G", "--secrets", str(s)]) == 2
    assert "mqtt_host: not secret keys" in capsys.readouterr().err
    # without a terminal, '-' and an SSID without a password say where the secret can come from
    assert lampctl([*base, "--wifi", "G"]) == 2
    assert "wifi_pass in --secrets FILE" in capsys.readouterr().err
    assert lampctl([*base, "--wifi", "G:-"]) == 2
    assert "asks on a terminal" in capsys.readouterr().err


def test_provision_asks_for_the_wifi_password_on_a_terminal(tmp_path):
    """A real pty as the terminal: the password is typed, not echoed, and lands in config.json."""
    import os
    import subprocess
    import sys
    import time
    master, slave = os.openpty()
    p = subprocess.Popen([sys.executable, "-m", "host_tools.lampctl", "provision", "--id", "NL-2",
                          "--wifi", "Gemeente", "--broker", "b", "--lat", "52", "--lon", "5",
                          "--rated-w", "60", "--pin", "-", "--out", str(tmp_path)],
                         stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    seen = b""

    def until(word: bytes) -> None:
        nonlocal seen
        end = time.monotonic() + 60  # only ends a hung run
        while word not in seen and time.monotonic() < end:
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
        assert word in seen, seen
    until(b"WiFi password for Gemeente: ")
    os.write(master, b"typed-pass-1\n")
    until(b"pin (--pin): ")
    os.write(master, b"2468\n")
    assert p.wait(60) == 0
    try:
        while True:
            chunk = os.read(master, 4096)
            if not chunk:
                break
            seen += chunk
    except OSError:
        pass
    os.close(master)
    assert b"typed-pass-1" not in seen and b"2468" not in seen  # never echoed
    cfg = json.loads((tmp_path / "NL-2" / "config.json").read_text())
    assert (cfg["wifi_pass"], cfg["pin"]) == ("typed-pass-1", "2468")
