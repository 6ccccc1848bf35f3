"""Text normalisation for matching: case, punctuation, typographic quotes, whitespace, diacritics;
and language-aware stemming (Snowball, through PyStemmer) for the full-text side."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

_STEMMERS = {
    "en": "english", "sv": "swedish", "ru": "russian", "de": "german", "fr": "french", "es": "spanish",
    "it": "italian", "nl": "dutch", "pt": "portuguese", "fi": "finnish", "da": "danish", "nb": "norwegian",
    "no": "norwegian", "pl": "polish", "uk": "russian", "cs": "czech", "tr": "turkish", "ro": "romanian",
    "hu": "hungarian", "el": "greek", "ar": "arabic", "et": "estonian", "lt": "lithuanian", "ca": "catalan",
}
_WORD = re.compile(r"\w+", re.UNICODE)


def fold(text: str) -> str:
    """Lower case without diacritics (ё→е, ä→a) and with compatibility forms unified."""
    text = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def normalize(text: str) -> str:
    """Words only, folded, single-spaced: 'It’s  “Fine”,' → 'it s fine'."""
    return " ".join(_WORD.findall(fold(text)))


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


@lru_cache(maxsize=None)
def _stemmer(lang: str):
    name = _STEMMERS.get(lang or "")
    return Stemmer.Stemmer(name) if name else None


def stems(text: str, lang: str | None) -> list[str]:
    """Folded words reduced to their stems in `lang` (words unchanged for a language without a stemmer)."""
    tokens = words(text)
    stemmer = _stemmer(lang or "")
    return stemmer.stemWords(tokens) if stemmer else tokens
