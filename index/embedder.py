"""The one interface every embedding goes through, and its sentence-transformers implementation.

`load_embedder(settings)` loads the model `settings.model` selects (a shipped model by name, see
`index.models`, a local folder or a hub name) offline, safetensors weights only and no remote code,
and picks the fastest precision this machine runs without losing accuracy: with `backend="auto"` it uses bfloat16 when the CPU has
bf16 instructions (avx512_bf16 / AMX) *and* a quick check on multilingual calibration texts stays
within `BF16_MAX_COSINE_LOSS` mean cosine of float32; otherwise float32. Texts are embedded in
length-sorted batches (less padding), and the vectors are always L2-normalised float32.
Questions get the model's `query` prompt, passages its `document`/`passage` prompt (e5: "query: " /
"passage: "; EmbeddingGemma: "task: search result | query: " / "title: none | text: ").
`settings.model_dim` truncates the vectors to a Matryoshka size (then re-normalises them).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Protocol

import numpy as np

from . import models
from .errors import ModelError
from .settings import Settings

BACKENDS = ("auto", "fp32", "bf16")
SMALL_INPUT = 16  # texts in one call at or below which encoding runs on one thread
BF16_MAX_COSINE_LOSS = 0.005  # accepted drop of mean cosine against float32 (measured: ~3e-5)
FINGERPRINT_FILE = "onrecord-fingerprint.json"

log = logging.getLogger(__name__)

# Short texts in the languages On Record serves, to check a reduced precision at start-up.
CALIBRATION_TEXTS = [
    "The minister said the talks on a ceasefire would continue next week in Geneva.",
    "Ministern sade att samtalen om vapenvila fortsätter nästa vecka i Genève.",
    "Министр заявил, что переговоры о прекращении огня продолжатся на следующей неделе.",
    "Der Minister sagte, die Gespräche über einen Waffenstillstand gingen nächste Woche weiter.",
    "Mr President, the Commission proposal on energy security was adopted by a large majority "
    "after a long debate in which many Members raised concerns about gas supplies from the East.",
    "Die Bundesregierung hält an ihrem Ziel fest, die Ausgaben für Bildung und Forschung zu erhöhen.",
]


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    name: str  # identity recorded in the index (refuses to mix models)
    dimension: int

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...


def default_model_path(settings: Settings) -> Path:
    """The folder of the default shipped model (`index.models.DEFAULT_MODEL`)."""
    return models.folder(settings, models.DEFAULT_MODEL)


# --------------------------------------------------------------------------- machine capabilities


def cpu_flags() -> set[str]:
    """CPU feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def bf16_support() -> tuple[bool, str]:
    """Whether bfloat16 matmuls run natively here, and why (for `model info`)."""
    flags = cpu_flags()
    native = sorted(flags & {"avx512_bf16", "amx_bf16"})
    if not native:
        return False, "no avx512_bf16/amx_bf16 on this CPU"
    try:
        import torch

        if not torch.backends.mkldnn.is_available():
            return False, "torch built without oneDNN"
    except Exception as exc:  # noqa: BLE001
        return False, f"torch unavailable: {exc}"
    return True, "+".join(native)


def default_threads() -> int:
    """Threads for torch: OMP_NUM_THREADS when set, else the CPUs this process may run on."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def planned_backend(settings: Settings) -> str:
    """The backend `load_embedder` will try, from settings and CPU flags (no model loaded)."""
    choice = (settings.backend or "auto").lower()
    if choice not in BACKENDS:
        raise ModelError(f"unknown embedding backend {settings.backend!r}: use one of {', '.join(BACKENDS)}.")
    if choice != "auto":
        return choice
    return "bf16" if bf16_support()[0] else "fp32"


# --------------------------------------------------------------------------- the embedder


def _model_identity(model: str) -> tuple[str, str | None]:
    """(name, fingerprint) of a model folder or hub name, without loading it."""
    path = Path(model).expanduser()
    fp_file = path / FINGERPRINT_FILE
    if fp_file.exists():
        try:
            data = json.loads(fp_file.read_text(encoding="utf-8"))
            return str(data["name"]), data.get("fingerprint")
        except (OSError, ValueError, KeyError):
            pass
    if path.is_dir():
        return path.name, _folder_fingerprint(path)
    return model, None


def _folder_fingerprint(path: Path) -> str:
    """Cheap identity of an arbitrary model folder: its small config files and weight file sizes."""
    h = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        if not f.is_file():
            continue
        rel = f.relative_to(path).as_posix()
        h.update(rel.encode())
        if f.suffix == ".json" and f.stat().st_size < 1_000_000:
            h.update(f.read_bytes())
        else:
            h.update(str(f.stat().st_size).encode())
    return h.hexdigest()[:16]


def _reference_path(folder: Path | None, name: str, fingerprint: str | None, truncate_dim: int | None) -> Path | None:
    """Where the calibration texts' vectors for this model are kept: a file named by the model's
    identity, the texts and the size, so that any change makes a new one (not in the model's folder,
    whose files are its fingerprint)."""
    if folder is None or fingerprint is None:
        return None
    key = hashlib.sha256(json.dumps([name, fingerprint, truncate_dim, CALIBRATION_TEXTS]).encode()).hexdigest()[:24]
    return Path(folder) / f"{key}.npy"


def _read_reference(path: Path | None) -> np.ndarray | None:
    """The kept vectors: the calibration texts' in float32, then the same after casting to bf16."""
    if path is None or not path.is_file() or path.with_suffix(".differs").exists():
        return None
    try:
        ref = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    ok = ref.ndim == 2 and len(ref) == 2 * len(CALIBRATION_TEXTS) and np.isfinite(ref).all()
    return ref.astype(np.float32) if ok else None


def _write_reference(path: Path | None, ref: np.ndarray) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, ref.astype(np.float32), allow_pickle=False)
        tmp.replace(path)
    except OSError as exc:  # a read-only data folder: the check runs in float32 each time, as before
        log.info("cannot keep the bf16 reference vectors at %s: %s", path, exc)


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded offline, with its query and passage prompts.

    precision: "fp32", "bf16" (weights cast to bfloat16) or "auto" (bf16 when the CPU has native
    bf16 and a calibration check keeps mean cosine within BF16_MAX_COSINE_LOSS of fp32).
    truncate_dim: keep the first N dimensions (Matryoshka models); the name then ends in "@N", so
    an index built with one size refuses another.
    """

    def __init__(
        self,
        model: str,
        batch_size: int = 64,
        precision: str = "fp32",
        threads: int | None = None,
        truncate_dim: int | None = None,
        reference_dir: Path | None = None,
        batch_tokens: int = 1024,
    ):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar on every command

        self.threads = int(threads or default_threads())
        torch.set_num_threads(self.threads)
        self.model_ref = model
        t0 = time.perf_counter()
        precision = (precision or "fp32").lower()
        self.name, self.fingerprint = _model_identity(model)
        self._reference_path = _reference_path(reference_dir, self.name, self.fingerprint, truncate_dim)
        stored = _read_reference(self._reference_path) if precision == "auto" and bf16_support()[0] else None
        try:
            # with float32 vectors of the calibration texts kept from an earlier check, the model is loaded
            # straight in bfloat16 (no float32 copy in memory on the way) and checked against them
            self.model = self._load(model, bf16=stored is not None)
        except Exception as exc:  # noqa: BLE001 - any load failure is reported the same way
            raise ModelError(
                f"cannot load the embedding model {model!r}: {exc}. "
                "Run `onrecord model prepare` (or set ONRECORD_MODEL to a local sentence-transformers folder)."
            ) from exc
        self.model.eval()
        self.batch_size = max(1, int(batch_size))
        self.batch_tokens = max(1, int(batch_tokens))
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.full_dimension = int(get_dim())
        self.truncate_dim: int | None = None
        if truncate_dim and int(truncate_dim) != self.full_dimension:
            if not 0 < int(truncate_dim) < self.full_dimension:
                raise ModelError(
                    f"ONRECORD_MODEL_DIM={truncate_dim} is not below the model's {self.full_dimension} dimensions."
                )
            self.truncate_dim = int(truncate_dim)
            self.name = f"{self.name}@{self.truncate_dim}"
            self.fingerprint = f"{self.fingerprint}@{self.truncate_dim}" if self.fingerprint else None
        self.dimension = self.truncate_dim or self.full_dimension
        path = Path(model).expanduser()
        self.path = str(path.resolve()) if path.exists() else None
        shipped = models.shipped_for_folder(path) if path.is_dir() else None
        self.shipped: str | None = shipped.name if shipped else None
        self.fallback: str | None = None
        prompts = self.model.prompts or {}
        self._query_prompt = "query" if "query" in prompts else None
        self._passage_prompt = "passage" if "passage" in prompts else ("document" if "document" in prompts else None)
        self.prompts = {"query": prompts.get(self._query_prompt or "", ""),
                        "passage": prompts.get(self._passage_prompt or "", "")}
        self.precision = "bf16" if stored is not None else "fp32"
        self.loaded_in_bf16 = stored is not None  # straight from the files, without a float32 copy
        self.backend_reason = "float32"
        self.calibration_cosine: float | None = None
        if precision == "bf16":
            self._to_bf16()
            self.backend_reason = "bfloat16 (set by ONRECORD_BACKEND)"
        elif precision == "auto":
            self._choose_auto(stored)
        elif precision != "fp32":
            raise ModelError(f"unknown embedding backend {precision!r}: use one of {', '.join(BACKENDS)}.")
        self.load_seconds = time.perf_counter() - t0

    @staticmethod
    def _load(model: str, bf16: bool = False):
        import torch
        from sentence_transformers import SentenceTransformer

        # safetensors only (no pickled weights), no code from the model folder, no download
        kwargs = {"use_safetensors": True, **({"dtype": torch.bfloat16} if bf16 else {})}
        return SentenceTransformer(model, device="cpu", trust_remote_code=False, model_kwargs=kwargs)

    # -- precision ------------------------------------------------------------------------------

    def _to_bf16(self) -> None:
        import torch

        self.model.to(torch.bfloat16)
        self.precision = "bf16"

    def _choose_auto(self, stored: np.ndarray | None = None) -> None:
        """bf16 where the CPU runs it natively and its vectors of the calibration texts stay within
        BF16_MAX_COSINE_LOSS of float32's. The float32 vectors and those after the cast are computed once
        per model and kept (`reference_dir`); `stored` is them (float32 first) when the model was loaded
        straight in bf16, which stands only if it gives the cast's vectors exactly."""
        ok, why = bf16_support()
        if not ok:
            self.backend_reason = f"float32 ({why})"
            return
        n = len(CALIBRATION_TEXTS)
        got = self._encode(CALIBRATION_TEXTS, self._passage_prompt) if stored is not None else None
        if got is not None and stored.shape == (2 * n, self.dimension) and np.allclose(got, stored[n:], atol=1e-6):
            ref = stored[:n]  # loaded in bf16, it gives exactly what casting float32 weights gave
        else:
            if self.precision == "bf16":  # not the same (EmbeddingGemma): as below, from now on always
                _write_reference(self._reference_path and self._reference_path.with_suffix(".differs"), got)
                self.model = self._load(self.model_ref).eval()
                self.precision = "fp32"
                self.loaded_in_bf16 = False
            ref = self._encode(CALIBRATION_TEXTS, self._passage_prompt)
            self._to_bf16()
            got = self._encode(CALIBRATION_TEXTS, self._passage_prompt)
            _write_reference(self._reference_path, np.concatenate([ref, got]))
        cos = float(np.mean(np.sum(ref * got, axis=1)))
        self.calibration_cosine = cos
        if 1.0 - cos <= BF16_MAX_COSINE_LOSS:
            self.backend_reason = f"bfloat16 ({why}; calibration cosine {cos:.5f} vs float32)"
            return
        self.model = self._load(self.model_ref).eval()  # the cast lost fp32 weights
        self.precision = "fp32"
        self.backend_reason = f"float32 (bf16 calibration cosine {cos:.5f} is below {1 - BF16_MAX_COSINE_LOSS})"
        log.warning("bf16 embeddings drift from float32 (cosine %.4f); using float32", cos)

    @property
    def backend(self) -> str:
        return f"torch-{self.precision}"

    # -- encoding -------------------------------------------------------------------------------

    def _encode(self, texts: list[str], prompt_name: str | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        texts = list(texts)
        # A question or a few sentences: one thread. OpenMP's second thread costs more than it
        # gives on such small inputs, and far more when the other core is busy (29 ms vs 720 ms per
        # question measured here with a background load). Batches use every configured thread.
        threads = 1 if len(texts) <= SMALL_INPUT else self.threads
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        if len(texts) <= SMALL_INPUT:
            vecs = self._forward(texts, prompt_name)
        else:
            vecs = self._encode_batches(texts, prompt_name)
        vecs = vecs.float().numpy()
        if self.truncate_dim:
            vecs = vecs[:, : self.truncate_dim]
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        np.maximum(norms, 1e-12, out=norms)
        vecs /= norms
        return vecs

    def _forward(self, texts: list[str], prompt_name: str | None):
        """A question or a few sentences in one forward pass: what `encode` does for them (its prompt,
        tokenising and truncation, every module) without its per-call set-up (switching ~230 modules
        to eval mode, finding the device, sorting by length): 2-3 ms of a question's ~19 ms with
        e5-small. The model is in eval mode from loading on."""
        import torch

        with torch.inference_mode():
            features = self.model.preprocess(texts, prompt=self._prompt_text(prompt_name) or None)
            return self.model(features)["sentence_embedding"]

    def _prompt_text(self, prompt_name: str | None) -> str:
        """The text `encode` puts before each input for this prompt name (or the model's default)."""
        name = prompt_name or self.model.default_prompt_name
        return (self.model.prompts.get(name) if name else None) or ""

    def _batches(self, full: list[str]) -> list[list[int]]:
        """Indices of `full` (texts with their prompt) in the batches to run: longest first, as many texts
        of similar length as fit `batch_tokens` padded tokens, at most `batch_size`. Sorting keeps the
        padding small (as sentence-transformers' `encode` does); the token budget keeps a batch's
        activations small: on a 2-core CPU passages ran 1.2-1.3x faster in batches of about 1,000 tokens
        than 32 at a time (e5-small and EmbeddingGemma, float32), and names' words (a few tokens each)
        faster 64 or more at a time than 32."""
        tokenizer = self.model.tokenizer
        lengths = [len(ids) for ids in tokenizer(full, truncation=True, max_length=self.model.max_seq_length,
                                                 add_special_tokens=True)["input_ids"]]
        order = sorted(range(len(full)), key=lambda i: -lengths[i])
        batches, at = [], 0
        while at < len(order):
            n = max(1, min(self.batch_size, self.batch_tokens // max(1, lengths[order[at]])))
            batches.append(order[at : at + n])
            at += n
        return batches

    def _encode_batches(self, texts: list[str], prompt_name: str | None):
        """Many texts in the batches of `_batches`, through the same forward pass as `_forward` (what
        `encode` runs per batch), in the order given."""
        import torch

        prompt = self._prompt_text(prompt_name)
        out = [None] * len(texts)
        for batch in self._batches([prompt + t for t in texts]):
            vecs = self._forward([texts[i] for i in batch], prompt_name)
            for row, i in enumerate(batch):
                out[i] = vecs[row]
        return torch.stack(out)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self._passage_prompt)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self._query_prompt)

    def _late_modules(self):
        """The modules after mean pooling (dense layers, normalisation), or None when this model's
        pooling is not a mean over every token (late chunking then does not apply)."""
        modules = list(self.model)
        at = next((i for i, m in enumerate(modules) if type(m).__name__ == "Pooling"), None)
        if at is None:
            return None
        pooling = modules[at]
        mode = getattr(pooling, "pooling_mode", None) or (
            "mean" if getattr(pooling, "pooling_mode_mean_tokens", False) else None)
        if mode != "mean" or not getattr(pooling, "include_prompt", True):
            return None
        return modules[at + 1 :]

    def embed_passages_with_sentences(self, texts: list[str], spans: list[list[tuple[int, int]]]
                                      ) -> tuple[np.ndarray, list[list[np.ndarray | None]]]:
        """Passage vectors (as `embed_passages` gives them) and, from the same forward pass, a vector
        for each (start, end) character span of each text: the mean of the passage's token embeddings
        over the span, through the model's layers after pooling ("late chunking": a sentence read in
        its passage, at no extra model cost). None for a span the model's window cut off, or for
        every span when the model does not pool by mean; embed those separately."""
        import torch

        texts = list(texts)
        out_p = np.zeros((len(texts), self.dimension), dtype=np.float32)
        out_s: list[list[np.ndarray | None]] = [[None] * len(sp) for sp in spans]
        if not texts:
            return out_p, out_s
        rest = self._late_modules()
        if rest is None:
            return self.embed_passages(texts), out_s
        prompt = self.prompts["passage"]
        threads = 1 if len(texts) <= SMALL_INPUT else self.threads
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        tokenizer = self.model.tokenizer
        with torch.inference_mode():
            for idx in self._batches([prompt + t for t in texts]):
                full = [prompt + texts[i] for i in idx]
                features = self.model.preprocess(full)
                offsets = tokenizer(full, padding=True, truncation=True, max_length=self.model.max_seq_length,
                                    return_offsets_mapping=True, return_tensors="pt")
                if not torch.equal(offsets["input_ids"], features["input_ids"]):
                    out_p[idx] = self.embed_passages([texts[i] for i in idx])  # tokenised differently: no spans
                    continue
                result = self.model.forward(features)
                out_p[idx] = result["sentence_embedding"].float().numpy()[:, : self.dimension]
                tokens, mask = result["token_embeddings"], features["attention_mask"].bool()
                pooled, where = [], []
                for row, i in enumerate(idx):
                    off = offsets["offset_mapping"][row]
                    real = mask[row] & (off[:, 1] > off[:, 0])
                    covered = int(off[real, 1].max()) if bool(real.any()) else 0
                    for n, (start, end) in enumerate(spans[i]):
                        a, z = start + len(prompt), end + len(prompt)
                        if z > covered:
                            continue  # past the model's window
                        sel = real & (off[:, 1] > a) & (off[:, 0] < z)
                        if bool(sel.any()):
                            pooled.append(tokens[row][sel].float().mean(0))
                            where.append((i, n))
                if pooled:
                    feats = {"sentence_embedding": torch.stack(pooled).to(tokens.dtype)}
                    for module in rest:
                        feats = module(feats)
                    vecs = feats["sentence_embedding"].float().numpy()[:, : self.dimension]
                    vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
                    for (i, n), v in zip(where, vecs):
                        out_s[i][n] = np.ascontiguousarray(v, dtype=np.float32)
        out_p /= np.maximum(np.linalg.norm(out_p, axis=1, keepdims=True), 1e-12)
        return out_p, out_s

    def info(self) -> dict:
        return {
            "name": self.name,
            "path": self.path or self.model_ref,
            "dimension": self.dimension,
            "full_dimension": self.full_dimension,
            "fingerprint": self.fingerprint,
            "prompts": self.prompts,
            "backend": self.backend,
            "backend_reason": self.backend_reason,
            "threads": self.threads,
            "batch_size": self.batch_size,
            "batch_tokens": self.batch_tokens,
            "max_seq_length": int(self.model.max_seq_length),
            "load_seconds": round(self.load_seconds, 2),
        }


def _resolve(settings: Settings) -> models.Resolved:
    """The model settings select, with ONRECORD_MODEL_DIM checked against what it was trained for."""
    resolved = models.resolve(settings)
    if resolved.fallback:
        log.warning("%s", resolved.fallback)
    dim = settings.model_dim
    if dim is not None and resolved.shipped:
        trained = models.get(resolved.shipped).matryoshka_dims
        if dim not in trained:
            raise ModelError(
                f"ONRECORD_MODEL_DIM={dim}: {resolved.shipped} "
                + (f"was trained for {', '.join(map(str, trained))} dimensions." if trained
                   else "was not trained for shorter vectors; unset ONRECORD_MODEL_DIM.")
            )
    return resolved


def load_embedder(settings: Settings) -> Embedder:
    resolved = _resolve(settings)
    precision = (settings.backend or "auto").lower()
    if precision not in BACKENDS:
        raise ModelError(f"unknown embedding backend {settings.backend!r}: use one of {', '.join(BACKENDS)}.")
    emb = SentenceTransformerEmbedder(
        resolved.ref, batch_size=settings.batch_size, precision=precision, truncate_dim=settings.model_dim,
        reference_dir=settings.home / "cache" / "bf16-reference", batch_tokens=settings.batch_tokens,
    )
    emb.shipped, emb.fallback = resolved.shipped, resolved.fallback
    return emb


def model_info(settings: Settings, load: bool = False) -> dict:
    """What `onrecord model info` prints: name, path, dimension, fingerprint, backend, and which
    shipped models are prepared (`models`), which is the default, and why another is in use
    (`fallback`).

    Without `load` it reads the folder's files (fast) and reports the backend the CPU check
    plans; with `load` it loads the model and reports the backend actually in use.
    """
    resolved = _resolve(settings)
    from .question_encoder import planned

    extra = {
        "model": resolved.shipped,
        "default_model": models.DEFAULT_MODEL,
        "fallback": resolved.fallback,
        **planned(settings),
        "models": models.status(settings),
    }
    if load:
        return {**load_embedder(settings).info(), **extra}  # type: ignore[attr-defined]
    model = resolved.ref
    name, fingerprint = _model_identity(model)
    path = Path(model).expanduser()
    dimension = None
    if path.is_dir():
        for cfg, key in (("1_Pooling/config.json", "word_embedding_dimension"), ("config.json", "hidden_size")):
            try:
                dimension = int(json.loads((path / cfg).read_text(encoding="utf-8"))[key])
                break
            except (OSError, ValueError, KeyError, TypeError):
                continue
    else:  # a hub name: only loading tells its dimension
        return {**load_embedder(settings).info(), **extra}  # type: ignore[attr-defined]
    if settings.model_dim and dimension and settings.model_dim != dimension:
        name, dimension = f"{name}@{settings.model_dim}", settings.model_dim
        fingerprint = f"{fingerprint}@{settings.model_dim}" if fingerprint else None
    backend = planned_backend(settings)
    reason = bf16_support()[1]
    return {
        "name": name,
        "path": str(path.resolve()),
        "dimension": dimension,
        "fingerprint": fingerprint,
        "backend": f"torch-{backend}",
        "backend_reason": f"{'bfloat16' if backend == 'bf16' else 'float32'} ({reason}; "
        f"settings.backend={settings.backend})",
        "threads": default_threads(),
        "batch_size": settings.batch_size,
        "batch_tokens": settings.batch_tokens,
        **extra,
    }


class SharedEmbedder:
    """One model shared by threads (the answering engine and an indexer in the same process): calls
    are serialised on one lock, in small slices, so a question never waits for more than one slice
    of a re-index."""

    def __init__(self, inner: Embedder, lock: threading.Lock | None = None, slice_size: int = 32):
        self.inner, self.lock, self.slice_size = inner, lock or threading.Lock(), slice_size
        self.name, self.dimension = inner.name, inner.dimension

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        parts = []
        for i in range(0, len(texts), self.slice_size):
            with self.lock:
                parts.append(self.inner.embed_passages(texts[i : i + self.slice_size]))
        if not parts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.concatenate(parts)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        with self.lock:
            return self.inner.embed_queries(texts)

    def embed_passages_with_sentences(self, texts: list[str], spans: list[list[tuple[int, int]]]):
        """The inner embedder's late-chunked sentence vectors (see SentenceTransformerEmbedder), in slices."""
        late = getattr(self.inner, "embed_passages_with_sentences", None)
        if late is None:
            return self.embed_passages(texts), [[None] * len(sp) for sp in spans]
        parts, sents = [], []
        for i in range(0, len(texts), self.slice_size):
            with self.lock:
                p, sv = late(texts[i : i + self.slice_size], spans[i : i + self.slice_size])
            parts.append(p)
            sents += sv
        if not parts:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        return np.concatenate(parts), sents
