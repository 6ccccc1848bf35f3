"""Language detection (lingua), restricted to a configured set of languages, answering ISO 639-1.

Used for documents at ingest and for users' questions. Short texts (questions) get lingua's
high-accuracy mode, the one that copes with a few words; long texts (documents) its low-accuracy
mode, which is as good there and much faster to load. Detectors are built once per language set
and cached; language models load lazily and stay loaded. (The high-accuracy models of the fourteen
default languages are about 300 MB of a serving process. Reading short texts in low-accuracy mode
first, and in high-accuracy mode over its three best candidates only when it was unsure, was
measured and dropped: right on all 206 dev questions, but surely wrong on short ones such as "Vad sa
Lavrov om vapenvila?", Portuguese at 0.985, Swedish not among its three best.)
"""
from __future__ import annotations

import re
import threading
from functools import lru_cache

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

# Below this confidence a caller's hint (the channel's or the index's language) wins.
UNSURE = 0.5
SAMPLE_CHARS = 2000
# From this length on, lingua's low-accuracy mode (trigrams only: fast to load and to run) is as
# good as the full mode; short texts such as questions always get the full mode.
LONG_TEXT = 120

_LETTER = re.compile(r"[^\W\d_]")
_lock = threading.Lock()


def _language(code: str) -> Language | None:
    code = (code or "").strip().lower()
    if code == "no":
        code = "nb"
    iso = getattr(IsoCode639_1, code.upper(), None)
    if iso is None or len(code) != 2:
        return None
    try:
        return Language.from_iso_code_639_1(iso)
    except (ValueError, TypeError):
        return None


@lru_cache(maxsize=16)
def _detector(codes: tuple[str, ...], low_accuracy: bool = False) -> LanguageDetector | None:
    langs = [lang for lang in (_language(c) for c in codes) if lang is not None]
    langs = list(dict.fromkeys(langs))
    if len(langs) < 2:
        return None
    builder = LanguageDetectorBuilder.from_languages(*langs)
    if low_accuracy:
        builder = builder.with_low_accuracy_mode()
    return builder.build()


def _code(lang: Language) -> str:
    return lang.iso_code_639_1.name.lower()


def normalize_code(code: str | None) -> str | None:
    """'EN', 'en-GB', 'sv_SE', 'no' → ISO 639-1 ('en', 'sv', 'nb'); None if not a language code."""
    if not code:
        return None
    raw = str(code).strip()
    base = re.split(r"[-_]", raw.lower())[0]
    if base == "no":
        base = "nb"
    if _language(base) is not None:
        return base
    lang = getattr(Language, raw.upper(), None)  # "english", "Swedish" (Whisper writes names)
    if isinstance(lang, Language):
        return _code(lang)
    return None


def detect_language(
    text: str, allowed: list[str], hint: str | None = None, accurate: bool | None = None
) -> tuple[str | None, float]:
    """(ISO 639-1 code, confidence 0..1) of `text` among `allowed`.

    Only the first SAMPLE_CHARS characters are looked at. When the detector is unsure (confidence
    below UNSURE) and `hint` is an allowed language, the hint wins. `accurate` picks lingua's mode
    (default: the high-accuracy mode for texts shorter than LONG_TEXT, the fast one otherwise). Text without letters gives
    (hint, 0.0) (hint may be None).
    """
    codes = tuple(sorted({c for c in (normalize_code(a) for a in allowed or []) if c}))
    hint = normalize_code(hint)
    if hint is not None and hint not in codes:
        hint = None
    sample = (text or "")[:SAMPLE_CHARS]
    if not codes or not _LETTER.search(sample):
        return hint, 0.0
    if len(codes) == 1:
        return codes[0], 1.0
    if accurate is None:
        accurate = len(sample) < LONG_TEXT
    detector = _detector(codes, not accurate)
    if detector is None:
        return hint or codes[0], 0.0
    with _lock:  # model loading is lazy; keep it to one thread
        values = detector.compute_language_confidence_values(sample)
    if not values:
        return hint, 0.0
    best_code, best = _code(values[0].language), float(values[0].value)
    if hint and best < UNSURE and hint != best_code:
        hint_value = next((float(v.value) for v in values if _code(v.language) == hint), 0.0)
        return hint, hint_value
    return best_code, best


def load_names(codes: list[str]) -> None:
    """Every name `language_name` may give between these languages, now (a server's warm-up: the first
    name read from a locale costs 3-50 ms)."""
    for in_lang in codes:
        for code in codes:
            language_name(code, in_lang)


@lru_cache(maxsize=512)
def language_name(code: str | None, in_lang: str | None = "en") -> str | None:
    """The name of language `code` written in `in_lang` ("fi", "sv" → "finska"), from CLDR data
    (Babel, which reads one locale's file at a time: 25 MB in a serving process, where langcodes'
    table of every language's name in every language took 340 MB; the same names for the fourteen
    default languages in each other's); None for an unknown code. An unknown `in_lang` gives English."""
    if not code:
        return None
    from babel import Locale, UnknownLocaleError

    try:
        target = Locale.parse(code.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None
    try:
        where = Locale.parse((in_lang or "en").replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        where = Locale.parse("en")
    return where.languages.get(str(target)) or target.get_display_name(where)
