"""The uplink (firmware/lamppost/uplink.py `Net`) never sees the App: the App passes in, as
constructor arguments, what the uplink may use of it, and what the uplink's own parts (ota.py,
hadisc.py) and the console handlers use of a Net is its public members, all of it named in
docs/architecture.md "The uplink's interface" (parsed with ast, CPython; the commands' side is
tests/test_cmd_interface.py). Callbacks go into constructors, never patched onto another object
after it was built (mqtt.Client's, the Schedule's out)."""
from __future__ import annotations

import ast
from pathlib import Path

from test_cmd_interface import app_imports, app_reaches

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "firmware" / "lamppost"
UPLINK = ("uplink.py", "ota.py", "hadisc.py")


def _class(tree: ast.Module, name: str) -> ast.ClassDef:
    return next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)


def constructor_params(source: str) -> list[str]:
    """What the App hands the uplink: Net.__init__'s parameters."""
    init = next(n for n in _class(ast.parse(source), "Net").body
                if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    return [a.arg for a in init.args.args[1:]]


def net_members(source: str) -> set[str]:
    """Public members of class Net: methods and attributes its methods assign on self."""
    cls = _class(ast.parse(source), "Net")
    out = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    for n in ast.walk(cls):
        if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store) \
                and isinstance(n.value, ast.Name) and n.value.id == "self":
            out.add(n.attr)
    return {k for k in out if not k.startswith("_")}


def _is_net(node: ast.expr, names: set[str]) -> bool:
    """node is a Net: a name bound to one (names), or `self.net` / `c.net`."""
    if isinstance(node, ast.Name):
        return node.id in names
    return isinstance(node, ast.Attribute) and node.attr == "net" \
        and isinstance(node.value, ast.Name) and node.value.id in ("self", "c")


def net_uses(source: str, name: str, params: tuple[str, ...] = ()) -> dict[str, str]:
    """Attributes read or written on a Net in source -> where, 'file:line'. A Net is `self.net`,
    `c.net`, a local assigned from either, or a function parameter named in params."""
    out: dict[str, str] = {}
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, ast.FunctionDef):
            continue
        names = {a.arg for a in fn.args.args if a.arg in params}
        for n in ast.walk(fn):
            if isinstance(n, ast.Assign) and _is_net(n.value, set()):
                names |= {t.id for t in n.targets if isinstance(t, ast.Name)}
        for n in ast.walk(fn):
            if isinstance(n, ast.Attribute) and _is_net(n.value, names):
                out.setdefault(n.attr, f"{name}:{n.lineno}")
    return out


def all_net_uses() -> dict[str, str]:
    """What ota.py, hadisc.py, the console handlers and the App use of a Net."""
    used = net_uses((CORE / "ota.py").read_text(), "ota.py", ("net",))
    used.update(net_uses((CORE / "hadisc.py").read_text(), "hadisc.py", ("net",)))
    used.update(net_uses((CORE / "app.py").read_text(), "app.py"))
    for p in sorted(CORE.glob("cmd_*.py")):
        used.update(net_uses(p.read_text(), p.name))
    return used


def patched_callbacks(source: str, name: str) -> list[str]:
    """A function (a lambda, or a method as `self.<method>`) assigned onto another object's
    attribute (`self.cli.on_up = self._up`, `app.sched.out = ...`), as 'file:line .attr'."""
    found = []
    for cls in ast.walk(ast.parse(source)):
        if not isinstance(cls, (ast.ClassDef, ast.Module)):
            continue
        methods = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
        for n in ast.walk(cls):
            if not isinstance(n, ast.Assign):
                continue
            v = n.value
            fn = isinstance(v, ast.Lambda) or (
                isinstance(v, ast.Attribute) and isinstance(v.value, ast.Name)
                and v.value.id == "self" and v.attr in methods)
            for t in n.targets:
                if fn and isinstance(t, ast.Attribute) \
                        and not (isinstance(t.value, ast.Name) and t.value.id == "self"):
                    found.append(f"{name}:{t.lineno} .{t.attr}")
    return sorted(set(found))


def _section() -> str:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    return doc.split("## The uplink's interface", 1)[1].split("\n## ", 1)[0]


def test_the_uplink_never_reaches_the_app():
    found = []
    for f in UPLINK:
        src = (CORE / f).read_text()
        found += app_reaches(src, f) + app_imports(src, f)
    assert not found, f"the uplink reaches the App (or lamppost.app) at {found}"


def test_ota_hadisc_and_handlers_use_only_nets_public_members():
    have = net_members((CORE / "uplink.py").read_text())
    beyond = {k: v for k, v in all_net_uses().items() if k not in have}
    assert not beyond, f"uses of a Net beyond its public members: {beyond}"


def test_the_app_wires_the_uplink_by_constructor():
    """Net gets what it needs as arguments (no `app`), the App passes as many, and no module of
    the core patches a callback onto another object after construction."""
    params = constructor_params((CORE / "uplink.py").read_text())
    assert "app" not in params and len(params) >= 5, params
    calls = [n for n in ast.walk(ast.parse((CORE / "app.py").read_text()))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "Net"]
    assert len(calls) == 1 and len(calls[0].args) == len(params) and not calls[0].keywords
    found = []
    for p in sorted(CORE.glob("*.py")):
        found += patched_callbacks(p.read_text(), p.name)
    assert not found, f"callbacks patched onto objects after construction: {found}"


def test_interface_is_documented():
    sec = _section()
    names = set(constructor_params((CORE / "uplink.py").read_text())) | set(all_net_uses())
    missing = sorted(k for k in names if f"`{k}`" not in sec)
    assert not missing, f"docs/architecture.md's uplink section does not name {missing}"


def test_the_checks_catch_a_reach_and_an_unknown_member():
    """Planted faults, so a broken scan cannot pass silently."""
    bad = ("class Ota:\n    def f(self):\n        net = self.net\n"
           "        return net.app.now, self.net.mystery\n")
    assert app_reaches(bad, "ota.py") == ["ota.py:4"]
    assert set(net_uses(bad, "ota.py")) == {"app", "mystery"}
    assert "mystery" not in net_members((CORE / "uplink.py").read_text())
    assert net_uses("def entry(net, i):\n    return net.cfg\n", "hadisc.py", ("net",)) == \
        {"cfg": "hadisc.py:2"}
    assert net_uses("def c_x(c, p, ok, s):\n    n = c.net\n    return n.status()\n",
                    "cmd_x.py") == {"status": "cmd_x.py:3"}
    assert app_imports("def f():\n    from lamppost import app\n    import sys\n"
                       "    return sys.modules['lamppost.app']\n", "x.py") == ["x.py:2", "x.py:4"]
    planted = ("class Net:\n    def _up(self):\n        pass\n\n    def __init__(self, app):\n"
               "        self.cli.on_up = self._up\n        app.sched.out = lambda k, f: 0\n"
               "        self.out = self._up\n        self.cli.pending = []\n")
    assert patched_callbacks(planted, "x.py") == ["x.py:6 .on_up", "x.py:7 .out"]
