"""Storage: the migrated schema on SQLite and on PostgreSQL, through one URL option."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, select

from host_tools.ops import db, schema


def test_migrations_build_exactly_the_schema_the_code_uses(db_url):
    """A change to schema.py without a migration (or the reverse) shows up as a difference."""
    eng = db.open_db(db_url)
    with eng.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c), schema.metadata)
    assert diff == []
    assert db.current_revision(eng) is not None


def test_open_twice_keeps_data_and_revision(db_url):
    eng = db.open_db(db_url)
    with eng.begin() as c:
        c.execute(insert(schema.municipalities).values(id="houten", name="Houten"))
    rev = db.current_revision(eng)
    eng.dispose()
    eng = db.open_db(db_url)
    assert db.current_revision(eng) == rev
    with eng.connect() as c:
        assert c.execute(select(schema.municipalities.c.name)).scalar_one() == "Houten"


def test_url_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv(db.ENV, raising=False)
    assert db.resolve_url(str(tmp_path / "x.sqlite")) == f"sqlite:///{tmp_path}/x.sqlite"
    monkeypatch.setenv(db.ENV, "postgresql://ops@db.example/ops")
    assert db.resolve_url(None) == "postgresql+psycopg://ops@db.example/ops"
    assert db.resolve_url("other.sqlite").endswith("/other.sqlite")  # the option wins
    with pytest.raises(ValueError, match="not supported"):
        db.resolve_url("mysql://x/y")
