"""A verdict on a claimed quote: is it on record, word for word, by the speaker named, in context?

The closest statement on record is found among the exact-quote lookup's candidates
(bot/answer/lookup.py: phrase, shared words, dense), each sentence with the next one of its
paragraph, in the claim's language; the claim is aligned word by word with each (diff.py) and:

- exact: every claimed word on record, in order, nothing changed (whitespace, quote marks,
  punctuation and case aside), said by the speaker named (or none named);
- different_speaker: exact, but nobody of the name claimed said it (names compared across spellings
  and scripts by the engine's phonetic key, on the surname);
- out_of_context: exact, but the rest of the sentence holds a negation or a condition (NEGATIONS,
  CONDITIONS; Swedish "om" only opening the sentence), or the next sentence opens with one within its
  first NEXT_OPENING words;
- altered: at least ALTERED_MIN_SHARE of the claim's words (and ALTERED_MIN_WORDS) on record in
  order in one place, but not exact;
- translation_only: nothing close in the claim's language, but a sentence in another language is a
  translation of it (sentence embeddings within the model's threshold,
  index/models: translation_min_cosine) and the record has no version
  in the claim's language: only a translation could be compared, the original is shown;
- not_found: none of these; the nearest statements (by the speaker named, when one is) are shown,
  marked as not matching.

Thresholds are stated here and were set before the claim set was measured (bot/quality/claims.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz

from bot.answer.assemble import is_statement
from bot.answer.lookup import candidates, fragment_score
from bot.answer.names import phonetic
from bot.answer.quotes import make_quote, statement_group, versions_of
from bot.answer.types import Quote
from index import models
from index.search import dense_search
from index.store import SentenceRecord, StoreReader
from index.textnorm import normalize

from .diff import Alignment, Word, align, tokenize

ALTERED_MIN_SHARE = 0.6
ALTERED_MIN_WORDS = 3
NEXT_OPENING = 3
RESCORED = 30  # lookup candidates aligned word by word, best fragment scores first
NEAREST = 3

NEGATIONS = {
    "en": {"not", "no", "never", "nor", "neither", "without", "cannot", "none", "nobody", "nothing", "t"},
    "de": {"nicht", "kein", "keine", "keinen", "keinem", "keiner", "keines", "nie", "niemals", "nichts", "ohne",
           "weder"},
    "sv": {"inte", "ej", "icke", "aldrig", "ingen", "inget", "inga", "utan", "varken"},
    "ru": {"не", "нет", "ни", "никогда", "ничего", "никто", "без", "нельзя"},
}
CONDITIONS = {
    "en": {"if", "unless", "whether", "provided", "otherwise"},
    "de": {"wenn", "falls", "sofern", "ob", "sonst"},
    "sv": {"ifall", "såvida", "förutsatt", "annars"},
    "ru": {"если", "ли", "бы", "разве", "иначе"},
}
KINDS = ("exact", "altered", "different_speaker", "out_of_context", "translation_only", "not_found")
_CLAIMED = re.compile(r"^\s*([^:\"“”«»„]{2,80}?)\s*:\s*[\"“”«»„'‘’](.+?)[\"“”«»„'‘’]?\s*$", re.S)
_QUOTES = "\"'“”«»„‘’‚‹› \t\n"
_NAMED = re.compile(r"^\s*([A-ZÀ-ÞА-ЯЁ][\w.-]*(?:\s+[A-ZÀ-ÞА-ЯЁ][\w.-]*){0,3})\s*:\s+(\S.*)$", re.S)


def parse_claim(raw: str, speaker: str | None = None) -> tuple[str, str | None]:
    """The claimed words and speaker: `NAME: "WORDS"` names the speaker (unless `speaker` is given);
    surrounding quotation marks are dropped."""
    m = _CLAIMED.match(raw or "")
    if m and not speaker:
        speaker, raw = m.group(1).strip(), m.group(2)
    return (raw or "").strip(_QUOTES), (speaker or None)


def _is_cue(words: list[str], i: int, lang: str | None) -> bool:
    w = words[i]
    lang = lang if lang in NEGATIONS else "en"
    if w == "t" and lang == "en":  # don't, won't, can't: folded to "don t"
        return i > 0 and words[i - 1].endswith("n")
    return w in NEGATIONS[lang] or w in CONDITIONS[lang]


def cues(words: list[Word], lang: str | None) -> list[str]:
    norms = [w.norm for w in words]
    return [words[i].text for i in range(len(words)) if _is_cue(norms, i, lang)]


def surname_matches(claimed: str | None, speaker: str | None) -> bool:
    """Is `speaker` (as the record names them) the person claimed? The claimed name's last word against
    each word of the record's name, by the engine's phonetic key (Лавров = Lawrow = Lavrov)."""
    if not claimed or not speaker:
        return False
    names = [w for w in re.findall(r"\w[\w-]*", claimed) if len(w) >= 3]
    if not names:
        return False
    key = phonetic(names[-1])
    return any(fuzz.ratio(key, phonetic(w)) >= 80 for w in re.findall(r"\w[\w-]*", speaker) if len(w) >= 3)


@dataclass
class Match:
    """A claim aligned with one place on record."""

    sentences: list[SentenceRecord]  # the window: a sentence and the next one of its paragraph
    alignment: Alignment
    speaker: str | None
    language: str | None
    fragment: float  # the lookup's score, 0-100

    @property
    def covered(self) -> list[SentenceRecord]:
        """The window's sentences the matched words lie in."""
        a = self.alignment
        return [s for s in self.sentences if a.start is not None and s.start < a.end and a.start < s.end] \
            or self.sentences[:1]


@dataclass
class Verdict:
    kind: str
    claim: str
    claimed_speaker: str | None
    language: str  # the claim's
    share: float = 0.0  # of the claim's words on record, in order
    ops: list = field(default_factory=list)  # diff.Op, claim -> record
    record: dict | None = None  # {"text", "start", "end", "source"}: the record's words the claim corresponds to
    quote: Quote | None = None  # the whole sentence(s) on record, a verified slice
    context: Quote | None = None  # out of context: the sentence that changes the sense
    cue: str | None = None  # the negation or condition word
    record_speaker: str | None = None
    record_language: str | None = None
    compared_with: str = "same_language"  # "same_language", "version" (the record's version in the claim's language), "translation"
    cosine: float | None = None  # translation_only: how close the translation is
    nearest: list[Quote] = field(default_factory=list)  # not_found: nearest statements, NOT matching
    nearest_by_speaker: bool = False  # the nearest statements are the claimed speaker's (the record knows them)

    @property
    def found(self) -> bool:
        return self.kind not in ("not_found", "translation_only")

    def to_json(self) -> dict:
        d = {"kind": self.kind, "claim": self.claim, "claimed_speaker": self.claimed_speaker,
             "language": self.language, "share_on_record": round(self.share, 3),
             "diff": [o.to_json() for o in self.ops], "record": self.record,
             "record_speaker": self.record_speaker, "record_language": self.record_language,
             "compared_with": self.compared_with}
        if self.cue:
            d["cue"] = self.cue
        if self.context is not None:
            d["context"] = self.context.to_json()
        if self.cosine is not None:
            d["cosine"] = round(self.cosine, 4)
        if self.kind == "translation_only" and self.quote is not None:
            d["original"] = self.quote.to_json()
        if self.kind == "not_found":
            d["nearest"] = [{**q.to_json(), "matching": False} for q in self.nearest]
            d["nearest_by_speaker"] = self.nearest_by_speaker
        return d


def _speaker(store: StoreReader, s: SentenceRecord) -> str | None:
    if s.speaker:
        return s.speaker
    doc = store.document(s.doc_id)
    return doc.speaker if doc else None


def _window_words(store: StoreReader, sents: list[SentenceRecord]) -> list[Word]:
    text = store.document_text(sents[0].doc_id)
    out: list[Word] = []
    for s in sents:
        out += tokenize(text[s.start : s.end], s.start)
    return out


def matches(store: StoreReader, claim_words: list[Word], target: str, qvec, language: str | None
            ) -> list[Match]:
    """The claim aligned with its best candidates on record in `language` (any language when None)."""
    langs: dict[int, str | None] = {}

    def lang_of(doc_id: int) -> str | None:
        if doc_id not in langs:
            doc = store.document(doc_id)
            langs[doc_id] = doc.language if doc else None
        return langs[doc_id]

    scored = []
    for s, nxt in candidates(store, target, qvec):
        if language is not None and lang_of(s.doc_id) != language:
            continue
        window = [s] + ([nxt] if nxt is not None else [])
        score = fragment_score(target, " ".join(x.norm for x in window))
        scored.append((score, window))
    scored.sort(key=lambda x: -x[0])
    out = []
    for score, window in scored[:RESCORED]:
        a = align(claim_words, _window_words(store, window))
        out.append(Match(window, a, _speaker(store, window[0]), lang_of(window[0].doc_id), score))
    return out


def _best(found: list[Match], claimed: str | None) -> Match | None:
    if not found:
        return None
    return max(found, key=lambda m: (round(m.alignment.share, 3), m.alignment.exact,
                                     surname_matches(claimed, m.speaker), -m.alignment.edits, m.fragment))


def _context(store: StoreReader, m: Match, lang: str | None) -> tuple[str | None, list[SentenceRecord]]:
    """A negation or condition around the claimed words: in the rest of their sentence(s), or opening
    the next sentence. Returns the cue and the sentences to show."""
    a = m.alignment
    covered = m.covered
    text = store.document_text(covered[0].doc_id)
    around = [w for s in covered for w in tokenize(text[s.start : s.end], s.start)
              if w.end <= a.start or w.start >= a.end]
    found = cues(around, lang)
    if lang == "sv" and around and around[0].norm == "om" and around[0].start == covered[0].start:
        found.insert(0, around[0].text)  # Swedish "om" opening a sentence is "if" (elsewhere mostly "about")
    if found:
        return found[0], covered
    nxt = store.next_sentence(covered[-1])
    if nxt is not None and nxt.speaker == covered[-1].speaker:
        opening = tokenize(text[nxt.start : nxt.end], nxt.start)[:NEXT_OPENING]
        found = cues(opening, lang)
        if found:
            return found[0], covered + [nxt]
    return None, covered


def _record(store: StoreReader, m: Match) -> dict:
    a = m.alignment
    doc = store.document(m.sentences[0].doc_id)
    return {"text": store.document_text(m.sentences[0].doc_id)[a.start : a.end], "start": a.start, "end": a.end,
            "source": doc.source if doc else None}


def _nearest(engine, store: StoreReader, qvec, claimed: str | None) -> tuple[list[Quote], bool]:
    """The nearest statements on the topic (by the speaker claimed, when the record knows them), and
    whether they are that speaker's."""
    speakers = [s for s in store.speakers() if surname_matches(claimed, s)] if claimed else []
    hits = dense_search(store, qvec, NEAREST, speakers=speakers or None)
    out = []
    for pid, score in hits:
        sents = store.sentences_of_passage(pid)
        if not sents:
            continue
        vecs = engine.vectors.sentences(store, sents)
        best = sents[int(np.argmax(vecs @ qvec))]
        q = make_quote(store, [best], float(score))
        if q is not None and is_statement(q.text):
            out.append(q)
    return out, bool(speakers)


def _translation(engine, store: StoreReader, claim: str, qvec, language: str
                 ) -> tuple[SentenceRecord, float] | None:
    """The sentence in another language that translates the claim, if one is close enough."""
    cvec = engine.embedder.embed_passages([claim])[0]
    candidates: list[SentenceRecord] = []
    for pid, _ in dense_search(store, qvec, 10):
        sents = store.sentences_of_passage(pid)
        if not sents:
            continue
        doc = store.document(sents[0].doc_id)
        if doc is None or doc.language == language:
            continue
        candidates += sents
    if not candidates:
        return None
    if engine.settings.late_sentence_vectors:
        # stored vectors were read in their passages' context: the translation threshold is set for
        # sentences embedded on their own, as the claim is (one call for all of them)
        vecs = engine.embedder.embed_passages([store.document_text(s.doc_id)[s.start : s.end] for s in candidates])
    else:
        vecs = engine.vectors.sentences(store, candidates)
    cos = vecs @ cvec
    i = int(np.argmax(cos))
    best = (candidates[i], float(cos[i]))
    return best if best[1] >= models.translation_min_cosine(getattr(engine.embedder, "name", "")) else None


def check(engine, raw: str, speaker: str | None = None, lang_hint: str | None = None) -> Verdict:
    """The verdict on a claimed quote (see the module's note), from the engine's live index."""
    claim, claimed = parse_claim(raw, speaker)
    if claimed is None:  # "Lavrov: we will …" without quotation marks: a name the record knows, then a colon
        m = _NAMED.match(claim)
        if m:
            with engine.live.reader() as store:
                if any(surname_matches(m.group(1), s) for s in store.speakers()):
                    claim, claimed = m.group(2).strip(_QUOTES), m.group(1).strip()
    q, lang, _ = engine.prepare(claim, lang_hint)
    verdict = Verdict("not_found", claim, claimed, lang)
    claim_words = tokenize(q.text)
    if not claim_words:
        return verdict
    target = normalize(q.text)
    qvec = engine.vectors.query(q.text)
    with engine.live.reader() as store:
        found = matches(store, claim_words, target, qvec, lang)
        best = _best(found, claimed)
        a = best.alignment if best else None
        if best is not None and a.share >= ALTERED_MIN_SHARE and a.matched >= ALTERED_MIN_WORDS:
            verdict.share, verdict.ops = a.share, a.ops
            verdict.record = _record(store, best)
            verdict.record_speaker, verdict.record_language = best.speaker, best.language
            doc_id = best.sentences[0].doc_id
            if store.earlier_in_file(doc_id, store.versions(doc_id)) is not None:
                verdict.compared_with = "version"  # the record's translation, after the original in its file
            shown = best.covered
            if a.exact and claimed and not surname_matches(claimed, best.speaker):
                verdict.kind = "different_speaker"
            elif a.exact:
                # the same words on record in several places: one in context is enough
                same = [m for m in found if m.alignment.exact and (not claimed or surname_matches(claimed, m.speaker))]
                contexts = [(m, *_context(store, m, m.language)) for m in same] or [(best, *_context(store, best, best.language))]
                best, cue, shown = min(contexts, key=lambda x: x[1] is not None)
                a = best.alignment
                verdict.record = _record(store, best)
                verdict.kind = "out_of_context" if cue else "exact"
                verdict.cue = cue
                if cue:
                    verdict.context = make_quote(store, shown, best.fragment / 100)
            else:
                verdict.kind = "altered"
            verdict.quote = make_quote(store, best.covered, best.fragment / 100)
            if verdict.quote is None:  # the record's sentences did not verify: nothing is shown as on record
                verdict.kind = "not_found"
            return verdict
        other = _translation(engine, store, q.text, qvec, lang)
        if other is not None:
            sent, cos = other
            group = statement_group(store, sent.doc_id)
            has_version = any((d := store.document(g)) is not None and d.language == lang for g in group)
            if not has_version:
                verdict.kind, verdict.compared_with, verdict.cosine = "translation_only", "translation", cos
                verdict.quote = make_quote(store, [sent], cos)
                verdict.record_speaker = _speaker(store, sent)
                doc = store.document(sent.doc_id)
                verdict.record_language = doc.language if doc else None
                if verdict.quote is not None:
                    return verdict
                verdict.kind = "not_found"
        verdict.nearest, verdict.nearest_by_speaker = _nearest(engine, store, qvec, claimed)
    return verdict
