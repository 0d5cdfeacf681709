"""One data layer for SQLite (the embedded default) and PostgreSQL (production).

The database is named by one URL: `--db` or the environment variable
LAMPPOST_OPS_DB. A plain path is a SQLite file; `postgresql+psycopg://user@host/db`
is PostgreSQL through psycopg 3. `open_db` brings the schema to the newest Alembic
revision before anything reads it, so an operator never runs a migration by hand.

SQLite serialises writers: every transaction starts with BEGIN IMMEDIATE, so two
workers deciding a group cannot both read "no order yet" (PostgreSQL gets the same
from SELECT ... FOR UPDATE on the group's lock row).
"""
from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event

ENV = "LAMPPOST_OPS_DB"
DEFAULT_DB = "lamppost-ops.sqlite"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def resolve_url(value: str | None = None) -> str:
    """The database URL from an option value, else $LAMPPOST_OPS_DB, else the default file."""
    value = value or os.environ.get(ENV) or DEFAULT_DB
    if "://" in value:
        if not value.startswith(("sqlite://", "postgresql")):
            raise ValueError(f"database URL {value.split('://')[0]}://... is not supported: "
                             "give a file path (SQLite) or postgresql+psycopg://...")
        if value.startswith(("postgresql://", "postgres://")):
            value = "postgresql+psycopg://" + value.split("://", 1)[1]
        return value
    return "sqlite:///" + str(Path(value).resolve())


def make_engine(url: str) -> Engine:
    """An engine for the URL; SQLite gets foreign keys, WAL, a busy timeout and BEGIN IMMEDIATE."""
    if url.startswith("sqlite"):
        eng = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(eng, "connect")
        def _on_connect(dbapi_conn, _rec):
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        @event.listens_for(eng, "begin")
        def _on_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        return eng
    return create_engine(url, pool_pre_ping=True)


def alembic_config(eng: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = eng
    return cfg


MIGRATE_LOCK = 0x6C616D70  # pg advisory lock key ("lamp") held while one worker migrates


def migrate(eng: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (Alembic upgrade). On PostgreSQL several workers may
    start at once: a session advisory lock lets one migrate while the others wait, then
    find the schema current."""
    if eng.dialect.name != "postgresql":
        command.upgrade(alembic_config(eng), revision)
        return
    with eng.connect() as lock:
        lock.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATE_LOCK})")
        try:
            command.upgrade(alembic_config(eng), revision)
        finally:
            lock.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATE_LOCK})")
            lock.commit()


READ_ONLY = ("the database is a read-only standby (a replica): this command writes; give the primary's "
             "URL, or both hosts with target_session_attrs=read-write (docs/fleet.md)")


def is_read_only_error(err: BaseException) -> bool:
    """A write refused because the server is a hot standby (SQLSTATE 25006)."""
    return getattr(getattr(err, "orig", None), "sqlstate", None) == "25006"


def read_only(eng: Engine) -> bool:
    """True on a PostgreSQL hot standby (in recovery: a replica takes no writes)."""
    if eng.dialect.name != "postgresql":
        return False
    with eng.connect() as c:
        return bool(c.exec_driver_sql("SELECT pg_is_in_recovery()").scalar())


def current_revision(eng: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext
    with eng.connect() as c:
        return MigrationContext.configure(c).get_current_revision()


def open_db(value: str | None = None) -> Engine:
    """Engine for the configured database, migrated to the newest schema."""
    eng = make_engine(resolve_url(value))
    migrate(eng)
    return eng
