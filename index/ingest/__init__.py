"""Ingest: one transcript file → Documents with exact text, metadata and quotable segments.

    parse_file(path, source=None, languages=None, max_bytes=50 MiB, sidecars=True, root=None)
    parse_bytes(data, path, source=None, languages=None, sidecars=True, root=None, fmt=None)

`parse_bytes` parses bytes already read (the indexer reads a file once, hashes those bytes and
parses the same bytes); `parse_file` reads the file, then does the same.

The formats live in `formats/`, one module each, chosen by suffix and then by content (see
`formats/__init__.py`). Every format's text goes through the same steps: decoding (encoding.py:
UTF-8, UTF-16, legacy encodings; binary files and files with NUL characters are refused),
terminal control characters mapped to spaces before any offset is computed
(`textnorm.blank_controls`: the text keeps its length, so offsets stay exact), parsing, language
detection, then metadata from YAML front matter (formats that honour it) and a sidecar manifest
(sidecar.py) overriding what was extracted. A file that cannot be indexed raises SkipFile with a
short reason.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..document import Document
from ..errors import SkipFile
from ..language import detect_language, normalize_code
from ..textnorm import blank_controls, has_controls
from . import formats
from .common import collapse, trim
from .dates import normalize_date
from .encoding import decode_bytes, read_bytes
from .frontmatter import split_front_matter
from .sidecar import find_sidecar

DEFAULT_MAX_BYTES = 50 * 2**20
LANGUAGE_SAMPLE = 1000

__all__ = ["parse_file", "parse_bytes"]


def _default_languages() -> list[str]:
    try:
        from ..settings import get_settings

        return list(get_settings().languages)
    except Exception:  # settings unavailable (e.g. a bad .env): fall back to the built-in list
        from ..settings import DEFAULT_LANGUAGES

        return list(DEFAULT_LANGUAGES)


def _sample(doc: Document) -> str:
    """Text for language detection: LANGUAGE_SAMPLE characters of the segments' text, taken from
    its beginning, middle and end (an opening that is all names and numbers misleads), plus the
    title when the text is short."""
    spans = [(s.start, s.end) for s in doc.segments]
    total = sum(e - b for b, e in spans)
    if total <= LANGUAGE_SAMPLE:
        sample = "\n".join(doc.text[b:e] for b, e in spans)
        if len(sample) < 200 and doc.title and doc.title not in sample:
            sample = doc.title + "\n" + sample
        return sample
    window = LANGUAGE_SAMPLE // 3
    parts = []
    for k in range(3):
        want = (total - window) * k // 2  # offset into the concatenated segment text
        pos = 0
        for b, e in spans:
            if pos + (e - b) > want:
                start = b + max(0, want - pos)
                piece = doc.text[start : min(e, start + window)]
                # extend into the following segments when this one ends early
                rest = window - len(piece)
                parts.append(piece)
                if rest > 0:
                    for b2, e2 in spans[spans.index((b, e)) + 1 :]:
                        parts.append(doc.text[b2 : min(e2, b2 + rest)])
                        rest -= min(e2 - b2, rest)
                        if rest <= 0:
                            break
                break
            pos += e - b
    return "\n".join(parts)[: LANGUAGE_SAMPLE + 10]


def _is_person(value: str) -> bool:
    """A speaker value that names someone: not 'multiple (…)', 'various', 'n/a', 'Answer', 'Q'."""
    from .names import ANSWER_LABELS, QUESTION_LABELS

    v = value.strip()
    if not v or re.match(r"(?i)(?:multiple|various|several|unknown|none|null)\b|n/?a$", v):
        return False
    return v.lower().rstrip(".:") not in ANSWER_LABELS | QUESTION_LABELS


def _apply(docs: list[Document], meta: dict, origin: str) -> None:
    """Override extracted metadata with user-supplied values (front matter or sidecar).

    Title, speaker and language apply only when the file holds one document (a file with an
    English and a Swedish version keeps each version's own); date and url apply to all.
    """
    if not meta:
        return
    single = len(docs) == 1
    for doc in docs:
        changed = []
        title = meta.get("title")
        if single and isinstance(title, (str, int, float)) and str(title).strip():
            doc.title = str(title).strip()
            changed.append("title")
        speaker = meta.get("speaker")
        if single and isinstance(speaker, str) and _is_person(speaker):
            doc.speaker = speaker.strip()
            changed.append("speaker")
        lang = meta.get("language", meta.get("lang"))
        code = normalize_code(lang) if isinstance(lang, str) else None
        if single and code:
            doc.language = code
            doc.extra["language_confidence"] = 1.0
            changed.append("language")
        date = normalize_date(meta.get("date"))
        if date:
            doc.date = date
            changed.append("date")
        url = meta.get("url")
        if isinstance(url, str) and re.match(r"https?://\S+$", url.strip()):
            doc.url = url.strip()
            changed.append("url")
        if changed:
            doc.extra.setdefault("overrides", {})[origin] = changed


def _clean(value):
    """A metadata value without control characters (titles, speakers and roles are shown on terminals
    too); strings inside lists and dicts as well."""
    if isinstance(value, str):
        return collapse(blank_controls(value)) if has_controls(value) else value
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    return value


def _blank_text(doc: Document) -> None:
    """No terminal control character in a document's text, whatever its format built: text a format
    made itself (subtitle cues, JSON segments, where an escaped "\\u001b" decodes to ESC) is
    blanked as the file text was before parsing, and its segments trimmed again."""
    if has_controls(doc.text):
        doc.text = blank_controls(doc.text)
        kept = []
        for seg in doc.segments:
            seg.start, seg.end = trim(doc.text, seg.start, seg.end)
            if seg.end > seg.start:
                kept.append(seg)
        doc.segments = kept


def _clean_metadata(doc: Document) -> None:
    for name in ("title", "speaker", "date", "url"):
        setattr(doc, name, _clean(getattr(doc, name)) or None)
    doc.extra = _clean(doc.extra)
    for seg in doc.segments:
        seg.speaker = _clean(seg.speaker) or None
        seg.context = _clean(seg.context) or None


def parse_file(
    path: Path,
    source: str | None = None,
    languages: list[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    sidecars: bool = True,
    root: Path | None = None,
) -> list[Document]:
    """Parse one transcript file into its documents (raises SkipFile with a short reason).

    `source` is recorded on every document (default: str(path)); `languages` restricts language
    detection (default: the settings' list); files over `max_bytes` are skipped without being read;
    `sidecars=False` ignores sidecar manifests; `root` bounds the upward search for sidecars.
    """
    path = Path(path)
    formats.candidates(path)  # a sidecar or an unknown suffix is refused before reading
    return parse_bytes(read_bytes(path, max_bytes), path, source, languages, sidecars, root)


def parse_bytes(
    data: bytes,
    path: Path,
    source: str | None = None,
    languages: list[str] | None = None,
    sidecars: bool = True,
    root: Path | None = None,
    fmt: formats.Format | None = None,
) -> list[Document]:
    """The documents in `data`, the content of file `path` (whose suffix picks the format, and
    whose folder holds its sidecar); `fmt` forces a format instead. SkipFile with a short reason
    when the bytes are not a usable transcript."""
    path = Path(path)
    source = str(path) if source is None else source
    if fmt is None:
        formats.candidates(path)
    if not data:
        raise SkipFile("empty file")
    text, encoding = decode_bytes(data)
    text = blank_controls(text)
    if not text.strip(" \t\n\r\x0b\x0c\ufeff\u200b"):
        raise SkipFile("no text (only whitespace)")

    if fmt is None:
        fmt, meta, body = formats.choose(path, text)
    else:
        meta, body = split_front_matter(text) if fmt.front_matter else ({}, 0)
    docs = fmt.parse(text, source, path, body)
    for doc in docs:
        if not (0 <= doc.start <= doc.end <= len(doc.text)) or any(
                not 0 <= seg.start < seg.end <= len(doc.text) for seg in doc.segments):
            raise SkipFile(f"could not be parsed: the {fmt.name} format gave offsets outside the text")
        _blank_text(doc)
    docs = [d for d in docs if d.segments]
    if not docs:
        raise SkipFile("no transcript text")

    allowed = languages if languages else _default_languages()
    file_hint = meta.get("language", meta.get("lang")) if meta else None
    for i, doc in enumerate(docs):
        doc.ordinal = i
        doc.source = source
        doc.extra.setdefault("encoding", encoding)
        hint = doc.extra.pop("language_hint", None) or (file_hint if isinstance(file_hint, str) else None)
        lang, conf = detect_language(_sample(doc), allowed, hint=normalize_code(hint) if hint else None, accurate=False)
        doc.language = lang
        doc.extra["language_confidence"] = round(conf, 3)

    _apply(docs, meta, "front_matter")
    if sidecars:
        found = find_sidecar(path, root)
        if found:
            sc, rec = found
            _apply(docs, rec, "sidecar")
            for d in docs:
                if "overrides" in d.extra and "sidecar" in d.extra["overrides"]:
                    d.extra["sidecar"] = str(sc)
    for doc in docs:
        _clean_metadata(doc)
    return docs
