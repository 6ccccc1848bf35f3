"""Filters in the question: who said it, when, in which collection, in which language.

"What did Zakharova say about Moldova in February?", "Vad sa Lavrov om vapenvila 2024?", "Что
говорили в Бундестаге о Судане?", "Was sagte Baerbock im März 2024 über …": the speaker, the date or
date range, the source collection and the document language are read from the question (English,
German, Swedish, Russian), from options written into it (`speaker:Lavrov from:2024-01 to:2024-03
source:bundestag-de lang:sv`, the Slack syntax) and from explicit values (`onrecord ask --speaker
--from --to --source`). They become an index.store.PassageFilter that the store applies inside its
searches, and the phrases that said them are taken out of the text that is searched ("in February"
is not a name the passages must carry).

Only unambiguous phrases count, so that a question about something else is left alone:
- a date only in a question that asks what was said (say, sagte, sa, сказал …), and there only after a
  preposition ("in/im/i/в February", "since/seit/sedan/с", "from … to …",
  "before/until …") or as a bare year closing the question ("… om vapenvila 2024?"); "the 2024
  budget" and "the budget for 2024" are topics, not filters;
- a source only when a preposition is followed by the name of a collection of the index (the first
  folder under the indexed files' common root: bundestag-de, mfa-telegram-en …), in any script
  ("в Бундестаге");
- a language only as "in English / auf Deutsch / på svenska / на русском" closing the question or
  followed by "about" (not "in English media");
- a speaker only when the question names a speaker of the index (bot.answer.retrieve.SpeakerNames:
  any spelling, any script; a person: a name of two words or more, not a role such as "President")
  before what it is about, and asks what they said.
A question with none of these is searched exactly as before (no filter, same text).
"""
from __future__ import annotations

import calendar
import os
import re
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import lru_cache

from index.store import PassageFilter, StoreReader

from ..messages import catalogue, language_name, t
from .names import phonetic
from .retrieve import SpeakerNames

DIMENSIONS = ("speaker", "date", "source", "language")

# -- the words that introduce a filter, per language ------------------------------------------------
_IN = {"en": {"in", "during", "on"}, "de": {"im", "in", "am", "während"}, "sv": {"i", "under", "den"},
       "ru": {"в", "во"}}
_SINCE = {"en": {"since", "after"}, "de": {"seit", "nach", "ab"}, "sv": {"sedan", "efter"},
          "ru": {"с", "со", "после"}}
_UNTIL = {"en": {"until", "till"}, "de": {"bis"}, "sv": {"till"}, "ru": {"до", "по"}}  # inclusive
_BEFORE = {"en": {"before"}, "de": {"vor"}, "sv": {"före", "innan"}, "ru": {"до"}}
_FROM = {"en": {"from", "between"}, "de": {"von", "vom", "zwischen"}, "sv": {"från", "mellan"},
         "ru": {"с", "со", "между"}}
_TO = {"en": {"to", "and", "until", "till", "through"}, "de": {"bis", "und", "zum"}, "sv": {"till", "och"},
       "ru": {"по", "до", "и"}}
# a bare year closing the question is a topic after these ("the budget for 2024")
_NOT_AFTER = {"en": {"for", "of", "by", "to", "until", "the", "before", "after", "since", "from", "than"},
              "de": {"für", "bis", "von", "des", "seit", "nach", "vor", "ab", "zum"},
              "sv": {"för", "till", "av", "från", "sedan", "efter", "före", "innan"},
              "ru": {"на", "до", "к", "за", "от", "с", "после", "по"}}
_YEAR_WORD = {"year", "jahr", "jahre", "jahres", "år", "året", "год", "года", "году", "г"}
_SOURCE_PREP = {"en": {"in", "on", "at", "from"}, "de": {"im", "in", "auf", "beim", "aus", "vom"},
                "sv": {"i", "på", "från"}, "ru": {"в", "во", "на", "из"}}
_ARTICLES = {"the", "der", "dem", "den", "des", "die", "det"}
_LANG_PREP = {"en": {"in"}, "de": {"auf"}, "sv": {"på"}, "ru": {"на"}}
_LANG_WORD = {"language", "sprache", "språket", "языке"}
# what the question is about starts here; a speaker named before it is who said it
_ABOUT = {"en": {"about", "on", "regarding", "concerning"}, "de": {"über", "zu", "zum", "zur", "bezüglich"},
          "sv": {"om", "kring", "angående", "beträffande", "gällande"},
          "ru": {"о", "об", "обо", "про", "насчёт", "насчет", "относительно"}}
_SAID = {
    "en": r"\b(?:say|says|said|saying|tell|tells|told|state|stated|claim\w*|speak|speaks|spoke|comment\w*|"
          r"remark\w*|declare\w*|argue\w*|think|thinks|thought|describe\w*|call|called|react|reacted|reacting|talk|talked|talking|"
          r"mention\w*|write|wrote|warn\w*)\b",
    "de": r"\b(?:sag\w*|gesagt|sprach|spricht|äußer\w*|geäußert|erklär\w*|meint\w*|gemeint|betont\w*|"
          r"behauptet\w*|erzählt\w*|schrieb|schreibt|rede\w*|warnt\w*|kritisiert\w*)\b",
    "sv": r"\b(?:sa|sade|sades|säger|sagt|sagts|uttala\w*|yttra\w*|menade|menar|berätta\w*|påstod|påstår|skrev|skriver|"
          r"tala\w*|varnade|kommentera\w*|tyckte|tycker)\b",
    "ru": r"(?<!\w)(?:сказал\w*|говорил\w*|говорит|заявил\w*|заявля\w*|сообщил\w*|отметил\w*|подчеркн\w*|"
          r"считает|писал\w*|написал\w*|предупредил\w*)(?!\w)",
}
# relative periods, read by dateparser ("last week", "letzten Monat", "förra året", "в прошлом месяце")
# who said it, without a verb of saying: enough to name the speaker, not to make a date the saying's
_ATTRIBUTION = {"en": r"\baccording to\b", "de": r"\blaut\b", "sv": r"\benligt\b", "ru": r"(?<!\w)по словам(?!\w)"}
_RELATIVE = {"en": r"\b(?:(?:in|during) )?(?:the )?(?:last|this) (?:week|month|year)\b",
             "de": r"\b(?:(?:im|in der) )?(?:letzte[nmrs]?|diese[nmrs]?) (?:Woche|Monat|Jahr)\b",
             "sv": r"\b(?:(?:under|i) )?(?:förra|detta|denna) (?:veckan|månaden|året)\b|\bi år\b",
             "ru": r"(?<!\w)(?:в|на) (?:прошл|эт)\w* (?:недел|месяц|год)\w*(?!\w)"}
_OPTION = re.compile(r"(?<!\S)(speaker|from|to|source|lang|language):(?:\"([^\"]*)\"|“([^”]*)”|'([^']*)'|(\S+))",
                     re.IGNORECASE)
_TOKEN = re.compile(r"\d{1,2}\.\d{1,2}\.\d{4}|\w[\w-]*\.?")
_ISO = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
_DOTTED = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_YEAR = re.compile(r"^(1[89]\d\d|20\d\d|21\d\d)$")
_DAY = re.compile(r"^(\d{1,2})(?:\.|st|nd|rd|th)?$")


# -- what a filter is ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FilterRequest:
    """Filters given explicitly (command-line flags, Slack options): names and dates as typed."""

    speaker: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    source: str | None = None
    language: str | None = None

    @property
    def empty(self) -> bool:
        return not any((self.speaker, self.date_from, self.date_to, self.source, self.language))


@dataclass(frozen=True)
class QuestionFilters:
    """The filters of one question. Dates are bounds as precise as asked: "2024", "2024-02" or
    "2024-02-15" (date_from counts from the period's first day, date_to to its last)."""

    text: str  # the question without the phrases that said the filters: what is searched
    speakers: tuple[str, ...] = ()  # as stored in the index (every spelling of the one named)
    speaker: str | None = None  # as shown
    date_from: str | None = None
    date_to: str | None = None
    sources: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    asked: tuple[str, ...] = ()  # dimensions read from the question's own words (the rest were explicit)
    unread: tuple[str, ...] = ()  # explicit dates that could not be read (ignored, and said)
    # the speakers' surnames: passages with no recorded speaker in a document so titled count as theirs
    titled: tuple[str, ...] = ()

    @property
    def dimensions(self) -> list[str]:
        out = []
        if self.speakers:
            out.append("speaker")
        if self.date_from or self.date_to:
            out.append("date")
        if self.sources:
            out.append("source")
        if self.languages:
            out.append("language")
        return out

    @property
    def active(self) -> bool:
        return bool(self.dimensions)

    def without(self, dimension: str) -> "QuestionFilters":
        cleared = {"speaker": {"speakers": (), "speaker": None, "titled": ()}, "date": {"date_from": None, "date_to": None},
                   "source": {"sources": ()}, "language": {"languages": ()}}[dimension]
        return replace(self, **cleared)

    def where(self) -> PassageFilter | None:
        """The store's filter; None when there is none (the search is then the unfiltered one)."""
        if not self.active:
            return None
        return PassageFilter(
            speakers=self.speakers or None,
            titled=self.titled or None,
            date_from=first_day(self.date_from) if self.date_from else None,
            date_to=last_day(self.date_to) if self.date_to else None,
            sources=self.sources or None,
            languages=self.languages or None,
        )

    def label(self, lang: str) -> str:
        """"Maria Zakharova, February 2026", in `lang`."""
        parts = []
        if self.speakers:
            parts.append(self.speaker or self.speakers[0])
        if self.date_from or self.date_to:
            parts.append(date_label(self.date_from, self.date_to, lang))
        if self.sources:
            parts.append(", ".join(self.sources))
        if self.languages:
            parts.append(t(lang, "filter_language", language=", ".join(language_name(c, lang) for c in self.languages)))
        return ", ".join(parts)

    def to_json(self, lang: str) -> dict:
        where = self.where()
        d: dict = {}
        if self.speakers:
            d["speaker"] = self.speaker or self.speakers[0]
            d["speakers"] = list(self.speakers)
        if where and where.date_from:
            d["from"] = where.date_from
        if where and where.date_to:
            d["to"] = where.date_to
        if self.sources:
            d["sources"] = list(self.sources)
        if self.languages:
            d["languages"] = list(self.languages)
        d["from_question"] = list(self.asked)
        d["label"] = self.label(lang)
        return d


# -- dates ----------------------------------------------------------------------------------------------
def first_day(bound: str) -> str:
    parts = bound.split("-")
    if len(parts) == 1:
        return f"{parts[0]}-01-01"
    if len(parts) == 2:
        return f"{parts[0]}-{int(parts[1]):02d}-01"
    return bound


def last_day(bound: str) -> str:
    parts = [int(p) for p in bound.split("-")]
    if len(parts) == 1:
        return f"{parts[0]:04d}-12-31"
    if len(parts) == 2:
        return f"{parts[0]:04d}-{parts[1]:02d}-{calendar.monthrange(parts[0], parts[1])[1]:02d}"
    return bound


def _period_label(bound: str, lang: str) -> str:
    parts = bound.split("-")
    if len(parts) == 2:
        months = catalogue(lang).get("months") or catalogue("en")["months"]
        return f"{months[int(parts[1]) - 1]} {parts[0]}"
    return bound


def date_label(date_from: str | None, date_to: str | None, lang: str) -> str:
    if date_from and date_to:
        if date_from == date_to:
            return _period_label(date_from, lang)
        return f"{_period_label(date_from, lang)} – {_period_label(date_to, lang)}"
    if date_from:
        return t(lang, "filter_since", date=_period_label(date_from, lang))
    return t(lang, "filter_until", date=_period_label(date_to, lang))


@lru_cache(maxsize=4096)
def month_number(word: str, lang: str) -> int | None:
    """The month a word names in `lang` (März, mars, марта, February), read by dateparser; Russian
    months after "в" (в феврале) are tried in the genitive dateparser knows (февраля)."""
    import dateparser

    w = word.rstrip(".")
    if not w.isalpha() or len(w) < 3:
        return None
    tries = [w]
    if lang == "ru" and w.lower().endswith("е"):
        tries += [w[:-1] + "я", w[:-1] + "а"]
    for attempt in tries:
        found = dateparser.parse(attempt, languages=[lang], settings={"RETURN_TIME_AS_PERIOD": False,
                                                                      "REQUIRE_PARTS": ["month"]})
        if found is not None and not any(ch.isdigit() for ch in attempt):
            return found.month
    return None


def load_date_languages(languages: list[str]) -> None:
    """Load dateparser's data for these languages now (0.05-0.25 s each on first use), so that the
    first question naming a month in one of them does not pay for it."""
    import dateparser

    for lang in languages:
        try:
            dateparser.parse("2020", languages=[lang])
        except ValueError:  # a language dateparser does not know: its questions read no month names
            continue


@dataclass
class _DateExpr:
    end: int  # index of the token after the expression
    start: str | None  # bounds as precise as said
    last: str | None
    has_year: bool = True
    month: int | None = None
    day: int | None = None


def _date_expr(toks: list[str], i: int, lang: str, today: date) -> _DateExpr | None:
    """A date expression starting at token i: an ISO or dotted date, a year, [day] month [year],
    month day [year] (English), or a relative period dateparser reads ("last week", "förra månaden")."""
    if i >= len(toks):
        return None
    w = toks[i].rstrip(".") if not _DOTTED.match(toks[i]) else toks[i]
    if w.lower() == "the" and i + 2 < len(toks) and toks[i + 1].lower() == "year":  # in the year 2020
        i, w = i + 1, toks[i + 1]
    if w.lower() in _YEAR_WORD and i + 1 < len(toks) and _YEAR.match(toks[i + 1].rstrip(".")):  # im Jahr 2024
        i, w = i + 1, toks[i + 1].rstrip(".")
    m = _ISO.match(w)
    if m and (m.group(2) or _YEAR.match(m.group(1))):
        y, mo, d = int(m.group(1)), m.group(2), m.group(3)
        try:
            if d:
                return _DateExpr(_skip_year_word(toks, i + 1), *(2 * [date(y, int(mo), int(d)).isoformat()]))
            if mo and 1 <= int(mo) <= 12:
                return _DateExpr(i + 1, *(2 * [f"{y:04d}-{int(mo):02d}"]))
        except ValueError:
            return None
        if not mo and _YEAR.match(w):
            return _DateExpr(_skip_year_word(toks, i + 1), w, w)
        return None
    m = _DOTTED.match(w)
    if m:
        try:
            day = date(int(m.group(3)), int(m.group(2)), int(m.group(1))).isoformat()
        except ValueError:
            return None
        return _DateExpr(i + 1, day, day)
    day = None
    j = i
    dm = _DAY.match(w)
    if dm and j + 1 < len(toks) and month_number(toks[j + 1], lang):
        day, j = int(dm.group(1)), j + 1
    month = month_number(toks[j], lang) if toks[j][:1].isalpha() else None
    if month and lang == "en" and not toks[j][0].isupper():
        month = None  # "may" the verb; English months are capitalised
    if month:
        j += 1
        if day is None and lang == "en" and j < len(toks) and _DAY.match(toks[j].rstrip(",")) \
                and not _YEAR.match(toks[j].rstrip(",")):  # January 15
            day, j = int(_DAY.match(toks[j].rstrip(",")).group(1)), j + 1
        year = None
        if j < len(toks) and _YEAR.match(toks[j].rstrip(".,")):
            year, j = int(toks[j].rstrip(".,")), _skip_year_word(toks, j + 1)
        has_year = year is not None
        if year is None:  # the most recent such month (or day) up to today
            year = today.year if (month, day or 1) <= (today.month, today.day) else today.year - 1
        try:
            if day:
                d = date(year, month, day).isoformat()
                return _DateExpr(j, d, d, has_year, month, day)
        except ValueError:
            return None
        b = f"{year:04d}-{month:02d}"
        return _DateExpr(j, b, b, has_year, month)
    return None


def _skip_year_word(toks: list[str], j: int) -> int:
    return j + 1 if j < len(toks) and toks[j].lower().rstrip(".") in _YEAR_WORD else j


def _relative(phrase: str, lang: str, today: date) -> tuple[str, str] | None:
    """A relative period as bounds: the week (Monday to Sunday), month or year dateparser reads."""
    from datetime import datetime

    from dateparser.date import DateDataParser

    reader = DateDataParser(languages=[lang], settings={"RELATIVE_BASE": datetime(today.year, today.month, today.day),
                                                        "PREFER_DATES_FROM": "past"})
    found = reader.get_date_data(phrase)
    if found.date_obj is None:
        found = reader.get_date_data(" ".join(phrase.split()[-2:]))
    if found.date_obj is None:
        return None
    d = found.date_obj.date()
    if found.period == "year":
        return str(d.year), str(d.year)
    if found.period == "month":
        b = f"{d.year:04d}-{d.month:02d}"
        return b, b
    if found.period == "week":
        monday = d - timedelta(days=d.weekday())
        return monday.isoformat(), (monday + timedelta(days=6)).isoformat()
    return None


def _with_year(expr: _DateExpr, year: int) -> _DateExpr:
    if expr.month is None:
        return expr
    b = f"{year:04d}-{expr.month:02d}" + (f"-{expr.day:02d}" if expr.day else "")
    return replace(expr, start=b, last=b, has_year=True)


def parse_bound(value: str, lang: str | None, today: date) -> str | None:
    """An explicit date bound: 2024, 2024-03, 2024-03-15, 15.03.2024, or words ("März 2024")."""
    toks = _TOKEN.findall(value.strip()) or [value.strip()]
    for code in dict.fromkeys([lang or "en", "en", "de", "sv", "ru"]):
        expr = _date_expr(toks, 0, code, today)
        if expr is not None and expr.end == len(toks):
            return expr.start
    return None


# -- collections ----------------------------------------------------------------------------------------
def _key(word: str) -> str:
    key = phonetic(word)
    return "euro" + key[4:] if key.startswith("evro") else key  # Евро- transliterates as evro-


def _subsequence(short: str, long: str) -> bool:
    it = iter(long)
    return all(ch in it for ch in short)


class Collections:
    """The index's collections: the first folder of each file under the files' common root
    (bundestag-de, europarl-en …), computed once per generation."""

    def __init__(self):
        self._by_gen: dict[str, tuple[list[str], list[tuple[str, str]]]] = {}

    def of(self, store: StoreReader) -> tuple[list[str], list[tuple[str, str]]]:
        if store.name not in self._by_gen:
            sources = store.sources()
            names: list[str] = []
            if len(sources) > 1:
                # the common folder of all sources is that of the first and last in sorted order
                # (string work only: os.path.relpath over 150k sources took 4.6 s)
                root = os.path.commonpath([min(sources), max(sources)])
                seen: set[str] = set()
                for s in sources:
                    head, sep, _ = s[len(root):].lstrip(os.sep).partition(os.sep)
                    if sep and head not in seen:
                        seen.add(head)
                        names.append(head)
            keys = [(_key(tok), name) for name in names for tok in re.split(r"[-_.\s]+", name)
                    if tok.isalpha() and len(tok) >= 5]
            self._by_gen = {store.name: (names, keys)}
        return self._by_gen[store.name]

    def named(self, store: StoreReader, word: str, following: str | None = None) -> list[str]:
        """Collections a word of the question names ("Бундестаге" → bundestag-de; "European
        Parliament" → europarl-en)."""
        _, keys = self.of(store)
        tries = [_key(word)] + ([_key(word + following)] if following else [])
        out = []
        for key, name in keys:
            for k in tries:
                if k.startswith(key) or (len(k) >= len(key) and k[:4] == key[:4] and _subsequence(key[4:], k[4:])):
                    out.append(name)
                    break
        return list(dict.fromkeys(out))

    def resolve(self, store: StoreReader, value: str) -> tuple[str, ...]:
        """An explicit --source: a collection or any folder or file name in the indexed paths (any
        case), or a relative path, as the store's filter expects it."""
        value = value.strip().strip("/")
        if "/" in value:
            return (value,)
        for s in store.sources():
            for part in s.split("/"):
                if part.lower() == value.lower():
                    return (part,)
        return (value,)


# -- the parser -----------------------------------------------------------------------------------------
class FilterReader:
    """Reads a question's filters against one index generation (speakers and collections cached per
    generation)."""

    def __init__(self, speakers: SpeakerNames, languages: list[str]):
        self.speakers = speakers
        self.collections = Collections()
        self.languages = languages

    def read(self, store: StoreReader, question: str, lang: str, request: FilterRequest | None = None,
             today: date | None = None) -> QuestionFilters:
        today = today or date.today()
        text, options = split_options(question)
        req = _merge(request, options)
        spans: list[tuple[int, int]] = []
        asked: list[str] = []
        speakers, speaker = (), None
        date_from = date_to = None
        sources: tuple[str, ...] = ()
        langs: tuple[str, ...] = ()
        if req.speaker:
            speakers, speaker = self._resolve_speaker(store, req.speaker)
        unread = []
        if req.date_from:
            date_from = parse_bound(req.date_from, lang, today)
            if date_from is None:
                unread.append(req.date_from)
        if req.date_to:
            date_to = parse_bound(req.date_to, lang, today)
            if date_to is None:
                unread.append(req.date_to)
        if req.source:
            sources = self.collections.resolve(store, req.source)
        if req.language:
            langs = (req.language.strip().lower(),)
        toks = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
        # a date qualifies the saying only in a question that asks what was said (a verb of saying): in
        # "How large was the trade turnover in 2024?" or "According to Zakharova, what derailed the
        # talks in 2022?" it is what is asked about
        says = lang in _SAID and re.search(_SAID[lang], text, re.IGNORECASE) is not None
        if lang in _IN:
            if date_from is None and date_to is None and says:
                found = _dates(toks, lang, today, text)
                if found:
                    date_from, date_to, span = found
                    spans.append(span)
                    asked.append("date")
            if not req.source:
                found_src = self._source(store, toks, lang, spans)
                if found_src:
                    sources, span = found_src
                    spans.append(span)
                    asked.append("source")
            if not req.language:
                found_lang = self._language(toks, text, lang, spans)
                if found_lang:
                    langs, span = found_lang
                    spans.append(span)
                    asked.append("language")
        rest = _cut(text, spans) if spans or text != question else question
        if not req.speaker and lang in _SAID:
            named = self._speaker(store, rest, lang)
            if named:
                speakers, speaker = named
                asked.append("speaker")
        if not any(ch.isalnum() for ch in rest):  # nothing but filters: search for the speaker's words
            rest = speaker or question
        known = set(store.speakers()) if speakers else set()  # (only when there is a speaker filter)
        titled = tuple(dict.fromkeys(n.split()[-1] for n in speakers if n in known and len(n.split()[-1]) >= 4))
        return QuestionFilters(rest, speakers, speaker, date_from, date_to, sources, langs, tuple(asked),
                               tuple(unread), titled)

    def _resolve_speaker(self, store: StoreReader, value: str) -> tuple[tuple[str, ...], str]:
        stored = store.speakers()
        exact = [s for s in stored if s.lower() == value.strip().lower()]
        if exact:
            return tuple(exact), exact[0]
        named = sorted(self.speakers.named_in(store, value))
        if named:
            return tuple(named), _display(named)
        return (value.strip(),), value.strip()

    def _speaker(self, store: StoreReader, text: str, lang: str) -> tuple[tuple[str, ...], str] | None:
        attributed = re.search(_ATTRIBUTION[lang], text, re.IGNORECASE)
        if attributed:  # "…, enligt Lavrov?", "according to Ambassador Stepanov": the one named after it
            after = re.split(r"[,;:?!]", text[attributed.end():])[0]
            named = sorted(n for n in self.speakers.named_in(store, after) if len(n.split()) >= 2)
            if named:
                return tuple(named), _display(named)
        if not re.search(_SAID[lang], text, re.IGNORECASE):
            return None
        words = text.split()
        about = next((i for i, w in enumerate(words) if w.lower().strip("?,.!:;") in _ABOUT[lang] and i > 0), None)
        head = " ".join(words[:about]) if about is not None else text
        # people, not roles: a speaker recorded by one word ("President", "Präsident") is no filter
        named = sorted(n for n in self.speakers.named_in(store, head) if len(n.split()) >= 2)
        if not named:
            return None
        return tuple(named), _display(named)

    def _source(self, store: StoreReader, toks, lang: str, taken) -> tuple[tuple[str, ...], tuple[int, int]] | None:
        for i, (w, start, _) in enumerate(toks):
            if w.lower() not in _SOURCE_PREP[lang] or _inside(start, taken):
                continue
            j = i + 1
            if j < len(toks) and toks[j][0].lower() in _ARTICLES:
                j += 1
            if j >= len(toks) or not toks[j][0][:1].isalpha():
                continue
            following = toks[j + 1][0].rstrip(".") if j + 1 < len(toks) else None
            names = self.collections.named(store, toks[j][0].rstrip("."))
            end = toks[j][2]
            if not names and following:
                names = self.collections.named(store, toks[j][0].rstrip("."), following)
                end = toks[j + 1][2]
            if names:
                return tuple(names), (start, end)
        return None

    def _language(self, toks, text: str, lang: str, taken) -> tuple[tuple[str, ...], tuple[int, int]] | None:
        for i, (w, start, _) in enumerate(toks[:-1]):
            if w.lower() not in _LANG_PREP[lang] or _inside(start, taken):
                continue
            word, _, end = toks[i + 1]
            for code in self.languages:
                name = language_name(code, lang).lower()
                hit = word.lower().startswith(name[:-2]) if lang == "ru" else word.lower().rstrip(".") == name
                if not hit:
                    continue
                k = i + 2
                if k < len(toks) and toks[k][0].lower() in _LANG_WORD:
                    end, k = toks[k][2], k + 1
                after = text[end:].lstrip()
                if k >= len(toks) or after[:1] in "?.!,;:" or toks[k][0].lower() in _ABOUT[lang] \
                        or re.match(_SAID[lang], after, re.IGNORECASE):
                    return (code,), (start, end)
        return None


def _display(names: list[str]) -> str:
    """The spelling shown for a speaker stored under several: the fullest, in Latin letters if any."""
    return sorted(names, key=lambda n: (not n.isascii(), -len(n.split()), -len(n), n))[0]


def _inside(pos: int, spans) -> bool:
    return any(a <= pos < b for a, b in spans)


def _dates(toks, lang: str, today: date, text: str) -> tuple[str | None, str | None, tuple[int, int]] | None:
    words = [w for w, _, _ in toks]
    low = [w.lower() for w in words]
    for i, w in enumerate(low):
        if w in _FROM[lang]:  # from X to Y
            a = _date_expr(words, i + 1, lang, today)
            if a and a.end < len(words) and low[a.end] in _TO[lang]:
                b = _date_expr(words, a.end + 1, lang, today)
                if b:
                    if not a.has_year and b.has_year and a.month:
                        a = _with_year(a, int(b.start[:4]) - (1 if (a.month, a.day or 1) > (b.month or 12, b.day or 1) else 0))
                    return a.start, b.last, (toks[i][1], toks[b.end - 1][2])
        if w in _SINCE[lang]:
            a = _date_expr(words, i + 1, lang, today)
            if a:
                return a.start, None, (toks[i][1], toks[a.end - 1][2])
        if w in _UNTIL[lang] or w in _BEFORE[lang]:
            a = _date_expr(words, i + 1, lang, today)
            if a:
                if w in _BEFORE[lang] and w not in _UNTIL[lang]:
                    return None, (date.fromisoformat(first_day(a.start)) - timedelta(days=1)).isoformat(), \
                        (toks[i][1], toks[a.end - 1][2])
                return None, a.last, (toks[i][1], toks[a.end - 1][2])
        if w in _IN[lang]:
            a = _date_expr(words, i + 1, lang, today)
            if a:
                return a.start, a.last, (toks[i][1], toks[a.end - 1][2])
    rel = re.search(_RELATIVE[lang], text, re.IGNORECASE)
    if rel:
        bounds = _relative(rel.group(), lang, today)
        if bounds:
            return bounds[0], bounds[1], rel.span()
    # a bare year closing the question ("Vad sa Lavrov om vapenvila 2024?"), unless it is a topic
    if len(words) >= 3 and _YEAR.match(words[-1].rstrip(".")) and low[-2] not in _NOT_AFTER[lang] \
            and not low[-2].isdigit():
        y = words[-1].rstrip(".")
        return y, y, (toks[-1][1], toks[-1][2])
    return None


def _cut(text: str, spans: list[tuple[int, int]]) -> str:
    out, at = [], 0
    for a, b in sorted(spans):
        out.append(text[at:a])
        at = max(at, b)
    out.append(text[at:])
    joined = re.sub(r"\s+", " ", "".join(out)).strip()
    return re.sub(r"\s+([?.!,;:])", r"\1", joined)


def split_options(question: str) -> tuple[str, FilterRequest]:
    """`speaker:Lavrov from:2024-01 to:"March 2024" source:bundestag-de lang:sv` taken out of a question."""
    found: dict[str, str] = {}

    def take(m: re.Match) -> str:
        key = m.group(1).lower()
        value = next(g for g in m.groups()[1:] if g is not None)
        found[{"from": "date_from", "to": "date_to", "lang": "language"}.get(key, key)] = value
        return " "

    if ":" not in question:
        return question, FilterRequest()
    text = _OPTION.sub(take, question)
    if not found:
        return question, FilterRequest()
    return re.sub(r"\s+", " ", text).strip(), FilterRequest(**found)


def _merge(explicit: FilterRequest | None, options: FilterRequest) -> FilterRequest:
    if explicit is None or explicit.empty:
        return options
    return FilterRequest(**{k: getattr(explicit, k) or getattr(options, k)
                            for k in ("speaker", "date_from", "date_to", "source", "language")})
