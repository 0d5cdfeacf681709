"""`lampctl config describe` and `config --help` explain every key from the firmware's own
schema source (issue 17): what lamppost_common.fwschema reads from the source text is what
the firmware validates with, every key has a description, unset defaults say so."""
from __future__ import annotations

import json
import re

import pytest

from host_tools.lampctl import serial_link as sl
from host_tools.lampctl.cli import main
from host_tools.lampctl.provision import schema
from lamppost_common import fwschema


def test_the_source_reader_agrees_with_the_firmware_and_describes_every_key():
    keys = fwschema.keys()  # built on the one merge, lamppost_common.firmware.schema()
    fw = schema()  # the firmware's config.py + uplinkcfg.py imported under CPython
    assert list(keys) == list(fw)
    text = {k.name: k for f in fwschema.FILES for k in fwschema.read(fwschema.FIRMWARE / f)}
    assert list(text) == list(fw)  # the source text holds every key, in the merge's order
    for name, k in keys.items():
        assert (k.kind, k.lo, k.hi, k.default, k.secret) == fw[name], name
        t = text[name]
        assert (t.kind, t.lo, t.hi, t.default, t.secret) == fw[name], name
        assert k.source == t.source and k.source in ("config.py", "uplinkcfg.py"), name
        assert k.meaning, f"{name}: add a comment on its SCHEMA line (the board never loads it)"


def test_a_schema_entry_without_a_literal_tuple_is_named(tmp_path):
    bad = tmp_path / "config.py"
    bad.write_text('SCHEMA = {\n    "x": make(),\n}\n')
    with pytest.raises(fwschema.SchemaError, match="config.py:2"):
        fwschema.read(bad)
    with pytest.raises(fwschema.SchemaError, match="cannot read"):
        fwschema.read(tmp_path / "missing.py")


def test_config_describe_and_help(capsys):
    assert main(["config", "describe", "dim_level"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("dim_level: percent inside the dimming window")
    assert "whole number 0..100 %" in out and "default: 100" in out
    assert main(["config", "describe", "WARMUP_S"]) == 0
    assert "default: unset: the lamp type's default" in capsys.readouterr().out
    assert main(["config", "describe", "mqtt_pass"]) == 0
    out = capsys.readouterr().out
    assert "secret" in out and "config set mqtt_pass -" in out and "uplinkcfg.py" in out
    assert main(["--json", "config", "describe", "rated_w"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["unit"], d["default"], d["type"]) == ("W", 60.0, "number 1..2000")
    assert main(["config", "describe", "dim_levle"]) == sl.USAGE
    assert "did you mean dim_level?" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["config", "--help"])
    assert e.value.code == 0
    help_ = capsys.readouterr().out
    for name, k in fwschema.keys().items():
        assert re.search(rf"^  {name}\s+{re.escape(k.meaning)}$", help_, re.M), name


def test_the_shell_keep_alive_beats_the_shortest_idle_logout_the_firmware_allows():
    from host_tools.lampctl.shell import KEEPALIVE_S
    assert KEEPALIVE_S < fwschema.keys()["login_s"].lo / 2  # a late read still lands in time
