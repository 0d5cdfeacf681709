"""Fixtures for the operations service: `db_url` runs each test on SQLite and on PostgreSQL."""
from __future__ import annotations

import pytest

from .pg import Cluster, server_bindir


@pytest.fixture(scope="session")
def pg_cluster():
    bindir = server_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb): "
                    "install the postgresql package to run the PostgreSQL half")
    c = Cluster(bindir)
    yield c
    c.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    """A fresh empty database: a SQLite file in tmp_path, or a new database in the session's cluster."""
    if request.param == "sqlite":
        return str(tmp_path / "ops.sqlite")
    return request.getfixturevalue("pg_cluster").new_database()
