"""The HAL contract (firmware/hal/contract.py) holds: both HALs implement all of it, the core uses
only it, and the core imports no HAL or hardware module (parsed with ast, CPython)."""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
HARDWARE = ("hal", "machine", "network")


def _class(tree: ast.Module, name: str) -> ast.ClassDef:
    return next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)


def _members(cls: ast.ClassDef) -> dict[str, int | None]:
    """Public members of a class: methods (-> number of positional parameters without self),
    class attributes and attributes any method assigns on self (-> None)."""
    out: dict[str, int | None] = {}
    for n in cls.body:
        if isinstance(n, ast.FunctionDef):
            out[n.name] = len(n.args.args) - 1
        elif isinstance(n, (ast.Assign, ast.AnnAssign)):
            for t in n.targets if isinstance(n, ast.Assign) else [n.target]:
                if isinstance(t, ast.Name):
                    out.setdefault(t.id, None)
    for n in ast.walk(cls):
        if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store) \
                and isinstance(n.value, ast.Name) and n.value.id == "self":
            out.setdefault(n.attr, None)
    return {k: v for k, v in out.items() if not k.startswith("_")}


def _hal_members(fw: Path, module: str) -> dict[str, int | None]:
    """Members of class Hal in hal/<module>.py, with those of its bases in hal/ (mixins)."""
    tree = ast.parse((fw / "hal" / f"{module}.py").read_text())
    cls = _class(tree, "Hal")
    out: dict[str, int | None] = {}
    for base in cls.bases:
        if isinstance(base, ast.Name):
            for n in tree.body:
                if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("hal.") \
                        and base.id in [a.name for a in n.names]:
                    btree = ast.parse((fw / "hal" / f"{n.module[4:]}.py").read_text())
                    out.update(_members(_class(btree, base.id)))
    out.update(_members(cls))
    return out


def contract_gaps(fw: Path) -> list[str]:
    """What hal/host.py or hal/esp32.py lacks of the contract, or takes with other arguments."""
    want = _members(_class(ast.parse((fw / "hal" / "contract.py").read_text()), "Hal"))
    gaps = []
    for module in ("host", "esp32"):
        have = _hal_members(fw, module)
        for name, n in want.items():
            if name not in have:
                gaps.append(f"hal/{module}.py lacks {name}")
            elif n is not None and have[name] != n:
                gaps.append(f"hal/{module}.py {name} takes {have[name]} arguments, the contract {n}")
    return gaps


def core_violations(fw: Path) -> list[str]:
    """Imports of hal/machine/network under lamppost/, hasattr/getattr on a HAL, and HAL
    members the core uses that the contract does not name."""
    want = _members(_class(ast.parse((fw / "hal" / "contract.py").read_text()), "Hal"))
    bad = []
    for path in sorted((fw / "lamppost").rglob("*.py")):
        rel = path.relative_to(fw)
        for n in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(n, ast.Import):
                names = [a.name for a in n.names]
            elif isinstance(n, ast.ImportFrom) and n.module and n.level == 0:
                names = [n.module]
            bad += [f"{rel}:{n.lineno} imports {m}" for m in names if m.split(".")[0] in HARDWARE]
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) \
                    and n.func.id in ("hasattr", "getattr") and n.args \
                    and "hal" in ast.unparse(n.args[0]).split("."):
                bad.append(f"{rel}:{n.lineno} {ast.unparse(n)}")
            if isinstance(n, ast.Attribute) and n.attr not in want and (
                    (isinstance(n.value, ast.Name) and n.value.id == "hal")
                    or (isinstance(n.value, ast.Attribute) and n.value.attr == "hal")):
                bad.append(f"{rel}:{n.lineno} uses {ast.unparse(n)}, not in hal/contract.py")
    return bad


def test_both_hals_implement_the_whole_contract():
    want = _members(_class(ast.parse((FIRMWARE / "hal" / "contract.py").read_text()), "Hal"))
    assert {"wait_tick", "set_lamp", "uart_write", "reset", "feed", "net_open", "watchdog"} <= set(want)
    assert contract_gaps(FIRMWARE) == []


def test_the_core_imports_no_hal_and_uses_only_the_contract():
    assert core_violations(FIRMWARE) == []


def test_the_checks_catch_a_missing_member_and_a_reach_into_the_hal(tmp_path):
    """Planted faults: a HAL without feed(), a core module importing hal.host and testing hasattr."""
    fw = tmp_path / "firmware"
    shutil.copytree(FIRMWARE, fw, ignore=shutil.ignore_patterns("__pycache__"))
    host = fw / "hal" / "host.py"
    host.write_text(host.read_text().replace("def feed(self):", "def feed_(self):"))
    esp = fw / "hal" / "esp32_net.py"
    esp.write_text(esp.read_text().replace("def net_up(self):", "def net_up(self, x):"))
    app = fw / "lamppost" / "app.py"
    app.write_text(app.read_text() + "\nfrom hal.host import Hal\nok = hasattr(App.hal, 'x')\n"
                   "def f(a):\n    return a.hal.temperature()\n")
    assert sorted(contract_gaps(fw)) == ["hal/esp32.py net_up takes 1 arguments, the contract 0",
                                         "hal/host.py lacks feed"]
    found = core_violations(fw)
    assert any("imports hal.host" in v for v in found), found
    assert any("hasattr(App.hal" in v for v in found), found
    assert any("a.hal.temperature" in v for v in found), found


def test_main_py_is_the_one_place_that_picks_the_hal():
    """Only the entry points (boot.py, main.py) import a platform HAL; hal/ imports no core module."""
    pickers = []
    for path in sorted(FIRMWARE.rglob("*.py")):
        rel = path.relative_to(FIRMWARE).as_posix()
        for n in ast.walk(ast.parse(path.read_text())):
            if isinstance(n, ast.ImportFrom) and n.module in ("hal.host", "hal.esp32"):
                pickers.append(rel)
            if rel.startswith("hal/") and isinstance(n, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in n.names] if isinstance(n, ast.Import) else [n.module or ""]
                assert not any(m.split(".")[0] == "lamppost" for m in mods), f"{rel} imports the core"
    assert sorted(set(pickers)) == ["boot.py", "main.py"]
