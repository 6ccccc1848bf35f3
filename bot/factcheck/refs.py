"""Quote references that re-verify: `onrecord://quote/<text hash>/<start>-<end>/<quote hash>?source=<path>`.

- text hash: SHA-256 (first 16 hex digits) of the text the quote's offsets index (the document's
  stored text, for a plain-text file the decoded file text);
- start-end: the quote's character offsets in that text (the JSON contract's `start`/`end`);
- quote hash: SHA-256 (first 16 hex digits) of the quoted words themselves;
- source: the transcript file as indexed (a hint for finding it again; the hashes decide).

A reference carries no words: `verify` can tell whether the words are still at their place, moved,
or gone, but only the record can show them.
"""
from __future__ import annotations

import hashlib
import re
import urllib.parse
from dataclasses import dataclass
from functools import lru_cache

SCHEME = "onrecord"
_PATH = re.compile(r"^/?([0-9a-f]{16})/(\d{1,10})-(\d{1,10})/([0-9a-f]{16})/?$")


class BadRef(ValueError):
    """Not an On Record quote reference (the message says what is wrong)."""


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@lru_cache(maxsize=16)
def text_digest(text: str) -> str:
    """The digest of a document's whole text (cached: the same text object is hashed once)."""
    return digest(text)


@dataclass(frozen=True)
class QuoteRef:
    text_hash: str
    start: int
    end: int
    quote_hash: str
    source: str | None = None

    def __str__(self) -> str:
        uri = f"{SCHEME}://quote/{self.text_hash}/{self.start}-{self.end}/{self.quote_hash}"
        if self.source:
            uri += "?" + urllib.parse.urlencode({"source": self.source})
        return uri

    @property
    def length(self) -> int:
        return self.end - self.start

    def matches(self, text: str, start: int) -> bool:
        """Do the referenced words stand in `text` at `start`?"""
        return digest(text[start : start + self.length]) == self.quote_hash

    @classmethod
    def parse(cls, value: str) -> "QuoteRef":
        value = (value or "").strip().strip("<>")
        try:
            parts = urllib.parse.urlsplit(value)
        except ValueError:
            raise BadRef("not a URI") from None
        if parts.scheme != SCHEME or parts.netloc != "quote":
            raise BadRef(f"not an {SCHEME}://quote/… reference")
        m = _PATH.match(parts.path)
        if not m:
            raise BadRef("expected onrecord://quote/<16 hex>/<start>-<end>/<16 hex>")
        start, end = int(m.group(2)), int(m.group(3))
        if end <= start:
            raise BadRef("end is not after start")
        source = urllib.parse.parse_qs(parts.query).get("source", [None])[0]
        return cls(m.group(1), start, end, m.group(4), source)


def make_ref(document_text: str, start: int, end: int, source: str | None) -> QuoteRef:
    return QuoteRef(text_digest(document_text), start, end, digest(document_text[start:end]), source)
