"""A throwaway PostgreSQL primary and streaming replica laid out as deploy/postgresql/ says.

The primary runs with deploy/postgresql/primary.conf included as it is (synchronous commit
to the standby named replica1) and the deploy's pg_hba line for the replication role over
TCP with scram-sha-256; the replica is made by running deploy/postgresql/replica.sh itself
(pg_basebackup -R -C -S), with the script's environment variables pointing it at the temp
directory and port. Both listen on 127.0.0.1 on free ports and on a unix socket in the temp
directory. As root everything runs as the `postgres` system user (initdb refuses root).
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from simulator.broker import free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "postgresql"
REPLICATION_PASSWORD = "repl-secret"
OPS_PASSWORD = "ops-secret"


class ReplicatedCluster:
    def __init__(self, bindir: str):
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="lamppost-pgrepl-"))
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.primary = self.dir / "primary"
        self.replica = self.dir / "replica"
        self.ports: dict[Path, int] = {}
        self.log = self.dir / "setup.log"
        try:
            self._make()
        except BaseException:
            self.stop()
            raise

    # ---------- set-up as an operator does it ----------
    def _make(self) -> None:
        self._run(self._bin("initdb"), "-D", str(self.primary), "--auth-local=trust",
                  "--auth-host=scram-sha-256", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C")
        # the deploy's file, included unchanged (a copy: the postgres user may not read the checkout)
        conf = self.dir / "primary.conf"
        shutil.copy(DEPLOY / "primary.conf", conf)
        with open(self.primary / "postgresql.conf", "a") as f:
            f.write(f"include '{conf}'\n")
        with open(self.primary / "pg_hba.conf", "a") as f:  # the line replica.sh names, our subnet
            f.write("host replication replicator 127.0.0.1/32 scram-sha-256\n")
        self._start(self.primary)
        import psycopg
        with psycopg.connect(**self.socket_args(self.primary), autocommit=True) as c:
            # synchronous_standby_names is set and no standby exists yet: a commit would wait
            # for it forever. Bootstrap commits are local (docs/fleet.md says the same).
            c.execute("SET synchronous_commit = local")
            c.execute(f"CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '{REPLICATION_PASSWORD}'")
            c.execute(f"CREATE ROLE ops LOGIN PASSWORD '{OPS_PASSWORD}'")
            c.execute("CREATE DATABASE lamppost_ops OWNER ops")
        env = {"PGDATA": str(self.replica), "PRIMARY_HOST": "127.0.0.1",
               "PRIMARY_PORT": str(self.ports[self.primary]), "PGPASSWORD": REPLICATION_PASSWORD,
               "PATH": f"{self.bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
        script = self.dir / "replica.sh"
        shutil.copy(DEPLOY / "replica.sh", script)
        self.replica_sh = self._run("env", *[f"{k}={v}" for k, v in env.items()], "sh", str(script),
                                    "--checkpoint=fast")
        self._start(self.replica)
        self.wait_sync()

    def wait_sync(self, timeout: float = 120.0) -> list[tuple]:
        """pg_stat_replication on the primary once replica1 streams as the synchronous standby."""
        import psycopg
        end = time.monotonic() + timeout
        rows: list[tuple] = []
        with psycopg.connect(**self.socket_args(self.primary), autocommit=True) as c:
            while time.monotonic() < end:
                rows = c.execute("SELECT application_name, state, sync_state FROM pg_stat_replication").fetchall()
                if ("replica1", "streaming", "sync") in rows:
                    return rows
                time.sleep(0.2)
        raise RuntimeError(f"replica1 did not become the synchronous standby: {rows}")

    def _bin(self, prog: str) -> str:
        return os.path.join(self.bindir, prog)

    def _run(self, *argv: str) -> str:
        r = subprocess.run([*self.as_user, *argv], capture_output=True, text=True, cwd=self.dir)
        with open(self.log, "a") as f:
            f.write(f"$ {' '.join(argv)}\n{r.stdout}{r.stderr}\n")
        if r.returncode:
            raise RuntimeError(f"{argv[0]} failed ({r.returncode}): {r.stderr or r.stdout}")
        return r.stdout

    def _start(self, data: Path) -> None:
        """pg_ctl start on a free port; another process may take the port first: try another."""
        log = self.dir / f"{data.name}.log"
        for _ in range(5):
            port = free_port()
            try:
                self._run(self._bin("pg_ctl"), "-D", str(data), "-w", "-t", "120", "-l", str(log), "-o",
                          f"-c listen_addresses=127.0.0.1 -p {port} -k {self.dir} -c fsync=off "
                          "-c full_page_writes=off", "start")
            except RuntimeError:
                if "could not bind" in log.read_text(errors="replace").split("starting PostgreSQL")[-1]:
                    continue
                raise RuntimeError(f"PostgreSQL ({data.name}) did not start:\n{log.read_text()[-2000:]}")
            self.ports[data] = port
            return
        raise RuntimeError(f"PostgreSQL ({data.name}) found no free port")

    # ---------- failover ----------
    def kill(self, data: Path) -> None:
        """The server dies (immediate shutdown: no checkpoint, as a crash)."""
        self._run(self._bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")

    def promote(self, data: Path, timeout: float = 120.0) -> None:
        """`pg_ctl promote`, as replica.sh tells the operator, and wait until it takes writes."""
        import psycopg
        self._run(self._bin("pg_ctl"), "-D", str(data), "-w", "-t", str(int(timeout)), "promote")
        end = time.monotonic() + timeout
        with psycopg.connect(**self.socket_args(data), autocommit=True) as c:
            while c.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                if time.monotonic() > end:
                    raise RuntimeError("the promoted replica is still in recovery")
                time.sleep(0.2)

    def sql(self, data: Path, *statements: str) -> list[tuple]:
        """Run statements as postgres (autocommit); the last one's rows."""
        import psycopg
        rows: list[tuple] = []
        with psycopg.connect(**self.socket_args(data), autocommit=True) as c:
            for st in statements:
                cur = c.execute(st)
                rows = cur.fetchall() if cur.description else []
        return rows

    # ---------- addresses ----------
    def socket_args(self, data: Path) -> dict:
        return {"host": str(self.dir), "port": self.ports[data], "user": "postgres", "dbname": "postgres"}

    def url(self, data: Path) -> str:
        """The service's URL for one server, as the ops account over TCP."""
        return (f"postgresql+psycopg://ops:{OPS_PASSWORD}@/lamppost_ops"
                f"?host=127.0.0.1:{self.ports[data]}")

    def stop(self) -> None:
        try:
            for data in (self.replica, self.primary):
                if (data / "postmaster.pid").exists():
                    subprocess.run([*self.as_user, self._bin("pg_ctl"), "-D", str(data), "-m", "immediate",
                                    "-w", "stop"], capture_output=True)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
