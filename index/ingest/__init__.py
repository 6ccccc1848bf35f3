"""Ingest: one transcript file → Documents with exact text, metadata and quotable segments.

    parse_file(path, source=None, languages=None, max_bytes=50 MiB, sidecars=True, root=None)

Formats, by extension and then by content:
  .txt .md .markdown .text  plain text / Markdown (text.py), Europarl markup (europarl.py),
                            Bundestag speeches and protocols (bundestag.py), TV news items (news.py);
                            YAML front matter is honoured (frontmatter.py)
  .srt .vtt                 subtitles (subtitles.py)
  .json                     Whisper-style timed segments (json_transcript.py)
Metadata from a sidecar manifest (sidecar.py) overrides what was extracted. A file that cannot be
indexed raises SkipFile with a short reason.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..document import Document
from ..errors import SkipFile
from ..language import detect_language, normalize_code
from .dates import normalize_date
from .encoding import read_text
from .frontmatter import split_front_matter
from .sidecar import find_sidecar, is_sidecar

TEXT_EXTENSIONS = {".txt", ".md", ".markdown", ".text"}
SUBTITLE_EXTENSIONS = {".srt", ".vtt"}
JSON_EXTENSIONS = {".json"}
SUPPORTED_EXTENSIONS = TEXT_EXTENSIONS | SUBTITLE_EXTENSIONS | JSON_EXTENSIONS
DEFAULT_MAX_BYTES = 50 * 2**20
LANGUAGE_SAMPLE = 1000

__all__ = ["parse_file", "parse_text_content", "SUPPORTED_EXTENSIONS", "supported"]


def supported(path: Path) -> bool:
    path = Path(path)
    return path.suffix.lower() in SUPPORTED_EXTENSIONS and not is_sidecar(path)


def _default_languages() -> list[str]:
    try:
        from ..settings import get_settings

        return list(get_settings().languages)
    except Exception:  # settings unavailable (e.g. a bad .env): fall back to the built-in list
        from ..settings import DEFAULT_LANGUAGES

        return list(DEFAULT_LANGUAGES)


def parse_text_content(text: str, source: str, path: Path) -> tuple[list[Document], dict]:
    """Documents of a decoded text/Markdown file, and its front matter (possibly empty)."""
    from . import bundestag, europarl, news
    from .text import parse_text

    meta, body = split_front_matter(text)
    rest = text[body:]
    if europarl.looks_like(rest):
        docs = europarl.parse_europarl(text, source, path, body)
    elif bundestag.looks_like_speech(text, body) or bundestag.looks_like_session(rest):
        docs = bundestag.parse_bundestag(text, source, path, body)
    elif news.looks_like(rest):
        docs = news.parse_news(text, source, path, body)
    else:
        docs = parse_text(text, source, path, body)
    return docs, meta


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
    source = str(path) if source is None else source
    if is_sidecar(path):
        raise SkipFile("metadata sidecar, not a transcript")
    ext = path.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise SkipFile(f"unsupported file type ({ext or 'no extension'})")
    decoded = read_text(path, max_bytes)
    text = decoded.text
    if not text.strip(" \t\n\r\x0b\x0c\ufeff\u200b"):
        raise SkipFile("no text (only whitespace)")

    meta: dict = {}
    if ext in SUBTITLE_EXTENSIONS:
        from .subtitles import parse_subtitles

        docs = parse_subtitles(text, source, path)
    elif ext in JSON_EXTENSIONS:
        from .json_transcript import parse_json

        docs = parse_json(text, source, path)
    else:
        docs, meta = parse_text_content(text, source, path)

    docs = [d for d in docs if d.segments]
    if not docs:
        raise SkipFile("no transcript text")

    allowed = languages if languages else _default_languages()
    file_hint = meta.get("language", meta.get("lang")) if meta else None
    for i, doc in enumerate(docs):
        doc.ordinal = i
        doc.source = source
        doc.extra.setdefault("encoding", decoded.encoding)
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
    return docs
