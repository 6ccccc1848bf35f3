"""The approximate vector index (index/store/ann.py) checked against brute force, the way FAISS's
contrib tests check theirs: real e5-small passage vectors (the small real index's) perturbed into
~24k noisy re-normalised copies under new ids, real question vectors, the threshold set low so the
approximate path is taken; results through the store (SQLite rows, a published generation read back
memory-mapped by a new reader), never a stand-in."""
from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from index.store import FileRecord, IndexIdentity, NewPassage, PassageFilter, SqliteBackend, open_current
from index.store import ann
from index.store.ann import AnnConfig

from tests.conftest import DEV_QUESTIONS

THRESHOLD = 5_000
FIRST, TOTAL = 4_000, 24_000  # the first commit stays flat, the second crosses the threshold
PER_DOC = 40
SPEAKERS = [f"Speaker {i:02d}" for i in range(40)]
LANGS = ("en", "de", "sv", "ru")
CONFIG = AnnConfig(threshold=THRESHOLD)  # the shipped nprobe and exact-filter sizes


def _grow(real: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Noisy copies of the real vectors in turn (cosine to the original about 0.94, a real passage's to
    its nearest neighbour), re-normalised."""
    rng = np.random.default_rng(seed)
    src = real[np.arange(n) % len(real)]
    noisy = src + rng.standard_normal(src.shape).astype(np.float32) * 0.0185
    return (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)


def _write(writer, vectors: np.ndarray, first_doc: int) -> dict[int, int]:
    """Documents of PER_DOC passages (speaker, language, date by document number); returns
    passage id -> row of `vectors`."""
    rows = {}
    for d in range(0, len(vectors), PER_DOC):
        n = first_doc + d // PER_DOC
        text = " ".join(["word"] * PER_DOC)
        lang = LANGS[(n // 7) % 4]
        fid = writer.add_file(FileRecord(f"/t/{lang}-coll/doc{n}.txt", f"{n:064d}", len(text), 1.0))
        speaker = SPEAKERS[n % len(SPEAKERS)]
        doc = writer.add_document(fid, 0, text, 0, len(text), f"Doc {n}", speaker,
                                  f"2024-{1 + n % 12:02d}-01", lang, None, "text")
        chunk = vectors[d : d + PER_DOC]
        ids = writer.add_passages(doc, [NewPassage(5 * i, 5 * i + 4, speaker, i, None, None, None, None, "word", ())
                                        for i in range(len(chunk))])
        writer.add_vectors(ids, chunk)
        rows.update({pid: d + i for i, pid in enumerate(ids)})
    return rows


@pytest.fixture(scope="module")
def real(small_index):
    gen = open_current(small_index)
    try:
        inner = faiss.downcast_index(gen.vectors.index)
        return np.ascontiguousarray(inner.reconstruct_n(0, inner.ntotal), dtype=np.float32)
    finally:
        gen.close()


@pytest.fixture(scope="module")
def questions(embedder):
    qs = [json.loads(line)["question"] for line in DEV_QUESTIONS.open(encoding="utf-8")][:60]
    return np.asarray(embedder.embed_queries(qs), dtype=np.float32)


@pytest.fixture(scope="module")
def ann_index(tmp_path_factory, real, embedder):
    """A real SQLite/FAISS index: a flat first generation, then one past the threshold (IVF-SQ8)."""
    vectors = _grow(real, TOTAL)
    backend = SqliteBackend(tmp_path_factory.mktemp("ann") / "index", CONFIG)
    identity = IndexIdentity(embedder.name, embedder.dimension, "test-chunker")
    w = backend.open_writer(identity)
    rows = _write(w, vectors[:FIRST], 0)
    first = w.commit()
    reader = backend.open_reader()  # read before the next commit removes it
    flat = {"class": reader.vectors.__class__, "approximate": reader.approximate,
            "recorded": reader._meta("vector_index"), "ntotal": reader.vectors.ntotal}
    reader.close()
    w = backend.open_writer(identity)
    more = _write(w, vectors[FIRST:], FIRST // PER_DOC)
    rows.update({pid: FIRST + r for pid, r in more.items()})
    second = w.commit()
    return {"backend": backend, "vectors": vectors, "rows": rows, "first": first, "second": second, "flat": flat}


def _exact(ann_index, q: np.ndarray, k: int, admitted: list[int] | None = None) -> list[int]:
    ids = np.array(sorted(admitted if admitted is not None else ann_index["rows"]), dtype=np.int64)
    x = ann_index["vectors"][[ann_index["rows"][i] for i in ids]]
    return [int(i) for i in ids[np.argsort(-(x @ q), kind="stable")[:k]]]


def _recall(found: list[list[int]], truth: list[list[int]], at: int = 10) -> float:
    return float(np.mean([len(set(f[:at]) & set(t[:at])) / at for f, t in zip(found, truth)]))


def test_small_generations_stay_flat(ann_index, small_index):
    """Under the threshold the index is exactly today's: FAISS flat, nothing recorded."""
    assert ann_index["flat"] == {"class": faiss.IndexIDMap2, "approximate": False, "recorded": None, "ntotal": FIRST}
    gen = open_current(small_index)  # built with the shipped settings: far below the threshold
    try:
        assert not gen.approximate and isinstance(gen.vectors, faiss.IndexIDMap2)
        assert gen._meta("vector_index") is None
    finally:
        gen.close()


def test_past_the_threshold_a_new_reader_maps_the_ivf_index(ann_index):
    reader = ann_index["backend"].open_reader()
    try:
        assert reader.name == ann_index["second"]
        assert reader.approximate and isinstance(reader.vectors, faiss.IndexIVFScalarQuantizer)
        assert reader._meta("vector_index") == ann.describe(reader.vectors) == f"IVF{ann.list_count(TOTAL)},SQ8"
        assert reader.vectors.ntotal == TOTAL
        maps = open("/proc/self/maps").read()
        assert str(reader.path / "vectors.faiss") in maps  # memory-mapped, not read into memory
        size = (reader.path / "vectors.faiss").stat().st_size
        assert size / TOTAL < 1536 / 3  # SQ8 codes + ids + lists: under a third of float32
    finally:
        reader.close()


def test_recall_at_10_against_brute_force(ann_index, questions):
    reader = ann_index["backend"].open_reader()
    try:
        found = [[i for i, _ in reader.search_vectors(q, 60)] for q in questions]
        truth = [_exact(ann_index, q, 10) for q in questions]
        assert all(len(f) == 60 for f in found)
        assert _recall(found, truth) >= 0.95
        # scores are the stored vectors' cosines, to 8-bit precision
        pid, score = reader.search_vectors(questions[0], 1)[0]
        assert abs(score - float(ann_index["vectors"][ann_index["rows"][pid]] @ questions[0])) < 0.01
    finally:
        reader.close()


@pytest.mark.parametrize("exact_filter", [10**6, 1, 0], ids=["exact-over-admitted", "idselector", "auto"])
def test_filtered_search_matches_exact_filtered_search(ann_index, questions, exact_filter):
    """A speaker filter (600 passages), a PassageFilter (a language: about a quarter) and both, searched
    exactly over the admitted ids, and through the IVF index's IDSelector (the store picks by count)."""
    backend = SqliteBackend(ann_index["backend"].index_dir, AnnConfig(threshold=THRESHOLD, exact_filter=exact_filter))
    reader = backend.open_reader()
    try:
        by_speaker = {pid for (pid,) in reader.db.execute("SELECT id FROM passages WHERE speaker = ?", (SPEAKERS[3],))}
        by_lang = {pid for (pid,) in reader.db.execute(
            "SELECT p.id FROM passages p JOIN documents d ON d.id = p.doc_id WHERE d.language = 'sv'")}
        assert len(by_speaker) == TOTAL // len(SPEAKERS) and 0.2 < len(by_lang) / TOTAL < 0.3
        assert 0 < len(by_speaker & by_lang) < len(by_speaker)
        for kwargs, admitted in (({"speakers": [SPEAKERS[3]]}, by_speaker),
                                 ({"where": PassageFilter(languages=("sv",))}, by_lang),
                                 ({"speakers": [SPEAKERS[3]], "where": PassageFilter(languages=("sv",))},
                                  by_speaker & by_lang)):
            found = [[i for i, _ in reader.search_vectors(q, 60, **kwargs)] for q in questions]
            assert all(set(f) <= admitted for f in found), kwargs
            assert all(len(f) == min(60, len(admitted)) for f in found), kwargs
            truth = [_exact(ann_index, q, 10, list(admitted)) for q in questions]
            assert _recall(found, truth) >= 0.95, kwargs
        assert reader.search_vectors(questions[0], 10, speakers=["Nobody"]) == []
    finally:
        reader.close()


def test_incremental_adds_and_removals_on_the_ivf_index(ann_index, tmp_path, real, embedder, questions):
    """A writer on an approximate generation adds a file and removes one; the next reader finds the new
    passages (each its own nearest) and never the removed ones."""
    import shutil

    src = ann_index["backend"].index_dir
    dst = tmp_path / "index"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("writer.lock"))
    backend = SqliteBackend(dst, CONFIG)
    reader = backend.open_reader()
    gone = {pid for (pid,) in reader.db.execute(
        "SELECT p.id FROM passages p JOIN documents d ON d.id = p.doc_id JOIN files f ON f.id = d.file_id "
        "WHERE f.source = '/t/en-coll/doc0.txt'")}
    nlist = reader.vectors.nlist
    reader.close()
    w = backend.open_writer(IndexIdentity(embedder.name, embedder.dimension, "test-chunker"))
    assert w.remove_file("/t/en-coll/doc0.txt") == 1
    new = _grow(real, PER_DOC * 3, seed=7)[::-1].copy()
    added = _write(w, new, 10_000)
    w.commit()
    reader = backend.open_reader()
    try:
        assert reader.approximate and reader.vectors.nlist == nlist  # grown a little: same lists
        assert reader.vectors.ntotal == TOTAL - len(gone) + len(added)
        for pid, row in added.items():
            assert reader.search_vectors(new[row], 1)[0][0] == pid
        for q in questions:
            assert not {i for i, _ in reader.search_vectors(q, 60)} & gone
        assert reader.search_vectors(ann_index["vectors"][ann_index["rows"][min(gone)]], 60,
                                     speakers=[SPEAKERS[0]])[0][0] != min(gone)
    finally:
        reader.close()


def test_the_engine_answers_from_an_approximate_index(index_copy, engine, embedder, settings_for, monkeypatch):
    """The small real index re-published past a (tiny) threshold, every list probed: the engine gives
    the answers it gives from the flat index."""
    from bot.answer import Engine
    from index.settings import get_settings

    monkeypatch.setenv("ONRECORD_ANN_THRESHOLD", "50")
    get_settings.cache_clear()
    backend = SqliteBackend(index_copy)
    gen = backend.open_reader()
    identity = gen.identity()
    gen.close()
    backend.open_writer(identity).commit()  # nothing changed but the vector index
    approx = Engine.open(settings=settings_for(index_copy), embedder=embedder)
    try:
        with approx.live.reader() as store:
            assert store.approximate and isinstance(store.vectors, faiss.IndexIVFScalarQuantizer)
            assert store.vectors.nlist == ann.list_count(store.vectors.ntotal) <= ann.DEFAULT_NPROBE
        for question in ("Vad sa Lavrov om vapenvila?", "Что Захарова сказала о кредите ЕС Киеву?"):
            a, b = approx.ask(question), engine.ask(question)
            assert a.found == b.found
            assert a.quotes[0].text == b.quotes[0].text and a.quotes[0].source == b.quotes[0].source
    finally:
        approx.close()


def test_full_text_leaves_out_stems_too_common_to_matter_only_in_a_large_index(small_index, monkeypatch):
    """At archive size a stem held by more than FTS_COMMON passages is not searched (scoring every passage
    that holds it grows with the index); an index below that size searches every stem."""
    import index.search as search
    from index.store import open_backend
    from index.textnorm import stems

    store = open_backend(small_index).open_reader()
    try:
        terms = stems("What did the Minister say about the European Parliament and the Commission?", "en")
        df = store.term_document_frequency(terms)
        assert search.searched_terms(store, terms) == terms  # small index: untouched
        common = max(terms, key=lambda t: df[t])
        rare = min((t for t in terms if df[t] > 0), key=lambda t: df[t])
        assert df[common] > df[rare]
        monkeypatch.setattr(search, "FTS_COMMON", df[rare])  # as if the index had grown past it
        kept = search.searched_terms(store, terms)
        assert rare in kept and common not in kept
        assert all(df[t] <= df[rare] for t in kept)
        assert search.fts_search(store, "the Commission and the European Parliament", "en", 5)
    finally:
        store.close()
