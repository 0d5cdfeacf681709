"""The import graph a reader sees in docs/architecture.md, checked on the sources (ast, every
import statement including those inside functions):

  testbed/            -> simulator/, host_tools/, lamppost_common/
  simulator/          -> lamppost_common/ only     (never host_tools/ or testbed/)
  host_tools/         -> lamppost_common/ only     (never simulator/ or testbed/)
  lamppost_common/    -> nothing of the project
  firmware core       -> no hal.*, and the firmware's module-level imports have no loop
  host side           -> no loop among its modules, imports inside functions included

and pyproject.toml ships every package of the tree (the wheel is how the tools travel).
"""
from __future__ import annotations

import ast
import shutil
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
PACKAGES = ("lamppost_common", "simulator", "host_tools", "testbed")
# what each host-side package may import of the project (its own package always)
ALLOWED = {"lamppost_common": set(),
           "simulator": {"lamppost_common"},
           "host_tools": {"lamppost_common"},
           "testbed": {"lamppost_common", "simulator", "host_tools"}}


def imports(path: Path, root: Path, names: bool = False) -> list[tuple]:
    """(line, absolute module name) of every import in the file, relative ones resolved;
    with names, (line, module, the names a `from` imports)."""
    tree = ast.parse(path.read_text())
    pkg = path.parent.relative_to(root).parts
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            out += [(n.lineno, a.name) + (((),) if names else ()) for a in n.names]
        elif isinstance(n, ast.ImportFrom):
            if n.level:
                base = list(pkg[:len(pkg) - n.level + 1])
                mod = ".".join(base + ([n.module] if n.module else []))
            else:
                mod = n.module or ""
            out.append((n.lineno, mod) + ((tuple(a.name for a in n.names),) if names else ()))
    return out


def layer_violations(root: Path) -> list[str]:
    """Imports that cross the host-side layers the wrong way."""
    bad = []
    for top in PACKAGES:
        for path in sorted((root / top).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            for line, mod in imports(path, root):
                first = mod.split(".")[0]
                if first in PACKAGES and first != top and first not in ALLOWED[top]:
                    bad.append(f"{rel}:{line} imports {mod}")
    return bad


def firmware_loops(fw: Path) -> list[list[str]]:
    """Cycles among the firmware's module-level imports (lamppost.*, hal.*, boot, main)."""
    mods = {p.relative_to(fw).with_suffix("").as_posix().replace("/", "."): p
            for p in fw.rglob("*.py") if p.name != "__init__.py"}
    edges: dict[str, set[str]] = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text())
        deps = set()
        for n in tree.body:  # module level only: a function's import runs when it is called
            if isinstance(n, ast.Import):
                deps |= {a.name for a in n.names}
            elif isinstance(n, ast.ImportFrom) and n.module:
                deps.add(n.module)
                deps |= {f"{n.module}.{a.name}" for a in n.names}
        edges[name] = {d for d in deps if d in mods and d != name}
    return cycles(edges)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every loop a depth-first walk of the import edges meets, each as the modules on it."""
    loops, state = [], {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(edges[m]):
            if state.get(d) == 1:
                loops.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    return loops


def host_loops(root: Path) -> list[list[str]]:
    """Cycles among the host-side modules, counting imports inside functions too (a
    function-level import that closes a loop is a shared piece in the wrong module)."""
    mods = {}
    for top in PACKAGES:
        for path in (root / top).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = path.relative_to(root).with_suffix("").as_posix().replace("/", ".")
            mods[name.removesuffix(".__init__")] = path
    edges: dict[str, set[str]] = {}
    for name, path in mods.items():
        deps = set()
        for _, mod, names in imports(path, root, names=True):
            deps |= {mod} | {f"{mod}.{a}" for a in names}  # `from pkg import module` too
        edges[name] = {d for d in deps if d in mods and d != name and not name.startswith(d + ".")}
    return cycles(edges)


def test_simulator_and_host_tools_meet_only_in_lamppost_common_and_testbed():
    assert layer_violations(ROOT) == []


def test_the_firmware_has_no_import_loop():
    assert firmware_loops(FIRMWARE) == []


def test_the_host_side_has_no_import_loop_even_inside_functions():
    assert host_loops(ROOT) == []


def test_the_checks_catch_a_cross_import_and_a_loop(tmp_path):
    """Planted faults: the simulator reaching into the collector, the collector into the
    simulator (relative import), and a loop between two core modules."""
    for top in PACKAGES:
        shutil.copytree(ROOT / top, tmp_path / top, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "simulator" / "x.py").write_text("def f():\n    from host_tools.collector.cli import text_table\n")
    (tmp_path / "host_tools" / "collector" / "y.py").write_text("from ...simulator import broker\n")
    found = layer_violations(tmp_path)
    assert any(v.startswith("simulator/x.py:2 imports host_tools.collector.cli") for v in found), found
    assert any(v.startswith("host_tools/collector/y.py:1 imports simulator") for v in found), found
    (tmp_path / "host_tools" / "ops" / "telemetry.py").write_text(
        "def f():\n    from host_tools.ops.engine import Engine\n")  # engine imports telemetry
    assert ["host_tools.ops.engine", "host_tools.ops.telemetry", "host_tools.ops.engine"] in host_loops(tmp_path)
    fw = tmp_path / "firmware"
    shutil.copytree(FIRMWARE, fw, ignore=shutil.ignore_patterns("__pycache__"))
    clock = fw / "lamppost" / "clock.py"
    clock.write_text("from lamppost import sun\n" + clock.read_text())
    sun = fw / "lamppost" / "sun.py"
    sun.write_text("from lamppost import clock\n" + sun.read_text())
    assert any({"lamppost.clock", "lamppost.sun"} <= set(loop) for loop in firmware_loops(fw))


def test_pyproject_ships_every_package_and_the_firmware_as_data():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    tree = {p.parent.relative_to(ROOT).as_posix().replace("/", ".")
            for top in PACKAGES for p in (ROOT / top).rglob("__init__.py")}
    listed = set(tool["packages"])
    assert tree <= listed, tree - listed
    assert tool["package-dir"]["lamppost_firmware"] == "firmware"
    fw = {"lamppost_firmware" + ("." + p.parent.relative_to(FIRMWARE).as_posix().replace("/", ".")
                                 if p.parent != FIRMWARE else "")
          for p in FIRMWARE.rglob("*.py")}
    assert fw <= listed, fw - listed
    assert not {p for p in listed if p.split(".")[0] in ("tests", "bench")}
