"""Backends the store interface tests run over: each param is one implementation of
index.store.interface (the reference SQLite + FAISS folder; a second backend adds its param here)."""
from __future__ import annotations

import pytest

from index.store import SqliteBackend


@pytest.fixture(params=["sqlite"])
def make_backend(request, tmp_path):
    """A factory of empty backends of one kind (call it again for a second, separate index)."""
    made = []

    def make(name: str = "index"):
        if request.param == "sqlite":
            backend = SqliteBackend(tmp_path / name)
        made.append(backend)
        return backend

    yield make
