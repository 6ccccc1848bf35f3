"""`onrecord index`: find transcript files, parse what is new or changed, embed, publish a generation."""
from __future__ import annotations

import collections
import hashlib
import itertools
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from tqdm import tqdm

from .chunk import CHUNKER_VERSION, chunk_document
from .document import Document
from .embedder import Embedder, load_embedder
from .errors import SkipFile
from .ingest import parse_bytes
from .ingest.encoding import read_bytes
from .ingest.formats import is_candidate
from .settings import Settings
from .store import FileRecord, IndexIdentity, NewPassage, NewSentence, StoreWriter, open_backend
from .language import language_name
from .textnorm import capitalised_words, normalize, stems
from .versions import link_versions

log = logging.getLogger(__name__)

EMBED_BATCH = 256


@dataclass
class IndexSummary:
    files_seen: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    duplicates: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    kept_previous: list[str] = field(default_factory=list)  # failed to parse; previous documents kept
    documents: int = 0  # documents written by this run
    passages: int = 0  # passages embedded by this run
    sentences: int = 0  # sentences embedded by this run (settings.sentence_vectors)
    words: int = 0  # capitalised words and pairs of the passages embedded by this run (new to the index)
    total_documents: int = 0
    total_passages: int = 0
    seconds: float = 0.0
    generation: str | None = None
    changed_sources: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = (
            f"{self.files_seen} files seen: {self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.removed} removed, {self.duplicates} duplicates, {len(self.skipped)} skipped; "
            f"{self.documents} documents and {self.passages} passages embedded"
            + (f" ({self.sentences} sentences)" if self.sentences else "") + " "
            f"(index: {self.total_documents} documents, {self.total_passages} passages) in {self.seconds:.1f} s"
        )
        return text

    def skipped_lines(self) -> list[str]:
        out = [f"skipped {src}: {reason}" for src, reason in self.skipped]
        out += [f"kept the previous version of {src}" for src in self.kept_previous]
        return out

    def to_json(self) -> dict:
        d = dict(self.__dict__)
        d["skipped"] = [{"source": s, "reason": r} for s, r in self.skipped]
        return d


def _outside(what: str) -> str:
    return (f"symbolic link to {what} outside the folders being indexed: not followed (name what it leads "
            "to instead, or allow it with the follow_symlinks setting, ONRECORD_FOLLOW_SYMLINKS)")


def confines(paths: list[Path]) -> list[str]:
    """The real folders indexing `paths` stays inside: each folder given, and for a file given (or a
    path given that is itself a symbolic link) its own folder."""
    return [os.path.realpath(p if p.is_dir() and not p.is_symlink() else p.parent) for p in map(Path, paths)]


def discover(paths: list[Path], follow_symlinks: bool = False) -> Iterator[tuple[Path, Path, str | None]]:
    """Transcript files under `paths`: (file, the root it was found under, None or why it is skipped).

    Discovery stays inside the folders given (for a file given by name, or a path given that is
    itself a symbolic link: its own folder; the watcher hands over single changed paths). A symbolic
    link, to a file or to a folder, that leads out of them is skipped with that reason; one that
    leads to a file inside is read (as a duplicate of its target); a link to a folder inside is not
    walked (its files are found where they are). With `follow_symlinks`, links are followed wherever
    they lead, each real folder walked once (no loops). Hidden files, sidecar manifests, a folder's
    README/LICENSE files and suffixes no registered format reads are not transcripts.
    """
    given = [Path(p) for p in paths]
    bounds = confines(given)

    def inside(path: Path) -> bool:
        real = os.path.realpath(path)
        return any(real == b or real.startswith(b.rstrip(os.sep) + os.sep) for b in bounds)

    for root in given:
        if root.is_symlink() and root.exists() and not follow_symlinks and not inside(root):
            yield root, root.parent, _outside("a folder" if root.is_dir() else "a file")
            continue
        if root.is_file():
            yield root, root.parent, None
            continue
        if not root.exists():
            yield root, root, "no such file or folder"
            continue
        walked: set[str] = set()
        for dirpath, dirnames, filenames in os.walk(root, followlinks=follow_symlinks):
            real = os.path.realpath(dirpath)
            if real in walked:  # reached again through a link: a loop, or a folder already read
                dirnames[:] = []
                continue
            walked.add(real)
            keep = []
            for d in sorted(d for d in dirnames if not d.startswith(".")):
                link = Path(dirpath) / d
                if not follow_symlinks and link.is_symlink():
                    if not inside(link):
                        yield link, root, _outside("a folder")
                    continue
                keep.append(d)
            dirnames[:] = keep
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if not is_candidate(path):
                    continue
                if path.is_symlink() and not path.exists():
                    yield path, root, "broken or looping symbolic link"
                    continue
                if path.is_symlink() and not follow_symlinks and not inside(path):
                    yield path, root, _outside("a file")
                    continue
                yield path, root, None


class _Pending:
    """Passages waiting to be embedded in one batch.

    An embedder that also offers `submit_passages(texts)` (returning an object whose `result()` is
    what `embed_passages(texts)` would return) and `max_in_flight` (e.g. index.ray_index.RayEmbedder)
    gets batches handed over without waiting: parsing and storing go on while up to `max_in_flight`
    batches are embedded elsewhere. Vectors are written from here, in the order the batches were made.
    """

    def __init__(self, writer: StoreWriter, embedder: Embedder, bar: tqdm | None, late: bool = False):
        """`late`: sentence vectors from the passages' own pass where the embedder offers it
        (`embed_passages_with_sentences`, or `submit_passages_with_sentences` to hand over)."""
        self.writer, self.embedder, self.bar = writer, embedder, bar
        self.ids: list[int] = []
        self.texts: list[str] = []
        self.spans: list[list[tuple[int, int, int]]] = []  # per passage: (sentence id, start, end) in its text
        self.late = late and hasattr(embedder, "embed_passages_with_sentences")
        self.submit = getattr(embedder, "submit_passages_with_sentences" if self.late else "submit_passages", None)
        self.in_flight: collections.deque = collections.deque()  # (ids, spans, handle), oldest first
        self.sentences = 0  # sentence vectors written from the passages' pass
        self.words: set[str] = set()  # the new passages' capitalised words and pairs (embed_words)

    def add(self, pid: int, text: str, sentences: list[tuple[int, int, int]] | None = None) -> None:
        self.ids.append(pid)
        self.texts.append(text)
        self.spans.append(list(sentences or []))
        if len(self.ids) >= EMBED_BATCH:
            self.flush(wait=False)

    def flush(self, wait: bool = True) -> None:
        """Embed what is waiting; with `wait`, also every batch still in flight."""
        if self.ids:
            spans = [[(a, z) for _, a, z in sp] for sp in self.spans]
            if self.submit is not None:
                args = (self.texts, spans) if self.late else (self.texts,)
                self.in_flight.append((self.ids, self.spans, self.submit(*args)))
            elif self.late:
                self._write(self.ids, self.spans, self.embedder.embed_passages_with_sentences(self.texts, spans))
            else:
                self._write(self.ids, self.spans, self.embedder.embed_passages(self.texts))
            self.ids, self.texts, self.spans = [], [], []
        limit = 0 if wait else max(1, int(getattr(self.embedder, "max_in_flight", 1)))
        while len(self.in_flight) > limit:
            ids, spans, handle = self.in_flight.popleft()
            self._write(ids, spans, handle.result())

    def _write(self, ids: list[int], spans: list[list[tuple[int, int, int]]], result) -> None:
        if self.late:
            vecs, sentence_vecs = result
            got = [(sid, v) for sp, row in zip(spans, sentence_vecs) for (sid, _, _), v in zip(sp, row)
                   if v is not None]
            if got:  # the rest (cut off by the model's window) are embedded on their own afterwards
                self.writer.add_sentence_vectors([sid for sid, _ in got], np.stack([v for _, v in got]))
                self.sentences += len(got)
        else:
            vecs = result
        self.writer.add_vectors(ids, vecs)
        if self.bar is not None:
            self.bar.update(len(ids))


def _insert_document(
    writer: StoreWriter, file_id: int, doc: Document, target_chars: int, pending: _Pending
) -> tuple[int, int]:
    """Store one document with its passages and sentences; returns (document id, passages)."""
    doc_id = writer.add_document(file_id, doc.ordinal, doc.text, doc.start, doc.end, doc.title, doc.speaker,
                                 doc.date, doc.language, doc.url, doc.kind)
    passages = chunk_document(doc, target_chars)
    rows = []
    for p in passages:
        body = doc.text[p.start : p.end]
        spoken = language_name(p.spoken_language, doc.language) if p.spoken_language not in (None, doc.language) else None
        terms = " ".join(stems(" ".join(filter(None, [p.speaker, p.role, spoken, body])), doc.language))
        sentences = tuple(NewSentence(s.start, s.end, s.paragraph, s.speaker, s.time, normalize(doc.text[s.start : s.end]))
                          for s in p.sentences)
        rows.append(NewPassage(p.start, p.end, p.speaker, p.paragraph, p.time, p.context, p.spoken_language, p.role,
                               terms, sentences))
        # the words the names check reads of a passage (bot.answer.evidence.passages_text), except the
        # names of languages, which depend on the question's
        pending.words.update(capitalised_words("\n".join(filter(None, (body, p.speaker, p.context, doc.title,
                                                                        p.role)))))
    pids = writer.add_passages(doc_id, rows)
    sentence_ids: list[int] = []
    if pending.late:  # the stored sentences' ids, in document order as the passages hold them
        sentence_ids = [sid for sid, _ in writer.document_sentences(doc_id)]
        if len(sentence_ids) != sum(len(p.sentences) for p in passages):
            sentence_ids = []  # not as written: their vectors are made on their own
    at = 0
    for pid, p in zip(pids, passages):
        text = p.embed_text(doc)
        spans = None
        if sentence_ids:
            shift = len(text) - (p.end - p.start) - p.start  # the passage's words end its embedded text
            spans = [(sentence_ids[at + n], s.start + shift, s.end + shift) for n, s in enumerate(p.sentences)]
            at += len(p.sentences)
        pending.add(pid, text, spans)
    return doc_id, len(passages)


SENTENCE_BATCH = 1024  # sentences read and embedded at a time (the model sorts each batch by length)


def embed_sentences(writer: StoreWriter, embedder: Embedder, bar: tqdm | None = None) -> int:
    """Embed and store every sentence of the generation that has no vector yet; returns how many.

    The same text and call (`embed_passages` of the sentence's slice) as the engine's sentence choice
    makes when a vector is missing, so answers do not depend on where a vector came from."""
    done, after = 0, 0
    if bar is not None:
        bar.set_description("embedding sentences")
    while batch := writer.sentences_without_vectors(SENTENCE_BATCH, after):
        writer.add_sentence_vectors([sid for sid, _ in batch], embedder.embed_passages([t for _, t in batch]))
        done += len(batch)
        after = batch[-1][0]
        if bar is not None:
            bar.update(len(batch))
    return done


WORD_BATCH = 1024


def embed_words(writer: StoreWriter, embedder: Embedder, words: set[str]) -> int:
    """Embed and store the words that have no vector yet; returns how many. The same text and call as
    the names check makes for a word the index does not hold (`embed_passages` of the word), so a
    question embeds only its own names: on the first meeting with a passage's names, one model call per word
    was the largest share of a question's time."""
    todo = sorted(words)
    have: set[str] = set()
    for i in range(0, len(todo), WORD_BATCH):
        have |= set(writer.word_vectors(todo[i : i + WORD_BATCH]))
    todo = [w for w in todo if w not in have]
    for i in range(0, len(todo), WORD_BATCH):
        batch = todo[i : i + WORD_BATCH]
        writer.add_word_vectors(batch, embedder.embed_passages(batch))
    return len(todo)


def stored_words(writer: StoreWriter, page: int = 200) -> set[str]:
    """The capitalised words and pairs of the documents already in the index (their text, title and
    speaker), for an index written before words were embedded with their passages."""
    words: set[str] = set()
    after = 0
    while docs := writer.documents_with_text(page, after):
        for d, text in docs:
            words.update(capitalised_words("\n".join(filter(None, (text, d.title, d.speaker)))))
        after = docs[-1][0].id
    return words


def run_index(
    paths: list[Path],
    settings: Settings,
    embedder: Embedder | None = None,
    prune: bool = False,
    progress: bool | None = None,
    wait: float = 0,
    on_file: Callable[[str], None] | None = None,
) -> IndexSummary:
    """Add or update the transcripts under `paths` in the index; publish one new generation."""
    t0 = time.perf_counter()
    summary = IndexSummary()
    embedder = embedder or load_embedder(settings)
    identity = IndexIdentity(embedder.name, embedder.dimension, f"{CHUNKER_VERSION}:{settings.passage_chars}")
    writer = open_backend(settings.index_location).open_writer(identity, wait=wait)
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(desc="embedding", unit="passage", disable=not show, file=sys.stderr)
    try:
        files = writer.files()
        known = {f.source: f.sha256 for f in files.values()}
        by_sha: dict[str, str] = {}
        for f in files.values():
            if f.duplicate_of is None:
                by_sha.setdefault(f.sha256, f.source)
        pending = _Pending(writer, embedder, bar, late=settings.sentence_vectors and settings.late_sentence_vectors)
        if known and not writer.word_vector_count():  # written before the passages' names were embedded
            pending.words |= stored_words(writer)
        new_docs: list[int] = []
        max_bytes = settings.max_file_mb * 2**20
        seen: set[str] = set()
        orphans: list[str] = []  # duplicates whose original left the index: indexed on their own

        def forget(source: str) -> None:
            """`source` leaves the index (updated, pruned or now a duplicate itself): files recorded as
            its duplicates hold no documents of their own, so they are examined again in this run."""
            for dup in writer.duplicates_of(source):
                writer.forget_file(dup)
                known.pop(dup, None)
                if dup in seen:
                    seen.discard(dup)
                    summary.files_seen -= 1
                orphans.append(dup)
            for sha_key in [k for k, v in by_sha.items() if v == source]:
                del by_sha[sha_key]
            writer.remove_file(source)

        def orphaned() -> Iterator[tuple[Path, Path, str | None]]:
            i = 0
            while i < len(orphans):  # grows while the run goes on
                if os.path.exists(orphans[i]):
                    yield from discover([Path(orphans[i])], settings.follow_symlinks)
                i += 1

        if prune:  # first, so duplicates of vanished files are indexed in their place in this run
            for source in list(known):
                if not os.path.exists(source):
                    forget(source)
                    summary.removed += 1
        confined = None if settings.follow_symlinks else confines(paths)
        for path, root, problem in itertools.chain(discover([Path(p) for p in paths], settings.follow_symlinks),
                                                   orphaned()):
            source = os.path.abspath(path)
            if source in seen:  # overlapping paths (a folder and a file in it): once is enough
                continue
            seen.add(source)
            summary.files_seen += 1
            if on_file:
                on_file(source)
            if problem:
                summary.skipped.append((source, problem))
                continue
            try:
                st = path.stat()
                if st.st_size > max_bytes:
                    raise SkipFile(f"too large ({st.st_size / 2**20:.0f} MB; the limit is {settings.max_file_mb} MB)")
                data = read_bytes(path, max_bytes, allow_empty=True,  # read once: hashed and parsed
                                  within=None if confined is None else confined + [os.path.realpath(root)])
                sha = hashlib.sha256(data).hexdigest()
            except FileNotFoundError:
                summary.skipped.append((source, "vanished while indexing"))
                continue
            except OSError as exc:
                summary.skipped.append((source, f"cannot be read ({exc.strerror or exc})"))
                continue
            except SkipFile as exc:
                summary.skipped.append((source, exc.reason))
                continue
            if known.get(source) == sha:
                summary.unchanged += 1
                continue
            original = by_sha.get(sha)
            if original and original != source and os.path.exists(original):
                forget(source)
                writer.add_file(FileRecord(source, sha, st.st_size, st.st_mtime, duplicate_of=original))
                summary.duplicates += 1
                continue
            try:
                docs = parse_bytes(data, path, source=source, languages=settings.languages,
                                   sidecars=settings.sidecars, root=root)
            except SkipFile as exc:
                if source in known:
                    summary.kept_previous.append(source)
                summary.skipped.append((source, exc.reason))
                continue
            except Exception as exc:  # noqa: BLE001 - a parser bug must not lose the rest of the run
                log.exception("parsing %s failed", source)
                if source in known:
                    summary.kept_previous.append(source)
                summary.skipped.append((source, f"could not be parsed ({type(exc).__name__}: {exc})"))
                continue
            if source in known:
                forget(source)
                summary.updated += 1
            else:
                summary.added += 1
            file_id = writer.add_file(FileRecord(source, sha, st.st_size, st.st_mtime))
            by_sha[sha] = source
            summary.changed_sources.append(source)
            for doc in docs:
                doc_id, n = _insert_document(writer, file_id, doc, settings.passage_chars, pending)
                summary.passages += n
                summary.documents += 1
                new_docs.append(doc_id)
        pending.flush()
        summary.sentences = pending.sentences
        if settings.sentence_vectors:  # this run's sentences, and those of an index built without them
            summary.sentences += embed_sentences(writer, embedder, bar)
        summary.words = embed_words(writer, embedder, pending.words)
        if new_docs:
            link_versions(writer, embedder, new_docs, stored=not pending.late)
        counts = writer.counts()
        summary.total_documents, summary.total_passages = counts["documents"], counts["passages"]
        changed = (summary.added or summary.updated or summary.removed or summary.duplicates or summary.sentences
                   or summary.words)
        if changed or writer.vector_count() != summary.total_passages or not known:
            summary.generation = writer.commit()
        else:
            writer.abort()  # nothing to publish: keep the live generation
    except BaseException:
        writer.abort()
        raise
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - t0
    return summary
