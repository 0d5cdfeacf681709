"""`lamppost-ops` as an operator uses it: register import/re-import with history, orders,
timeline, exit codes; on SQLite and on PostgreSQL."""
from __future__ import annotations

import json
import re

from host_tools.ops import db, register
from host_tools.ops.cli import main

from .helpers import town, write_register


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_register_import_then_reimport_keeps_history(db_url, tmp_path, capsys):
    f = write_register(tmp_path / "reg.csv", town(4))
    rc, out, _ = run(capsys, "--db", db_url, "register", "import", str(f), "--json")
    assert rc == 0 and json.loads(out) == {"added": 4, "updated": 0, "unchanged": 0, "posts": 4}
    posts = town(4)
    posts[2]["cabinet"] = "K9"
    posts[3]["street"] = "Molenweg"
    write_register(f, posts)
    rc, out, _ = run(capsys, "register", "import", str(f), "--db", db_url)
    assert rc == 0 and "2 updated" in out and "2 unchanged" in out
    hist = register.history(db.open_db(db_url), "HT-0002")
    assert [(h["field"], h["old"], h["new"]) for h in hist] == [("*", None, "added"), ("cabinet", "K1", "K9")]
    rc, out, _ = run(capsys, "--db", db_url, "--json", "register", "list")
    assert {p["id"]: p["cabinet"] for p in json.loads(out)}["HT-0002"] == "K9"
    # the operator sees that history without SQL
    rc, out, _ = run(capsys, "--db", db_url, "register", "history", "HT-0002")
    assert rc == 0 and re.search(r"(?m)^\S+Z +cabinet +K1 +K9 +\S*reg\.csv$", out), out
    rc, out, _ = run(capsys, "--db", db_url, "--json", "register", "history", "HT-0003")
    assert [(h["field"], h["new"]) for h in json.loads(out)] == [("*", "added"), ("street", "Molenweg")]
    rc, _, err = run(capsys, "--db", db_url, "register", "history", "NOPE-1")
    assert rc == 1 and "no post NOPE-1" in err


def test_bad_register_is_refused_whole_with_exit_2(db_url, tmp_path, capsys):
    posts = town(3)
    posts[1]["id"] = "bad id!"
    f = write_register(tmp_path / "reg.csv", posts)
    rc, _, err = run(capsys, "--db", db_url, "register", "import", str(f))
    assert rc == 2 and "reg.csv:3" in err and "bad id!" in err
    rc, out, _ = run(capsys, "--db", db_url, "--json", "register", "list")
    assert json.loads(out) == []  # nothing written


def test_missing_municipality_and_bad_coordinates(tmp_path, capsys):
    f = tmp_path / "reg.toml"
    f.write_text('[[post]]\nid = "A-1"\nlat = 52.0\nlon = 5.1\n')
    rc, _, err = run(capsys, "--db", str(tmp_path / "o.sqlite"), "register", "import", str(f))
    assert rc == 2 and "municipality is required" in err
    f.write_text('[defaults]\nmunicipality = "houten"\n[[post]]\nid = "A-1"\nlat = 95.0\nlon = 5.1\n')
    rc, _, err = run(capsys, "--db", str(tmp_path / "o.sqlite"), "register", "import", str(f))
    assert rc == 2 and "lat 95 outside" in err


def test_bad_config_is_usage_error(tmp_path, capsys):
    c = tmp_path / "ops.toml"
    c.write_text('[municipality.houten.rules]\npersist_s = "soon"\n')
    rc, _, err = run(capsys, "--db", str(tmp_path / "o.sqlite"), "--config", str(c), "orders")
    assert rc == 2 and "persist_s" in err


def test_orders_and_timeline(db_url, tmp_path, capsys):
    from .helpers import T0, Post, make_engine
    e = make_engine(db_url, tmp_path)
    p = Post(e, "HT-0005")
    p.alarm("relayFailure", "raised", T0)
    p.state(T0 + 900)
    e.tick()
    rc, out, _ = run(capsys, "--db", db_url, "--json", "orders")
    [o] = json.loads(out)
    assert rc == 0 and (o["status"], o["priority"], o["posts"]) == ("opened", 1, "HT-0005")
    rc, out, _ = run(capsys, "--db", db_url, "order-update", str(o["id"]), "acknowledged",
                     "--cause", "phoned: crew on its way")
    assert rc == 0
    rc, out, _ = run(capsys, "--db", db_url, "order", str(o["id"]))
    assert rc == 0 and "phoned: crew on its way" in out and "relayFailure" in out
    rc, _, err = run(capsys, "--db", db_url, "order", "999")
    assert rc == 1 and "no order 999" in err


def test_unknown_order_and_errors_under_json(db_url, tmp_path, capsys):
    """An update for an order that does not exist says so (not a database error), and with
    --json every error is also a JSON object on stdout with the exit code, as lampctl does."""
    rc, out, err = run(capsys, "--db", db_url, "order-update", "99", "repaired", "--cause", "x")
    assert rc == 1 and "no order 99" in err and "database" not in err and out == ""
    rc, out, err = run(capsys, "--db", db_url, "--json", "order", "99")
    assert rc == 1 and json.loads(out) == {"error": "no order 99", "exit": 1}
    rc, out, err = run(capsys, "--db", db_url, "register", "import", str(tmp_path / "nope.csv"), "--json")
    assert rc == 2 and json.loads(out)["exit"] == 2 and "nope.csv" in json.loads(out)["error"]
