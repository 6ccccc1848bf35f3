"""Smoke test of `scripts/bench scale` (scripts/bench_scale.py): a synthetic store of twice a small real
index answers through the whole engine, its copies' vectors are perturbed, not repeated. Not how fast."""
from __future__ import annotations

import numpy as np

from index.store import open_backend


def test_scale_store_copies_a_real_index_and_answers_from_it(small_index, tmp_path, embedder):
    from scripts.bench_scale import ask, build

    source = open_backend(small_index).open_reader()
    n = source.passage_count()
    source.close()
    target = tmp_path / "n"
    built = build(small_index, target, 2 * n)
    assert built["passages"] == 2 * n and built["rounds"] == 2 and built["disk_mb"] > 0

    store = open_backend(target).open_reader()
    try:
        assert store.passage_count() == 2 * n
        docs = store.documents(limit=10_000)
        copies = [d for d in docs if d.source.endswith("#copy-1")]
        originals = {(d.source.removesuffix("#copy-0"), d.ordinal): d for d in docs if d.source.endswith("#copy-0")}
        assert copies and len(copies) == len(originals)
        copy = copies[0]
        original = originals[(copy.source.removesuffix("#copy-1"), copy.ordinal)]
        assert store.document_text(copy.id) == store.document_text(original.id)  # the same words
        first = store.sentences_of_document(original.id)[0]
        twin = store.sentences_of_document(copy.id)[0]
        assert (first.start, first.end, first.norm) == (twin.start, twin.end, twin.norm) and first.id != twin.id
        a, b = store.vectors.reconstruct(first.passage_id), store.vectors.reconstruct(twin.passage_id)
        assert 0.85 < float(a @ b) < 0.99  # perturbed (about 0.94), not repeated
        sv = store.sentence_vectors([first.id, twin.id])
        assert 0.85 < float(sv[first.id].astype(np.float32) @ sv[twin.id].astype(np.float32)) < 0.99
    finally:
        store.close()

    result = ask(target, 3, embedder=embedder)
    assert result["passages"] == 2 * n and result["questions"] == 3
    assert 0 < result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]
