"""Plain text and Markdown, including the shape of Telegram-style statements (seed/, mfa-telegram-en/).

- A line opening with 🎙 is a title and starts a new document (one file may hold several versions
  of a statement). The date comes from the title's parentheses, in any language.
- "💬 Name:" sets the speaker of the paragraphs that follow; "💬 Answer:" keeps the title's speaker.
- "❓ Question: …" (or a ❓ line) is a question put to the speaker: not a segment, but the `context`
  of the paragraphs that answer it.
- "Read in full" / "Läs hela" / "Read more" lines, link-only lines and hashtag-only lines are not
  content; bullets are content, the bullet character is not part of the segment.
- Paragraphs are lines, except hard-wrapped prose, whose lines are joined into one paragraph.
Offsets index the whole decoded file text.
"""
from __future__ import annotations

import re
from pathlib import Path

from ...document import Document
from . import TEXT_SUFFIXES, Format
from ..common import URL_RE, Line, SegmentList, collapse, first_url, hard_wrapped, has_words, iter_blocks, lines, short_title, skip_decoration, starts_with_marker, wrapped
from ..dates import filename_date, title_date
from ..names import ANSWER_LABELS, NOT_LABELS, QUESTION_LABELS, SpeakerCanon, clean_name, is_name, name_from_title

MIC = "🎙"
SPEECH_MARKS = ("💬", "🗣")
QUESTION_MARK = "❓"

_READ_MORE = re.compile(
    r"^(?:read(?:\s+(?:in\s+full|more|the\s+full\s+(?:text|version|interview|statement)|full\s+text))?"
    r"|full\s+text|läs\s+(?:hela|mer)(?:\s+\w+)?|læs\s+(?:hele|mere)|les\s+(?:hele|mer)"
    r"|weiterlesen|mehr\s+lesen|vollständig\s+lesen|lire\s+la\s+suite|leer\s+m[áa]s|leggi\s+(?:tutto|di\s+più)"
    r"|чита(?:ть|йте)\s+(?:полностью|далее|подробнее)|подробнее|полный\s+текст|lue\s+lisää|lees\s+meer|czytaj\s+(?:więcej|całość))"
    r"\s*[:.…]*\s*(?:https?://\S+)?\s*$",
    re.IGNORECASE,
)
_LINK_ONLY = re.compile(r"^\W*(?:https?://|www\.)\S+\W*$", re.IGNORECASE)
_HASHTAGS_ONLY = re.compile(r"^(?:#\w+[\s,.;]*)+$")
_LABEL = re.compile(r"(?:\*\*|__)?(?P<label>[^\W\d_][^:\n*]{0,80}?)(?:\*\*|__)?\s*:(?:\*\*|__)?(?=\s|$)")
_MD_HEADING = re.compile(r"\s*#{1,6}\s+(?=\S)")
_SENTENCE_END = re.compile(r"[.!?…»”\"')\]]\s*$")
_PAREN_DATE_TAIL = re.compile(r"\([^()]*\d{4}[^()]*\)\W*$")


def _lead(line: Line, text: str) -> int:
    return skip_decoration(text, line.start, line.end)


def _body(line: Line, text: str) -> str:
    return text[_lead(line, text) : line.end].strip()


def _title_text(line: Line, text: str) -> str:
    """A title line without its decoration or Markdown heading marks ('# ', '**')."""
    body = _body(line, text)
    m = _MD_HEADING.match(body)
    if m:
        body = body[m.end() :]
    return body.strip("*_ ").strip()


_READ_MORE_LEAD = re.compile(r"^(?:read\s+(?:in\s+full|more|the\s+full)|läs\s+(?:hela|mer)|чита(?:ть|йте)\s+полностью|подробнее)\b", re.IGNORECASE)


def is_read_more(s: str) -> bool:
    s = s.strip()
    return bool(_READ_MORE.match(s)) or (len(s) <= 100 and bool(_READ_MORE_LEAD.match(s)))


def is_noise(line: Line, text: str) -> bool:
    """Lines that are not content: read-more links, bare links, hashtags, datelines, no words."""
    body = _body(line, text)
    if not body or not has_words(body):
        return True
    if is_read_more(body) or _LINK_ONLY.match(body) or _HASHTAGS_ONLY.match(body):
        return True
    raw = line.text.strip()
    if raw.startswith("📍") and len(body) <= 80:
        return True
    if URL_RE.search(body) and len(URL_RE.sub(" ", body).split()) <= 3:
        return True  # "Learn more: https://…", "🔗 : https://…"
    return False


def _label(line: Line, text: str) -> tuple[str, int] | None:
    """('Sergey Lavrov', offset after the colon) for a 'Name:' line opening, else None."""
    lead = _lead(line, text)
    m = _LABEL.match(text, lead, line.end)
    if not m:
        return None
    return m.group("label").strip(), m.end()


_INLINE_MARK = re.compile(r"(?<=\S)\s+(?=(?:💬|🗣|❓)\s*\S)")
_INLINE_READ = re.compile(r"(?<=\S)\s+(Read\s+in\s+full|Läs\s+hela)(?=\s*(?:💬|🗣|❓|$))", re.IGNORECASE)
_HASHTAG_MIC = re.compile(r"^\s*(?:#\w+\s+)+(?=🎙)")


def split_inline(text: str, ls: list[Line]) -> list[Line]:
    """Split lines that carry several parts inline (posts cut to one line):
    '#Tag 🎙 Title (date) Read in full 💬 Name: words' → '#Tag ' | '🎙 Title (date)' | 'Read in full' | '💬 Name: words'."""
    out: list[Line] = []
    for ln in ls:
        cuts = set()
        m = _HASHTAG_MIC.match(ln.text)
        if m:
            cuts.add(ln.start + m.end())
        for m in _INLINE_MARK.finditer(ln.text):
            cuts.add(ln.start + m.end())
        for m in _INLINE_READ.finditer(ln.text):
            cuts.add(ln.start + m.start(1))
            cuts.add(ln.start + m.end(1))
        if not cuts:
            out.append(ln)
            continue
        pos = ln.start
        for c in sorted(cuts):
            if pos < c < ln.end:
                out.append(Line(pos, c, text[pos:c]))
                pos = c
        out.append(Line(pos, ln.end, text[pos : ln.end]))
    return out


_SENTENCE_STOP = re.compile(r"[.!?]['\"’”»]?\s*$")


def is_title_line(ln: Line) -> bool:
    """A 🎙 line that titles a document; a 🎙 before a full sentence inside a post is only a marker."""
    s = ln.stripped
    if not s.startswith(MIC):
        return False
    return not _SENTENCE_STOP.search(s) or bool(_PAREN_DATE_TAIL.search(s))


def _split_documents(ls: list[Line]) -> list[tuple[int, int]]:
    """Line ranges [i, j) of documents: every 🎙 line opens one; text before the first is its own."""
    first_content = next((i for i, ln in enumerate(ls) if not ln.blank), 0)
    starts = [i for i, ln in enumerate(ls) if is_title_line(ln) or (i == first_content and ln.stripped.startswith(MIC))]
    if not starts:
        return [(0, len(ls))]
    ranges = []
    pre = [ln for ln in ls[: starts[0]] if not ln.blank]
    if sum(len(ln.stripped) for ln in pre) >= 200:
        ranges.append((0, starts[0]))  # a text of its own before the first title
    else:
        starts[0] = 0  # a header line or hashtag before the title: part of the first document
    for k, i in enumerate(starts):
        ranges.append((i, starts[k + 1] if k + 1 < len(starts) else len(ls)))
    return ranges


def parse_text(text: str, source: str, path: Path, body_start: int = 0) -> list[Document]:
    all_lines = split_inline(text, lines(text, body_start, len(text)))
    canon = SpeakerCanon()
    docs: list[Document] = []
    for ordinal, (i, j) in enumerate(_split_documents(all_lines)):
        doc_lines = all_lines[i:j]
        doc_start = doc_lines[0].start if doc_lines else body_start
        doc_end = all_lines[j].start if j < len(all_lines) else len(text)
        doc = _parse_one(text, source, path, doc_lines, doc_start, doc_end, canon)
        if doc is not None:
            doc.ordinal = len(docs)
            docs.append(doc)
    return docs


def _parse_one(text, source, path, doc_lines: list[Line], doc_start: int, doc_end: int, canon: SpeakerCanon) -> Document | None:
    content = [ln for ln in doc_lines if not ln.blank]
    if not content:
        return None
    mic_lines = [ln for ln in content[:1] + [c for c in content if is_title_line(c)] if ln.stripped.startswith(MIC)]
    worded = [ln for ln in content if has_words(_body(ln, text))]
    if not worded:
        return None
    first = mic_lines[0] if mic_lines else worded[0]
    first_body = _body(first, text)
    is_mic = first.stripped.startswith(MIC)
    title = short_title(_title_text(first, text)) if first_body else None
    others = [ln for ln in content[content.index(first) + 1 :] if not is_noise(ln, text)]
    headline = bool(
        is_mic
        or _PAREN_DATE_TAIL.search(first_body)
        or (others and not _SENTENCE_END.search(first_body) and len(first_body) <= 300 and _label(first, text) is None)
    )
    named_in_title = name_from_title(first_body, min_score=1 if is_mic else 2)
    if named_in_title:
        named_in_title = canon.canon(clean_name(named_in_title))  # the spelling later labels follow
    title_speaker = named_in_title if headline else None  # "Statement by X (date)": X speaks below

    wrap = hard_wrapped(doc_lines)
    segs = SegmentList(text)
    speaker: str | None = None  # set by "💬 Name:"
    first_named: str | None = None
    context: str | None = None  # the question being answered
    heading: str | None = None  # the sub-heading above ("Other key points")
    context_used = False
    last_content_end = max((ln.end for ln in others), default=0)
    first_real = next((ln for ln in content if not is_noise(ln, text)), None)  # a caption, not a label
    # several "NAME:" lines make a dialogue transcript: then the first line's label counts too
    many_labels = sum(1 for ln in content if (lb := _label(ln, text)) and _strict_label(lb[0]) and is_name(lb[0].split(",")[0])) >= 2
    url: str | None = None
    questions: list[str] = []

    par_start: int | None = None
    par_end = 0
    in_question = False
    q_start = q_end = 0

    def flush():
        nonlocal par_start, context_used, heading
        if par_start is not None:
            para = text[par_start:par_end]
            if par_end < last_content_end and is_heading(para):
                heading = collapse(text[skip_decoration(text, par_start, par_end) : par_end])
            elif segs.add(par_start, par_end, speaker=speaker or title_speaker, context=context or heading):
                context_used = True
        par_start = None

    def flush_question():
        nonlocal in_question, context, context_used
        if in_question:
            q = collapse(text[q_start:q_end])
            if q:
                context = q
                questions.append(q)
                context_used = False
        in_question = False

    body_lines = doc_lines[doc_lines.index(first) + 1 :] if headline else doc_lines[doc_lines.index(first) :]
    for block in iter_blocks(body_lines):
        prev: Line | None = None
        for ln in block:
            raw = ln.stripped
            if is_noise(ln, text):
                flush()
                flush_question()
                body = _body(ln, text)
                if url is None and is_read_more(body):
                    url = first_url(body)
                    if url is None:
                        idx = body_lines.index(ln)
                        for nxt in body_lines[idx + 1 : idx + 4]:
                            if not nxt.blank:
                                url = first_url(nxt.text)
                                break
                prev = None
                continue
            lead = _lead(ln, text)
            if _MD_HEADING.match(text, ln.start, ln.end) and not raw.startswith("#" * 7):
                flush()
                flush_question()
                heading = _title_text(ln, text) or heading  # a Markdown heading: context, not words
                prev = None
                continue
            lab = _label(ln, text)
            label = lab[0] if lab else None
            label_key = label.lower().rstrip(".") if label else None
            marked_speech = raw.startswith(SPEECH_MARKS)
            if raw.startswith(QUESTION_MARK) or (label_key in QUESTION_LABELS):
                flush()
                flush_question()
                in_question = True
                q_start = lab[1] if (lab and label_key in QUESTION_LABELS) else lead
                q_end = ln.end
                prev = ln
                continue
            if in_question and prev is not None and wrap and wrapped(prev, ln) and not marked_speech and lab is None:
                q_end = ln.end
                prev = ln
                continue
            flush_question()
            strict_ok = bool(lab) and _strict_label(label) and (many_labels or (ln is not first and ln is not first_real))
            if lab and (label_key in ANSWER_LABELS or ((marked_speech or strict_ok) and is_name(label.split(",")[0]))):
                flush()
                if label_key in ANSWER_LABELS:
                    new_speaker = None  # the title's speaker answers
                else:
                    new_speaker = canon.canon(clean_name(label.split(",")[0]))
                    if first_named is None:
                        first_named = new_speaker
                if context_used and new_speaker != speaker:
                    context = None
                speaker = new_speaker
                par_start, par_end = lab[1], ln.end
                prev = ln
                continue
            if par_start is not None and prev is not None and wrap and wrapped(prev, ln) and not starts_with_marker(ln):
                par_end = ln.end
            else:
                flush()
                par_start, par_end = lead, ln.end
            prev = ln
        flush()
        flush_question()
    flush()

    if url is None:
        for ln in doc_lines:
            if is_read_more(_body(ln, text)) and first_url(ln.text):
                url = first_url(ln.text)
                break
    date = title_date(first_body) if (is_mic or headline) else None
    extra: dict = {}
    fdate = filename_date(path.name)
    if date is None:
        date = fdate
    elif fdate and fdate != date:
        extra["published"] = fdate
    if questions:
        extra["questions"] = len(questions)
    if not is_mic and not headline:
        extra["title_is_content"] = True
    main_speaker = first_named or title_speaker
    return Document(
        source=source,
        text=text,
        start=doc_start,
        end=doc_end,
        segments=segs.items,
        title=title,
        speaker=main_speaker,
        date=date,
        url=url,
        kind="text",
        extra=extra,
    )


_HEADING_END = re.compile(r"[.!?…:;,\"»”'’)\]]\s*$")


def is_heading(para: str) -> bool:
    """A one-line sub-heading inside a text ('Other key points'): a few words, no closing punctuation."""
    s = para.strip()
    if "\n" in s or not s or s[0] in "•-–—*":
        return False
    words = s.split()
    return len(words) <= 8 and len(s) <= 80 and not _HEADING_END.search(s) and has_words(s)


def _strict_label(label: str) -> bool:
    """A 'Name:' label without a 💬 mark: ALL-CAPS, or 2-4 capitalised words."""
    name = label.split(",")[0].strip()
    words = name.split()
    if any(w.lower().strip(".") in NOT_LABELS for w in words):
        return False
    if name.isupper() and len(name) >= 2:
        return True
    return 2 <= len(words) <= 4 and all(w[:1].isupper() for w in words)


FORMAT = Format(
    name="text",
    suffixes=TEXT_SUFFIXES,
    parse=parse_text,
    sniff=None,  # the fallback for text files no other format recognises
    priority=0,
    front_matter=True,
    description="plain text and Markdown transcripts (titles, speaker labels, questions as context)",
)
