"""Live re-indexing on real files and real processes: hot swap, one writer, SIGKILL mid-run, the
folder watcher (new, changed, moved, deleted, bursts, parse failures, duplicates)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from filelock import FileLock

from bot.answer import Engine
from index.errors import IndexMissing
from index.indexer import run_index
from index.store import current_name, open_current
from index.watch import SharedEmbedder, Watcher, describe, watch_and_index

REPO = Path(__file__).resolve().parents[1]

SMALL_A = ["mfa-telegram-en/2026-01-12_msg27978.txt", "mfa-telegram-en/2026-01-26_msg28118.txt"]
NEW_POST = "mfa-telegram-en/2026-01-27_msg28126.txt"  # not in the session's small index
OTHER_POST = "mfa-telegram-en/2026-02-04_msg28218.txt"
MORE = ["europarl-en/ep-2006-11-30-ch008-21.txt", "europarl-en/ep-2007-10-24-ch008-15.txt",
        "europarl-en/ep-2007-05-24-ch008-00.txt", "seed/000_7014e17accf97c28.txt",
        "mfa-telegram-en/2025-12-26_msg27893.txt"]


# ---- helpers -------------------------------------------------------------------------------------

def put(corpus: Path, rel: str, dst: Path) -> Path:
    """A writable copy of a corpus file (the corpus itself is read-only)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(corpus / rel, dst)
    return dst


def wait_until(pred, timeout: float = 90.0, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def index_state(index_dir: Path) -> dict:
    """Files (source -> duplicate_of), counts, and every passage text keyed by file name."""
    gen = open_current(index_dir)
    try:
        files = {r[0]: r[1] for r in gen.db.execute("SELECT source, duplicate_of FROM files")}
        passages = sorted(
            (os.path.basename(src), ordinal, gen.document_text(doc_id)[s:e])
            for src, ordinal, doc_id, s, e in gen.db.execute(
                'SELECT f.source, d.ordinal, d.id, p.start, p."end" FROM passages p '
                "JOIN documents d ON d.id = p.doc_id JOIN files f ON f.id = d.file_id"))
        return {"files": files, "counts": gen.counts(), "passages": passages, "ntotal": gen.vectors.ntotal,
                "name": gen.name}
    finally:
        gen.close()


def docs_of(index_dir: Path, source: Path) -> int:
    gen = open_current(index_dir)
    try:
        return gen.db.execute("SELECT count(*) FROM documents d JOIN files f ON f.id = d.file_id WHERE f.source = ?",
                              (str(source),)).fetchone()[0]
    finally:
        gen.close()


def a_sentence(index_dir: Path, source: Path) -> str:
    """The longest indexed sentence of `source` (an exact slice of its text)."""
    gen = open_current(index_dir)
    try:
        rows = gen.db.execute('SELECT s.doc_id, s.start, s."end" FROM sentences s JOIN documents d ON d.id = s.doc_id '
                              "JOIN files f ON f.id = d.file_id WHERE f.source = ?", (str(source),)).fetchall()
        doc_id, s, e = max(rows, key=lambda r: r[2] - r[1])
        return gen.document_text(doc_id)[s:e]
    finally:
        gen.close()


def quoted_from(engine: Engine, fragment: str, source: Path) -> bool:
    return any(q.source == str(source) and q.text.strip() for q in engine.quote(fragment).quotes)


def gen_dirs(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.glob("gen-*"))


def cli_env(settings) -> dict:
    env = dict(os.environ)
    env.update(ONRECORD_MODEL=str(settings.model), ONRECORD_HOME=str(settings.home), HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.pop("ONRECORD_INDEX", None)
    return env


def start_indexer(settings, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "index", *map(str, args), "--index",
                             str(settings.index_dir)], cwd=REPO, env=cli_env(settings),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# ---- hot swap ------------------------------------------------------------------------------------

def test_hot_swap_in_flight_question_keeps_its_generation_and_old_ones_are_removed(
        index_copy, corpus, embedder, settings_for, tmp_path):
    settings = settings_for(index_copy)
    engine = Engine.open(settings=settings, embedder=embedder)
    try:
        new = put(corpus, NEW_POST, tmp_path / "incoming" / "post.txt")
        first = engine.generation_name
        with engine.live.reader() as inflight:  # a question in flight on the old generation
            before = inflight.counts()
            summary = run_index([new], settings, embedder=embedder)
            assert summary.added == 1 and summary.generation and summary.generation != first
            assert current_name(index_copy) == summary.generation
            # the next question answers from the new generation at once, no restart
            sentence = a_sentence(index_copy, new)
            assert quoted_from(engine, sentence, new)
            assert engine.generation_name == summary.generation
            # the old one is still readable for the question in flight, and was not removed
            assert inflight.counts() == before
            assert inflight.db.execute("SELECT count(*) FROM files WHERE source = ?", (str(new),)).fetchone()[0] == 0
            assert (index_copy / first).is_dir()
        # once unused, the next writer removes it (here a run with nothing to do)
        again = run_index([new], settings, embedder=embedder)
        assert again.unchanged == 1 and again.generation is None
        assert gen_dirs(index_copy) == [summary.generation]
        assert quoted_from(engine, sentence, new)
    finally:
        engine.close()


# ---- one writer ----------------------------------------------------------------------------------

def test_a_second_indexer_stops_with_a_clear_message_or_waits(corpus, tmp_path, settings_for):
    folder = tmp_path / "t"
    for rel in SMALL_A:
        put(corpus, rel, folder / Path(rel).name)
    settings = settings_for(tmp_path / "idx")
    settings.index_dir.mkdir(parents=True)
    lock = FileLock(str(settings.index_dir / "writer.lock"))
    lock.acquire()
    try:
        started = time.monotonic()
        refused = start_indexer(settings, folder)
        out, err = refused.communicate(timeout=240)
        to_the_lock = time.monotonic() - started  # start, model load, then the writer lock: refused
        assert refused.returncode != 0
        assert "another indexer is writing" in err and "--wait" in err
        assert current_name(settings.index_dir) is None  # nothing interleaved

        waiting = start_indexer(settings, folder, "--wait", "300")
        # hold the lock past the time the refused run took to reach it (the model loads first), and more
        seen = []
        reader = threading.Thread(target=lambda: seen.extend(iter(lambda: waiting.stderr.read(1), "")), daemon=True)
        reader.start()
        time.sleep(1.5 * to_the_lock + 3)
        assert waiting.poll() is None, "".join(seen)  # still waiting for the lock
    finally:
        lock.release()
    out = waiting.stdout.read()
    assert waiting.wait(timeout=240) == 0, "".join(seen)
    assert "2 added" in out
    assert index_state(settings.index_dir)["counts"]["files"] == 2


# ---- crash safety --------------------------------------------------------------------------------

def _kill_when_writing(settings, folder, delay: float) -> bool:
    """Start a real indexer, SIGKILL it `delay` s after its new generation folder appears.
    Returns False if it finished before the kill."""
    proc = start_indexer(settings, folder)
    try:
        end = time.monotonic() + 240
        while not list(settings.index_dir.glob("gen-*.tmp")) and proc.poll() is None:
            assert time.monotonic() < end, "no generation was ever started"
            time.sleep(0.005)
        time.sleep(delay)
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
        proc.stdout.close()
        proc.stderr.close()
    return not finished


def test_sigkill_at_any_moment_leaves_the_last_good_generation_and_recovery_matches_a_clean_build(
        corpus, tmp_path, embedder, settings_for):
    folder = tmp_path / "transcripts"
    for rel in SMALL_A:
        put(corpus, rel, folder / Path(rel).name)
    settings = settings_for(tmp_path / "idx")

    # killed before any generation was ever published: the index is cleanly missing
    assert _kill_when_writing(settings, folder, 0.0)
    with pytest.raises(IndexMissing):
        open_current(settings.index_dir)
    assert list(settings.index_dir.glob("gen-*.tmp"))  # the killed run's leftovers

    # the next run completes the work (and clears the leftovers)
    good = run_index([folder], settings, embedder=embedder)
    assert good.added == 2 and gen_dirs(settings.index_dir) == [good.generation]
    a = folder / Path(SMALL_A[0]).name
    sentence = a_sentence(settings.index_dir, a)
    good_state = index_state(settings.index_dir)

    # more transcripts arrive; indexers are killed mid-run at different moments
    for rel in MORE:
        put(corpus, rel, folder / Path(rel).name)
    killed = 0
    for delay in (0.5, 2.5):
        killed += _kill_when_writing(settings, folder, delay)
        state = index_state(settings.index_dir)  # opens
        if state["name"] == good.generation:
            assert state == good_state  # untouched: the last good generation serves
        engine = Engine.open(settings=settings, embedder=embedder)
        try:
            assert quoted_from(engine, sentence, a)  # and answers
        finally:
            engine.close()
    assert killed >= 1

    # a complete run afterwards (in this process: the kills above were real processes) gives exactly
    # what a clean build gives
    run_index([folder], settings, embedder=embedder)
    clean = settings_for(tmp_path / "clean")
    run_index([folder], clean, embedder=embedder)
    recovered, expected = index_state(settings.index_dir), index_state(clean.index_dir)
    assert recovered["counts"] == expected["counts"]
    assert recovered["passages"] == expected["passages"]
    assert recovered["files"] == expected["files"]
    assert recovered["ntotal"] == recovered["counts"]["passages"]
    assert not list(settings.index_dir.glob("gen-*.tmp"))
    assert gen_dirs(settings.index_dir) == [recovered["name"]]


# ---- the watcher ---------------------------------------------------------------------------------

def test_watcher_follows_new_changed_moved_and_deleted_files(corpus, tmp_path, embedder, settings_for):
    folder = tmp_path / "watched"
    a = put(corpus, SMALL_A[0], folder / "a.txt")
    b = put(corpus, SMALL_A[1], folder / "b.txt")
    settings = settings_for(tmp_path / "idx")
    run_index([folder], settings, embedder=embedder)
    engine = Engine.open(settings=settings, embedder=embedder)
    summaries = []
    watcher = Watcher.for_engine([folder], engine, debounce=0.5, on_summary=summaries.append)
    watcher.start()
    try:
        assert watcher.ready.wait(60) and summaries[0].unchanged == 2 and summaries[0].generation is None

        c = put(corpus, NEW_POST, folder / "new" / "c.txt")  # a new file (in a new folder)
        wait_until(lambda: docs_of(settings.index_dir, c), what="the new file")
        assert quoted_from(engine, a_sentence(settings.index_dir, c), c)

        old_sentence = a_sentence(settings.index_dir, a)
        a.write_bytes((corpus / OTHER_POST).read_bytes())  # a changed file
        wait_until(lambda: any(s.updated for s in summaries), what="the update")
        assert quoted_from(engine, a_sentence(settings.index_dir, a), a)
        assert not quoted_from(engine, old_sentence, a)

        moved = folder / "archive" / "c-moved.txt"  # a moved file
        moved.parent.mkdir()
        c.rename(moved)
        wait_until(lambda: str(c) not in index_state(settings.index_dir)["files"]
                   and docs_of(settings.index_dir, moved), what="the move")

        b.unlink()  # a deleted file
        wait_until(lambda: str(b) not in index_state(settings.index_dir)["files"], what="the deletion")
        state = index_state(settings.index_dir)
        assert set(state["files"]) == {str(a), str(moved)}
        assert state["ntotal"] == state["counts"]["passages"]
        assert not watcher.errors
    finally:
        watcher.stop()
        engine.close()


def test_watcher_keeps_previous_documents_on_parse_failure_and_skips_duplicates(
        corpus, tmp_path, embedder, settings_for):
    folder = tmp_path / "watched"
    a = put(corpus, SMALL_A[0], folder / "a.txt")
    b = put(corpus, SMALL_A[1], folder / "b.txt")
    settings = settings_for(tmp_path / "idx")
    summaries = []
    watcher = Watcher([folder], settings, embedder=embedder, debounce=0.5, on_summary=summaries.append)
    with watcher:
        assert watcher.ready.wait(120) and summaries[0].added == 2
        before = index_state(settings.index_dir)
        docs_a = docs_of(settings.index_dir, a)

        a.write_bytes(b"\x00\x01\x02\xff\xfe garbage \x00" * 300)  # now binary garbage
        wait_until(lambda: any(s.kept_previous for s in summaries), what="the failed parse")
        failed = next(s for s in summaries if s.kept_previous)
        assert failed.kept_previous == [str(a)]
        assert "kept the previous version of a.txt" in describe(failed)
        assert docs_of(settings.index_dir, a) == docs_a  # nothing lost
        assert index_state(settings.index_dir)["counts"] == before["counts"]

        n = len(summaries)
        copy = folder / "b-again.txt"
        shutil.copyfile(b, copy)  # the same content under another name
        wait_until(lambda: len(summaries) > n and watcher.idle(0.1), what="the duplicate")
        dup = summaries[-1]
        assert dup.duplicates == 1 and dup.passages == 0
        state = index_state(settings.index_dir)
        assert state["files"][str(copy)] == str(b)
        assert state["counts"]["passages"] == before["counts"]["passages"]

        b.unlink()  # the original goes: its duplicate is indexed in its place, nothing lost
        wait_until(lambda: str(b) not in index_state(settings.index_dir)["files"], what="the deletion")
        state = index_state(settings.index_dir)
        assert state["files"][str(copy)] is None and docs_of(settings.index_dir, copy) >= 1
        assert state["counts"]["passages"] == before["counts"]["passages"]


def test_a_burst_of_500_files_gives_few_updates(corpus, tmp_path, embedder, settings_for):
    folder = tmp_path / "watched"
    put(corpus, SMALL_A[0], folder / "first.txt")
    settings = settings_for(tmp_path / "idx")
    # 500 files (the burst): 10 real posts, each also arriving under 49 other names (duplicates
    # keep embedding short)
    posts = sorted((corpus / "mfa-telegram-en").iterdir(), key=lambda p: (p.stat().st_size, p.name))[:10]
    posts = [(p, f"{i:02d}-{p.name}") for i in range(50) for p in posts]
    summaries, stop = [], threading.Event()
    t = threading.Thread(target=watch_and_index, args=([folder], settings),
                         kwargs=dict(embedder=embedder, stop=stop, on_summary=summaries.append, debounce=1.0),
                         daemon=True)
    t.start()
    try:
        wait_until(lambda: summaries, 120, "the initial sync")
        burst = folder / "burst"
        burst.mkdir()
        for p, name in posts:  # written one after another, as a copy tool would
            (burst / name).write_bytes(p.read_bytes())
        wait_until(lambda: len(index_state(settings.index_dir)["files"]) == 501, 300, "all 500 files")
        time.sleep(1.5)  # let any trailing update show
        updates = summaries[1:]
        assert 1 <= len(updates) <= 3, [describe(s) for s in updates]
        assert sum(s.added + s.duplicates for s in updates) == 500
    finally:
        stop.set()
        t.join(60)
    assert not t.is_alive()


def test_overlapping_paths_are_indexed_once(corpus, tmp_path, embedder, settings_for):
    """Fixed in index/indexer.py: a folder and a file inside it used to insert the file twice."""
    folder = tmp_path / "t"
    a = put(corpus, SMALL_A[0], folder / "a.txt")
    settings = settings_for(tmp_path / "idx")
    summary = run_index([folder, a], settings, embedder=embedder)
    assert (summary.added, summary.files_seen) == (1, 1)


def test_shared_embedder_slices_and_matches(embedder):
    shared = SharedEmbedder(embedder, slice_size=2)
    texts = ["one statement", "another statement", "a third", "the fourth one", "five"]
    import numpy as np

    assert np.allclose(shared.embed_passages(texts), embedder.embed_passages(texts), atol=1e-5)
    assert shared.embed_passages([]).shape == (0, embedder.dimension)
