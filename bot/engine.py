"""The answering engine: questions in, verified verbatim quotes with citations out.

It loads the embedding model once, reads whichever index generation is live (switching to a new
one as soon as it is published, while questions in flight finish on theirs), and never lets a
quote out that is not an exact slice of the stored source text.
"""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz

from index.embedder import Embedder, load_embedder
from index.language import detect_language, language_name
from index.search import RRF_K, Hit, dense_search, fts_query, hybrid_search, idf
from index.settings import IndexSettings, get_settings
from index.store import Generation, current_name, open_current
from index.textnorm import normalize, stems, words

from .answer_types import Answer, Quote
from .compose import compose
from .question import clean, script_allowed
from .relevance import ENTITY_MIN_COSINE, capitalised_words, entities, missing_entities, phonetic
from .quotes import (
    SentenceRow,
    extend,
    joinable_run,
    make_quote,
    passage_sentences,
    sentence_rows,
    versions_of,
)

log = logging.getLogger(__name__)

# Calibrated on ../shared/dev-questions.jsonl (see scripts/eval and the README): the best passage's
# cosine with the question must reach this, or its words must be found in it; and the question's
# names must be in the passages found (bot/relevance.py).
MIN_DENSE = 0.78
MIN_LEXICAL = 0.55
ENTITY_PASSAGES = 10
COMMON_WORD_SHARE = 0.002  # in at least this share of passages, a capitalised word is common
LEXICAL_TIEBREAK = 0.05  # weight of the question's words found in a sentence, beside its cosine
RERANK_NAMED = 20
NAMED_PENALTY = 1.0 / 61  # per missing name: about one rank at the top of a fused list
PER_STATEMENT = 3  # quotes from one statement (in any of its languages) per answer; 2 measured worse
DENSE_MARGIN = 0.04  # a further quote's passage must be this close to the best one's cosine
QUOTE_MIN_SCORE = 80.0  # rapidfuzz 0-100: below this a pasted fragment is "not found"
CANDIDATES = 40
FALLBACK_LANGUAGE = "en"
FTS_WEIGHT = 1.0  # full-text list weight in the fusion (dense 1.0); 0.5 measured worse with scripts/eval
# The model scores a passage in the question's own language higher than the same words in another
# language: measured on the corpus's linked versions (ru/en, sv/en) at 0.03-0.06 cosine. Passages in
# other languages get back the low end of that, so a statement that exists only in English can
# answer a Swedish question; scripts/eval: 0.03 best (language match 24→26 of 28), 0.05 worse.
OTHER_LANGUAGE_BONUS = 0.03
SPEAKER_PASSAGES = 10  # a named speaker's passages nearest the question, added to the candidates
MAX_SPEAKER_SCAN = 20_000  # passages of the named speakers scored exactly, at most


class Engine:
    """Implements bot.answer_types.Answerer over an index folder."""

    def __init__(self, settings: IndexSettings, embedder: Embedder | None = None):
        self.settings = settings
        self.index_dir = settings.index_dir
        self.embedder = embedder or load_embedder(settings)
        self._lock = threading.Lock()
        self._embed_lock = threading.Lock()
        self._gen: Generation | None = None
        self._refs: dict[str, int] = {}
        self._retired: dict[str, Generation] = {}
        self._speakers: dict[str, list[tuple[str, str]]] = {}
        self._sent_cache: dict[str, dict[int, np.ndarray]] = {}
        self._word_cache: dict[str, np.ndarray] = {}

    @classmethod
    def open(cls, index_dir: Path | None = None, settings: IndexSettings | None = None,
             embedder: Embedder | None = None) -> "Engine":
        settings = settings or get_settings()
        if index_dir is not None:
            settings = settings.model_copy(update={"index": Path(index_dir)})
        engine = cls(settings, embedder)
        with engine.generation() as gen:  # raises IndexMissing / ModelMismatch now, not at the first question
            found = gen.identity()
            if found is not None and found.model != engine.embedder.name:
                from index.errors import ModelMismatch

                raise ModelMismatch(
                    f"the index at {engine.index_dir} was built with {found.model!r}, "
                    f"but the model in use is {engine.embedder.name!r}: set ONRECORD_MODEL to the index's model "
                    "or rebuild the index."
                )
        return engine

    # -- index generations ---------------------------------------------------------------------
    @contextmanager
    def generation(self):
        """The live generation for the length of one question (hot swap between questions)."""
        with self._lock:
            name = current_name(self.index_dir)
            if self._gen is None or (name is not None and name != self._gen.name):
                new = open_current(self.index_dir)
                old, self._gen = self._gen, new
                self._refs.setdefault(new.name, 0)
                if old is not None:
                    if self._refs.get(old.name, 0) == 0:
                        old.close()
                        self._refs.pop(old.name, None)
                    else:
                        self._retired[old.name] = old
            gen = self._gen
            self._refs[gen.name] += 1
        try:
            yield gen
        finally:
            with self._lock:
                self._refs[gen.name] -= 1
                if gen.name in self._retired and self._refs[gen.name] == 0:
                    self._retired.pop(gen.name).close()
                    self._refs.pop(gen.name, None)

    @property
    def generation_name(self) -> str | None:
        return self._gen.name if self._gen else None

    def close(self) -> None:
        with self._lock:
            for g in [self._gen, *self._retired.values()]:
                if g is not None:
                    g.close()
            self._gen, self._retired, self._refs = None, {}, {}

    def _embed_query(self, text: str) -> np.ndarray:
        with self._embed_lock:
            return self.embedder.embed_queries([text])[0]

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        with self._embed_lock:
            return self.embedder.embed_passages(texts)

    def _embed_words(self, words_: list[str]) -> np.ndarray:
        """Embeddings of single words and names, kept for later questions (names recur)."""
        todo = [w for w in dict.fromkeys(words_) if w not in self._word_cache]
        if todo:
            if len(self._word_cache) > 200_000:
                self._word_cache.clear()
            self._word_cache.update(zip(todo, self._embed_texts(todo)))
        return np.stack([self._word_cache[w] for w in words_])

    def _language(self, text: str, hint: str | None) -> str:
        """The question's language among the configured ones; a question written in a script none of
        them uses (e.g. Japanese when the set is European) gets the hint, or English words."""
        if not script_allowed(text, self.settings.languages):
            return hint if hint in self.settings.languages else FALLBACK_LANGUAGE
        lang, _conf = detect_language(text, self.settings.languages, hint=hint)
        return lang or (hint if hint else FALLBACK_LANGUAGE)

    # -- ask -----------------------------------------------------------------------------------
    def ask(self, question: str, lang_hint: str | None = None, limit: int = 3, offset: int = 0) -> Answer:
        q = clean(question)
        lang = self._language(q.text, lang_hint) if not q.empty else (lang_hint or "en")
        notes = [("truncated", {"n": q.truncated_at})] if q.truncated_at else []
        if q.empty:
            return compose(question, lang, [], kind="empty", notes=notes)
        qvec = self._embed_query(q.text)
        with self.generation() as gen:
            hits = hybrid_search(gen, qvec, q.text, lang, k=CANDIDATES, fts_weight=FTS_WEIGHT,
                                 other_language_bonus=OTHER_LANGUAGE_BONUS)
            hits = self._boost_speakers(gen, q.text, lang, qvec, hits)
            hits = self._prefer_named(gen, q.text, lang, hits)
            if not hits or not self._answerable(gen, q.text, lang, hits):
                return compose(question, lang, [], kind="ask", notes=notes)
            quotes = self._quotes_for(gen, q.text, lang, qvec, hits, want=offset + limit + 1)
        more = len(quotes) > offset + limit
        return compose(question, lang, quotes[offset : offset + limit], kind="ask", notes=notes, more=more)

    def _answerable(self, gen: Generation, question: str, lang: str, hits: list[Hit]) -> bool:
        """Something close was found, and every name the question turns on is in what was found."""
        best_dense = max((h.dense for h in hits if h.dense is not None), default=0.0)
        if best_dense < MIN_DENSE and self._lexical_coverage(gen, question, lang, hits[0].passage_id) < MIN_LEXICAL:
            return False
        found_text = self._passages_text(gen, hits[:ENTITY_PASSAGES])
        missing = [m for m in missing_entities(question, found_text, lang) if not self._common_word(gen, m, lang)]
        if not missing:
            return True
        words_found = capitalised_words(found_text)
        for name in missing:  # another spelling or language of a name starts alike (Moskau/Moscow)
            candidates = [w for w in words_found if phonetic(w)[:1] == phonetic(name)[:1]]
            if not candidates:
                return False
            if float((self._embed_words(candidates) @ self._embed_words([name])[0]).max()) < ENTITY_MIN_COSINE:
                return False
        return True

    def _common_word(self, gen: Generation, word: str, lang: str) -> bool:
        """A capitalised word found in many passages (a German noun such as "Folgen", a frequent
        speaker) does not single out a topic: only rarer names decide whether the record answers."""
        terms = stems(word, lang)
        if not terms:
            return False
        row = gen.db.execute("SELECT doc FROM passages_vocab WHERE term = ?", (terms[0],)).fetchone()
        total = gen.passage_count() or 1
        return bool(row) and row[0] / total >= COMMON_WORD_SHARE

    def _prefer_named(self, gen: Generation, question: str, lang: str, hits: list[Hit]) -> list[Hit]:
        """Among the first candidates, a passage that lacks names of the question which others carry
        ranks lower (a question about the CSTO wants the passage that names it)."""
        if not entities(question, lang):
            return hits
        head = hits[:RERANK_NAMED]
        missing = [len(missing_entities(question, self._passages_text(gen, [h]), lang)) for h in head]
        if min(missing, default=0) == max(missing, default=0):
            return hits
        for h, m in zip(head, missing):
            h.score -= m * NAMED_PENALTY
        return sorted(head, key=lambda h: -h.score) + hits[RERANK_NAMED:]

    def _passages_text(self, gen: Generation, hits: list[Hit]) -> str:
        """The passages' words with what the record says about them: speaker and role, title, context,
        and the language they were spoken in ("the Finnish MEP" names a speech given in Finnish)."""
        parts = []
        for h in hits:
            r = gen.db.execute(
                'SELECT p.start, p."end", p.doc_id, p.speaker, p.context, d.title, p.spoken_language, p.role '
                "FROM passages p JOIN documents d ON d.id = p.doc_id WHERE p.id = ?", (h.passage_id,)).fetchone()
            if r:
                parts += [gen.doc_text(r[2])[r[0]:r[1]], r[3] or "", r[4] or "", r[5] or "", r[7] or ""]
                if r[6]:
                    parts += [n for n in (language_name(r[6], lang) for lang in self.settings.languages) if n]
        return "\n".join(parts)

    def _lexical_coverage(self, gen: Generation, question: str, lang: str, passage_id: int) -> float:
        """Share of the question's information (idf-weighted stems) found in the passage."""
        row = gen.db.execute("SELECT stems FROM passages_fts WHERE rowid = ?", (passage_id,)).fetchone()
        if row is None:
            return 0.0
        q_terms = [t for t in dict.fromkeys(stems(question, lang)) if len(t) > 1]
        if not q_terms:
            return 0.0
        weights = idf(gen, q_terms)
        have = set(row[0].split())
        total = sum(weights.values()) or 1.0
        return sum(w for t, w in weights.items() if t in have) / total

    def _speaker_index(self, gen: Generation) -> list[tuple[str, str]]:
        if gen.name not in self._speakers:
            names = [r[0] for r in gen.db.execute("SELECT DISTINCT speaker FROM passages WHERE speaker IS NOT NULL")]
            keys = []
            for name in names:
                parts = [w for w in words(name) if len(w) >= 4]
                if parts:  # by sound, so Sacharowa, Захарова and Zakharova are one speaker
                    keys.append((phonetic(parts[-1]), name))
            self._speakers = {gen.name: keys}
        return self._speakers[gen.name]

    def _boost_speakers(self, gen: Generation, question: str, lang: str, qvec: np.ndarray,
                        hits: list[Hit]) -> list[Hit]:
        """A question naming a speaker prefers that speaker's own words: their passages nearest the
        question are fused in as a third list (a German question about Sacharowa would otherwise find
        only Bundestag speeches on the topic), and every passage of theirs gains one top rank's worth.
        scripts/eval: the same totals as fusing only passages not yet found, hit@1 one better."""
        qwords = {phonetic(w) for w in words(question)}
        named = {name for surname, name in self._speaker_index(gen) if surname in qwords}
        if not named or not hits:
            return hits
        by_id = {h.passage_id: h for h in hits}
        for rank, (pid, cos) in enumerate(self._speaker_passages(gen, named, lang, qvec)):
            h = by_id.get(pid)  # a third list in the fusion: the speaker's own nearest passages
            if h is None:
                h = by_id[pid] = Hit(pid, 0.0, dense=cos)
                hits.append(h)
            h.score += 1.0 / (RRF_K + rank + 1)
        ids = [h.passage_id for h in hits]
        marks = ",".join("?" * len(ids))
        speaker_of = dict(gen.db.execute(f"SELECT id, speaker FROM passages WHERE id IN ({marks})", ids).fetchall())
        bonus = 1.0 / 61
        for h in hits:
            if speaker_of.get(h.passage_id) in named:
                h.score += bonus
        return sorted(hits, key=lambda h: -h.score)

    def _speaker_passages(self, gen: Generation, named: set[str], lang: str, qvec: np.ndarray,
                          k: int = SPEAKER_PASSAGES) -> list[tuple[int, float]]:
        """The named speakers' k passages nearest the question (exact cosine over their vectors,
        other languages adjusted as in dense search)."""
        if gen.vectors is None:
            return []
        marks = ",".join("?" * len(named))
        rows = gen.db.execute(f"SELECT id FROM passages WHERE speaker IN ({marks}) LIMIT ?",
                              (*sorted(named), MAX_SPEAKER_SCAN)).fetchall()
        if not rows:
            return []
        ids = [r[0] for r in rows]
        vecs = np.stack([gen.vectors.reconstruct(int(i)) for i in ids])
        langs = gen.passage_languages()
        sims = vecs @ qvec + np.array([OTHER_LANGUAGE_BONUS if langs.get(i) != lang else 0.0 for i in ids])
        order = np.argsort(-sims)[:k]
        return [(ids[i], float(sims[i])) for i in order]

    def _sentence_scores(self, gen: Generation, question: str, lang: str, qvec: np.ndarray,
                         sents: list[SentenceRow], doc_lang: str | None) -> dict[int, float]:
        """How well each sentence answers: its cosine with the question (the model reads across
        languages), with the question's rarer words found in it as a small tie-breaker."""
        vecs = self._sentence_vectors(gen, sents)
        q_terms = set(stems(question, doc_lang or lang)) | set(stems(question, lang))
        weights = idf(gen, [t for t in q_terms if len(t) > 1])
        total = sum(weights.values()) or 1.0
        scores = {}
        for s, v in zip(sents, vecs):
            have = set(stems(gen_text(gen, s), doc_lang))
            lexical = sum(w for t, w in weights.items() if t in have) / total
            scores[s.id] = float(v @ qvec) + LEXICAL_TIEBREAK * lexical
        return scores

    def _sentence_vectors(self, gen: Generation, sents: list[SentenceRow]) -> np.ndarray:
        """Sentence embeddings, computed on first use and kept (bounded) for later questions."""
        cache = self._sent_cache.setdefault(gen.name, {})
        if len(self._sent_cache) > 2:  # keep only the live generations' caches
            for name in list(self._sent_cache)[:-2]:
                self._sent_cache.pop(name, None)
        todo = [s for s in sents if s.id not in cache]
        if todo:
            if len(cache) > 100_000:
                cache.clear()
            for s, v in zip(todo, self._embed_texts([gen_text(gen, s) for s in todo])):
                cache[s.id] = v
        return np.stack([cache[s.id] for s in sents])

    def _quotes_for(self, gen: Generation, question: str, lang: str, qvec: np.ndarray,
                    hits: list[Hit], want: int) -> list[Quote]:
        quotes: list[Quote] = []
        seen_docs: list[int] = []
        seen_text: set[str] = set()
        best_dense = max((h.dense for h in hits if h.dense is not None), default=0.0)
        for h in hits[: CANDIDATES]:
            relevant = h.dense is not None and h.dense >= best_dense - DENSE_MARGIN
            if not relevant and self._lexical_coverage(gen, question, lang, h.passage_id) < MIN_LEXICAL:
                continue  # loosely related: not shown
            sents = passage_sentences(gen, h.passage_id)
            if not sents:
                continue
            doc_lang = doc_language(gen, sents[0].doc_id)
            group = self._version_group(gen, sents[0].doc_id)
            if sum(1 for d in seen_docs if d in group) >= PER_STATEMENT:
                continue
            scores = self._sentence_scores(gen, question, lang, qvec, sents, doc_lang)
            best = max(sents, key=lambda s: (scores.get(s.id, 0.0), -s.start))
            run = joinable_run(gen, best)
            outside = [s for s in run if s.id not in scores]
            if outside:
                scores.update(self._sentence_scores(gen, question, lang, qvec, outside, doc_lang))
            chosen = extend(best, run, scores)
            versions = versions_of(gen, chosen)
            main = chosen
            if doc_lang != lang:  # quote the version in the question's language where one exists,
                # else the original: the file's first document when it holds its own translations
                pick = next((d for d in versions if doc_language(gen, d) == lang), None)
                if pick is None:
                    pick = first_in_file(gen, sents[0].doc_id, list(versions))
                if pick is not None:
                    main = versions[pick]
                    versions = {sents[0].doc_id: chosen, **{d: v for d, v in versions.items() if d != pick}}
            quote = make_quote(gen, main, h.score)
            if quote is None or not is_statement(quote.text):
                continue
            key = normalize(quote.text)
            if key in seen_text:  # a repost of the same words: fold it
                continue
            quote.versions = [v for v in (make_quote(gen, vs, h.score) for vs in versions.values()) if v]
            if any(q.document_id in group and q.start < quote.end and quote.start < q.end for q in quotes):
                continue  # overlaps a quote already taken from this statement
            quotes.append(quote)
            seen_docs.append(sents[0].doc_id)
            seen_text.add(key)
            if len(quotes) >= want:
                break
        return quotes

    def _version_group(self, gen: Generation, doc_id: int) -> set[int]:
        rows = gen.db.execute("SELECT doc_b FROM versions WHERE doc_a = ?", (doc_id,)).fetchall()
        return {doc_id, *(r[0] for r in rows)}

    # -- quote lookup ----------------------------------------------------------------------------
    def quote(self, fragment: str, lang_hint: str | None = None, limit: int = 3) -> Answer:
        q = clean(fragment)
        lang = self._language(q.text, lang_hint) if not q.empty else (lang_hint or "en")
        notes = [("truncated", {"n": q.truncated_at})] if q.truncated_at else []
        if q.empty:
            return compose(fragment, lang, [], kind="empty", notes=notes)
        target = normalize(q.text)
        with self.generation() as gen:
            candidates = self._quote_candidates(gen, q.text, target)
            scored = []
            for s, nxt in candidates:
                score = _fragment_score(target, s.norm)
                if nxt is not None:
                    joint = _fragment_score(target, s.norm + " " + nxt.norm)
                    if joint > score + 2:
                        scored.append((joint, [s, nxt]))
                        continue
                scored.append((score, [s]))
            scored.sort(key=lambda x: -x[0])
            quotes: list[Quote] = []
            seen_text: set[str] = set()
            seen_docs: set[int] = set()
            for score, sents in scored:
                if score < QUOTE_MIN_SCORE or len(quotes) >= limit:
                    break
                group = self._version_group(gen, sents[0].doc_id)
                quote = make_quote(gen, sents, score / 100.0)
                if quote is None:
                    continue
                key = normalize(quote.text)
                if key in seen_text or (group & seen_docs and quote.language != lang):
                    continue
                quote.versions = [v for v in (make_quote(gen, vs, score / 100.0) for vs in versions_of(gen, sents).values()) if v]
                quotes.append(quote)
                seen_text.add(key)
                seen_docs |= group
        return compose(fragment, lang, quotes, kind="quote", notes=notes)

    def _quote_candidates(self, gen: Generation, text: str, target: str):
        """Sentences (with their successor) that may hold the fragment: exact phrase, shared words, dense."""
        ids: list[int] = []
        phrase = target.replace('"', "")
        if phrase:
            ids += [r[0] for r in gen.db.execute(
                "SELECT rowid FROM sentences_fts WHERE sentences_fts MATCH ? LIMIT 20", (f'"{phrase}"',))]
        query = fts_query(target.split())
        if query:
            ids += [r[0] for r in gen.db.execute(
                "SELECT rowid FROM sentences_fts WHERE sentences_fts MATCH ? ORDER BY bm25(sentences_fts) LIMIT 200",
                (query,))]
        qvec = self._embed_query(text)
        pids = [pid for pid, _ in dense_search(gen, qvec, 10)]
        rows: dict[int, SentenceRow] = {}
        if ids:
            marks = ",".join("?" * len(ids))
            for s in sentence_rows(gen, f"id IN ({marks})", tuple(ids)):
                rows[s.id] = s
        for pid in pids:
            for s in passage_sentences(gen, pid):
                rows.setdefault(s.id, s)
        out = []
        for s in rows.values():
            nxt = gen.db.execute(
                'SELECT id, passage_id, doc_id, start, "end", paragraph, speaker, time, norm FROM sentences '
                "WHERE doc_id = ? AND paragraph = ? AND start > ? ORDER BY start LIMIT 1",
                (s.doc_id, s.paragraph, s.start),
            ).fetchone()
            out.append((s, SentenceRow(*nxt) if nxt else None))
        return out


def _fragment_score(target: str, sentence_norm: str) -> float:
    """How well a remembered fragment matches a sentence: tolerant of typos, a swapped word, and of
    the fragment being only part of the sentence."""
    if not sentence_norm:
        return 0.0
    if target in sentence_norm:
        return 100.0
    # the share of the fragment a sentence can account for: a sentence shorter than the fragment
    # cannot hold all of it (the fragment may run on into the next sentence)
    coverage = min(1.0, len(sentence_norm) / len(target))
    if len(target) <= len(sentence_norm):
        partial = fuzz.partial_ratio(target, sentence_norm)
    else:
        partial = fuzz.ratio(target, sentence_norm)
    tokens = fuzz.token_set_ratio(target, sentence_norm)
    return max(partial, tokens * (0.7 + 0.3 * coverage))


def is_statement(text: str) -> bool:
    """Worth quoting as an answer: a sentence ("Nein!") or at least four words, not a bare label such
    as a post's "X (ex-Twitter)" or "Facebook" link lines."""
    stripped = text.rstrip(" \n\t\"'»”“)")
    return stripped.endswith((".", "!", "?", "…", ":", ";")) or len([w for w in words(text) if len(w) > 1]) >= 4


def doc_language(gen: Generation, doc_id: int) -> str | None:
    row = gen.db.execute("SELECT language FROM documents WHERE id = ?", (doc_id,)).fetchone()
    return row[0] if row else None


def first_in_file(gen: Generation, doc_id: int, others: list[int]) -> int | None:
    """Of `others`, the document that comes first in `doc_id`'s own file, if it comes before it: a
    file that holds a statement and then its translation (the seed: English, then Swedish)."""
    if not others:
        return None
    marks = ",".join("?" * len(others))
    rows = gen.db.execute(
        f"SELECT o.id FROM documents o JOIN documents d ON d.id = ? WHERE o.id IN ({marks}) "
        "AND o.file_id = d.file_id AND o.ordinal < d.ordinal ORDER BY o.ordinal LIMIT 1", (doc_id, *others)).fetchone()
    return rows[0] if rows else None


def gen_text(gen: Generation, s: SentenceRow) -> str:
    return gen.doc_text(s.doc_id)[s.start : s.end]
