"""The production layout's files in deploy/, run as far as this machine can: PostgreSQL
primary + streaming replica exactly as deploy/postgresql/ makes them, mosquitto with
deploy/mosquitto/mosquitto.conf, two workers started with lamppost-ops@.service's command
line and ops.env.example's settings; the systemd unit through `systemd-analyze verify`;
the EMQX files (no EMQX here) parsed and checked against what the workers subscribe.
Paths, ports and secrets are replaced in temp copies; nothing else is changed."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from host_tools.lampctl import broker_acl
from host_tools.ops import db
from simulator.broker import free_port

from .helpers import T0, iso, town, wait_for, write_register
from .pg import server_bindir
from .pg_replica import OPS_PASSWORD, ReplicatedCluster

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OPS = [sys.executable, "-m", "host_tools.ops"]


def ops(capsys, *args: str) -> tuple[int, str, str]:
    """`lamppost-ops ARGS` in this process (its main(), as the console script calls it): exit
    code, stdout, stderr. The workers run as processes; the one-shot commands need not."""
    from host_tools.ops.cli import main
    capsys.readouterr()
    rc = main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


def env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines of a systemd EnvironmentFile (comments and blank lines skipped)."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k] = v
    return out


def replace(text: str, old: str, new: str) -> str:
    """A substitution in a deploy file that must apply (else the file changed under the test)."""
    assert old in text, f"{old!r} is no longer in the deploy file: update the test's substitutions"
    return text.replace(old, new)


def exec_start(unit: str, env: dict[str, str], instance: str, host: str) -> list[str]:
    """ExecStart as systemd expands it: continuation lines joined, %i/%H, then split into words;
    ${VAR} is one word, a bare $VAR word splits into words (none when empty)."""
    text = unit.replace("\\\n", " ")
    [line] = [ln for ln in text.splitlines() if ln.startswith("ExecStart=")]
    words = shlex.split(line[len("ExecStart="):].replace("%i", instance).replace("%H", host))
    argv: list[str] = []
    for w in words:
        if re.fullmatch(r"\$[A-Za-z_][A-Za-z0-9_]*", w):
            argv += env.get(w[1:], "").split()
        else:
            argv.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env[m.group(1)], w))
    return argv


def orders(eng) -> list:
    with eng.connect() as cx:
        return cx.exec_driver_sql("SELECT id, post_id, fault_class FROM orders").all()


def unit_environment(unit: str) -> dict[str, str]:
    out = {}
    for ln in unit.splitlines():
        if ln.startswith("Environment="):
            k, _, v = ln[len("Environment="):].partition("=")
            out[k] = v
    return out


@pytest.fixture
def replicated():  # per test: the layout test kills the primary and promotes the replica
    bindir = server_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin): install postgresql")
    if not shutil.which("mosquitto"):
        pytest.skip("needs mosquitto 2 (apt-get install mosquitto)")
    c = ReplicatedCluster(bindir)
    yield c
    c.stop()


class Mosquitto:
    """deploy/mosquitto/mosquitto.conf with its paths, ports and certificates in a temp dir."""

    def __init__(self, tmp: Path, accounts: dict[str, str]):
        from simulator.tls_certs import make
        self.dir = tmp / "mosquitto"
        self.dir.mkdir()
        self.certs = make(self.dir / "certs")
        # lampctl provision's files: a post account each, the collector's account
        d = broker_acl.write(tmp / "provision", accounts)
        self.collector_password = broker_acl.collector_password(tmp / "provision")
        for _ in range(5):  # a free port may be taken by another process before mosquitto binds it
            self.tls_port, self.port = free_port(), free_port()
            text = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
            text = replace(text, "persistence_location /var/lib/mosquitto/", f"persistence_location {self.dir}/")
            text = replace(text, "\nlistener 8883\n", f"\nlistener {self.tls_port} 127.0.0.1\n")
            text = replace(text, "\nlistener 1883 127.0.0.1\n", f"\nlistener {self.port} 127.0.0.1\n")
            for name, key in (("ca.pem", "ca"), ("server.pem", "cert"), ("server.key", "key")):
                text = replace(text, f"/etc/mosquitto/certs/{name}", str(self.certs[key]))
            text = replace(text, "password_file /etc/mosquitto/passwd", f"password_file {d / 'password_file'}")
            text = replace(text, "acl_file /etc/mosquitto/acl", f"acl_file {d / 'acl_file'}")
            text += f"log_dest file {self.dir / 'log'}\n"
            if os.geteuid() == 0:  # else mosquitto drops to its own user, who cannot read the temp dir
                text += "user root\n"
            self.conf = self.dir / "mosquitto.conf"
            self.conf.write_text(text)
            (self.dir / "log").unlink(missing_ok=True)
            self.proc = subprocess.Popen([shutil.which("mosquitto"), "-c", str(self.conf)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            wait_for(lambda: self.proc.poll() is not None or " running" in self.log(), 30, "mosquitto to start")
            if self.proc.poll() is None:
                return
            why = self.proc.stderr.read() + self.log()
            if "in use" not in why:
                break
        raise AssertionError(f"mosquitto refused deploy/mosquitto/mosquitto.conf:\n{why}")

    def log(self) -> str:
        try:
            return (self.dir / "log").read_text()
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


def health(log: Path) -> dict | None:
    """The worker's /healthz, at the address its "serving" log line names."""
    try:
        for line in log.read_text().splitlines():
            if '"serving"' in line:
                with urllib.request.urlopen(json.loads(line)["health"], timeout=10) as r:
                    return json.loads(r.read())
    except (OSError, ValueError):
        return None
    return None


@pytest.mark.timeout(300)
def test_two_workers_as_deployed_write_the_primary_and_the_replica_serves_reads(replicated, tmp_path, capsys,
                                                                              monkeypatch):
    """mosquitto with the deploy's conf, two workers with the unit's command line and ops.env:
    a post's ALARM (over TLS, with its provisioned account) becomes one order on the primary;
    the rows are on the replica, where the read-only commands work and a write is refused;
    after the primary dies and the replica is promoted, ops.env's URL writes to it."""
    c = replicated
    # replica.sh's pg_basebackup -R wrote the conninfo that makes it the synchronous standby
    auto = (c.replica / "postgresql.auto.conf").read_text()
    assert "application_name=replica1" in auto and "primary_slot_name = 'replica1'" in auto
    assert (c.replica / "standby.signal").exists()

    posts = town(6)
    accounts = {p["id"]: f"pw-{p['id']}" for p in posts}
    mq = Mosquitto(tmp_path, accounts)
    try:
        run_the_layout(c, mq, accounts, posts, tmp_path, capsys, monkeypatch)
    finally:
        mq.stop()


def run_the_layout(c, mq, accounts, posts, tmp_path, capsys, monkeypatch) -> None:
    P, R = c.ports[c.primary], c.ports[c.replica]
    # ops.env.example, with this machine's hosts and secrets. db1 is the replica here, db2 the
    # primary (as after a failover): target_session_attrs=read-write must find the primary.
    env = env_file((DEPLOY / "ops" / "ops.env.example").read_text())
    url = env["LAMPPOST_OPS_DB"]
    url = replace(url, "ops:CHANGE-ME@", f"ops:{OPS_PASSWORD}@")
    url = replace(url, "db1.lamppost.internal:5432", f"127.0.0.1:{R}")
    url = replace(url, "db2.lamppost.internal:5432", f"127.0.0.1:{P}")
    env.update(LAMPPOST_OPS_DB=url, LAMPPOST_BROKER=f"127.0.0.1:{mq.port}",
               LAMPPOST_MQTT_PASSWORD=mq.collector_password)
    conf = tmp_path / "ops.toml"
    conf.write_text('[municipality.houten]\nname = "Houten"\n')
    reg = write_register(tmp_path / "posts.csv", posts)
    # the operator's first step: the register, into whichever host takes writes
    monkeypatch.setenv("LAMPPOST_OPS_DB", url)
    rc, _, err = ops(capsys, "register", "import", str(reg))
    assert rc == 0, err
    monkeypatch.delenv("LAMPPOST_OPS_DB")

    unit = (DEPLOY / "ops" / "lamppost-ops@.service").read_text()
    workers = []
    try:
        for i in ("1", "2"):
            uenv = {**unit_environment(unit), **env}
            if i == "1":  # `systemctl edit lamppost-ops@1`, as the unit's comment says
                uenv["LAMPPOST_OPS_EXTRA"] = "--backstop"
            argv = exec_start(unit, uenv, i, "testhost")
            assert argv[0] == "/opt/lamppost/.venv/bin/lamppost-ops"
            argv = OPS + argv[1:]
            argv[argv.index("--config") + 1] = str(conf)
            h = argv.index("--health") + 1
            assert argv[h] == f"127.0.0.1:831{i}"
            argv[h] = "127.0.0.1:0"  # a free port: 831x may be taken on a shared machine
            argv += ["--interval", "0.3"]
            log = tmp_path / f"worker-{i}.log"
            workers.append((subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **uenv},
                                             stdout=subprocess.DEVNULL, stderr=open(log, "w")), log))
        for proc, log in workers:
            wait_for(lambda: proc.poll() is not None or ((h := health(log)) and h["broker"]), 90,
                     f"worker {log.name} connected")
            assert proc.poll() is None, log.read_text()

        # a post, over TLS with its own account (the ACL lets it publish only as itself)
        import paho.mqtt.client as mqtt
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="lamppost-HT-0005")
        pub.username_pw_set("HT-0005", accounts["HT-0005"])
        pub.tls_set(ca_certs=str(mq.certs["ca"]), cert_reqs=ssl.CERT_REQUIRED)
        pub.connect("127.0.0.1", mq.tls_port)
        pub.loop_start()
        try:
            alarm = {"t": iso(T0), "id": "HT-0005", "seq": 4, "ev": "alarm", "alarm": "lampFailure",
                     "state": "raised", "count": 1, "dseq": 7, "inc": "00000001"}
            pub.publish("stat/HT-0005/ALARM", json.dumps(alarm), qos=1).wait_for_publish(30)
            k = 0

            def both_received() -> bool:  # the group shares the STATEs: each worker gets some
                nonlocal k
                k += 1
                pub.publish("tele/HT-0005/STATE", json.dumps({"Time": iso(T0 + 1000 + k)}),
                            qos=1).wait_for_publish(30)
                return all((h := health(log)) and h["received"] > 0 for _, log in workers)
            wait_for(both_received, 90, "messages of the shared subscription at both workers")
            eng_p = db.make_engine(url)
            wait_for(lambda: orders(eng_p), 90, "an order on the primary")
            # a few more judging rounds on both workers: a second order would show now
            rounds = [h["rounds"] for h in (health(log) for _, log in workers)]
            wait_for(lambda: all(health(log)["rounds"] >= n + 3 for (_, log), n in zip(workers, rounds)),
                     90, "three more rounds on each worker")
            assert [tuple(o)[1:] for o in orders(eng_p)] == [("HT-0005", "lamp")]
            with eng_p.connect() as cx:  # the workers wrote to the primary, not the replica
                assert cx.exec_driver_sql("SELECT pg_is_in_recovery()").scalar() is False
            eng_p.dispose()
        finally:
            pub.loop_stop()
            pub.disconnect()
    finally:
        for proc, _ in workers:
            proc.terminate()
        for proc, _ in workers:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        mq.stop()  # before the replica checks: the workers are gone, nothing writes any more
    for _, log in workers:
        assert '"level": "error"' not in log.read_text(), log.read_text()

    # the replica: the rows arrived (synchronous commit), the read-only commands work there
    replica_url = c.url(c.replica)
    eng_r = db.make_engine(replica_url)
    with eng_r.connect() as cx:
        assert cx.exec_driver_sql("SELECT pg_is_in_recovery()").scalar() is True
    wait_for(lambda: orders(eng_r), 60, "the order on the replica")
    eng_r.dispose()
    rc, out, err = ops(capsys, "--db", replica_url, "--json", "orders")
    assert rc == 0, err
    [o] = json.loads(out)
    assert (o["post_id"], o["fault_class"]) == ("HT-0005", "lamp")
    rc, out, err = ops(capsys, "--db", replica_url, "--json", "register", "list")
    assert rc == 0 and len(json.loads(out)) == 6, err
    for cmd in (["order", str(o["id"])], ["telemetry", "energy"], ["user", "list"]):
        rc, out, err = ops(capsys, "--db", replica_url, *cmd)
        assert rc == 0, (cmd, err)
    # a report URL naming both hosts with prefer-standby reads the replica
    reports = f"{url.split('&target_session_attrs=')[0]}&target_session_attrs=prefer-standby"
    eng = db.make_engine(reports)
    with eng.connect() as cx:
        assert cx.exec_driver_sql("SELECT pg_is_in_recovery()").scalar() is True
    eng.dispose()
    # writes on the replica: refused, saying why and where to go
    rc, out, err = ops(capsys, "--db", replica_url, "order-update", str(o["id"]), "acknowledged",
                       "--cause", "on site")
    assert rc == 1 and "read-only standby" in err and "primary" in err, err
    rc, out, err = ops(capsys, "--db", replica_url, "--json", "register", "import", str(reg))
    assert rc == 1 and json.loads(out)["error"].startswith("the database is a read-only standby"), out
    rc, out, err = ops(capsys, "--db", replica_url, "serve", "--broker", "127.0.0.1:9", "--health", "127.0.0.1:0")
    assert rc == 1 and "read-only standby" in err, err

    # failover: the primary dies, the replica is promoted (replica.sh's last line). ops.env's URL
    # finds it, but its primary.conf names a synchronous standby (replica1: itself, now gone),
    # so a commit waits for one, as on a primary whose replica is down. The documented way
    # out (docs/fleet.md) releases it.
    c.kill(c.primary)
    c.promote(c.replica)
    upd = subprocess.Popen([*OPS, "--db", url, "order-update", str(o["id"]), "acknowledged", "--cause",
                            "on site"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: upd.poll() is not None or c.sql(
            c.replica, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")[0][0], 90,
            "the order update waiting for a synchronous standby")
        assert upd.poll() is None, upd.communicate()
        c.sql(c.replica, "ALTER SYSTEM SET synchronous_standby_names = ''", "SELECT pg_reload_conf()")
        out, err = upd.communicate(timeout=90)
    finally:
        if upd.poll() is None:
            upd.kill()
    assert upd.returncode == 0, err
    rc, out, err = ops(capsys, "--db", url, "--json", "orders")
    assert [x["status"] for x in json.loads(out)] == ["acknowledged"], out


def test_the_unit_s_command_line_is_one_lamppost_ops_accepts(tmp_path):
    """lamppost-ops@.service: systemd's own check of the unit (the binary path pointed at this
    venv's lamppost-ops), and its ExecStart, expanded with ops.env.example, parsed by
    lamppost-ops' own parser: no stale or misspelt option."""
    from host_tools.ops.cli import build_parser
    unit = (DEPLOY / "ops" / "lamppost-ops@.service").read_text()
    env = {**unit_environment(unit), **env_file((DEPLOY / "ops" / "ops.env.example").read_text())}
    for extra in ("", "--backstop"):
        argv = exec_start(unit, {**env, "LAMPPOST_OPS_EXTRA": extra}, "2", "db1")
        assert argv[0] == "/opt/lamppost/.venv/bin/lamppost-ops"
        a = build_parser().parse_args(argv[1:])
        assert (a.broker, a.share, a.client_id, a.health, a.user, a.retention_days, a.backstop) == \
            ("mqtt.lamppost.internal:1883", "ops", "ops-db1-2", "127.0.0.1:8312", "lamppost.collector",
             400.0, extra == "--backstop")
        assert getattr(a, "password", None) is None  # the password comes from the environment
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return  # the parser check above is what this machine can do
    exe = Path(sys.executable).parent / "lamppost-ops"
    copy = tmp_path / "lamppost-ops@1.service"
    copy.write_text(replace(unit, "/opt/lamppost/.venv/bin/lamppost-ops", str(exe)))
    r = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_emqx_files_parse_and_grant_what_the_workers_subscribe(monkeypatch):
    """No EMQX here: emqx.conf is parsed as HOCON and its listeners, shared-subscription and
    queue settings checked; acl.conf's rules are read as Erlang terms and must let the "ops"
    account subscribe exactly the worker's shared topics and a post publish only as itself."""
    import ipaddress

    from pyhocon import ConfigFactory

    from host_tools.ops.ingest import TOPICS
    conf = ConfigFactory.parse_file(str(DEPLOY / "emqx" / "emqx.conf"))  # resolves every substitution
    assert conf["node.name"].startswith("emqx@") and "cookie" not in conf["node"]  # from EMQX_NODE__COOKIE
    assert conf["node.name"] in conf["cluster.static.seeds"] and len(conf["cluster.static.seeds"]) == 3
    assert conf["listeners.ssl.default.bind"].endswith(":8883")
    host, _, port = conf["listeners.tcp.default.bind"].rpartition(":")
    ip = ipaddress.ip_address(host)
    # a host address of the private network (10.0.0.0 is the network itself: nothing binds it)
    assert ip.is_private and int(ip) & 0xFF not in (0, 255) and port == "1883"
    assert conf["mqtt.shared_subscription_strategy"] in ("round_robin", "hash_topic", "hash_clientid",
                                                         "sticky", "random", "local")
    assert conf["mqtt.mqueue_store_qos0"] is False and conf["mqtt.max_mqueue_len"] > 0
    assert conf["durable_sessions.enable"] is True
    assert conf["authorization.no_match"] == "deny"
    [src] = conf["authorization.sources"]
    assert (src["type"], src["path"]) == ("file", "/etc/emqx/acl.conf")

    text = (DEPLOY / "emqx" / "acl.conf").read_text()
    body = "\n".join(ln.split("%%")[0] for ln in text.splitlines())
    rules = [r.strip() for r in body.split("}.") if r.strip()]
    assert rules[-1] == "{deny, all" and all(r.startswith("{") for r in rules)
    grants: dict[tuple[str, str], list[str]] = {}
    for r in rules[:-1]:
        m = re.fullmatch(r'\{allow,\s*(all|\{username,\s*"([^"]+)"\}),\s*(publish|subscribe),\s*\[(.*)\]',
                         r, re.S)
        assert m, f"acl.conf rule not understood: {r}"
        who = m.group(2) or "all"
        grants.setdefault((who, m.group(3)), []).extend(re.findall(r'"([^"]+)"', m.group(4)))
    # what `serve --share ops` subscribes ($share/GROUP/ before each topic, serve.Service)
    shared = [f"$share/ops/{t}" for t in TOPICS]
    assert sorted(grants[("ops", "subscribe")]) == sorted(shared)
    assert grants[("ops", "publish")] == ["cmnd/+/+"]
    assert sorted(grants[("all", "publish")]) == ["stat/${username}/#", "tele/${username}/#"]
    assert grants[("all", "subscribe")] == ["cmnd/${username}/+"]


def test_serve_takes_the_broker_password_from_a_file_or_the_environment_never_argv(tmp_path, capsys):
    """The workers' broker account: `--password x` is refused (every user sees argv), a
    missing --password-file is a usage error naming the file, before any connection."""
    from host_tools.ops.cli import main
    base = ["--db", str(tmp_path / "ops.sqlite"), "serve", "--broker", "127.0.0.1:9", "--user", "ops"]
    assert main([*base, "--password", "x"]) == 2
    assert "--password-file" in capsys.readouterr().err
    assert main([*base, "--password-file", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err
