"""Bulk indexing on a Ray cluster: `onrecord index --ray ADDRESS PATH...` (needs the `ray` extra).

The driver (this process) runs `index.indexer.run_index` as it is: discovery, content hashes, the
unchanged / updated / duplicate decisions, parsing and chunking, version linking, and every write
to the store (one writer, as without Ray). What goes to the cluster is what costs: embedding.
`RayEmbedder` implements the `Embedder` protocol over a pool of `EmbedWorker` actors, one model
per actor, each loaded by `index.embedder.load_embedder` from the driver's model settings, offline
(HF_HUB_OFFLINE=1 in the actors' environment). Each batch of the indexer is cut into slices given to
the least busy actors, and handed over without waiting (`submit_passages`), so the driver parses and
stores the next files while the actors embed; vectors come back in order and the driver writes them.

Parsing stays on the driver on purpose: it keeps the incremental logic exactly the local one, and
measured here the driver prepares (parses, chunks, stems) about 1,500 passages/s of the scale set on
one core, more than the PostgreSQL store writes (about 620/s, docs/scaling.md) and some 30 times what
one core embeds; the store, not parsing, is the next limit (docs/scaling.md, "Bulk indexing on Ray").

Addresses: `local` starts a private cluster on this machine for the run; `auto` joins the cluster
this machine belongs to (`ray start`); `HOST:6379` a cluster's head; `ray://HOST:10001` Ray Client
(needs `ray[client]`). Every node needs onrecord installed and the model prepared at the same path
(`onrecord model prepare` with the same ONRECORD_HOME, or a shared folder): the actors check they
all load the same model (name, fingerprint, dimension) before anything is embedded.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from .errors import ModelError, OnRecordError
from .settings import Settings

log = logging.getLogger(__name__)

SLICE = 64  # passages per actor call: large enough to batch well, small enough to spread a batch
LOCAL_OBJECT_STORE_MB = 512  # `local` clusters: texts and vectors only, no need for Ray's 30% of RAM
# The settings an actor needs to load the driver's model (not the rest: no secrets travel).
MODEL_FIELDS = ("home", "models_dir", "model", "model_dim", "backend", "batch_size", "batch_tokens")


class RayUnavailable(OnRecordError):
    """Ray is not installed, or the cluster cannot be reached or cannot host the workers."""


def _ray():
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable("indexing on Ray needs Ray: pip install 'onrecord[ray]'") from exc
    return ray


class EmbedWorker:
    """One Ray actor: one embedding model, loaded once; embeds the slices it is given."""

    def __init__(self, model_settings: dict):
        import os
        import socket

        from .embedder import load_embedder

        self.embedder = load_embedder(Settings(**model_settings))
        self.where = f"{socket.gethostname()}:{os.getpid()}"
        self.texts, self.cpu_seconds, self.busy_seconds = 0, 0.0, 0.0

    def info(self) -> dict:
        e = self.embedder
        return {"name": e.name, "dimension": e.dimension, "fingerprint": getattr(e, "fingerprint", None),
                "backend": getattr(e, "backend", None), "threads": getattr(e, "threads", None), "where": self.where}

    def _timed(self, embed, texts: list[str]) -> np.ndarray:
        import time

        cpu, wall = time.process_time(), time.perf_counter()
        vecs = embed(texts)
        self.cpu_seconds += time.process_time() - cpu
        self.busy_seconds += time.perf_counter() - wall
        self.texts += len(texts)
        return vecs

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._timed(self.embedder.embed_passages, texts)

    def embed_passages_with_sentences(self, texts: list[str], spans: list[list[tuple[int, int]]]):
        return self._timed(lambda t: self.embedder.embed_passages_with_sentences(t, spans), texts)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._timed(self.embedder.embed_queries, texts)

    def stats(self) -> dict:
        """Texts embedded, and the CPU and wall seconds spent embedding them (for benchmarks)."""
        return {"where": self.where, "texts": self.texts, "cpu_seconds": round(self.cpu_seconds, 3),
                "busy_seconds": round(self.busy_seconds, 3)}


class _Handle:
    """Vectors of one submitted batch: `result()` waits for its slices and joins them in order."""

    def __init__(self, refs: list, dimension: int, order: np.ndarray | None = None, with_sentences: bool = False):
        """`order`: the submitted texts' positions in the order they were sliced (None: as given);
        `with_sentences`: slices return (passage vectors, sentence vectors per passage)."""
        self.refs, self.dimension, self.order, self.with_sentences = refs, dimension, order, with_sentences

    def result(self):
        if not self.refs:
            empty = np.zeros((0, self.dimension), dtype=np.float32)
            return (empty, []) if self.with_sentences else empty
        ray = _ray()
        try:
            parts = ray.get(self.refs)
        except ray.exceptions.RayError as exc:
            raise ModelError(f"a Ray embedding worker failed: {exc}") from exc
        sentences = [row for _, rows in parts for row in rows] if self.with_sentences else None
        vecs = np.concatenate([p for p, _ in parts] if self.with_sentences else parts).astype(np.float32, copy=False)
        if self.order is not None:
            out = np.empty_like(vecs)
            out[self.order] = vecs
            vecs = out
            if sentences is not None:
                back: list = [None] * len(sentences)
                for pos, row in zip(self.order, sentences):
                    back[pos] = row
                sentences = back
        return (vecs, sentences) if self.with_sentences else vecs


class RayEmbedder:
    """The Embedder protocol over `workers` actors of `worker_cpus` CPUs each (default: as many
    one-CPU actors as the cluster has CPUs). Needs `ray.init` done (see `connect`)."""

    def __init__(self, settings: Settings, workers: int | None = None, worker_cpus: int = 1, slice_size: int = SLICE):
        ray = _ray()
        if not ray.is_initialized():
            raise RayUnavailable("Ray is not connected: call index.ray_index.connect(address) first")
        worker_cpus = max(1, int(worker_cpus))
        cpus = int(ray.cluster_resources().get("CPU", 0))
        fits = cpus // worker_cpus
        workers = int(workers or fits)
        if workers < 1 or workers > fits:
            raise RayUnavailable(
                f"the Ray cluster has {cpus} CPUs: it cannot host {workers or 1} embedding workers of "
                f"{worker_cpus} CPU(s) each (ONRECORD_RAY_WORKERS, ONRECORD_RAY_WORKER_CPUS)"
            )
        spec = {k: getattr(settings, k) for k in MODEL_FIELDS}
        env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": str(worker_cpus),
               "TOKENIZERS_PARALLELISM": "false"}
        actor = ray.remote(EmbedWorker).options(num_cpus=worker_cpus, runtime_env={"env_vars": env})
        self.actors = [actor.remote(spec) for _ in range(workers)]
        try:
            infos = ray.get([a.info.remote() for a in self.actors])
        except ray.exceptions.RayError as exc:
            self.close()
            raise ModelError(f"a Ray embedding worker could not load the model: {exc}") from exc
        first = infos[0]
        for other in infos[1:]:
            if (other["name"], other["fingerprint"], other["dimension"]) != (first["name"], first["fingerprint"], first["dimension"]):
                self.close()
                raise ModelError(
                    f"Ray workers load different models: {first['name']} ({first['fingerprint']}) at {first['where']}, "
                    f"{other['name']} ({other['fingerprint']}) at {other['where']}; prepare the same model on every node"
                )
        self.infos = infos
        self.name: str = first["name"]
        self.dimension: int = int(first["dimension"])
        self.fingerprint = first["fingerprint"]
        self.workers, self.worker_cpus = workers, worker_cpus
        self.slice_size = max(1, int(slice_size))
        self.max_in_flight = max(2, workers)  # indexer batches handed over before the driver waits
        self._outstanding: list[list] = [[] for _ in self.actors]

    # -- dispatch -------------------------------------------------------------------------------

    def _least_busy(self) -> int:
        ray = _ray()
        for i, refs in enumerate(self._outstanding):
            if refs:
                _, self._outstanding[i] = ray.wait(refs, num_returns=len(refs), timeout=0, fetch_local=False)
        return min(range(len(self.actors)), key=lambda i: len(self._outstanding[i]))

    def _submit(self, texts: list[str], kind: str, spans: list[list[tuple[int, int]]] | None = None) -> _Handle:
        texts = list(texts)
        if not texts:
            return _Handle([], self.dimension, with_sentences=spans is not None)
        # Cut the batch so every actor gets a share, in slices of at most slice_size, of texts of
        # similar length: the model pads each slice to its longest text, so slices cut in the given
        # order (sentences by id: a short one beside a long one) computed mostly padding.
        size = max(1, min(self.slice_size, math.ceil(len(texts) / len(self.actors))))
        order = np.argsort([-len(t) for t in texts], kind="stable")
        refs = []
        for i in range(0, len(texts), size):
            a = self._least_busy()
            part = order[i : i + size]
            args = ([texts[j] for j in part],) if spans is None else ([texts[j] for j in part], [spans[j] for j in part])
            ref = getattr(self.actors[a], kind).remote(*args)
            self._outstanding[a].append(ref)
            refs.append(ref)
        return _Handle(refs, self.dimension, order, with_sentences=spans is not None)

    def submit_passages(self, texts: list[str]) -> _Handle:
        return self._submit(texts, "embed_passages")

    def submit_passages_with_sentences(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> _Handle:
        return self._submit(texts, "embed_passages_with_sentences", spans)

    def embed_passages_with_sentences(self, texts: list[str], spans: list[list[tuple[int, int]]]):
        """Late sentence vectors (index.embedder.SentenceTransformerEmbedder), on the actors."""
        return self._submit(texts, "embed_passages_with_sentences", spans).result()

    # -- the Embedder protocol ------------------------------------------------------------------

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._submit(texts, "embed_passages").result()

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._submit(texts, "embed_queries").result()

    def stats(self) -> list[dict]:
        """Each actor's texts embedded and CPU / wall seconds spent on them."""
        return _ray().get([a.stats.remote() for a in self.actors])

    def info(self) -> dict:
        return {"name": self.name, "dimension": self.dimension, "fingerprint": self.fingerprint,
                "workers": self.workers, "worker_cpus": self.worker_cpus, "actors": self.infos}

    def close(self) -> None:
        """Stop the actors (their CPUs go back to the cluster)."""
        ray = _ray()
        for a in getattr(self, "actors", []):
            try:
                ray.kill(a)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.actors = []


def connect(address: str) -> bool:
    """Connect this process to the Ray cluster at `address` (see the module doc); returns whether it
    did (False: Ray was already initialised here, e.g. by a test or a notebook, and is left as it is)."""
    ray = _ray()
    if ray.is_initialized():
        return False
    kwargs = {"include_dashboard": False, "logging_level": logging.WARNING, "configure_logging": True}
    try:
        if address in ("local", ""):
            ray.init(object_store_memory=LOCAL_OBJECT_STORE_MB * 2**20, **kwargs)
        else:
            ray.init(address=address, **kwargs)
    except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError...
        raise RayUnavailable(f"cannot connect to the Ray cluster at {address!r}: {exc}") from exc
    return True


def run_index_ray(paths: list[Path], settings: Settings, address: str | None = None, workers: int | None = None,
                  worker_cpus: int | None = None, embedder: RayEmbedder | None = None, **kwargs):
    """`index.indexer.run_index` with its embedding spread over a Ray cluster; same arguments, same
    summary. address/workers/worker_cpus default to the settings (ONRECORD_RAY_*). `embedder`: a
    RayEmbedder already started, to reuse across runs (left running); else one is started for the run
    and stopped after it."""
    from .indexer import run_index

    address = address or settings.ray_address or "local"
    started = connect(address)
    own = embedder is None
    try:
        if own:
            embedder = RayEmbedder(settings, workers=workers or settings.ray_workers,
                                   worker_cpus=worker_cpus or settings.ray_worker_cpus)
        log.info("embedding on %d Ray workers", embedder.workers)
        return run_index(paths, settings, embedder=embedder, **kwargs)
    finally:
        if own and embedder is not None:
            embedder.close()
        if started:
            _ray().shutdown()
