"""The store interface: what the rest of On Record may ask of an index, whatever holds it.

An index is a sequence of *generations*: complete, immutable-once-published snapshots. A reader
works on one generation for the length of a question; a writer builds the next one and publishes it
in one step. `index/store/sqlite.py` (SQLite + FTS5 + FAISS) is the reference backend; another
backend implements the same three protocols and passes the same tests (tests/store/).

Nothing outside this package writes SQL.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Protocol, runtime_checkable

import numpy as np

from ..errors import ModelMismatch

# Stems whose passage counts a reader remembers: a published generation never changes, and one
# question asks for the same stems once per candidate passage.
TERM_CACHE = 100_000
# Filters (speaker sets, metadata filters) whose admitted passage ids a reader remembers.
FILTER_CACHE = 64


@dataclass(frozen=True)
class IndexIdentity:
    """What must match for vectors to be comparable: the model and the chunking."""

    model: str
    dimension: int
    chunker: str

    def check(self, other: "IndexIdentity", where: str) -> None:
        if self != other:
            raise ModelMismatch(
                f"the index at {where} was built with model {other.model!r} (dimension {other.dimension}, "
                f"chunker {other.chunker}), not {self.model!r} (dimension {self.dimension}, chunker {self.chunker}). "
                f"Rebuild it: delete {where} (or pass another --index) and run `onrecord index` again, "
                "or set ONRECORD_MODEL back to the model that built it."
            )


@dataclass(frozen=True)
class FileRecord:
    source: str  # path as indexed (absolute)
    sha256: str
    size: int
    mtime: float
    duplicate_of: str | None = None  # same content already indexed under this source


@dataclass(frozen=True)
class DocumentRecord:
    id: int
    source: str
    ordinal: int  # position in its file
    title: str | None
    speaker: str | None
    date: str | None
    language: str | None
    url: str | None
    kind: str
    start: int  # bounds of the document inside its text
    end: int


@dataclass(frozen=True)
class PassageRecord:
    id: int  # also the vector's id
    doc_id: int
    start: int
    end: int
    speaker: str | None
    paragraph: int
    time: float | None
    context: str | None
    spoken_language: str | None  # when the words were spoken in another language than the text's
    role: str | None  # what the record calls the speaker (office, party, group)


@dataclass(frozen=True)
class SentenceRecord:
    id: int
    passage_id: int
    doc_id: int
    start: int
    end: int
    paragraph: int
    speaker: str | None
    time: float | None
    norm: str  # normalised text, for exact and fuzzy quote lookup


@dataclass(frozen=True)
class PassageFilter:
    """Which passages a search may return (metadata filters applied inside the search, before the
    top k). Each field set narrows it; None leaves that dimension open.

    speakers: passage speakers, as stored. date_from / date_to: ISO dates (YYYY-MM-DD), inclusive,
    compared with the document's date (a partial date, "2024-02", counts as its first day; documents
    without a date never match a date bound). sources: folder or file names, or relative paths, that
    must appear as whole components of the file's path ("bundestag-de", "bundestag-de/sessions";
    case-sensitive). languages: document languages (ISO 639-1). titled: with `speakers`, passages with no
    recorded speaker count too when their document's title holds one of these words (a post titled
    "Spokeswoman Maria Zakharova:" whose paragraphs name no speaker)."""

    speakers: tuple[str, ...] | None = None
    date_from: str | None = None
    date_to: str | None = None
    sources: tuple[str, ...] | None = None
    languages: tuple[str, ...] | None = None
    titled: tuple[str, ...] | None = None

    @property
    def empty(self) -> bool:
        return (self.speakers is None and self.date_from is None and self.date_to is None
                and self.sources is None and self.languages is None)

    def source_needles(self) -> list[str]:
        """What each source must be found as inside "/" + source + "/"."""
        return ["/" + s.strip("/") + "/" for s in self.sources or ()]


@dataclass(frozen=True)
class NewPassage:
    """A passage to write: offsets into its document's text, and the terms full-text search indexes."""

    start: int
    end: int
    speaker: str | None
    paragraph: int
    time: float | None
    context: str | None
    spoken_language: str | None
    role: str | None
    terms: str  # space-separated stems (body, speaker, role, spoken language's name)
    sentences: tuple["NewSentence", ...]


@dataclass(frozen=True)
class NewSentence:
    start: int
    end: int
    paragraph: int
    speaker: str | None
    time: float | None
    norm: str


@runtime_checkable
class StoreReader(Protocol):
    """One published generation, read-only."""

    name: str

    def close(self) -> None: ...

    # -- what the generation is --------------------------------------------------------------
    def identity(self) -> IndexIdentity | None: ...
    def counts(self) -> dict[str, int]: ...  # files, documents, passages
    def passage_count(self) -> int: ...

    # -- records -------------------------------------------------------------------------------
    def document(self, doc_id: int) -> DocumentRecord | None: ...
    def document_text(self, doc_id: int) -> str: ...  # the text the document's offsets index
    def documents(self, limit: int = 100, after: int = 0) -> list[DocumentRecord]: ...  # by id
    def passage(self, passage_id: int) -> PassageRecord | None: ...
    def passages(self, ids: Iterable[int]) -> dict[int, PassageRecord]: ...
    def passage_terms(self, passage_id: int) -> set[str]: ...  # the full-text terms of a passage
    def passage_language(self, passage_id: int) -> str | None: ...
    def passage_languages(self, ids: Iterable[int]) -> dict[int, str | None]: ...
    def speakers(self) -> list[str]: ...  # distinct passage speakers
    def sources(self) -> list[str]: ...  # the indexed files' paths
    def count_documents(self, where: PassageFilter) -> int: ...  # documents with a passage `where` admits
    def sentences_of_passage(self, passage_id: int) -> list[SentenceRecord]: ...
    def sentences_of_passages(self, ids: Iterable[int]) -> dict[int, list[SentenceRecord]]: ...  # one read
    def sentences_of_document(self, doc_id: int, start: int = 0, end: int | None = None,
                              contained: bool = False) -> list[SentenceRecord]: ...
    def sentences(self, ids: Iterable[int]) -> list[SentenceRecord]: ...  # ordered by document, start
    def next_sentence(self, sentence: SentenceRecord) -> SentenceRecord | None: ...  # same paragraph
    def aligned_sentences(self, sentence_ids: Iterable[int]) -> list[SentenceRecord]: ...  # other languages
    def versions(self, doc_id: int) -> list[int]: ...  # the same statement in other languages
    def earlier_in_file(self, doc_id: int, others: Iterable[int]) -> int | None: ...
    # the vectors of sentences embedded at index time (float16 precision); ids without one are absent
    def sentence_vectors(self, ids: Iterable[int]) -> dict[int, np.ndarray]: ...
    # the vectors of the passages' capitalised words and pairs (index.textnorm.capitalised_words),
    # embedded at index time (float16 precision); words without one are absent
    def word_vectors(self, words: Iterable[str]) -> dict[str, np.ndarray]: ...

    # -- search ----------------------------------------------------------------------------------
    def term_document_frequency(self, terms: Iterable[str]) -> dict[str, int]: ...  # passages holding each
    # `where`: only passages the filter admits, applied inside the search (the k best of those)
    def search_vectors(self, query: np.ndarray, k: int, speakers: Iterable[str] | None = None,
                       where: PassageFilter | None = None
                       ) -> list[tuple[int, float]]: ...  # (passage id, inner product), best first
    def search_passage_terms(self, terms: list[str], language: str | None, k: int,
                             where: PassageFilter | None = None
                             ) -> list[tuple[int, float]]: ...  # BM25, best first (higher is better)
    def search_sentence_phrase(self, phrase: str, k: int) -> list[int]: ...  # sentence ids
    def search_sentence_terms(self, terms: list[str], k: int) -> list[int]: ...  # sentence ids, best first


@runtime_checkable
class StoreWriter(Protocol):
    """The one writer of an index: builds the next generation from the live one, then publishes it."""

    identity: IndexIdentity

    def files(self) -> dict[str, FileRecord]: ...
    def duplicates_of(self, source: str) -> list[str]: ...
    def add_file(self, record: FileRecord) -> int: ...  # returns the file id
    def forget_file(self, source: str) -> None: ...  # drop a file's record (a duplicate holds no documents)
    def remove_file(self, source: str) -> int: ...  # drop a file with its documents; returns documents removed
    def add_document(self, file_id: int, ordinal: int, text: str, start: int, end: int, title: str | None,
                     speaker: str | None, date: str | None, language: str | None, url: str | None,
                     kind: str) -> int: ...
    def add_passages(self, doc_id: int, passages: list[NewPassage]) -> list[int]: ...  # passage ids
    def add_vectors(self, ids: list[int], vectors: np.ndarray) -> None: ...
    def vector_count(self) -> int: ...
    # sentence vectors, so that choosing what to quote embeds nothing at question time
    def add_sentence_vectors(self, ids: list[int], vectors: np.ndarray) -> None: ...
    def sentence_vectors(self, ids: Iterable[int]) -> dict[int, np.ndarray]: ...
    def sentences_without_vectors(self, limit: int, after: int = 0
                                  ) -> list[tuple[int, str]]: ...  # (sentence id, text), by id, ids > after
    # names' vectors, so that the names check embeds only the question's own; a cache keyed by the word
    # (a word's vector is the model's): carried to the next generation, kept when files go
    def add_word_vectors(self, words: list[str], vectors: np.ndarray) -> None: ...
    def word_vectors(self, words: Iterable[str]) -> dict[str, np.ndarray]: ...
    def word_vector_count(self) -> int: ...
    # documents by id, each with its own words (the slice of the text its offsets bound)
    def documents_with_text(self, limit: int, after: int = 0) -> list[tuple[DocumentRecord, str]]: ...
    def counts(self) -> dict[str, int]: ...
    # versions of one statement in other languages
    def document(self, doc_id: int) -> DocumentRecord | None: ...
    def documents_of_file(self, source: str) -> list[DocumentRecord]: ...
    def documents_named(self, file_name: str) -> list[DocumentRecord]: ...  # files of that base name
    def document_sentences(self, doc_id: int) -> list[tuple[int, str]]: ...  # (sentence id, text)
    def has_version(self, doc_a: int, doc_b: int) -> bool: ...
    def link_versions(self, doc_a: int, doc_b: int, method: str, score: float,
                      sentence_pairs: list[tuple[int, int, float]]) -> None: ...
    # publish
    def commit(self) -> str: ...  # returns the new generation's name
    def abort(self) -> None: ...


@runtime_checkable
class IndexBackend(Protocol):
    """Where an index lives: which generation is live, a reader of it, the writer of the next."""

    location: str  # shown in messages: a folder, a database URL without its password

    def current(self) -> str | None: ...  # the live generation's name, None when nothing is published
    def open_reader(self) -> StoreReader: ...  # raises IndexMissing with how to build one
    def open_writer(self, identity: IndexIdentity, wait: float = 0) -> StoreWriter: ...  # raises IndexLocked


Languages = Mapping[int, str | None]
