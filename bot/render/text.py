"""Answers as plain text (the `answer` field of `ask --json`) and for a terminal, and the one sanitiser
for anything printed on a terminal from the index (quotes, titles, file names), on a tty or piped."""
from __future__ import annotations

import json
import re

from bot.answer.types import Answer
from bot.messages import t

from . import headline_key
from .citation import citation, plain
from bot.factcheck.notes import difference_lines

# Escape sequences, 7-bit and 8-bit: CSI (cursor, colours, clear screen), OSC (window title, hyperlinks),
# DCS/SOS/PM/APC strings, and two-character escapes.
_SEQUENCES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"  # CSI … final byte
    r"|(?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC/DCS/SOS/PM/APC … terminator
    r"|\x1b[ -/]*[0-~]?"  # other escapes (ESC c resets the terminal)
)
# What remains that a terminal acts on or that changes how text reads: C0 and C1 controls (but newline and
# tab), DEL, and the bidirectional controls (embeddings, overrides, isolates, marks).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe_text(text: str) -> str:
    """`text` with every escape sequence, control character (but newline and tab) and bidi control removed."""
    return _CONTROLS.sub("", _SEQUENCES.sub("", text))


def safe_json(obj) -> str:
    """One line of JSON with the characters `safe_text` removes written as \\u escapes: the same values
    once parsed, nothing a terminal acts on when printed."""
    return _CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(obj, ensure_ascii=False))


def answer_text(answer: Answer) -> str:
    """The whole answer as text: notes, the headline, each quote in quotation marks with its citation
    (and, for a looked-up quote, its other-language versions)."""
    lang = answer.language
    lines = list(answer.notes) + [t(lang, headline_key(answer))]
    for q in answer.quotes:
        lines += ["", f"“{q.text}”", f"— {plain(citation(q, lang))}", *difference_lines(q, lang)]
        if answer.kind == "quote":
            lines += [f"   {t(lang, 'versions')}: “{v.text}” — {plain(citation(v, lang))}" for v in q.versions]
    return "\n".join(lines)


def terminal_text(answer: Answer) -> str:
    """The answer for a terminal: quotes as block quotes, citations under them, versions indented;
    sanitised."""
    lang = answer.language
    out = list(answer.notes) + [t(lang, headline_key(answer))]
    for q in answer.quotes:
        out.append("")
        out.extend("> " + line for line in q.text.splitlines())
        out.append("  — " + plain(citation(q, lang)))
        out.extend("  " + line for line in difference_lines(q, lang))
        for v in q.versions:
            first, *rest = v.text.splitlines() or [""]
            out.append(f"    [{v.language}] {first}")
            out.extend(f"         {line}" if line.strip() else "" for line in rest)
    return safe_text("\n".join(out))
