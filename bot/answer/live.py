"""The live index generation: every question reads one generation from start to end, and a newly
published generation is picked up at the next question (hot swap, no restart); a generation is
closed once the last question using it is done."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from index.store import IndexBackend, StoreReader


class LiveIndex:
    def __init__(self, backend: IndexBackend):
        self.backend = backend
        self._lock = threading.Lock()
        self._live: StoreReader | None = None
        self._refs: dict[str, int] = {}
        self._retired: dict[str, StoreReader] = {}

    @contextmanager
    def reader(self) -> Iterator[StoreReader]:
        """The live generation for the length of one question."""
        with self._lock:
            name = self.backend.current()
            if self._live is None or (name is not None and name != self._live.name):
                new = self.backend.open_reader()  # raises IndexMissing with how to build one
                old, self._live = self._live, new
                self._refs.setdefault(new.name, 0)
                if old is not None:
                    if self._refs.get(old.name, 0) == 0:
                        old.close()
                        self._refs.pop(old.name, None)
                    else:
                        self._retired[old.name] = old
            store = self._live
            self._refs[store.name] += 1
        try:
            yield store
        finally:
            with self._lock:
                self._refs[store.name] -= 1
                if store.name in self._retired and self._refs[store.name] == 0:
                    self._retired.pop(store.name).close()
                    self._refs.pop(store.name, None)

    @property
    def name(self) -> str | None:
        """The generation questions are answered from (None before the first question)."""
        return self._live.name if self._live else None

    def close(self) -> None:
        with self._lock:
            for store in [self._live, *self._retired.values()]:
                if store is not None:
                    store.close()
            self._live, self._retired, self._refs = None, {}, {}
