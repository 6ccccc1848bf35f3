"""Questions embedded without torch: the model's ONNX export (`index.onnx_export`) run by onnxruntime.

An answering process embeds a question and a few sentences at a time; it needs neither torch nor
sentence-transformers for that, which are most of its memory. `load_question_embedder(settings)` gives
the answering engine its embedder:

- `ONRECORD_QUESTION_BACKEND=onnx`: the export (made now if missing; that one time needs torch);
- `torch`: the indexing embedder (`index.embedder.load_embedder`);
- `auto` (default): the export where one was kept in its fast variant (`int8`), else torch.

The vectors are the float32 model's within the export's check (e5-small, int8: mean cosine 0.996 on
questions), and the index still records one model: an ONNX embedder carries the name of the model it
was exported from, so an index built with another refuses it as before.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path

import numpy as np

from .errors import ModelError
from .settings import Settings

log = logging.getLogger(__name__)

QUESTION_BACKENDS = ("auto", "onnx", "torch")
FAST_VARIANT = "int8"
SLICE = 16  # texts per run (variants with float32 arithmetic): a question's sentences come in small sets


class Tokens:
    """The model's fast tokenizer (its tokenizer.json) as sentence-transformers calls it: special tokens
    added, truncated to the model's length, padded to the longest text. Gives int64 ids and masks."""

    def __init__(self, path: Path, max_length: int, pad_id: int):
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(path))
        self.tokenizer.enable_truncation(max_length=max_length)
        self.tokenizer.enable_padding(pad_id=pad_id)

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        encoded = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        return ids, mask


class SentencePieceTokens:
    """The same ids from a SentencePiece model written from the tokenizer.json of a Unigram tokenizer
    (`index.onnx_export.sentencepiece_model`): XLM-R's 250k pieces take 60 MB in SentencePiece's trie
    against 264 MB in `tokenizers`. What tokenizer.json does around its charsmap is done here: its
    string replacements before, its collapse of repeated spaces after, and the special tokens around."""

    def __init__(self, path: Path, max_length: int, pad_id: int, bos_id: int, eos_id: int,
                 replace: list[list[str]]):
        import sentencepiece as spm

        self.processor = spm.SentencePieceProcessor(model_file=str(path))
        self.max_length, self.pad_id, self.bos_id, self.eos_id = max_length, pad_id, bos_id, eos_id
        self.replace = [tuple(r) for r in replace]

    def ids(self, text: str) -> list[int]:
        for old, new in self.replace:
            text = text.replace(old, new)
        normal = self.processor.normalize(text)[1:]  # without the prefix space, which encode adds again
        normal = _SPACES.sub("\u2581", normal).replace("\u2581", " ")
        return [self.bos_id, *self.processor.encode(normal)[: self.max_length - 2], self.eos_id]

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        rows = [self.ids(t) for t in texts]
        width = max(map(len, rows))
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return ids, mask


_SPACES = re.compile("\u2581{2,}")


def tokens_for(exported) -> "Tokens | SentencePieceTokens":
    e = exported
    if e.tokenizer_kind == "sentencepiece":
        return SentencePieceTokens(e.folder / e.tokenizer_file, e.max_length, e.pad_id, e.bos_id, e.eos_id,
                                   e.replace)
    return Tokens(e.folder / e.tokenizer_file, e.max_length, e.pad_id)


def token_vectors(table, ids: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Rows of an 8-bit token table as the graph's DequantizeLinear made them: (q - zero point) * scale."""
    return (table[ids].astype(np.int32) - zero_point).astype(np.float32) * np.float32(scale)


class TokenTable:
    """An .npy token table read row by row from the file (`os.pread`): the process holds only the rows
    of the texts it is embedding. Memory-mapped, it held all of it after 206 questions (92 of 94 MB: the
    kernel maps the cached pages around each one touched, whatever madvise says)."""

    def __init__(self, path: Path):
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(fh)
            self.offset = fh.tell()
        if fortran or len(shape) != 2:
            raise ValueError(f"{path}: not a row-major table")
        self.shape, self.dtype = shape, np.dtype(dtype)
        self.row_bytes = int(shape[1]) * self.dtype.itemsize
        self.fd = os.open(path, os.O_RDONLY)

    def __getitem__(self, ids: np.ndarray) -> np.ndarray:
        flat = np.asarray(ids).reshape(-1)
        if flat.size and (flat.min() < 0 or flat.max() >= self.shape[0]):
            raise IndexError("token id outside the table")
        rows = {}
        for i in dict.fromkeys(flat.tolist()):
            raw = os.pread(self.fd, self.row_bytes, self.offset + i * self.row_bytes)
            rows[i] = np.frombuffer(raw, dtype=self.dtype)
        out = np.stack([rows[i] for i in flat.tolist()]) if flat.size else np.zeros((0, self.shape[1]), self.dtype)
        return out.reshape(*np.shape(ids), self.shape[1])

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self):
        self.close()


class OnnxEmbedder:
    """index.embedder.Embedder over an ONNX export; one thread per run (questions are small inputs, and
    a second thread costs more than it gives on them, as with torch)."""

    def __init__(self, exported, truncate_dim: int | None = None, threads: int = 1):
        import onnxruntime as ort

        self.exported = exported
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.enable_cpu_mem_arena = False  # a question's buffers go back when it is answered
        try:
            self.session = ort.InferenceSession(str(exported.folder / exported.model_file), options,
                                                providers=["CPUExecutionProvider"])
            self.tokens = tokens_for(exported)
            self.table = TokenTable(exported.folder / exported.token_table) if exported.token_table else None
        except Exception as exc:  # noqa: BLE001 - a damaged export is reported, not half-used
            raise ModelError(f"cannot load the ONNX export in {exported.folder}: {exc}; run "
                             "`onrecord model export --force` or set ONRECORD_QUESTION_BACKEND=torch.") from exc
        self._lock = threading.Lock()
        self.name = exported.name
        self.truncate_dim = None
        if truncate_dim and int(truncate_dim) != exported.dimension:
            self.truncate_dim = int(truncate_dim)
            self.name = f"{self.name}@{self.truncate_dim}"  # as the torch embedder names a shortened model
        self.dimension = self.truncate_dim or exported.dimension

    def _encode(self, texts: list[str], prompt: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # 8-bit activations are scaled per run (dynamic quantisation): a text run beside others would get a
        # vector that depends on them (cosine 0.994-0.997 to its own). So each text runs alone, and the
        # same question always gets the same vector; variants with float32 arithmetic run in padded slices.
        step = 1 if self.exported.variant == FAST_VARIANT else SLICE
        parts = []
        for i in range(0, len(texts), step):
            ids, mask = self.tokens([prompt + t for t in texts[i : i + step]])
            with self._lock:
                parts.append(self.session.run(None, self._feed(ids, mask))[0])
        vecs = np.concatenate(parts).astype(np.float32)
        if self.truncate_dim:
            vecs = vecs[:, : self.truncate_dim]
        vecs = np.ascontiguousarray(vecs)
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        return vecs

    def _feed(self, ids: np.ndarray, mask: np.ndarray) -> dict:
        feed = {"input_ids": ids, "attention_mask": mask}
        if self.table is not None:
            e = self.exported
            feed[e.token_input] = token_vectors(self.table, ids, e.token_scale, e.token_zero_point)
        return feed

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(list(texts), self.exported.query_prompt)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(list(texts), self.exported.passage_prompt)


def question_backend(settings: Settings) -> str:
    choice = (settings.question_backend or "auto").lower()
    if choice not in QUESTION_BACKENDS:
        raise ModelError(f"unknown question backend {settings.question_backend!r}: use one of "
                         f"{', '.join(QUESTION_BACKENDS)}.")
    return choice


def _choice(settings: Settings):
    """("torch", None), ("onnx", the export) or ("onnx", None: to be made now), without loading anything."""
    from . import onnx_export

    choice = question_backend(settings)
    if choice == "torch" or (choice == "auto" and (settings.backend or "auto").lower() != "auto"):
        return "torch", None  # a precision asked for by name is torch's
    found = onnx_export.find(settings)
    if choice == "onnx" or (found is not None and found.variant == FAST_VARIANT):
        return "onnx", found
    return "torch", None


def load_question_embedder(settings: Settings):
    """The embedder an answering process uses for questions (see the module's docstring)."""
    from . import onnx_export
    from .embedder import load_embedder

    kind, found = _choice(settings)
    if kind == "torch":
        return load_embedder(settings)
    found = found or onnx_export.export(settings, variants=onnx_export.VARIANTS)
    return OnnxEmbedder(found, truncate_dim=settings.model_dim)


def is_onnx(embedder) -> bool:
    """Whether an embedder (or a SharedEmbedder around one) runs on ONNX: it cannot index (no token
    vectors for sentences), so an indexer in the same process loads its own."""
    return isinstance(getattr(embedder, "inner", embedder), OnnxEmbedder)


def planned(settings: Settings) -> dict:
    """What `load_question_embedder` will use, without loading anything (for `onrecord model info`)."""
    kind, found = _choice(settings)
    if found is not None:
        return {"question_backend": f"onnx-{found.variant}", "question_export": str(found.folder)}
    if kind == "onnx":
        return {"question_backend": "onnx (exported on first use)", "question_export": None}
    return {"question_backend": "torch (the indexing model)", "question_export": None}
