"""The firmware's `const()` constants are file-private (`_X = const(...)`: MicroPython folds them
into the code and keeps no global for them) unless another module uses them: a public
`X = const(...)` must be read as `<module>.X` or imported by name somewhere else in the firmware,
its tests or the bench (parsed with ast, CPython; docs/architecture.md "Firmware")."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
READERS = ("firmware", "tests", "bench")


def public_consts(source: str) -> list[str]:
    """Names of module-level `X = const(...)` without a leading underscore."""
    out = []
    for n in ast.parse(source).body:
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call) \
                and isinstance(n.value.func, ast.Name) and n.value.func.id == "const":
            out += [t.id for t in n.targets if isinstance(t, ast.Name) and not t.id.startswith("_")]
    return out


def uses(source: str) -> set[tuple[str, str]]:
    """(module, name) pairs source reads of firmware modules: `<alias>.X` after importing the
    module under any name, `from <module> import X`, `lamppost.mqtt.X`, and `<module>.X` written
    in a string (code handed to MicroPython), as ("*<short name>", X)."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}
    out: set[tuple[str, str]] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            aliases.update({a.asname or a.name: a.name for a in n.names})
        elif isinstance(n, ast.ImportFrom) and n.module:
            for a in n.names:
                out.add((n.module, a.name))
                aliases[a.asname or a.name] = f"{n.module}.{a.name}"
    for n in ast.walk(tree):
        if isinstance(n, ast.Attribute):
            base = ast.unparse(n.value)
            out.add((aliases.get(base, base), n.attr))
        elif isinstance(n, ast.Constant) and isinstance(n.value, str):
            out |= {("*" + m, x) for m, x in re.findall(r"\b(\w+)\.([A-Z][A-Z0-9_]*)\b", n.value)}
    return out


def unused_public(root: Path) -> list[str]:
    """Public consts of firmware/lamppost and firmware/hal that no other module reads."""
    read = {p: uses(p.read_text()) for d in READERS for p in (root / d).rglob("*.py")}
    bad = []
    for pkg in ("lamppost", "hal"):
        for p in sorted((root / "firmware" / pkg).glob("*.py")):
            module = f"{pkg}.{p.stem}"
            names = {module, "*" + p.stem}
            used = {x for q, u in read.items() if q != p for m, x in u if m in names}
            bad += [f"{module}.{x}" for x in public_consts(p.read_text()) if x not in used]
    return bad


def test_a_public_const_is_read_by_another_module():
    assert unused_public(ROOT) == [], "make these file-private (_X = const(...))"


def test_the_check_sees_aliases_and_flags_a_const_nobody_reads(tmp_path):
    assert ("lamppost.signedcmd", "SKEW_S") in uses("from lamppost import mqtt, signedcmd as auth\n"
                                                   "x = auth.SKEW_S\n")
    assert ("lamppost.mqtt", "UP") in uses("from lamppost.mqtt import UP\n")
    assert ("lamppost.mqtt", "UP") in uses("import lamppost.mqtt\nx = lamppost.mqtt.UP\n")
    assert ("*bootrec", "WDT") in uses("code = 'assert bootrec.on_boot(2, bootrec.WDT)'\n")
    assert public_consts("from micropython import const\nA = const(1)\n_B = const(2)\nC = 3\n") == ["A"]
    for d in READERS:
        (tmp_path / d).mkdir()
    (tmp_path / "firmware" / "lamppost").mkdir()
    (tmp_path / "firmware" / "hal").mkdir()
    (tmp_path / "firmware" / "lamppost" / "x.py").write_text(
        "from micropython import const\nUSED = const(1)\nNOBODY = const(2)\n")
    (tmp_path / "tests" / "t.py").write_text("from lamppost import x\nassert x.USED\n")
    assert unused_public(tmp_path) == ["lamppost.x.NOBODY"]
