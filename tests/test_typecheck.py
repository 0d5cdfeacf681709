"""The firmware type-checks against the MicroPython ESP32 stubs (basedpyright, its own env)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TC = ROOT / "build" / "typecheck"
CHECKER = TC / "venv" / "bin" / "basedpyright"


def _checker() -> Path:
    if not (TC / ".installed").exists():  # `make test` builds it first; a bare pytest run does it here
        subprocess.run(["make", "-s", "-C", str(ROOT), "build/typecheck/.installed"], check=True)
    return CHECKER


def _check(config: Path) -> dict:
    p = subprocess.run([str(_checker()), "-p", str(config), "--outputjson"],
                       capture_output=True, text=True, timeout=180)
    return json.loads(p.stdout)


def test_firmware_has_no_type_errors_against_esp32_stubs():
    out = _check(ROOT / "firmware" / "pyrightconfig.json")
    errors = [f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']}"
              for d in out["generalDiagnostics"] if d["severity"] == "error"]
    assert errors == [], "\n".join(errors)
    n_py = len(list((ROOT / "firmware").rglob("*.py")))
    assert out["summary"]["filesAnalyzed"] == n_py


def test_checker_catches_a_wrong_esp32_api_call(tmp_path):
    fw = tmp_path / "firmware"
    shutil.copytree(ROOT / "firmware", fw, ignore=shutil.ignore_patterns("__pycache__"))
    bad = fw / "hal" / "esp32.py"
    bad.write_text(bad.read_text().replace("uv = self._adc_t.read_uv()", "uv = self._adc_t.read_uv(1)"))
    cfg = json.loads("\n".join(line for line in (ROOT / "firmware" / "pyrightconfig.json")
                               .read_text().splitlines() if not line.strip().startswith("//")))
    cfg["typeshedPath"] = cfg["stubPath"] = str(TC / "typings")
    (fw / "pyrightconfig.json").write_text(json.dumps(cfg))
    out = _check(fw / "pyrightconfig.json")
    planted = [d for d in out["generalDiagnostics"] if Path(d["file"]).name == "esp32.py"
               and d["severity"] == "error" and "read_uv(1)" in bad.read_text().splitlines()[d["range"]["start"]["line"]]]
    assert len(planted) == 1, out["generalDiagnostics"]
