"""The suite's own rules: with CI=true a skip is a failure; elsewhere it names what to install."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

SAMPLE = '''
from conftest import need

def test_needs_a_missing_part():
    need("lamppost-no-such-binary", "lamppost-no-such-package", "a demonstration")

def test_plain():
    pass
'''


def _pytest(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(HERE)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "conftest", "-p", "no:randomly",
                           "-p", "no:cacheprovider", "-n", "0", str(tmp_path / "test_sample.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_a_missing_part_skips_with_the_package_to_install(tmp_path):
    p = _pytest(tmp_path, None)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "apt-get install lamppost-no-such-package" in p.stdout and "1 skipped" in p.stdout


def test_in_ci_a_skip_is_a_failure(tmp_path):
    p = _pytest(tmp_path, "true")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "CI=true: a skip is a failure here" in p.stdout and "1 failed, 1 passed" in p.stdout
