"""The tools work from an installed wheel, not only from a checkout: `lampctl build` and
`lampctl provision` find the firmware as package data (lamppost_firmware) and write under
the working directory, run from a directory that is no checkout."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def site(tmp_path_factory) -> Path:
    """The project's wheel, built from this tree and installed (no dependencies: they are the
    venv's) into a directory of its own."""
    tmp = tmp_path_factory.mktemp("wheel")
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp / "dist"),
                        str(ROOT)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    (whl,) = (tmp / "dist").glob("lamppost-*.whl")
    p = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
                        "--target", str(tmp / "site"), str(whl)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    return tmp / "site"


def lampctl(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """lampctl from the installed wheel (PYTHONPATH comes before the venv's editable checkout)."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-m", "host_tools.lampctl", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def _holds_the_firmware_and_no_tests(site):
    fw = site / "lamppost_firmware"
    sources = {p.relative_to(ROOT / "firmware").as_posix() for p in (ROOT / "firmware").rglob("*.py")}
    assert sources <= {p.relative_to(fw).as_posix() for p in fw.rglob("*.py")}
    assert (fw / "mpy-requirements.txt").is_file()
    assert not (site / "tests").exists() and not (site / "bench").exists()


def test_lampctl_build_and_provision_from_the_wheel_outside_a_checkout(site, tmp_path):
    """One test, so one pytest worker builds the wheel (setuptools builds in the tree)."""
    _holds_the_firmware_and_no_tests(site)
    work = tmp_path / "elsewhere"
    work.mkdir()
    code = ("import lamppost_common.firmware as f, host_tools.lampctl.build as b;"
            "print(f.firmware_dir()); print(b.__file__)")
    p = subprocess.run([sys.executable, "-c", code], cwd=work, env={**os.environ, "PYTHONPATH": str(site)},
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    fw_dir, build_py = p.stdout.split()
    assert Path(fw_dir) == site / "lamppost_firmware" and Path(build_py).is_relative_to(site)

    p = lampctl(site, work, "build", "--json")
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    bundle = work / "build" / "bundle"  # under the working directory, not in site-packages
    assert (work / rep["bundle"]).resolve() == bundle.resolve()
    assert (bundle / "main.py").is_file() and (bundle / "lamppost" / "app.mpy").is_file()
    assert not (bundle / "hal" / "host.mpy").exists()  # the simulator's HAL never ships
    manifest = json.loads((bundle / "MANIFEST.json").read_text())
    assert "lamppost/config.mpy" in manifest["files"]

    p = lampctl(site, work, "provision", "--id", "NL-0001", "--lat", "52.03", "--lon", "5.56",
                "--lamp", "hps", "--rated-w", "150", "--wifi", "G:s3cretpass",
                "--broker", "mqtt.example.nl", "--no-broker-auth")
    assert p.returncode == 0, p.stderr
    cfg = json.loads((work / "build" / "posts" / "NL-0001" / "config.json").read_text())
    assert cfg["id"] == "NL-0001" and cfg["lamp"] == "hps" and cfg["rated_w"] == 150.0
    p = lampctl(site, work, "provision", "--id", "NL-0002", "--lamp", "sodium", "--wifi", "G:s3cretpass",
                "--broker", "mqtt.example.nl", "--no-broker-auth")
    assert p.returncode == 2 and "lamp" in p.stderr  # the firmware's own schema, from the wheel
