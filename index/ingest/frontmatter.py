"""YAML front matter at the top of a text or Markdown file:

    ---
    title: Press conference
    speaker: Jane Doe
    date: 2024-12-25
    language: en
    url: https://example.org/pc
    ---

The block is metadata (it overrides what was extracted); the document starts after it, and all
offsets still index the whole file text.
"""
from __future__ import annotations

import re

import yaml

_OPEN = re.compile(r"\A\ufeff?---[ \t]*\n")
_CLOSE = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.MULTILINE)


def split_front_matter(text: str) -> tuple[dict, int]:
    """(metadata, offset where the body starts). ({}, 0) when there is no valid front matter."""
    m = _OPEN.match(text)
    if not m:
        return {}, 0
    close = _CLOSE.search(text, m.end())
    if not close:
        return {}, 0
    block = text[m.end() : close.start()]
    try:
        data = yaml.safe_load(block) if block.strip() else {}
    except yaml.YAMLError:
        return {}, 0
    if not isinstance(data, dict):
        return {}, 0
    body = close.end()
    if body < len(text) and text[body] == "\n":
        body += 1
    return {str(k).lower(): v for k, v in data.items()}, body
