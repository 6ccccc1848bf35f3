"""Link versions of one statement in different languages, and align their sentences.

Candidates are documents of the same file (an English statement followed by its Swedish version)
and files of the same name in sibling folders (`1tv-news-ru/X.txt` and `1tv-news-en-mt/X.txt`).
Sentences of linked documents are aligned by embedding similarity: a pair is kept when each is the
other's best match above a threshold, so a quote can be offered in the language asked and its
counterparts listed.
"""
from __future__ import annotations

import os

import numpy as np

from . import models
from .embedder import Embedder
from .store import StoreWriter

ALIGN_MIN_COSINE = 0.80  # e5-small's; each shipped model has its own (index/models: align_min_cosine)
DOCUMENTS_AT_A_TIME = 200  # new documents whose versions' sentences are read (and embedded) together


def _candidates(writer: StoreWriter, doc_id: int) -> list[tuple[int, str]]:
    doc = writer.document(doc_id)
    if doc is None or not doc.language:
        return []
    found = [(d.id, "same file") for d in writer.documents_of_file(doc.source)
             if d.id != doc_id and d.language and d.language != doc.language]
    name, parent = os.path.basename(doc.source), os.path.dirname(os.path.dirname(doc.source))
    for d in writer.documents_named(name):
        if d.source != doc.source and d.language and d.language != doc.language \
                and os.path.dirname(os.path.dirname(d.source)) == parent:
            found.append((d.id, "same name"))
    return found


def align(a: np.ndarray, b: np.ndarray, min_cosine: float = ALIGN_MIN_COSINE) -> list[tuple[int, int, float]]:
    """Mutual best matches above `min_cosine` between two sets of normalised vectors."""
    if len(a) == 0 or len(b) == 0:
        return []
    sim = a @ b.T
    best_b = sim.argmax(axis=1)
    best_a = sim.argmax(axis=0)
    return [(i, int(j), float(sim[i, j])) for i, j in enumerate(best_b) if best_a[j] == i and sim[i, j] >= min_cosine]


def link_versions(writer: StoreWriter, embedder: Embedder, doc_ids: list[int], stored: bool = True) -> int:
    """Link each new document to its other-language versions; returns the number of links made.
    `stored`: align with the sentence vectors stored at index time; False when those were read in
    their passages' context (late sentence vectors): sentences are then aligned by vectors of their
    own, on the scale ALIGN_MIN_COSINE was set on (late ones aligned 15% fewer sentence pairs)."""
    made = 0
    min_cosine = models.align_min_cosine(getattr(embedder, "name", ""))  # the model's cosine scale
    for at in range(0, len(doc_ids), DOCUMENTS_AT_A_TIME):
        group = doc_ids[at : at + DOCUMENTS_AT_A_TIME]
        candidates = {doc_id: _candidates(writer, doc_id) for doc_id in group}
        cache = _sentence_vectors(writer, embedder, {d for doc_id, found in candidates.items() if found
                                                     for d in (doc_id, *(other for other, _ in found))}, stored)
        for doc_id in group:
            for other, method in candidates[doc_id]:
                if writer.has_version(doc_id, other):
                    continue
                ids_a, vec_a = cache[doc_id]
                ids_b, vec_b = cache[other]
                pairs = align(vec_a, vec_b, min_cosine)
                score = len(pairs) / max(1, min(len(ids_a), len(ids_b)))
                writer.link_versions(doc_id, other, method, score,
                                     [(ids_a[i], ids_b[j], cos) for i, j, cos in pairs])
                made += 1
    return made


def _sentence_vectors(writer: StoreWriter, embedder: Embedder, doc_ids: set[int], stored: bool
                      ) -> dict[int, tuple[list[int], np.ndarray]]:
    """Each document's sentence ids and vectors: those stored at index time (`stored`), the rest embedded
    in one call (batched across documents, rather than a few sentences per call)."""
    rows = {d: writer.document_sentences(d) for d in sorted(doc_ids)}
    have: dict[int, np.ndarray] = {}
    if stored:
        have.update(writer.sentence_vectors([r[0] for d in rows for r in rows[d]]))
    todo = [r for d in rows for r in rows[d] if r[0] not in have]
    if todo:
        have.update(zip([r[0] for r in todo], embedder.embed_passages([r[1] for r in todo])))
    dim = getattr(embedder, "dimension", 0)
    return {d: ([r[0] for r in rs], np.stack([have[r[0]] for r in rs]) if rs else np.zeros((0, dim), np.float32))
            for d, rs in rows.items()}
