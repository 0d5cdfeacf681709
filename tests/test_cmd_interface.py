"""The console handlers (firmware/lamppost/cmd_*.py) use only the Commands interface, never the
App: no `.app` anywhere in them or in commands.py, no import of lamppost.app, the App reference (Commands._app) used only
inside class Commands, and every attribute a handler reads off its `c` is a public member of
Commands or a name in commands.VIEW, the app's parts handlers may read (parsed with ast, CPython;
docs/architecture.md "The commands' interface")."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "firmware" / "lamppost"
HANDLERS = sorted(CORE.glob("cmd_*.py"))


def _commands_class(tree: ast.Module) -> ast.ClassDef:
    return next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Commands")


def view(source: str) -> set[str]:
    """The names in commands.VIEW (read through the app by Commands.__getattr__)."""
    for n in ast.parse(source).body:
        if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "VIEW"
                                             for t in n.targets):
            return {e.value for e in n.value.elts}  # type: ignore[attr-defined]
    raise AssertionError("commands.py has no VIEW")


def own_members(source: str) -> set[str]:
    """Public members of class Commands: methods, properties, class attributes and attributes
    its methods assign on self."""
    cls = _commands_class(ast.parse(source))
    out = set()
    for n in cls.body:
        if isinstance(n, ast.FunctionDef):
            out.add(n.name)
        elif isinstance(n, ast.Assign):
            out.update(t.id for t in n.targets if isinstance(t, ast.Name))
    for n in ast.walk(cls):
        if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store) \
                and isinstance(n.value, ast.Name) and n.value.id == "self":
            out.add(n.attr)
    return {k for k in out if not k.startswith("_")}


def interface(source: str) -> set[str]:
    """What a handler may use of its `c`: Commands' own public members and VIEW."""
    return own_members(source) | view(source)


def app_reaches(source: str, name: str, allowed_class: str | None = None) -> list[str]:
    """Every `<x>.app` or `<x>._app` in source (and getattr(<x>, "app"...)), outside class
    allowed_class, as 'file:line'."""
    tree = ast.parse(source)
    inside: set[int] = set()
    if allowed_class:
        for n in tree.body:
            if isinstance(n, ast.ClassDef) and n.name == allowed_class:
                inside.update(id(m) for m in ast.walk(n))
    found = []
    for n in ast.walk(tree):
        attr = None
        if isinstance(n, ast.Attribute):
            attr = n.attr
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Name) \
                and n.func.id in ("getattr", "hasattr", "setattr") and len(n.args) > 1 \
                and isinstance(n.args[1], ast.Constant):
            attr = n.args[1].value
        if attr == "app" or (attr == "_app" and id(n) not in inside):
            found.append(f"{name}:{n.lineno}")
    return found


def app_imports(source: str, name: str) -> list[str]:
    """Imports of lamppost.app and sys.modules["lamppost.app"], as 'file:line'."""
    found = []
    for n in ast.walk(ast.parse(source)):
        hit = False
        if isinstance(n, ast.Import):
            hit = any(a.name == "lamppost.app" for a in n.names)
        elif isinstance(n, ast.ImportFrom):
            hit = n.module == "lamppost.app" or (n.module == "lamppost"
                                                 and any(a.name == "app" for a in n.names))
        elif isinstance(n, ast.Constant):
            hit = n.value == "lamppost.app"
        if hit:
            found.append(f"{name}:{n.lineno}")
    return found


def handler_uses(source: str, name: str) -> dict[str, str]:
    """Attributes read or written on the Commands a handler gets (the first parameter `c` of
    each function) -> where, 'file:line'."""
    out: dict[str, str] = {}
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, ast.FunctionDef) or not fn.args.args or fn.args.args[0].arg != "c":
            continue
        for n in ast.walk(fn):
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "c":
                out.setdefault(n.attr, f"{name}:{n.lineno}")
            elif isinstance(n, ast.Call) and isinstance(n.func, ast.Name) \
                    and n.func.id in ("getattr", "hasattr") and len(n.args) > 1 \
                    and isinstance(n.args[0], ast.Name) and n.args[0].id == "c" \
                    and isinstance(n.args[1], ast.Constant):
                out.setdefault(n.args[1].value, f"{name}:{n.lineno}")
    return out


def test_handlers_never_reach_the_app():
    assert HANDLERS, "no cmd_*.py found"
    found = []
    for p in HANDLERS:
        found += app_reaches(p.read_text(), p.name)
    found += app_reaches((CORE / "commands.py").read_text(), "commands.py", "Commands")
    for p in HANDLERS + [CORE / "commands.py"]:
        found += app_imports(p.read_text(), p.name)  # nor the app's module (FW_VERSION is c.fw)
    assert not found, f"the App reached past the Commands interface at {found}"


def test_handlers_use_only_the_documented_interface():
    have = interface((CORE / "commands.py").read_text())
    used: dict[str, str] = {}
    for p in HANDLERS:
        used.update(handler_uses(p.read_text(), p.name))
    beyond = {k: v for k, v in used.items() if k not in have}
    assert not beyond, f"handlers use what Commands does not offer: {beyond}"
    # VIEW is read through the app at each access, never copied onto the Commands once (a
    # stored `now` would be the boot's time forever, a stored `net` None on every post)
    src = (CORE / "commands.py").read_text()
    assert {"now", "cmd_on", "dim", "net", "cfg"} <= view(src)
    assert not view(src) & own_members(src), "a VIEW name shadowed by a copy on Commands"


def test_interface_is_documented():
    """Every public member the handlers use is named in docs/architecture.md's section."""
    doc = (ROOT / "docs" / "architecture.md").read_text()
    sec = doc.split("## The commands' interface", 1)[1].split("\n## ", 1)[0]
    used: dict[str, str] = {}
    for p in HANDLERS:
        used.update(handler_uses(p.read_text(), p.name))
    missing = sorted(k for k in used if f"`{k}`" not in sec)
    assert not missing, f"docs/architecture.md does not document {missing}"


def test_the_checks_catch_a_handler_that_reaches_the_app():
    """The scans above flag what they are for (so a broken scan cannot pass silently)."""
    bad = "def c_x(c, p, ok, s):\n    return c.app.now, getattr(c, 'app')\n"
    assert app_reaches(bad, "cmd_x.py") == ["cmd_x.py:2", "cmd_x.py:2"]
    assert app_reaches("def f(c):\n    return c._app.now\n", "cmd_x.py") == ["cmd_x.py:2"]
    outside = "class Commands:\n    def f(self):\n        return self._app\n\n" \
              "def g(c):\n    return c._app\n"
    assert app_reaches(outside, "commands.py", "Commands") == ["commands.py:6"]
    uses = handler_uses("def c_x(c, p, ok, s):\n    return c.now, c.mystery\n", "cmd_x.py")
    assert set(uses) == {"now", "mystery"}
    assert "mystery" not in interface((CORE / "commands.py").read_text())
