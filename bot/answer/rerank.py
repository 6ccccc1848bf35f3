"""An optional cross-encoder that reads the question and a candidate passage together and scores the
pair: one more feature of the learnt ranker (`cross_encoder` in bot/answer/features.py), off by default.

Set `ONRECORD_ANSWER_RERANKER` to a local sentence-transformers CrossEncoder folder (nothing is fetched
from a model hub), then fit a calibration with it set (`onrecord calibrate`): the learnt ranker reads
the feature only when its calibration was fitted with it. The rules never read it.
"""
from __future__ import annotations

import threading
from pathlib import Path

from index.errors import ModelError
from index.search import Hit
from index.store import StoreReader


class CrossEncoderScores:
    """Scores (question, passage) pairs for the best `top` candidates (in their retrieval order);
    the others get 0.0. Thread-safe: one model for every listener."""

    def __init__(self, folder: Path, top: int):
        from sentence_transformers import CrossEncoder

        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise ModelError(f"ONRECORD_ANSWER_RERANKER: {folder} is not a folder holding a CrossEncoder model.")
        try:
            self.model = CrossEncoder(str(folder), device="cpu", local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - whatever the loader says, the setting is what is wrong
            raise ModelError(f"ONRECORD_ANSWER_RERANKER: {folder} could not be loaded as a CrossEncoder ({exc}).") from None
        self.name = folder.name
        self.top = max(1, int(top))
        self._lock = threading.Lock()

    def scores(self, store: StoreReader, question: str, hits: list[Hit]) -> list[float]:
        if not hits:
            return []
        best = sorted(range(len(hits)), key=lambda i: -hits[i].score)[: self.top]
        texts = []
        for i in best:
            p = store.passage(hits[i].passage_id)
            texts.append(store.document_text(p.doc_id)[p.start : p.end] if p else "")
        with self._lock:
            got = self.model.predict([(question, t) for t in texts], show_progress_bar=False)
        out = [0.0] * len(hits)
        for i, s in zip(best, got):
            out[i] = float(s)
        return out


def load_reranker(folder: Path | None, top: int) -> CrossEncoderScores | None:
    return CrossEncoderScores(folder, top) if folder else None
