"""Bulk indexing on Ray (index/ray_index.py): a build whose embedding runs on a real local Ray
cluster (two actors, one real model each) equals the local build of the same real files, and an
incremental second run re-embeds only the changed file, as the local one does."""
from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from index import indexer  # noqa: E402
from index.indexer import run_index  # noqa: E402
from index.ray_index import RayEmbedder, run_index_ray  # noqa: E402
from index.store import open_backend  # noqa: E402

FILES = {  # copies of real corpus files, under a private folder (one is changed in the second run)
    "seed.txt": "seed/000_7014e17accf97c28.txt",  # English + Swedish version in one file: a version link
    "mfa/2025-12-19_msg27755.txt": "mfa-telegram-en/2025-12-19_msg27755.txt",
    "mfa/2026-01-12_msg27978.txt": "mfa-telegram-en/2026-01-12_msg27978.txt",
    "ru/2026-01-01_530156.txt": "1tv-news-ru/2026-01-01_530156.txt",  # a ru/en pair by file name
    "en/2026-01-01_530156.txt": "1tv-news-en-mt/2026-01-01_530156.txt",
    "copy/2025-12-19_msg27755.txt": "mfa-telegram-en/2025-12-19_msg27755.txt",  # a duplicate
}
CHANGED = "mfa/2026-01-12_msg27978.txt"


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def ray_embedder(ray_cluster, tmp_path_factory, settings_for):
    """Two actors on the two CPUs, one real model each, started once for the module (a model load
    in a fresh worker process is most of the time these tests take)."""
    emb = RayEmbedder(settings_for(tmp_path_factory.mktemp("ray") / "index"), workers=2, slice_size=8)
    yield emb
    emb.close()


def snapshot(index_dir):
    """Everything an index holds, by id: files, documents with their text, passages with their
    terms, sentences, version links and aligned sentences; and the vectors by passage id (and by
    ("sentence", id): stored at float16 precision)."""
    backend = open_backend(index_dir)
    reader = backend.open_reader()
    try:
        identity = reader.identity()
        docs = reader.documents(limit=10_000)
        out = {"identity": identity, "documents": [], "passages": {}, "sentences": [], "versions": {}, "aligned": {}}
        for d in docs:
            out["documents"].append((dataclasses.asdict(d), reader.document_text(d.id)))
            out["versions"][d.id] = sorted(reader.versions(d.id))
            sents = reader.sentences_of_document(d.id)
            out["sentences"] += [dataclasses.asdict(s) for s in sents]
            for pid, p in reader.passages({s.passage_id for s in sents}).items():
                out["passages"][pid] = (dataclasses.asdict(p), sorted(reader.passage_terms(pid)))
            for s in sents:
                aligned = [a.id for a in reader.aligned_sentences([s.id])]
                if aligned:
                    out["aligned"][s.id] = aligned
        assert len(out["passages"]) == reader.passage_count()
        vectors = {pid: reader.vectors.reconstruct(pid) for pid in out["passages"]}  # SQLite store: FAISS
        sentence_ids = [s["id"] for s in out["sentences"]]
        vectors.update({("sentence", sid): v for sid, v in reader.sentence_vectors(sentence_ids).items()})
        assert len(vectors) == len(out["passages"]) + len(sentence_ids)  # every sentence has its vector
    finally:
        reader.close()
    writer = backend.open_writer(identity)
    try:
        out["files"] = {src: (f.sha256, f.duplicate_of) for src, f in writer.files().items()}
    finally:
        writer.abort()
    return out, vectors


# Float tolerance of one vector component, by the precision the model runs at: texts batched
# differently (each worker its own slices) round differently, by ~1e-3 in bfloat16 (measured on a
# CPU with avx512_bf16) and under 1e-4 in float32.
TOLERANCE = {"fp32": 1e-4, "bf16": 5e-3}


def assert_same_index(local_dir, ray_dir, precision="fp32"):
    local, local_vecs = snapshot(local_dir)
    remote, remote_vecs = snapshot(ray_dir)
    assert remote == local
    assert remote_vecs.keys() == local_vecs.keys()
    tol = TOLERANCE[precision]
    diff = max(float(np.max(np.abs(remote_vecs[p] - local_vecs[p]))) for p in local_vecs if not isinstance(p, tuple))
    assert diff < tol, f"vectors differ by up to {diff}"
    diff = max(float(np.max(np.abs(remote_vecs[p] - local_vecs[p]))) for p in local_vecs if isinstance(p, tuple))
    assert diff < max(tol, 1e-3), f"sentence vectors (float16) differ by up to {diff}"
    return local


def same_summary(a, b):
    keep = lambda s: {k: v for k, v in s.to_json().items() if k not in ("seconds", "generation")}  # noqa: E731
    return keep(a) == keep(b)


def test_ray_build_equals_local_build(tmp_path, monkeypatch, corpus, embedder, settings_for, ray_embedder):
    # batches of 8 passages: several batches are in flight on the actors while the driver goes on
    monkeypatch.setattr(indexer, "EMBED_BATCH", 8)
    files = tmp_path / "files"
    for dst, src in FILES.items():
        (files / dst).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(corpus / src, files / dst)
    local_settings = settings_for(tmp_path / "local" / "index")
    ray_settings = settings_for(tmp_path / "ray" / "index")

    local1 = run_index([files], local_settings, embedder=embedder, progress=False)
    ray1 = run_index_ray([files], ray_settings, address="local", embedder=ray_embedder, progress=False)
    assert (ray1.added, ray1.duplicates, ray1.documents) == (5, 1, 6)
    assert same_summary(ray1, local1)
    first = assert_same_index(local_settings.index_dir, ray_settings.index_dir, embedder.precision)
    assert any(first["versions"].values()), "the seed's English and Swedish versions are linked"
    assert first["aligned"]

    # incremental: one file changed; the rest unchanged (the duplicate too), as locally
    with (files / CHANGED).open("a", encoding="utf-8") as fh:
        fh.write("\nThe Ministry added that consultations with the partners would continue in January.\n")
    local2 = run_index([files], local_settings, embedder=embedder, progress=False)
    ray2 = run_index_ray([files], ray_settings, embedder=ray_embedder, progress=False)
    assert same_summary(ray2, local2)
    assert (ray2.updated, ray2.unchanged, ray2.added) == (1, 5, 0)
    assert ray2.changed_sources == [str(files / CHANGED)]
    second = assert_same_index(local_settings.index_dir, ray_settings.index_dir, embedder.precision)
    changed_docs = {d["id"] for d, _ in second["documents"] if d["source"] == str(files / CHANGED)}
    assert ray2.passages == sum(1 for p, _ in second["passages"].values() if p["doc_id"] in changed_docs) > 0
    assert "consultations with the partners" in "".join(t for d, t in second["documents"] if d["id"] in changed_docs)


def test_ray_embedder_is_an_embedder(embedder, ray_embedder):
    """Passages and queries through the actors equal the local model's, in the order given (slices
    spread over both actors), and a batch handed over without waiting gives the same vectors."""
    texts = ["Lavrov said the talks would go on.", "Ministern sade att samtalen fortsätter.",
             "Der Minister sagte, die Gespräche gingen weiter.", "Переговоры продолжатся."] * 5
    emb = ray_embedder
    assert (emb.name, emb.dimension) == (embedder.name, embedder.dimension)
    assert len({a["where"] for a in emb.infos}) == 2
    handle = emb.submit_passages(texts[:11])
    assert len(handle.refs) == 2  # a slice for each actor
    # bf16 results move with how texts are batched (padding), by up to TOLERANCE["bf16"]
    tol = TOLERANCE[embedder.precision]
    np.testing.assert_allclose(emb.embed_passages(texts), embedder.embed_passages(texts), atol=tol)
    np.testing.assert_allclose(handle.result(), embedder.embed_passages(texts[:11]), atol=tol)
    np.testing.assert_allclose(emb.embed_queries(texts[:2]), embedder.embed_queries(texts[:2]), atol=tol)
    # in the order given, not the length order the slices were cut in
    got, want = emb.embed_passages(texts[:4]), embedder.embed_passages(texts[:4])
    assert [int(np.argmax(want @ g)) for g in got] == [0, 1, 2, 3]
    assert emb.embed_passages([]).shape == (0, embedder.dimension)
    # late sentence vectors on the actors: as the local model gives them, each for its own passage
    spans = [[(0, len(t))] for t in texts[:6]]
    spans[0] = [(0, 6), (7, len(texts[0]))]
    got_p, got_s = emb.embed_passages_with_sentences(texts[:6], spans)
    want_p, want_s = embedder.embed_passages_with_sentences(texts[:6], spans)
    np.testing.assert_allclose(got_p, want_p, atol=tol)
    assert [len(r) for r in got_s] == [2, 1, 1, 1, 1, 1]
    np.testing.assert_allclose(np.stack([v for r in got_s for v in r]), np.stack([v for r in want_s for v in r]),
                               atol=tol)
    assert emb.submit_passages_with_sentences([], []).result()[1] == []


def test_cli_refuses_ray_with_watch(tmp_path):
    from typer.testing import CliRunner

    from bot.cli import app

    result = CliRunner().invoke(app, ["index", "--watch", "--ray", "local", str(tmp_path)])
    assert result.exit_code == 2
    assert "--ray is for bulk runs" in result.output


def test_zz_dead_workers_fail_the_run_and_the_live_generation_keeps_serving(tmp_path, corpus, embedder, settings_for,
                                                                             ray_embedder):
    """Runs last in this module: it kills the module's actors. A run whose workers die stops with
    the model error, and the index keeps its last published generation, unlocked."""
    from index.errors import ModelError

    files = tmp_path / "files"
    files.mkdir()
    shutil.copyfile(corpus / FILES["mfa/2025-12-19_msg27755.txt"], files / "a.txt")
    settings = settings_for(tmp_path / "index")
    run_index([files], settings, embedder=embedder, progress=False)
    backend = open_backend(settings.index_dir)
    live = backend.current()
    shutil.copyfile(corpus / FILES[CHANGED], files / "b.txt")
    for actor in ray_embedder.actors:
        ray.kill(actor)
    with pytest.raises(ModelError, match="Ray embedding worker failed"):
        run_index_ray([files], settings, embedder=ray_embedder, progress=False)
    assert backend.current() == live
    again = run_index([files], settings, embedder=embedder, progress=False)  # the lock was released
    assert (again.added, again.unchanged) == (1, 1)
