"""Text normalisation for matching: case, punctuation, typographic quotes, whitespace, diacritics;
language-aware stemming (Snowball, through PyStemmer) for the full-text side; and the mapping of
terminal control characters out of transcript text (`blank_controls`)."""
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
_NAME_TOKEN = re.compile(r"\w[\w-]*")
_CAPITALISED_PAIR = re.compile(r"(?=\b([A-ZÀ-ÞА-ЯЁ][\w-]{2,})[ \t]+([A-ZÀ-ÞА-ЯЁ][\w-]{2,})\b)")

# Terminal escape sequences, 7-bit (ESC-introduced) and 8-bit (C1) forms: CSI ("ESC [ 2 J", colours,
# cursor moves) and the string commands OSC ("ESC ] 0 ; title BEL": window title, hyperlinks,
# clipboard), DCS, SOS, PM and APC up to their terminator (BEL or ST), bounded and on one line so
# that a stray introducer never blanks the text after it; then other two-character ESC sequences.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]{0,4096}(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[ -/]*[0-~]"
)
# Every C0 and C1 control character except TAB and LF, DEL, and lone surrogates (which cannot be stored).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def has_controls(text: str) -> bool:
    return _CONTROL.search(text) is not None


def blank_controls(text: str) -> str:
    """`text` with terminal escape sequences and control characters (all of C0 and C1 but TAB and LF,
    and DEL) replaced by spaces, one space per character, and lone surrogates by U+FFFD: the result
    has the same length, so every offset into `text` still holds, and nothing left in it can drive a
    terminal (clear the screen, set a window title, forge a line)."""
    if not has_controls(text):
        return text
    text = _ESCAPE_SEQUENCE.sub(lambda m: " " * len(m.group(0)), text)
    return _CONTROL.sub(lambda m: "\ufffd" if "\ud800" <= m.group(0) <= "\udfff" else " ", text)


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


def capitalised_words(text: str) -> list[str]:
    """Capitalised words, and pairs of them ("European Parliament": one name in English that is one
    word in Swedish or German, Europaparlamentet): what a name of the question missing by spelling is
    compared with through the model (bot/answer/features.py), embedded at index time
    (index/indexer.py). Pairs never cross a line, so the words of several texts joined by newlines are
    the union of each one's."""
    single = {w for w in _NAME_TOKEN.findall(text) if len(w) >= 3 and w[0].isupper()}
    pairs = {f"{a} {b}" for a, b in _CAPITALISED_PAIR.findall(text)}
    return sorted(single | pairs)
