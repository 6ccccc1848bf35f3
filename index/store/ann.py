"""The vector index of a generation, chosen by size: exact (FAISS flat, float32) while small, an
inverted-file index with 8-bit scalar quantisation (FAISS IndexIVFScalarQuantizer, SQ8) from
`threshold` passages on.

Why IVF-SQ8 (scripts/bench_ann.py, docs/scaling.md): at 100k and 1M real e5-small vectors (perturbed
copies beyond the corpus) it keeps recall@10 >= 0.95 against exact search at a few nprobe, stores a
passage in 384 bytes + its id (a quarter of float32), builds in seconds, can be memory-mapped
whole (its lists are flat code arrays), and, unlike HNSW in FAISS, removes ids, which re-indexing a
changed file needs. Filters (speakers, PassageFilter) stay inside the search: a selective filter is
searched exactly over the admitted ids (their codes looked up through the id map), a broad one
through the index with an IDSelector and a wider probe.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import faiss
import numpy as np

DEFAULT_THRESHOLD = 100_000
DEFAULT_NPROBE = 128
DEFAULT_EXACT_FILTER = 0  # auto: 2 * sqrt(passages)
FLAT = "flat"
TRAIN_PER_LIST = 50  # k-means training points per list (FAISS warns under 39)
TRAIN_ITERATIONS = 10


@dataclass(frozen=True)
class AnnConfig:
    """When the approximate index takes over, and how it is searched (index/settings.py: ONRECORD_ANN_*)."""

    threshold: int = DEFAULT_THRESHOLD
    nprobe: int = DEFAULT_NPROBE
    exact_filter: int = DEFAULT_EXACT_FILTER
    mmap: bool = True

    @classmethod
    def from_settings(cls, settings=None) -> "AnnConfig":
        if settings is None:
            from ..settings import get_settings

            settings = get_settings()
        return cls(threshold=settings.ann_threshold, nprobe=settings.ann_nprobe,
                   exact_filter=settings.ann_exact_filter, mmap=settings.ann_mmap)


def list_count(n: int) -> int:
    """Inverted lists for n vectors: the power of two nearest 2*sqrt(n), fewer when there are too few
    vectors to train them (40 a list)."""
    return max(1, min(2 ** round(math.log2(2 * math.sqrt(max(n, 1)))), n // 40))


def is_approximate(index) -> bool:
    return isinstance(index, faiss.IndexIVF)


def describe(index) -> str:
    """What a generation records in its meta table (`vector_index`)."""
    if is_approximate(index):
        return f"IVF{index.nlist},{'SQ8' if isinstance(index, faiss.IndexIVFScalarQuantizer) else 'other'}"
    return FLAT


def build_ivf(vectors: np.ndarray, ids: np.ndarray, nlist: int | None = None, encoding: str = "SQ8",
              seed: int = 1234) -> faiss.IndexIVF:
    """An IVF index over `vectors` (unit length, inner product) with their ids; trained on a fixed
    random sample, so the same vectors give the same index. The id map (a hash table) lets ids be
    removed and looked up."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, d = vectors.shape
    nlist = nlist or list_count(n)
    index = faiss.index_factory(d, f"IVF{nlist},{encoding}", faiss.METRIC_INNER_PRODUCT)
    sample = min(n, TRAIN_PER_LIST * nlist)
    rng = np.random.default_rng(seed)
    train = vectors if sample == n else vectors[np.sort(rng.choice(n, size=sample, replace=False))]
    index.cp.niter = TRAIN_ITERATIONS
    index.cp.seed = seed
    index.cp.max_points_per_centroid = TRAIN_PER_LIST
    index.train(train)
    index.set_direct_map_type(faiss.DirectMap.Hashtable)
    step = 200_000
    for s in range(0, n, step):
        index.add_with_ids(vectors[s : s + step], np.asarray(ids[s : s + step], dtype=np.int64))
    return index


def all_vectors(index) -> tuple[np.ndarray, np.ndarray]:
    """Every (vector, id) an index holds: exact for flat, decoded for IVF-SQ8."""
    if is_approximate(index):
        ids = []
        inv = index.invlists
        for lst in range(index.nlist):
            size = inv.list_size(lst)
            if size:
                ids.append(faiss.rev_swig_ptr(inv.get_ids(lst), size).copy())
        ids = np.sort(np.concatenate(ids)) if ids else np.zeros(0, dtype=np.int64)
        return (index.reconstruct_batch(ids) if len(ids) else np.zeros((0, index.d), np.float32)), ids
    inner = faiss.downcast_index(index.index)
    ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    return inner.reconstruct_n(0, inner.ntotal), ids


def settle(index, config: AnnConfig):
    """The index a generation of this size should be written with: flat under `threshold`, IVF-SQ8
    from it on (rebuilt when it has grown to want 4x more lists); below half the threshold, flat again."""
    n = int(index.ntotal)
    if not is_approximate(index):
        if n < config.threshold:
            return index
        vectors, ids = all_vectors(index)
        return build_ivf(vectors, ids)
    if n < config.threshold // 2:
        vectors, ids = all_vectors(index)
        flat = faiss.IndexIDMap2(faiss.IndexFlatIP(index.d))
        if n:
            flat.add_with_ids(vectors, ids)
        return flat
    if list_count(n) >= 4 * index.nlist:
        vectors, ids = all_vectors(index)
        return build_ivf(vectors, ids)
    return index


def read(path: str, mmap: bool):
    """An approximate index's file, memory-mapped for reading when `mmap` (its lists stay in the page
    cache, shared by every process that reads the generation; never changed through the mapping)."""
    if mmap:
        return faiss.read_index(path, faiss.IO_FLAG_MMAP_IFC)
    return faiss.read_index(path)


def _top(ids: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    if len(ids) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        ids, scores = ids[part], scores[part]
    order = np.lexsort((ids, -scores))
    return [(int(ids[i]), float(scores[i])) for i in order]


def search(index, query: np.ndarray, k: int, admitted: np.ndarray | None, config: AnnConfig) -> list[tuple[int, float]]:
    """The k nearest passages in an IVF index, among `admitted` ids when given (sorted, unique).

    Unfiltered: `nprobe` lists. A filter admitting at most `exact_filter` passages (0: 2*sqrt(passages),
    the crossover measured at 100k and 1M): exact scores over their codes (looked up by id; no scan of
    the index). A broader filter: the index with an
    IDSelector, the probe widened by sqrt(passages / admitted) so about as many admitted passages are
    met as an unfiltered search meets passages near the query."""
    q = np.asarray(query, dtype=np.float32).reshape(1, -1)
    k = min(k, int(index.ntotal))
    if admitted is None:
        scores, found = index.search(q, k, params=faiss.SearchParametersIVF(nprobe=min(config.nprobe, index.nlist)))
        return [(int(i), float(s)) for i, s in zip(found[0], scores[0]) if i >= 0]
    if len(admitted) == 0:
        return []
    if len(admitted) <= (config.exact_filter or 2 * math.sqrt(index.ntotal)):
        try:
            vectors = index.reconstruct_batch(np.ascontiguousarray(admitted, dtype=np.int64))
        except RuntimeError:  # an admitted passage without a vector: let the index skip it
            return _selected(index, q, k, admitted, index.nlist)
        return _top(np.asarray(admitted, dtype=np.int64), vectors @ q[0], min(k, len(admitted)))
    widen = math.sqrt(index.ntotal / len(admitted))
    return _selected(index, q, k, admitted, min(index.nlist, math.ceil(config.nprobe * widen)))


def _selected(index, q: np.ndarray, k: int, admitted: np.ndarray, nprobe: int) -> list[tuple[int, float]]:
    params = faiss.SearchParametersIVF(nprobe=nprobe, sel=faiss.IDSelectorBatch(admitted))
    scores, found = index.search(q, min(k, len(admitted)), params=params)
    return [(int(i), float(s)) for i, s in zip(found[0], scores[0]) if i >= 0]
