"""The answering engine: questions in, verified verbatim quotes with citations out.

It loads the embedding model once, answers each question from the live index generation (a new
generation is picked up at the next question; questions in flight finish on theirs), and never lets
a quote out that is not an exact slice of the stored source text. The work is done by small parts:

    asked.py      the question's language          retrieve.py  candidate passages
    rank.py       ordering and "is it on record"   assemble.py  quotes from ranked passages
    lookup.py     exact-quote lookup                quotes.py    slicing and verification
    live.py       the live generation (hot swap)    vectors.py   question-time embeddings and caches
"""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from index.embedder import Embedder, SharedEmbedder
from index.errors import ModelError, ModelMismatch
from index.language import load_names
from index.question_encoder import load_question_embedder
from index.settings import Settings, get_settings
from index.store import PassageFilter, StoreReader, open_backend
from index.textnorm import normalize

from .types import Answer
from .compose import compose
from .question import clean
from .asked import Asked, question_language
from .filters import FilterReader, FilterRequest, QuestionFilters, load_date_languages
from .assemble import QuoteAssembler
from .live import LiveIndex
from .lookup import lookup
from .learnt import CALIBRATION_DIR, LearntRanker, RankerParams, calibration_file, with_model_settings
from .rank import Ranker, RuleRanker
from .rerank import load_reranker
from .retrieve import SpeakerNames, retrieve
from .vectors import QuestionVectors
from ..messages import t

log = logging.getLogger(__name__)


class Engine:
    """Implements bot.answer.types.Answerer over an index."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, ranker: Ranker | None = None):
        self.settings = settings
        self.tuning = settings.answers
        self.index_dir = settings.index_dir
        inner = embedder or load_question_embedder(settings)  # ONNX where exported, else torch
        # one model for the engine and any indexer in this process (index.updates): thread-safe
        self.embedder = inner if isinstance(inner, SharedEmbedder) else SharedEmbedder(inner)
        self.live = LiveIndex(open_backend(settings.index_location))
        self.vectors = QuestionVectors(self.embedder)
        self.speakers = SpeakerNames()
        self.filters = FilterReader(self.speakers, settings.languages)  # filters in the question
        self.reranker = load_reranker(self.tuning.reranker, self.tuning.reranker_candidates)  # None: off
        self.ranker: Ranker = ranker or self._ranker()
        self.assembler = QuoteAssembler(self.tuning, self.vectors)

    def _ranker(self) -> Ranker:
        """The learnt ranker fitted for this model where a calibration exists (the user's own, made by
        `onrecord calibrate`, before the one shipped), else the hand-set rules."""
        choice = self.tuning.ranker
        if choice not in ("auto", "rules", "learnt"):
            raise ModelError(f"unknown ranker {choice!r}: use auto, rules or learnt.")
        if choice != "rules":
            for folder in (self.settings.home / "calibration", CALIBRATION_DIR):
                path = calibration_file(self.embedder.name, folder)
                if path.exists():
                    try:
                        params = RankerParams.load(path)
                    except ValueError as exc:  # fitted by an older version: say so, answer with the rules
                        if choice == "learnt":
                            raise ModelError(str(exc)) from None
                        log.warning("%s; answering with the rules", exc)
                        continue
                    if ("cross_encoder" in params.features) != (self.reranker is not None):
                        log.warning("%s was fitted %s a cross-encoder reranker, and ONRECORD_ANSWER_RERANKER is %s: "
                                    "run `onrecord calibrate` with the setting as it is", path,
                                    "with" if "cross_encoder" in params.features else "without",
                                    "set" if self.reranker is not None else "unset")
                        if "cross_encoder" in params.features:
                            continue  # it cannot be read without its feature: the next in line answers
                    self.tuning = with_model_settings(self.tuning, params)  # its model's cosine scale
                    self.settings = self.settings.model_copy(update={"answers": self.tuning})
                    return LearntRanker(params, self.tuning, self.vectors, self.settings.languages, self.reranker)
            if choice == "learnt":
                raise ModelError(f"no calibration for the model {self.embedder.name!r}: run "
                                 "`onrecord calibrate QUESTIONS.jsonl` (questions with gold quotes).")
        return RuleRanker(self.tuning, self.vectors, self.settings.languages)

    @classmethod
    def open(cls, index_dir: Path | None = None, settings: Settings | None = None,
             embedder: Embedder | None = None) -> "Engine":
        """An engine over an existing index; raises IndexMissing or ModelMismatch now, not at the first question."""
        settings = settings or get_settings()
        if index_dir is not None:
            settings = settings.model_copy(update={"index": Path(index_dir)})
        engine = cls(settings, embedder)
        with engine.live.reader() as store:
            found = store.identity()
            if found is not None and found.model != engine.embedder.name:
                raise ModelMismatch(
                    f"the index at {engine.index_dir} was built with {found.model!r}, "
                    f"but the model in use is {engine.embedder.name!r}: set ONRECORD_MODEL to the index's model "
                    "or rebuild the index."
                )
        return engine

    @property
    def generation_name(self) -> str | None:
        return self.live.name

    def passage_count(self) -> int:
        with self.live.reader() as store:
            return store.passage_count()

    def close(self) -> None:
        self.live.close()

    def warm_up(self) -> None:
        """Pay now what the first questions would (a server calls it before serving): the model's first
        call, the index's caches, the language detector, each configured language's month names."""
        load_date_languages(self.settings.languages)
        load_names(self.settings.languages)
        with self.live.reader() as store:
            self.filters.collections.of(store)  # the index's collections, read once per generation
        self.ask("warm-up question about the record", lang_hint="en", limit=1)

    def prepare(self, raw: str, lang_hint: str | None = None):
        """The cleaned question, its language, and notes for the answer (e.g. truncated)."""
        q = clean(raw)
        t = self.tuning
        if q.empty:
            lang = lang_hint or t.fallback_language
        else:
            lang = question_language(q.text, lang_hint, self.settings.languages, t.fallback_language)
        notes = [("truncated", {"n": q.truncated_at})] if q.truncated_at else []
        return q, lang, notes

    def ask(self, question: str, lang_hint: str | None = None, limit: int = 3, offset: int = 0,
            filters: FilterRequest | None = None) -> Answer:
        """`filters`: explicit filters (flags, options) beside those the question says itself."""
        q, lang, notes = self.prepare(question, lang_hint)
        if q.empty:
            return compose(question, lang, [], kind="empty", notes=notes)
        with self.live.reader() as store:
            found = self.filters.read(store, q.text, lang, filters)
            asked = Asked(found.text, lang, self.vectors.query(found.text))  # without a filter: q.text
            where = found.where()  # None without a filter: the searches are the unfiltered ones
            notes += [("filter_unread", {"value": v}) for v in found.unread]
            if where is not None:
                notes.append(("filtered", {"filters": found.label(lang)}))
            hits = retrieve(store, asked, self.tuning, self.speakers, where=where)
            ranking = self.ranker.rank(store, asked, hits)
            quotes = []
            if ranking.answerable:
                # one language asked for: quote it, not the question's language version
                quoting = replace(asked, lang=found.languages[0]) if len(found.languages) == 1 else asked
                quotes = self.assembler.quotes(store, quoting, ranking.hits, want=offset + limit + 1)
            why = self._why_empty(store, asked, found, lang) if where is not None and not quotes else None
        if why is not None:
            notes.append(why[0])
        more = len(quotes) > offset + limit
        answer = compose(question, lang, quotes[offset : offset + limit], kind="ask", notes=notes, more=more)
        if where is not None:
            answer.filters = {**found.to_json(lang), **({"empty": why[1]} if why else {})}
        return answer

    def _why_empty(self, store: StoreReader, asked: Asked, found: QuestionFilters, lang: str):
        """Which filter emptied the answer: the statements the filters admit, and the first filter
        (date, source, language, speaker) without which there are statements, or an answer."""
        label = found.label(lang)
        n = store.count_documents(found.where())
        dims = [d for d in ("date", "source", "language", "speaker") if d in found.dimensions]
        if n == 0:
            for dim in dims:
                m = store.count_documents(found.without(dim).where() or PassageFilter())
                if m:
                    return (("filter_none_without", {"filters": label, "dimension": t(lang, f"filter_dimension_{dim}"),
                                                     "n": m}), {"statements": 0, "without": dim, "statements_without": m})
            return ("filter_none", {"filters": label}), {"statements": 0}
        for dim in dims:
            other = found.without(dim)
            hits = retrieve(store, asked, self.tuning, self.speakers, where=other.where())
            if self.ranker.rank(store, asked, hits).answerable:
                return (("filter_no_answer_without", {"filters": label, "n": n,
                                                      "dimension": t(lang, f"filter_dimension_{dim}")}),
                        {"statements": n, "without": dim, "answer_without": True})
        return ("filter_no_answer", {"filters": label, "n": n}), {"statements": n}

    def quote(self, fragment: str, lang_hint: str | None = None, limit: int = 3, offset: int = 0) -> Answer:
        q, lang, notes = self.prepare(fragment, lang_hint)
        if q.empty:
            return compose(fragment, lang, [], kind="empty", notes=notes)
        target = normalize(q.text)
        qvec = self.vectors.query(q.text)
        with self.live.reader() as store:
            quotes = lookup(store, target, qvec, lang, self.tuning.quote_min_score, want=offset + limit + 1)
        more = len(quotes) > offset + limit
        return compose(fragment, lang, quotes[offset : offset + limit], kind="quote", notes=notes, more=more)
