"""Embeddings the answering engine needs at question time, with the caches that keep them cheap:
the question, single words and names (for the names check), and sentences (for choosing what to
quote): stored with the index (index/indexer.py: embed_sentences), or embedded once per generation
when the index has none."""
from __future__ import annotations

import numpy as np

from index.embedder import Embedder
from index.store import SentenceRecord, StoreReader

MAX_WORDS = 200_000
MAX_SENTENCES = 100_000


class QuestionVectors:
    def __init__(self, embedder: Embedder):
        self.embedder = embedder  # thread-safe (index.embedder.SharedEmbedder)
        self._words: dict[str, np.ndarray] = {}
        self._stored_words: dict[str, dict[str, np.ndarray | None]] = {}  # per generation; None: not stored
        self._sentences: dict[str, dict[int, np.ndarray]] = {}

    def query(self, text: str) -> np.ndarray:
        return self.embedder.embed_queries([text])[0]

    def words(self, words: list[str], store: StoreReader | None = None) -> np.ndarray:
        """Embeddings of single words and names: the index's where it holds them (the passages' names,
        embedded with them: index/indexer.py embed_words), else the model's now; kept for later
        questions (names recur). A word gets the same vector whatever was asked before it."""
        stored: dict[str, np.ndarray | None] = {}
        if store is not None:
            stored = self._stored_words.setdefault(store.name, {})
            for name in list(self._stored_words)[:-2]:  # keep only the live generations' caches
                self._stored_words.pop(name, None)
            unknown = [w for w in dict.fromkeys(words) if w not in stored]
            if unknown:
                if len(stored) > MAX_WORDS:
                    stored.clear()
                found = store.word_vectors(unknown)
                stored.update((w, found.get(w)) for w in unknown)
        todo = [w for w in dict.fromkeys(words) if stored.get(w) is None and w not in self._words]
        if todo:
            if len(self._words) > MAX_WORDS:
                self._words.clear()
            self._words.update(zip(todo, self.embedder.embed_passages(todo)))
        return np.stack([v if (v := stored.get(w)) is not None else self._words[w] for w in words])

    def sentences(self, store: StoreReader, sents: list[SentenceRecord]) -> np.ndarray:
        """Sentence embeddings, computed on first use and kept (bounded) for later questions."""
        cache = self._sentences.setdefault(store.name, {})
        if len(self._sentences) > 2:  # keep only the live generations' caches
            for name in list(self._sentences)[:-2]:
                self._sentences.pop(name, None)
        todo = [s for s in sents if s.id not in cache]
        if todo:
            if len(cache) > MAX_SENTENCES:
                cache.clear()
            stored = store.sentence_vectors([s.id for s in todo])  # embedded at index time
            cache.update(stored)
            todo = [s for s in todo if s.id not in stored]
        if todo:  # an index built without sentence vectors: embed them now, at the stored precision
            texts = [store.document_text(s.doc_id)[s.start : s.end] for s in todo]
            vecs = np.asarray(self.embedder.embed_passages(texts), dtype=np.float16).astype(np.float32)
            for s, v in zip(todo, vecs):
                cache[s.id] = v
        return np.stack([cache[s.id] for s in sents])
