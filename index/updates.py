"""The one way a running program changes its index: sync a folder, add a file, watch a folder.

    updates = IndexUpdates(settings, embedder, folder=Path("transcripts"))
    updates.sync()                        re-sync the transcripts folder (Slack /reindex)
    updates.add_file(path)                index one file just saved there (a transcript shared in Slack)
    updates.watch()                       follow the folder in the background (`serve --watch`)
    updates.stop()

`serve()` (or the CLI) creates one and hands it to whatever needs it; nothing else builds indexers.
Updates never overlap (one lock, shared with the watcher) and wait for another process holding the
index's writer lock, up to `wait` seconds (None: as long as it takes, until stopped).
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

from .embedder import Embedder, SharedEmbedder, load_embedder
from .errors import IndexLocked
from .indexer import IndexSummary, discover, run_index
from .settings import Settings

log = logging.getLogger(__name__)

LOCK_POLL = 2.0  # seconds per attempt at the writer lock (so stop() is honoured while waiting)


class IndexUpdates:
    def __init__(self, settings: Settings, embedder: Embedder | None = None, folder: Path | None = None,
                 wait: float | None = 600, prune: bool = True):
        self.settings = settings
        self.folder = Path(folder).absolute() if folder is not None else None  # the transcripts folder
        self.wait = wait
        self.prune = prune
        self._embedder = embedder
        self._embedder_lock = threading.Lock()
        self._run_lock = threading.RLock()  # one update at a time (watcher, /reindex, uploads)
        self._stop = threading.Event()
        self.watcher = None  # index.watch.Watcher, once watch() is called
        self.busy = False

    @classmethod
    def sharing(cls, settings: Settings, embedder: Embedder, **kwargs) -> "IndexUpdates":
        """Updates of the index a running engine reads, with the engine's model: embedded in slices,
        so a question waits for at most one slice of a re-index. An engine embedding questions on ONNX
        (index.question_encoder) cannot index: the updates then load the indexing model when first needed."""
        from .question_encoder import is_onnx

        if is_onnx(embedder):
            return cls(settings, None, **kwargs)
        return cls(settings, embedder if isinstance(embedder, SharedEmbedder) else SharedEmbedder(embedder), **kwargs)

    @property
    def embedder(self) -> Embedder:
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = load_embedder(self.settings)
            return self._embedder

    # -- updates -----------------------------------------------------------------------------------
    def sync(self, paths: list[Path] | None = None, prune: bool | None = None,
             on_file: Callable[[str], None] | None = None, cancel: threading.Event | None = None) -> IndexSummary:
        """One update now of `paths` (default: the transcripts folder); files gone from them are
        removed when `prune`. Waits for another writer (see the module's doc); `cancel` stops waiting."""
        if paths is None:
            if self.folder is None:
                raise ValueError("no transcripts folder to sync")
            paths = [self.folder]
        prune = self.prune if prune is None else prune
        with self._run_lock:
            self.busy = True
            try:
                return self._run(list(paths), prune, on_file, cancel)
            finally:
                self.busy = False

    def add_file(self, path: Path) -> IndexSummary:
        """Index one file (new or changed); nothing else is examined or removed."""
        return self.sync([Path(path)], prune=False)

    def count_files(self, folder: Path | None = None) -> int:
        """Transcript files under `folder` (default: the transcripts folder), as an update would see them."""
        return sum(1 for _ in discover([Path(folder or self.folder)]))

    def ensure_index(self, paths: list[Path]) -> IndexSummary | None:
        """Build the index from `paths` if there is none yet (so an engine can open it); None if one exists."""
        from .store import current_name

        if current_name(self.settings.index_dir) is not None:
            return None
        return self.sync([Path(p) for p in paths], prune=False)

    def _run(self, paths, prune, on_file, cancel) -> IndexSummary:
        deadline = None if self.wait is None else time.monotonic() + self.wait
        told = False
        while True:
            step = LOCK_POLL if deadline is None else max(0.0, min(LOCK_POLL, deadline - time.monotonic()))
            try:
                return run_index(paths, self.settings, embedder=self.embedder, prune=prune, progress=False,
                                 wait=step, on_file=on_file)
            except IndexLocked:
                stopped = self._stop.is_set() or (cancel is not None and cancel.is_set())
                if stopped or (deadline is not None and time.monotonic() >= deadline):
                    raise
                if not told:
                    log.info("another indexer is writing to %s; waiting for it", self.settings.index_dir)
                    told = True

    # -- watching ----------------------------------------------------------------------------------
    def watch(self, folder: Path | None = None, **kwargs):
        """Follow `folder` (default: the transcripts folder) in the background: an initial sync, then
        one update per quiet period. Returns the started index.watch.Watcher."""
        from .watch import Watcher

        if self.watcher is not None:
            raise RuntimeError("already watching")
        root = Path(folder) if folder is not None else self.folder
        if root is None:
            raise ValueError("no folder to watch")
        self.watcher = Watcher([root], self.settings, prune=self.prune, updates=self, **kwargs)
        return self.watcher.start()

    def stop(self) -> None:
        """Stop watching, and stop waiting for another writer."""
        self._stop.set()
        if self.watcher is not None:
            self.watcher.stop()
