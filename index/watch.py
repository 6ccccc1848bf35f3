"""Keep an index in step with transcript folders: watchdog events → debounced incremental updates.

    watch_and_index(paths, settings)      `onrecord index --watch`: blocks until stopped
    Watcher(paths, settings).start()      the same in a background thread (`onrecord serve --watch`)
    Watcher(...).sync()                   one update now
    IndexUpdates(...).watch()             the watcher of a running bot (index/updates.py: /reindex,
                                          uploads and the watcher share its one update lock)

Events (created, modified, moved, deleted) are collected and acted on once the folders have been
quiet for `debounce` seconds, or at the latest `max_delay` seconds after the first pending event,
so a file still being written or a burst of hundreds of files gives one update, not hundreds.
Each update is one `run_index` over the changed paths only (unchanged files are skipped by hash);
a file deleted or moved away is removed from the index (the update prunes vanished sources).
Updates (index/updates.py) wait for another indexer holding the index's writer lock instead of failing.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Callable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from .embedder import Embedder, SharedEmbedder
from .errors import IndexLocked
from .indexer import IndexSummary
from .ingest.formats import SIDECAR_NAMES, TRANSCRIPT_SUFFIXES
from .settings import Settings

log = logging.getLogger(__name__)

MAX_PENDING = 2000  # more distinct changed paths than this: rescan the watched folders instead


def describe(summary: IndexSummary) -> str:
    """One line for the log: what changed, and what was kept or skipped (and why, briefly)."""
    line = summary.line()
    if summary.kept_previous:
        names = ", ".join(os.path.basename(s) for s in summary.kept_previous[:3])
        more = f" and {len(summary.kept_previous) - 3} more" if len(summary.kept_previous) > 3 else ""
        line += f"; kept the previous version of {names}{more} (failed to parse)"
    others = [(s, r) for s, r in summary.skipped if s not in summary.kept_previous]
    if others:
        line += "; skipped " + ", ".join(f"{os.path.basename(s)} ({r})" for s, r in others[:3])
        if len(others) > 3:
            line += f" and {len(others) - 3} more"
    return line


def _hidden(path: Path, roots: list[Path]) -> bool:
    for root in roots:
        try:
            rel = path.relative_to(root)
        except ValueError:
            continue
        return any(part.startswith(".") for part in rel.parts)
    return path.name.startswith(".")


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: "Watcher"):
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind in ("opened", "closed_no_write", "attrib"):
            return
        if event.is_directory and kind == "modified":
            return  # a child changed: the child's own event says which
        src = Path(os.fsdecode(event.src_path))
        if kind == "moved":
            self.watcher._note(src, gone=True, is_dir=event.is_directory)
            self.watcher._note(Path(os.fsdecode(event.dest_path)), gone=False, is_dir=event.is_directory)
        else:
            self.watcher._note(src, gone=kind == "deleted", is_dir=event.is_directory)


class Watcher:
    """Watch transcript folders and keep the index in step; `start()` runs it in a daemon thread."""

    def __init__(
        self,
        paths: list[Path],
        settings: Settings,
        prune: bool = True,
        embedder: Embedder | None = None,
        on_summary: Callable[[IndexSummary], None] | None = None,
        debounce: float = 2.0,
        max_delay: float | None = None,
        initial_sync: bool = True,
        wait: float | None = None,
        updates=None,
    ):
        """`updates`: the index.updates.IndexUpdates to run updates through (shared with /reindex and
        uploads); by default one of the watcher's own, with `embedder` and `wait`."""
        from .updates import IndexUpdates

        self.roots = [Path(p).absolute() for p in paths]
        self.settings = settings
        self.prune = prune
        self.updates = updates or IndexUpdates(settings, embedder, wait=wait, prune=prune)
        self.on_summary = on_summary
        self.debounce = debounce
        self.max_delay = max_delay if max_delay is not None else max(30.0, 10 * debounce)
        self.initial_sync = initial_sync
        self.index_dir = Path(settings.index_dir).absolute()
        self.summaries: list[IndexSummary] = []
        self.errors: list[BaseException] = []
        self._cond = threading.Condition()
        self._pending: set[Path] = set()
        self._vanished = False
        self._overflow = False
        self._first_at: float | None = None
        self._last_at: float | None = None
        self._stop = threading.Event()
        self._observer = None
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()  # set once the initial sync is done (or skipped)
        self.busy = False

    @classmethod
    def for_engine(cls, paths: list[Path], engine, **kwargs) -> "Watcher":
        """A watcher writing the index a running Engine reads, sharing its (thread-safe) model in slices."""
        shared = engine.embedder if isinstance(engine.embedder, SharedEmbedder) else SharedEmbedder(engine.embedder)
        return cls(paths, engine.settings, embedder=shared, **kwargs)

    # -- events ------------------------------------------------------------------------------------
    def _relevant(self, path: Path, is_dir: bool) -> bool:
        try:
            path.relative_to(self.index_dir)
            return False  # our own writes
        except ValueError:
            pass
        if _hidden(path, self.roots):
            return False
        if is_dir:
            return True
        return path.suffix.lower() in TRANSCRIPT_SUFFIXES and path.name not in SIDECAR_NAMES

    def _note(self, path: Path, gone: bool, is_dir: bool) -> None:
        if not self._relevant(path, is_dir):
            return
        now = time.monotonic()
        with self._cond:
            if gone:
                self._vanished = True
            else:
                self._pending.add(path)
                if len(self._pending) > MAX_PENDING:
                    self._overflow = True
                    self._pending.clear()
            if self._first_at is None:
                self._first_at = now
            self._last_at = now
            self._cond.notify_all()

    def _due(self, now: float) -> float | None:
        """Seconds until the pending batch is due (0: now), or None when nothing is pending."""
        if self._first_at is None:
            return None
        return max(0.0, min(self._last_at + self.debounce, self._first_at + self.max_delay) - now)

    def _take(self) -> tuple[list[Path], bool]:
        with self._cond:
            pending, vanished, overflow = self._pending, self._vanished, self._overflow
            self._pending, self._vanished, self._overflow = set(), False, False
            self._first_at = self._last_at = None
        if overflow:
            return list(self.roots), True
        existing = sorted(p for p in pending if p.exists())
        vanished = vanished or len(existing) < len(pending)
        dirs = [p for p in existing if p.is_dir()]
        # a file inside a folder that is scanned anyway is not passed twice
        paths = [p for p in existing if not any(d != p and d in p.parents for d in dirs)]
        return paths, vanished

    # -- updates -----------------------------------------------------------------------------------
    def sync(self, paths: list[Path] | None = None, prune: bool | None = None,
             on_file: Callable[[str], None] | None = None) -> IndexSummary:
        """One update now: `paths` (default: the watched folders); waits for another writer."""
        paths = list(self.roots) if paths is None else list(paths)
        prune = self.prune if prune is None else prune
        summary = self.updates.sync(paths, prune=prune, on_file=on_file, cancel=self._stop)
        self.summaries.append(summary)
        log.info("index update: %s", describe(summary))
        if self.on_summary is not None:
            self.on_summary(summary)
        return summary

    def _loop(self) -> None:
        try:
            if self.initial_sync and not self._stop.is_set():
                self._guarded(lambda: self.sync())
        finally:
            self.ready.set()
        while not self._stop.is_set():
            with self._cond:
                due = self._due(time.monotonic())
                if due is None or due > 0:
                    self._cond.wait(timeout=due if due is not None else 1.0)
                    continue
            self.busy = True  # from taking the batch on, so idle() never sees a gap
            try:
                paths, vanished = self._take()
                if paths or vanished:
                    self._guarded(lambda: self.sync(paths, prune=self.prune or vanished))
            finally:
                self.busy = False

    def _guarded(self, fn) -> None:
        try:
            fn()
        except IndexLocked:
            if not self._stop.is_set():
                log.warning("index update given up: another indexer kept the lock")
        except Exception as exc:  # noqa: BLE001 - the watcher keeps watching
            self.errors.append(exc)
            log.exception("index update failed; will retry on the next change")

    # -- life cycle --------------------------------------------------------------------------------
    def start(self) -> "Watcher":
        for root in self.roots:
            if not root.is_dir():
                raise FileNotFoundError(f"not a folder to watch: {root}")
        self._observer = Observer()
        handler = _Handler(self)
        for root in self.roots:
            self._observer.schedule(handler, str(root), recursive=True)
        self._observer.start()  # before the initial sync, so nothing written meanwhile is missed
        self._thread = threading.Thread(target=self._loop, name="onrecord-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout)
        if self._thread is not None:
            self._thread.join(timeout)

    def idle(self, timeout: float = 60.0) -> bool:
        """Wait until nothing is pending or running (tests and the benchmark)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._cond:
                quiet = self._first_at is None
            if quiet and not self.busy and not self.updates.busy and self.ready.is_set():
                return True
            time.sleep(0.05)
        return False

    def __enter__(self) -> "Watcher":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def watch_and_index(
    paths: list[Path],
    settings: Settings,
    prune: bool = True,
    embedder: Embedder | None = None,
    stop: threading.Event | None = None,
    on_summary: Callable[[IndexSummary], None] | None = None,
    debounce: float = 2.0,
    max_delay: float | None = None,
) -> list[IndexSummary]:
    """`onrecord index --watch`: initial sync, then one update per quiet period, until `stop` is set
    (or SIGINT/SIGTERM). Prints one line per update. Returns the summaries."""

    def default_report(summary: IndexSummary) -> None:
        print(f"{time.strftime('%H:%M:%S')} {describe(summary)}", flush=True)

    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    watcher = Watcher(paths, settings, prune=prune, embedder=embedder, on_summary=on_summary or default_report,
                      debounce=debounce, max_delay=max_delay)
    watcher.start()
    if on_summary is None:
        print(f"watching {', '.join(str(r) for r in watcher.roots)} (Ctrl-C to stop)", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        watcher.stop()
    return watcher.summaries
