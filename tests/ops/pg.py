"""A throwaway PostgreSQL cluster from the installed server binaries, for tests and the bench.

initdb refuses to run as root, so as root the cluster belongs to the `postgres` system
user (runuser), in a fresh directory under /tmp that user owns; it listens only on a
unix socket in that directory (no TCP port, nothing else on the machine can reach it).
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile


def server_bindir() -> str | None:
    """Newest /usr/lib/postgresql/<major>/bin holding initdb and pg_ctl, or None."""
    found = [d for d in glob.glob("/usr/lib/postgresql/*/bin")
             if os.path.exists(os.path.join(d, "initdb")) and os.path.exists(os.path.join(d, "pg_ctl"))]
    found.sort(key=lambda d: int(d.split("/")[-2]) if d.split("/")[-2].isdigit() else 0)
    return found[-1] if found else None


class Cluster:
    def __init__(self, bindir: str):
        self.bindir = bindir
        self.dir = tempfile.mkdtemp(prefix="lamppost-pg-")
        self.data = os.path.join(self.dir, "data")
        self.sock = self.dir
        self.port = 5432  # only names the socket file (.s.PGSQL.5432) in our private directory
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync",
                  "-E", "UTF8", "--locale=C")
        self._run("pg_ctl", "-D", self.data, "-w", "-t", "60", "-l", os.path.join(self.dir, "log"),
                  "-o", f"-c listen_addresses= -k {self.sock} -p {self.port} -c fsync=off "
                        "-c full_page_writes=off -c synchronous_commit=off", "start")
        self.n = 0

    def _run(self, prog: str, *args: str) -> None:
        r = subprocess.run([*self.as_user, os.path.join(self.bindir, prog), *args],
                           capture_output=True, text=True, cwd=self.dir)
        if r.returncode:
            raise RuntimeError(f"{prog} failed ({r.returncode}): {r.stderr or r.stdout}")

    def url(self, db: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@/{db}?host={self.sock}&port={self.port}"

    def new_database(self) -> str:
        """URL of a fresh empty schema in this cluster (cheaper than CREATE DATABASE, as
        isolated for the service: every connection of that URL sees only that schema)."""
        import psycopg
        self.n += 1
        name = f"t{self.n}"
        with psycopg.connect(host=self.sock, port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as c:
            c.execute(f'CREATE SCHEMA "{name}"')
        return self.url() + f"&options=-csearch_path%3D{name}"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
