"""The test fakes of `machine` and `network` follow the ESP32 port's API (micropython-esp32-stubs).

Every public class, method and constant a fake offers must exist in the stubs
under the same name, and constants must carry the ESP32 values: a test that passes
against a fake then calls something a board really has.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from test_typecheck import TC, _checker

ROOT = Path(__file__).resolve().parent.parent
FAKES = ROOT / "tests" / "fakes"
TEST_ONLY = {"reset_fakes", "ResetCalled"}  # hooks for tests, documented in the fake


def _api(tree: ast.Module) -> tuple[dict[str, set[str]], dict[str, int | None]]:
    """(class -> method/attribute names, module-level constant -> int value or None)."""
    classes: dict[str, set[str]] = {}
    consts: dict[str, int | None] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names = set()
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    names.add(item.name)
                elif isinstance(item, (ast.Assign, ast.AnnAssign)):
                    targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                    names |= {t.id for t in targets if isinstance(t, ast.Name)}
            classes[node.name] = classes.get(node.name, set()) | names
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            for t in targets:
                if isinstance(t, ast.Name) and t.id.isupper():
                    consts[t.id] = value.value if isinstance(value, ast.Constant) and isinstance(value.value, int) else None
        elif isinstance(node, ast.FunctionDef):
            classes.setdefault("<module>", set()).add(node.name)
    return classes, consts


@pytest.mark.parametrize("module", ["machine", "network"])
def test_fake_offers_only_what_the_esp32_port_has(module):
    _checker()  # installs the stubs if `make test` has not yet
    stub_classes, stub_consts = _api(ast.parse((TC / "typings" / f"{module}.pyi").read_text()))
    fake_classes, fake_consts = _api(ast.parse((FAKES / f"{module}.py").read_text()))
    problems = []
    for cls, names in fake_classes.items():
        if cls in TEST_ONLY:
            continue
        if cls not in stub_classes:
            problems.append(f"{module}.{cls}: no such class on ESP32")
            continue
        for n in sorted(names):
            if not n.startswith("_") and n not in TEST_ONLY and n not in stub_classes[cls]:
                problems.append(f"{module}.{cls}.{n}: not in the ESP32 API")
    for name, value in fake_consts.items():
        if name in stub_consts and stub_consts[name] is not None and value is not None and stub_consts[name] != value:
            problems.append(f"{module}.{name} = {value}, the ESP32 port says {stub_consts[name]}")
    reset_names = {"PWRON_RESET", "HARD_RESET", "WDT_RESET", "DEEPSLEEP_RESET", "SOFT_RESET"}
    if module == "machine":
        assert reset_names <= set(fake_consts)
    assert problems == [], "\n".join(problems)
