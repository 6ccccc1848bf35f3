"""The answer's own words, one YAML file per language. Adding a language is adding a file."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from index.language import language_name as cldr_name

FALLBACK = "en"
_DIR = Path(__file__).parent


@lru_cache(maxsize=1)
def available() -> tuple[str, ...]:
    """The catalogue's own list of languages: the YAML files beside this module."""
    return tuple(sorted(p.stem for p in _DIR.glob("*.yaml")))


def catalogue(lang: str | None) -> dict:
    """The messages of `lang`; {} for a language not in `available()` (a code is never made into a path)."""
    return _load(lang) if lang in available() else {}


@lru_cache(maxsize=None)
def _load(lang: str) -> dict:
    return yaml.safe_load((_DIR / f"{lang}.yaml").read_text(encoding="utf-8")) or {}


def t(lang: str | None, key: str, **kwargs) -> str:
    """The message `key` in `lang`, falling back to English for a language or key not translated."""
    text = catalogue(lang or FALLBACK).get(key) or catalogue(FALLBACK)[key]
    return text.format(**kwargs) if kwargs else text


def language_name(code: str | None, in_lang: str | None) -> str:
    """Name of language `code`, written in `in_lang` (CLDR's, so any language has one; a catalogue
    needs no list of them), else in English, else the code."""
    if not code:
        return "?"
    return cldr_name(code, in_lang or FALLBACK) or cldr_name(code, FALLBACK) or code
