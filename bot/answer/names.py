"""Is the question answered by what was retrieved? The names in a question must be in the passages.

Dense similarity alone cannot tell "Lavrov on the truce" (answerable) from "Lavrov on Fukushima"
(not in the record): both land near Lavrov's statements. What tells them apart is that a name the
question turns on ("Fukushima", "Svalbard", "FIFA") appears nowhere in the passages found. Names are
compared across scripts and spellings (Лавров / Lawrow / Lavrov) through a transliterated, phonetic
key, then, for names still missing, through the embedding model (Moskau ~ Moscow, Schweizer ~ Swiss).

How close a translated name must be: `AnswerSettings.entity_min_cosine` (index/settings.py).
"""
from __future__ import annotations

import re
from bisect import bisect_left
from functools import lru_cache

from anyascii import anyascii
from rapidfuzz import fuzz, process

_TOKEN = re.compile(r"\w[\w-]*")
# English, German and Swedish spellings of one (often Russian) name: Sacharowa / Zakharova,
# Saporischschja / Zaporizhzhia, Lawrow / Lavrov, Kiew / Kiev.
_PHONETIC = [("sch", "sh"), ("zh", "sh"), ("kh", "h"), ("ch", "h"), ("ph", "f"), ("w", "v"), ("q", "k"),
             ("c", "k"), ("x", "ks"), ("z", "s"), ("y", "i"), ("j", "i")]
# A German capitalised word right after one of these is a common noun ("den Waffenstillstand"), not a
# name: German capitalises every noun. Names rarely take an article; acronyms are kept regardless.
_GERMAN_DETERMINERS = {
    "der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "einem", "einer", "eines",
    "zum", "zur", "im", "am", "vom", "beim", "ins", "welche", "welcher", "welches", "welchen", "welchem",
    "diese", "dieser", "dieses", "diesen", "diesem", "kein", "keine", "keinen", "keinem", "keiner",
    "sein", "seine", "seinen", "seinem", "seiner", "ihr", "ihre", "ihren", "ihrem", "ihrer", "unsere",
    "neue", "neuen", "neuer", "neues",
}


def entities(question: str, lang: str | None = None) -> list[str]:
    """Words a question turns on: capitalised words past the first, and acronyms anywhere (two
    characters are enough for an acronym: "G7", "UN"; common ones are discounted by the caller)."""
    tokens = _TOKEN.findall(question)
    out = []
    for i, tok in enumerate(tokens):
        if not tok[0].isupper() or len(tok) < (2 if tok.isupper() else 3):
            continue
        if lang == "de" and i > 0 and not tok.isupper() and tokens[i - 1].lower() in _GERMAN_DETERMINERS:
            continue
        if i > 0 or (tok.isupper() and len(tok) > 1):
            out.append(tok)
    return list(dict.fromkeys(out))


@lru_cache(maxsize=200_000)  # pure, and every passage word of every candidate passes here
def phonetic(word: str) -> str:
    key = anyascii(word).lower()
    for a, b in _PHONETIC:
        key = key.replace(a, b)
    return re.sub(r"(.)\1+", r"\1", key)


class NameKeys:
    """The phonetic keys of a text's words, kept so that whether a name is present takes a few
    lookups (sorted keys for prefixes, reversed keys for compounds' heads, keys by length for the
    fuzzy match), not a loop over every word: a question checks its names against each of ~80
    candidate passages."""

    def __init__(self, keys: set[str]):
        self.keys = keys
        self.forward = sorted(keys)
        self.backward = sorted(k[::-1] for k in keys)
        self.by_length: dict[int, list[str]] = {}
        for k in self.forward:
            self.by_length.setdefault(len(k), []).append(k)

    def present(self, key: str) -> bool:
        """A word of the text spells the name (its phonetic key): the same key, one starting with most
        of it, one within a few letters of it (fuzzy ratio 80, lengths within 3), or one a compound
        ends with, either way (Außenminister ~ minister, Kraftwerk ~ Kernkraftwerk; six letters or more)."""
        if key in self.keys:
            return True
        prefix = key[: max(4, len(key) - 2)]
        i = bisect_left(self.forward, prefix)
        if i < len(self.forward) and self.forward[i].startswith(prefix):
            return True
        if any(key[-n:] in self.keys for n in range(6, len(key))):  # the name is a compound of a word's
            return True
        if len(key) >= 6:  # a word is a compound of the name
            rev = key[::-1]
            j = bisect_left(self.backward, rev)
            while j < len(self.backward) and self.backward[j].startswith(rev):
                if len(self.backward[j]) > len(key):
                    return True
                j += 1
        near = [w for n in range(len(key) - 3, len(key) + 4) for w in self.by_length.get(n, ())]
        return bool(near) and process.extractOne(key, near, scorer=fuzz.ratio, score_cutoff=80) is not None


@lru_cache(maxsize=4096)  # candidate passages recur from question to question
def name_keys(text: str) -> NameKeys:
    return NameKeys({phonetic(w) for w in _TOKEN.findall(text)})


# Languages whose multi-word names end in a generic capitalised head ("Chagos Islands", "FIFA World
# Cup"): there the words before a found one are the distinctive part, not a first name or a title.
# German and Swedish write such names as one word (Chagos-Inseln, Chagosöarna); Russian lower-cases
# the head (Чагосские острова).
_GENERIC_HEAD_LANGUAGES = {"en"}


def _next_in_name(question: str) -> dict[str, str]:
    """Each capitalised word followed, after spaces only, by another: "Heiko" -> "Maas",
    "Regierungschef" -> "Abdallah" -> "Hamdouk"."""
    tokens = list(_TOKEN.finditer(question))
    return {a.group(): b.group() for a, b in zip(tokens, tokens[1:])
            if a.group()[0].isupper() and b.group()[0].isupper() and not question[a.end() : b.start()].strip()}


def missing_entities(question: str, passages_text: str, lang: str | None = None) -> list[str]:
    """Names of the question that no passage spells (in any script or usual spelling). A word that
    only leads up to a name found ("Regierungschef Abdallah Hamdouk" where the record says
    "Premierminister Hamdok": a title, a first name) is not counted: the name it belongs to was found.
    Not in English ("Chagos Islands"), and never an acronym ("FIFA-Weltmeisterschaft" aside)."""
    return question_names(question, lang).missing(name_keys(passages_text))


class QuestionNames:
    """A question's names worked out once (each candidate passage is checked against them)."""

    def __init__(self, question: str, lang: str | None):
        self.names = entities(question, lang)
        self.keys = {e: [phonetic(p) for p in ([p for p in e.split("-") if len(p) >= 3] or [e])] for e in self.names}
        self.following = {} if lang in _GENERIC_HEAD_LANGUAGES else _next_in_name(question)

    def missing(self, keys: "NameKeys") -> list[str]:
        missing = {e: not all(keys.present(k) for k in self.keys[e]) for e in self.names}
        for e in reversed(self.names):  # the name's last word first: the words before it lean on it
            nxt = self.following.get(e)
            if missing[e] and not e.isupper() and nxt is not None and missing.get(nxt) is False:
                missing[e] = False
        return [e for e, m in missing.items() if m]


@lru_cache(maxsize=1024)
def question_names(question: str, lang: str | None) -> QuestionNames:
    return QuestionNames(question, lang)
