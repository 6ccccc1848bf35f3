"""Word-level comparison of a claimed quote with the record (difflib over folded words).

The record's words keep their character offsets, so the part of the record a claim corresponds to is
a slice of the stored text; the comparison is over folded words (case, diacritics, punctuation and
quote marks aside), the operations show the words as written.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from index.textnorm import fold

_WORD = re.compile(r"\w+", re.UNICODE)
REGION_PAD = 3  # words of the record considered on each side of the best character alignment


@dataclass(frozen=True)
class Word:
    norm: str  # folded
    text: str  # as written
    start: int  # offsets in the text the words were taken from
    end: int


def tokenize(text: str, offset: int = 0) -> list[Word]:
    out = []
    for m in _WORD.finditer(text):
        norm = fold(m.group())
        out.append(Word(norm, m.group(), offset + m.start(), offset + m.end()))
    return out


@dataclass(frozen=True)
class Op:
    """One step from the claim to the record: equal, replace (claim words -> record words), insert (words
    only the claim has), delete (words only the record has)."""

    op: str
    claim: str
    record: str

    def to_json(self) -> dict:
        return {"op": self.op, "claim": self.claim, "record": self.record}


@dataclass
class Alignment:
    """The claim against the part of a record window it corresponds to."""

    ops: list[Op]
    matched: int  # claim words found on record, in order
    claim_words: int
    start: int | None  # the record part's offsets (None: nothing matched)
    end: int | None
    record_words: list[Word] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.matched / self.claim_words if self.claim_words else 0.0

    @property
    def exact(self) -> bool:
        return self.claim_words > 0 and self.matched == self.claim_words and all(o.op == "equal" for o in self.ops)

    @property
    def edits(self) -> int:
        return sum(1 for o in self.ops if o.op != "equal")


def _join(words: list[Word]) -> str:
    return " ".join(w.text for w in words)


def align(claim: list[Word], record: list[Word]) -> Alignment:
    """Where in `record` (a window of whole sentences) the claim best fits, and the word operations that
    turn the claim into those record words. The region is found by rapidfuzz's best partial alignment
    of the folded strings, widened by REGION_PAD words, then trimmed to the claim by difflib."""
    if not claim or not record:
        return Alignment([Op("insert", _join(claim), "")] if claim else [], 0, len(claim), None, None)
    c_norm = " ".join(w.norm for w in claim)
    r_norm = " ".join(w.norm for w in record)
    al = fuzz.partial_ratio_alignment(c_norm, r_norm)
    # record word indices overlapping the aligned characters
    pos, spans = 0, []
    for w in record:
        spans.append((pos, pos + len(w.norm)))
        pos += len(w.norm) + 1
    hit = [i for i, (a, b) in enumerate(spans) if a < al.dest_end and al.dest_start < b] or [0]
    lo, hi = max(0, hit[0] - REGION_PAD), min(len(record), hit[-1] + 1 + REGION_PAD)
    region = record[lo:hi]
    sm = difflib.SequenceMatcher(None, [w.norm for w in claim], [w.norm for w in region], autojunk=False)
    codes = sm.get_opcodes()
    # the region's words before the claim's first and after its last are not part of the comparison
    # (difflib's "insert": words only the record has)
    while codes and codes[0][0] == "insert":
        codes = codes[1:]
    while codes and codes[-1][0] == "insert":
        codes = codes[:-1]
    if codes and codes[0][0] == "replace":  # keep only as many record words as the claim has there
        tag, i1, i2, j1, j2 = codes[0]
        codes[0] = (tag, i1, i2, max(j1, j2 - (i2 - i1)), j2)
    if codes and codes[-1][0] == "replace":
        tag, i1, i2, j1, j2 = codes[-1]
        codes[-1] = (tag, i1, i2, j1, min(j2, j1 + (i2 - i1)))
    ops, matched = [], 0
    for tag, i1, i2, j1, j2 in codes:
        if tag == "equal":
            matched += i2 - i1
        # difflib edits the claim into the record; the operations say what the claim did to the record
        op = {"delete": "insert", "insert": "delete"}.get(tag, tag)
        ops.append(Op(op, _join(claim[i1:i2]), _join(region[j1:j2])))
    used = [j for tag, i1, i2, j1, j2 in codes if tag != "delete" for j in range(j1, j2)]
    if not used or matched == 0:
        return Alignment([Op("insert", _join(claim), "")], 0, len(claim), None, None)
    words = region[min(used) : max(used) + 1]
    return Alignment(ops, matched, len(claim), words[0].start, words[-1].end, words)
