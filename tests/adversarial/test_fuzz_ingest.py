"""Issue 12: property-based fuzzing (hypothesis) of every registered transcript format and of question
cleaning. Any bytes in → either SkipFile with a reason, or documents whose every segment, passage and
sentence (cut by index/chunk.py) is an exact, trimmed, bounded slice of the document's text, holding no
terminal control character; never another exception.

Formats come from the registry, so a format added later is fuzzed without touching this file. The run
is bounded and reproducible (derandomised, no example database written into the checkout); raise
ONRECORD_FUZZ_EXAMPLES to search longer on a workstation.
"""
from __future__ import annotations

import codecs
import json
import os
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.answer.question import MAX_QUESTION_CHARS, clean
from index.chunk import MAX_SENTENCE_CHARS, chunk_document
from index.errors import SkipFile
from index.ingest import formats, parse_bytes

EXAMPLES = int(os.environ.get("ONRECORD_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("ONRECORD_FUZZ_RANDOM"), database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LANGUAGES = ["en", "de", "ru"]

# Pieces of every format's syntax, so that generated files get past the first checks of each parser.
MARKUP = [
    "🎙 Statement by Jane Doe (March 3, 2025)", "💬 Jane Doe:", "💬 Answer:", "❓ Question: why?", "Read in full",
    "https://example.org/x", "#Tag", "• ", "- ", "**Jane Doe:**", "JANE DOE:", "Question:", "# Heading", "---",
    "title: T", "language: de", "...", "<CHAPTER ID=1>", "<SPEAKER ID=1 NAME=\"Jane Doe\" LANGUAGE=\"FI\">", "<P>",
    "(FI) ", "rapporteur. - ", "(Beifall bei der SPD)", "Präsident Dr. Wolfgang Schäuble:",
    "Dr. Jane Doe (SPD):", "Deutscher Bundestag", "1. Sitzung", "Plenarprotokoll 19/146", "Beginn: 9.00 Uhr",
    "Выпуск новостей в 15:00 от 13.01.2026", "Сегодня, 15:04", "WEBVTT", "1", "00:00:01,000 --> 00:00:02,500",
    "00:01.000 --> 00:02.000 align:start", "<v Jane Doe>", "</v>", "<i>", "&amp;", "&#27;[2J", "NOTE x",
    "\x1b[2J", "\x1b]0;title\x07", "\x9b31m", "\x00", "\ufeff", "\u200b", "\r\n", "\r", "\t", " ",
]
WORDS = ["We", "will", "continue", "the", "talks", "next", "week.", "Wir", "werden", "fortsetzen.", "Мы", "продолжим",
         "переговоры.", "a" * 1200, "said", "minister", "?", "!", "…", ",", "«", "»", "“", "”"]


def _line() -> st.SearchStrategy[str]:
    token = st.one_of(st.sampled_from(MARKUP), st.sampled_from(WORDS), st.sampled_from(WORDS), st.text(max_size=20))
    return st.lists(token, max_size=8).map(" ".join)


def _lines() -> st.SearchStrategy[str]:
    return st.lists(_line(), max_size=25).map("\n".join)


def _json_transcripts() -> st.SearchStrategy[str]:
    scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30),
                       st.sampled_from(["NaN", "Infinity", "english", "sv", "2024-12-25", "\\ud800"]))
    segment = st.fixed_dictionaries({}, optional={
        "text": st.one_of(st.text(max_size=200), _lines(), scalar), "start": scalar, "end": scalar,
        "speaker": st.one_of(scalar, st.just("Jane\x1b[31m Doe"))})
    body = st.one_of(
        st.lists(segment, max_size=8),
        st.fixed_dictionaries({"segments": st.one_of(st.lists(segment, max_size=8), scalar)},
                              optional={"language": scalar, "title": scalar, "speaker": scalar, "date": scalar,
                                        "url": scalar, "transcription": st.lists(segment, max_size=3)}),
        scalar)
    return body.map(lambda v: json.dumps(v).replace('"\\\\ud800"', '"\\ud800"'))


def _valid_json_transcripts() -> st.SearchStrategy[str]:
    text = st.one_of(st.text(max_size=300), _lines(), st.sampled_from(WORDS))
    segment = st.fixed_dictionaries({"text": text, "start": st.floats(0, 1e4), "end": st.floats(0, 1e4)},
                                    optional={"speaker": st.one_of(st.text(max_size=20), st.sampled_from(["SPEAKER_00", "Jane\x1b[31m Doe"]))})
    doc = st.fixed_dictionaries({"segments": st.lists(segment, min_size=1, max_size=8)},
                                optional={"language": st.sampled_from(["en", "english", "xx", "de"]), "title": st.text(max_size=40)})
    return st.one_of(doc, st.lists(segment, min_size=1, max_size=5)).map(json.dumps)


def _subtitles() -> st.SearchStrategy[str]:
    stamp = st.tuples(st.integers(0, 2), st.integers(0, 59), st.integers(0, 59), st.integers(0, 999), st.sampled_from(",."))
    fmt_stamp = lambda t: f"{t[0]:02d}:{t[1]:02d}:{t[2]:02d}{t[4]}{t[3]:03d}"  # noqa: E731
    text_line = _line().map(lambda t: " ".join(t.split()) or "x")  # one non-blank line
    cue = st.tuples(st.integers(0, 999), stamp, stamp, st.lists(text_line, min_size=1, max_size=3))
    cues = st.lists(cue.map(lambda c: f"{c[0]}\n{fmt_stamp(c[1])} --> {fmt_stamp(c[2])}\n" + "\n".join(c[3])), min_size=1, max_size=8)
    return st.tuples(st.sampled_from(["", "WEBVTT\n\n", "WEBVTT - x\n\nNOTE n\n\n"]), cues).map(lambda t: t[0] + "\n\n".join(t[1]))


def _encoded(text: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    def encode(args):
        s, how = args
        if how == "utf-16":
            return s.encode("utf-16", "surrogatepass")
        if how == "cp1251":
            return s.encode("cp1251", "replace")
        if how == "bom":
            return codecs.BOM_UTF8 + s.encode("utf-8", "surrogatepass")
        return s.encode("utf-8", "surrogatepass")
    return st.tuples(text, st.sampled_from(["utf-8", "utf-8", "utf-16", "cp1251", "bom"])).map(encode)


def _inputs(fmt: formats.Format) -> st.SearchStrategy[bytes]:
    """Bytes, and text shaped like lines of markup; for the known formats, mostly files of their own shape
    (a format added later gets the generic inputs)."""
    shaped = {"json-segments": st.one_of(_valid_json_transcripts(), _valid_json_transcripts(), _json_transcripts()),
              "subtitles": _subtitles()}.get(fmt.name)
    texts = st.one_of(_lines(), shaped, shaped, shaped) if shaped is not None else _lines()
    return st.one_of(st.binary(max_size=3000), _encoded(texts), _encoded(texts))


def _terminal_safe(s) -> bool:
    return not isinstance(s, str) or not any(
        unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\n\t" for ch in s)


def check_documents(data: bytes, path: Path, fmt: formats.Format | None) -> None:
    try:
        docs = parse_bytes(data, path, languages=LANGUAGES, sidecars=False, fmt=fmt)
    except SkipFile as exc:
        assert isinstance(exc.reason, str) and exc.reason.strip()
        return
    assert docs
    for doc in docs:
        text = doc.text
        assert _terminal_safe(text)
        for value in (doc.title, doc.speaker, doc.date, doc.url, doc.language):
            assert _terminal_safe(value), value
        assert 0 <= doc.start <= doc.end <= len(text)
        assert doc.segments
        for seg in doc.segments:
            assert 0 <= seg.start < seg.end <= len(text)
            piece = text[seg.start : seg.end]
            assert piece == piece.strip() and _terminal_safe(seg.speaker) and _terminal_safe(seg.context)
        for passage in chunk_document(doc, 700):
            assert 0 <= passage.start < passage.end <= len(text)
            body = text[passage.start : passage.end]
            assert body.strip() and len(body) <= max(700, MAX_SENTENCE_CHARS)
            assert passage.sentences
            for s in passage.sentences:
                assert passage.start <= s.start < s.end <= passage.end
                sentence = text[s.start : s.end]
                assert sentence == sentence.strip() and len(sentence) <= MAX_SENTENCE_CHARS
                assert any(seg.start <= s.start and s.end <= seg.end for seg in doc.segments)
            passage.embed_text(doc)


@pytest.mark.parametrize("fmt", formats.all_formats(), ids=lambda f: f.name)
def test_every_format_parses_any_bytes_into_exact_slices_or_skips_with_a_reason(fmt):
    @FUZZ
    @given(data=_inputs(fmt), suffix=st.sampled_from(fmt.suffixes))
    def run(data, suffix):
        check_documents(data, Path(f"fuzz{suffix}"), fmt)  # this format, forced
        check_documents(data, Path(f"fuzz{suffix}"), None)  # and whichever format the registry picks

    run()


@FUZZ
@given(raw=st.one_of(st.text(max_size=3000), st.lists(st.sampled_from(MARKUP + WORDS + [
    "<@U123ABC>", "<!channel>", "<#C1|general>", "<https://e.org|link>", "<https://e.org>", "&lt;", "&gt;", "&amp;",
    "\u202e", "\U0001F600", "\ud800"]), max_size=60).map(" ".join)), limit=st.sampled_from([MAX_QUESTION_CHARS, 40]))
def test_question_cleaning_takes_any_text(raw, limit):
    q = clean(raw, limit)
    assert isinstance(q.text, str) and len(q.text) <= limit
    assert q.text == q.text.strip() and "  " not in q.text
    assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") for ch in q.text)
    assert q.truncated_at is None or q.truncated_at == len(q.text)
    assert isinstance(q.empty, bool)
