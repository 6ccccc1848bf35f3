"""The LangChain baseline On Record is measured against (answer quality and the side-by-side benchmark).

The pipeline of a LangChain tutorial, built from langchain's own classes:
`RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)` over every transcript file read
as text (one Document per file, metadata `source` = absolute path), embedded with
`langchain_huggingface.HuggingFaceEmbeddings` loading the SAME model folder On Record uses (with the
model's query / passage prompts, e5: "query: " / "passage: "), stored in
`langchain_community.vectorstores.FAISS`, answered by `similarity_search(k=3)`, each chunk shown whole.
It never abstains.

A chunk is scored as a quote: text = the chunk, start = its offset in the file (`add_start_index`),
end = start + len(text), language = the chunk's language detected with On Record's detector (the
baseline has no per-document language). `BaselineStore.ask` returns an answer with `to_json()` in the
shape of On Record's, so `bot.quality.evaluate` scores both with the same code.

The built FAISS store is cached on disk (`save_local`) under a folder keyed by the model's
fingerprint, the prompts, the splitter's parameters and the corpus content (path and SHA-256 of every
file). `load_local(allow_dangerous_deserialization=True)` (it unpickles the docstore) is only called on
a cache folder whose files match the SHA-256 values this module recorded when it wrote them.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

CHUNK_SIZE = 1000
CHUNK_OVERLAP = 200
K = 3
BASELINE_VERSION = "1"  # part of the cache key: bump when what is stored changes
CACHE_RECORD = "onrecord-baseline.json"
STORE_FILES = ("index.faiss", "index.pkl")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _faiss():
    # langchain-community announces its sunset on import; the baseline is what tutorials still build
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.vectorstores import FAISS
    return FAISS


def _settings(settings=None):
    from index.settings import get_settings

    return settings or get_settings()


def transcript_files(paths: list[Path], settings=None) -> list[Path]:
    """The files On Record would read under `paths` (its own discovery), as sorted absolute paths."""
    from index.indexer import discover

    s = _settings(settings)
    out = {Path(os.path.abspath(p)) for p, _root, problem in discover([Path(p) for p in paths], s.follow_symlinks)
           if problem is None}
    return sorted(out)


def read_text(path: Path) -> str:
    """A file as text, the way the evaluation reads gold spans and checks quotes."""
    return Path(path).read_text(encoding="utf-8", errors="replace")


def load_documents(files: list[Path]):
    from langchain_core.documents import Document

    return [Document(page_content=read_text(p), metadata={"source": str(Path(p).resolve())}) for p in files]


def splitter():
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, add_start_index=True)


@dataclass(frozen=True)
class ModelRef:
    path: str
    name: str
    fingerprint: str | None
    query_prompt: str | None  # prompt names in the model's config_sentence_transformers.json
    passage_prompt: str | None
    prompts: dict = field(default_factory=dict)


def model_ref(settings=None) -> ModelRef:
    """The model folder On Record uses (`index.embedder.model_info`), and its query/passage prompts
    picked as On Record picks them ("query"; "passage", else "document")."""
    from index.embedder import model_info

    s = _settings(settings)
    info = model_info(s)
    path = Path(info["path"])
    try:
        prompts = json.loads((path / "config_sentence_transformers.json").read_text(encoding="utf-8")).get("prompts") or {}
    except (OSError, ValueError):
        prompts = {}
    query = "query" if "query" in prompts else None
    passage = "passage" if "passage" in prompts else ("document" if "document" in prompts else None)
    return ModelRef(str(path), info["name"], info.get("fingerprint"), query, passage,
                    {k: prompts[k] for k in (query, passage) if k})


TUTORIAL_BATCH = 32  # sentence-transformers' default batch, as the tutorial pipeline runs it


def load_embeddings(ref: ModelRef):
    """`HuggingFaceEmbeddings` over the model folder: offline, safetensors only, no remote code,
    normalised vectors, the model's prompts for documents and queries, and sentence-transformers'
    default batch of 32 (what the tutorial pipeline runs; On Record's own batching is its settings')."""
    from langchain_huggingface import HuggingFaceEmbeddings
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar (On Record's embedder does the same)
    doc_kwargs: dict = {"normalize_embeddings": True, "batch_size": TUTORIAL_BATCH}
    query_kwargs: dict = {"normalize_embeddings": True}
    if ref.passage_prompt:
        doc_kwargs["prompt_name"] = ref.passage_prompt
    if ref.query_prompt:
        query_kwargs["prompt_name"] = ref.query_prompt
    return HuggingFaceEmbeddings(
        model_name=ref.path,
        model_kwargs={"device": "cpu", "trust_remote_code": False, "model_kwargs": {"use_safetensors": True}},
        encode_kwargs=doc_kwargs,
        query_encode_kwargs=query_kwargs,
    )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_key(files: list[Path], ref: ModelRef) -> str:
    """Model fingerprint + prompts + splitter + corpus content (each file's path and SHA-256)."""
    h = hashlib.sha256()
    head = {"v": BASELINE_VERSION, "chunk": [CHUNK_SIZE, CHUNK_OVERLAP], "model": ref.name,
            "fingerprint": ref.fingerprint or ref.path, "prompts": ref.prompts}
    h.update(json.dumps(head, sort_keys=True).encode())
    for f in files:
        h.update(str(Path(f).resolve()).encode() + b"\0" + _sha256(f).encode() + b"\n")
    return h.hexdigest()[:24]


def quick_key(files: list[Path], ref: ModelRef) -> str:
    """An identity for a store built without the cache (no file is hashed): paths, sizes, times."""
    h = hashlib.sha256(json.dumps([BASELINE_VERSION, CHUNK_SIZE, CHUNK_OVERLAP, ref.fingerprint, ref.prompts]).encode())
    for f in files:
        st = Path(f).stat()
        h.update(f"{Path(f).resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return "stat-" + h.hexdigest()[:19]


def default_cache_dir(settings=None) -> Path:
    return _settings(settings).home / "cache" / "baseline"


class BaselineAnswer:
    def __init__(self, language: str | None, quotes: list[dict]):
        self.language, self.quotes = language, quotes

    def to_json(self) -> dict:
        return {"found": True, "language": self.language, "quotes": self.quotes}


@dataclass
class BuildInfo:
    key: str
    cache_path: str | None
    from_cache: bool
    files: int
    characters: int
    chunks: int
    load_seconds: float = 0.0  # the model
    split_seconds: float = 0.0
    embed_seconds: float = 0.0  # FAISS.from_documents: embedding and the FAISS index
    save_seconds: float = 0.0
    cache_load_seconds: float = 0.0


class BaselineStore:
    """The baseline over a set of files; `ask`/`quote` answer like an On Record engine."""

    def __init__(self, store, embeddings, info: BuildInfo, languages: list[str]):
        self.store, self.embeddings, self.info, self.languages = store, embeddings, info, languages
        self._lang: dict[tuple[str, int], str | None] = {}

    # -- building -------------------------------------------------------------------------------

    @classmethod
    def build(cls, paths: list[Path], settings=None, cache_dir: Path | None = None, embeddings=None,
              use_cache: bool = True, ref: ModelRef | None = None, document_embeddings=None) -> "BaselineStore":
        """Build (or load from the cache) the baseline over the transcripts under `paths`.

        `embeddings`: a HuggingFaceEmbeddings already loaded (shared between builds); `document_embeddings`:
        what embeds the chunks when building (default: `embeddings`; the benchmark passes a
        CacheBackedEmbeddings around it)."""
        FAISS = _faiss()
        s = _settings(settings)
        ref = ref or model_ref(s)
        files = transcript_files(paths, s)
        key = cache_key(files, ref) if use_cache else quick_key(files, ref)
        cache_root = Path(cache_dir) if cache_dir else default_cache_dir(s)
        final = cache_root / key
        info = BuildInfo(key=key, cache_path=str(final) if use_cache else None, from_cache=False,
                         files=len(files), characters=0, chunks=0)
        if embeddings is None:
            t0 = time.perf_counter()
            embeddings = load_embeddings(ref)
            info.load_seconds = time.perf_counter() - t0
        if use_cache:
            t0 = time.perf_counter()
            record = _verified_record(final, key)
            if record is not None:
                store = FAISS.load_local(str(final), embeddings, allow_dangerous_deserialization=True)
                info.from_cache = True
                info.cache_load_seconds = time.perf_counter() - t0
                info.characters, info.chunks = record["characters"], store.index.ntotal
                return cls(store, embeddings, info, s.languages)
        t0 = time.perf_counter()
        docs = load_documents(files)
        info.characters = sum(len(d.page_content) for d in docs)
        chunks = splitter().split_documents(docs)
        info.split_seconds = time.perf_counter() - t0
        if not chunks:
            raise ValueError(f"no text to index under {', '.join(map(str, paths))}")
        t0 = time.perf_counter()
        store = FAISS.from_documents(chunks, document_embeddings or embeddings)
        store.embedding_function = embeddings  # questions through the plain embeddings
        info.embed_seconds = time.perf_counter() - t0
        info.chunks = store.index.ntotal
        if use_cache:
            t0 = time.perf_counter()
            _write_cache(store, final, key, info)
            info.save_seconds = time.perf_counter() - t0
        return cls(store, embeddings, info, s.languages)

    def save(self, folder: Path) -> None:
        """Write the store with `save_local` (as a user of the baseline would) and the record of its
        files' SHA-256 that `open` checks before unpickling."""
        _write_cache(self.store, Path(folder), self.info.key, self.info)

    @classmethod
    def open(cls, folder: Path, settings=None, embeddings=None) -> "BaselineStore":
        """A store `save` wrote (refused when its files are not the ones written)."""
        s = _settings(settings)
        record = _verified_record(Path(folder), None)
        if record is None:
            raise ValueError(f"{folder} holds no baseline store written by On Record's benchmark or cache")
        t0 = time.perf_counter()
        info = BuildInfo(key=record["key"], cache_path=str(folder), from_cache=True, files=record.get("files", 0),
                         characters=record.get("characters", 0), chunks=record.get("chunks", 0))
        if embeddings is None:
            embeddings = load_embeddings(model_ref(s))
            info.load_seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        store = _faiss().load_local(str(folder), embeddings, allow_dangerous_deserialization=True)
        info.cache_load_seconds = time.perf_counter() - t1
        return cls(store, embeddings, info, s.languages)

    # -- answering ------------------------------------------------------------------------------

    def _chunk_language(self, source: str, start: int, text: str) -> str | None:
        from index.language import detect_language

        key = (source, start)
        if key not in self._lang:
            self._lang[key] = detect_language(text, self.languages)[0]
        return self._lang[key]

    def search(self, question: str, k: int = K) -> list[dict]:
        """`similarity_search(question, k)`, each chunk as a quote (text, source, start, end, language)."""
        out = []
        for doc in self.store.similarity_search(question, k=k):
            source, start = doc.metadata["source"], int(doc.metadata["start_index"])
            text = doc.page_content
            out.append({"text": text, "source": source, "start": start, "end": start + len(text),
                        "language": self._chunk_language(source, start, text)})
        return out

    def ask(self, question: str, lang_hint: str | None = None) -> BaselineAnswer:
        from index.language import detect_language

        quotes = self.search(question)
        return BaselineAnswer(detect_language(question, self.languages, hint=lang_hint)[0], quotes)

    quote = ask  # the baseline has no exact-quote lookup: a quote is searched like any question

    def chunk_count(self) -> int:
        return int(self.store.index.ntotal)


def _verified_record(folder: Path, key: str | None) -> dict | None:
    """The cache record of `folder` when every stored file still has the SHA-256 written with it
    (and, given `key`, the record is for that key)."""
    try:
        record = json.loads((folder / CACHE_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or (key is not None and record.get("key") != key):
        return None
    hashes = record.get("sha256") or {}
    for name in STORE_FILES:
        p = folder / name
        if not p.is_file() or p.is_symlink() or hashes.get(name) != _sha256(p):
            return None
    return record


def _write_cache(store, final: Path, key: str, info: BuildInfo) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=final.parent))
    try:
        store.save_local(str(tmp))
        record = {"key": key, "characters": info.characters, "chunks": info.chunks, "files": info.files,
                  "sha256": {n: _sha256(tmp / n) for n in STORE_FILES},
                  "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (tmp / CACHE_RECORD).write_text(json.dumps(record, indent=1), encoding="utf-8")
        if final.exists():  # an older or concurrent build: replace it
            shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
