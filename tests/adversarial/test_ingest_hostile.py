"""Issue 12, the ingest rows: hostile folders and files against the real indexer (run_index with the real
embedder, real SQLite + FAISS), read back through the store's reader.

    row 4   symlinks (to a file, to a folder) pointing outside the folders given
    row 5   a 5 MB line without punctuation
    row 6   terminal escape sequences (CSI, OSC, C1 controls) inside transcript text
    row 7   a file replaced between hashing and parsing
    row 12  NUL bytes after the first 8 KB
"""
from __future__ import annotations

import builtins
import json
import os
import random
import unicodedata
from pathlib import Path


from index.chunk import chunk_document
from index.indexer import run_index
from index.ingest import parse_file
from index.store import open_backend

STATEMENT = (
    "Statement by Jane Doe (March 3, 2025)\n\n"
    "Jane Doe: We will continue the talks next week, in good faith and without preconditions.\n\n"
    "The delegations agreed on a timetable for the technical work that remains to be done.\n"
)
SECRET = "The launch codes are kept in the blue folder and nobody outside may read them."
LIMIT = 1000  # the longest sentence or passage a transcript may produce (the real corpus peaks at 858)


def _stored(index_dir: Path) -> list[dict]:
    """Every stored document: its record, text, and the exact text of its passages and sentences."""
    reader = open_backend(index_dir).open_reader()
    try:
        out, after = [], 0
        while batch := reader.documents(limit=500, after=after):
            for d in batch:
                text = reader.document_text(d.id)
                sentences = reader.sentences_of_document(d.id)
                passages = reader.passages({s.passage_id for s in sentences}).values()
                out.append({"doc": d, "text": text,
                            "passages": [(p, text[p.start : p.end]) for p in sorted(passages, key=lambda p: p.start)],
                            "sentences": [(s, text[s.start : s.end]) for s in sentences]})
            after = batch[-1].id
        return out
    finally:
        reader.close()


def _all_text(index_dir: Path) -> str:
    return "\n".join(d["text"] for d in _stored(index_dir))


# -- row 4 ----------------------------------------------------------------------------------------


def test_symlinks_leading_out_of_the_folders_given_are_skipped_with_a_reason(tmp_path, embedder, settings_for):
    private = tmp_path / "private"
    (private / "more").mkdir(parents=True)
    (private / "secret.txt").write_text(f"Memo\n\n{SECRET}\n", encoding="utf-8")
    (private / "more" / "notes.txt").write_text(f"Notes\n\n{SECRET}\n", encoding="utf-8")
    root = tmp_path / "transcripts"
    (root / "inner").mkdir(parents=True)
    (root / "talk.txt").write_text(STATEMENT, encoding="utf-8")
    os.symlink(private / "secret.txt", root / "leak.txt")  # a file symlink leading out
    os.symlink(private / "more", root / "linked")  # a folder symlink leading out
    os.symlink(root / "talk.txt", root / "inner" / "alias.txt")  # leads to a file inside: allowed
    settings = settings_for(tmp_path / "index")

    summary = run_index([root], settings, embedder=embedder, progress=False)
    skipped = dict(summary.skipped)
    for link in (root / "leak.txt", root / "linked"):
        reason = skipped[str(link)]
        assert "symbolic link" in reason and "outside" in reason and "follow_symlinks" in reason, reason
    assert summary.added == 1 and summary.duplicates == 1  # talk.txt, and its alias inside the folder
    assert SECRET not in _all_text(settings.index_dir)

    # the watcher hands single changed paths to run_index: a symlink named directly is held to its own folder
    os.symlink(private, root / "folder-named-like.txt")
    for link in (root / "leak.txt", root / "linked", root / "folder-named-like.txt"):
        summary = run_index([link], settings, embedder=embedder, progress=False)
        assert summary.added == 0 and "outside" in dict(summary.skipped)[str(link)], summary.skipped
    assert SECRET not in _all_text(settings.index_dir)
    # a link is judged against every path given: here it leads into the folder of another one
    summary = run_index([root / "talk.txt", root / "inner" / "alias.txt"], settings, embedder=embedder, progress=False)
    assert not summary.skipped and summary.unchanged == 2

    # a deployment that wants links followed says so
    following = settings.model_copy(update={"follow_symlinks": True})
    summary = run_index([root], following, embedder=embedder, progress=False)
    assert summary.added == 2 and not summary.skipped, summary.skipped  # leak.txt, linked/notes.txt (once)
    assert _all_text(settings.index_dir).count(SECRET) == 2


def test_a_file_swapped_for_a_link_leading_out_after_discovery_is_not_read(tmp_path, embedder, settings_for):
    private = tmp_path / "private"
    private.mkdir()
    (private / "secret.txt").write_text(f"Memo\n\n{SECRET}\n", encoding="utf-8")
    root = tmp_path / "transcripts"
    root.mkdir()
    (root / "a.txt").write_text(STATEMENT, encoding="utf-8")
    swapped = root / "b.txt"
    swapped.write_text(STATEMENT.replace("next week", "next month"), encoding="utf-8")

    def swap(source: str) -> None:  # called once discovery has passed the file, before it is read
        if source == str(swapped):
            swapped.unlink()
            os.symlink(private / "secret.txt", swapped)

    settings = settings_for(tmp_path / "index")
    summary = run_index([root], settings, embedder=embedder, progress=False, on_file=swap)
    assert "outside" in dict(summary.skipped).get(str(swapped), ""), summary.skipped
    assert summary.added == 1 and SECRET not in _all_text(settings.index_dir)


# -- row 5 ----------------------------------------------------------------------------------------


def _unpunctuated_line(chars: int, seed: int = 5) -> str:
    rnd = random.Random(seed)
    words = ["minister", "said", "talks", "would", "continue", "next", "week", "in", "good", "faith", "and",
             "delegation", "agreed", "Geneva", "Vienna", "timetable", "experts", "ceasefire", "sanctions"]
    out, size = [], 0
    while size < chars:
        w = rnd.choice(words)
        out.append(w)
        size += len(w) + 1
    return " ".join(out)


def _word_cut(text: str, start: int, end: int) -> bool:
    """[start, end) neither starts nor ends inside a word."""
    inside = lambda i: 0 < i < len(text) and text[i - 1].isalnum() and text[i].isalnum()  # noqa: E731
    return not inside(start) and not inside(end)


def test_a_5_mb_line_without_punctuation_gives_bounded_sentences_and_passages(tmp_path):
    line = _unpunctuated_line(5 * 2**20)
    p = tmp_path / "filibuster.txt"
    p.write_text("Statement by the minister\n\n" + line + "\n", encoding="utf-8")
    (doc,) = parse_file(p, sidecars=False)
    passages = chunk_document(doc, 700)
    sentences = [s for ps in passages for s in ps.sentences]
    assert len(passages) > 4000
    covered = 0
    for ps in passages:
        body = doc.text[ps.start : ps.end]
        assert 0 < len(body) <= LIMIT and body == body.strip()
        assert _word_cut(doc.text, ps.start, ps.end)
    for s in sentences:
        piece = doc.text[s.start : s.end]
        assert 0 < len(piece) <= LIMIT and piece == piece.strip() and _word_cut(doc.text, s.start, s.end)
        covered += len(piece)
    assert covered >= len(line) * 0.99  # cut, not dropped: only the spaces at the cuts fall between pieces


def test_a_long_line_is_indexed_as_bounded_passages(tmp_path, embedder, settings_for):
    root = tmp_path / "transcripts"
    root.mkdir()
    line = _unpunctuated_line(12_000)
    (root / "long.txt").write_text("Statement by the minister\n\n" + line + "\n", encoding="utf-8")
    settings = settings_for(tmp_path / "index")
    summary = run_index([root], settings, embedder=embedder, progress=False)
    assert summary.added == 1
    (d,) = _stored(settings.index_dir)
    assert len(d["passages"]) >= 12
    assert all(0 < len(body) <= LIMIT for _, body in d["passages"])
    assert all(0 < len(body) <= LIMIT for _, body in d["sentences"])
    assert "".join(body for _, body in d["sentences"]).replace(" ", "") == line.replace(" ", "")


# -- row 6 ----------------------------------------------------------------------------------------

HOSTILE = [
    "\x1b[2J\x1b[H",  # clear the screen, cursor home
    "\x1b]0;all 12 files indexed OK\x07",  # window title (OSC, BEL-terminated)
    "\x1b]8;;https://evil.example/\x1b\\",  # hyperlink (OSC, ST-terminated)
    "\x9b31m",  # CSI in its 8-bit C1 form
    "\x9d0;title\x9c",  # OSC in its C1 form
    "\x07\x08\x0b\x0c\x7f\x85",  # bell, backspace, VT, FF, DEL, NEL
]


def _terminal_safe(s: str | None) -> bool:
    return s is None or not any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in s)


def test_escape_sequences_in_transcripts_never_reach_stored_text(tmp_path, embedder, settings_for):
    root = tmp_path / "transcripts"
    root.mkdir()
    dirty = "".join(HOSTILE)
    (root / "statement.txt").write_text(
        f"Statement by Jane Doe{HOSTILE[1]} (March 3, 2025)\n\n"
        f"Jane Doe: We will continue the talks {dirty}next week.\n\n{HOSTILE[0]}The timetable was agreed.{HOSTILE[3]}\n",
        encoding="utf-8")
    (root / "cues.srt").write_text(
        "1\n00:00:01,000 --> 00:00:04,000\nWe have not had any &#27;[2Jillusions about it.\n\n"
        f"2\n00:00:05,000 --> 00:00:07,000\nJANE DOE: Resolving the crisis {HOSTILE[2]}takes time.\n", encoding="utf-8")
    (root / "segments.json").write_text(json.dumps({
        "title": "Briefing \x1b]0;pwned\x07", "speaker": "Jane\x1b[31m Doe",
        "segments": [{"start": 0, "end": 2, "text": "\x1b[2JThe ministers met in Vienna to discuss \x9b1mtariffs.",
                      "speaker": "Jane\x1b[31m Doe"}]}), encoding="utf-8")
    settings = settings_for(tmp_path / "index")
    summary = run_index([root], settings, embedder=embedder, progress=False)
    assert summary.added == 3 and not summary.skipped, summary.skipped
    docs = _stored(settings.index_dir)
    assert len(docs) == 3
    for d in docs:
        rec = d["doc"]
        assert _terminal_safe(d["text"]), (rec.source, d["text"])
        for field in (rec.title, rec.speaker, rec.url):
            assert _terminal_safe(field), field
        for p, body in d["passages"]:
            assert _terminal_safe(body) and _terminal_safe(p.speaker) and _terminal_safe(p.context) and _terminal_safe(p.role)
        for _, body in d["sentences"]:
            assert _terminal_safe(body) and body == body.strip()
    words = " ".join(" ".join(body.split()) for d in docs for _, body in d["sentences"])
    for kept in ("We will continue the talks next week.", "The timetable was agreed.", "illusions about it.",
                 "takes time.", "to discuss tariffs."):
        assert kept in words, words  # the words around the sequences are kept
    assert {d["doc"].speaker for d in docs if d["doc"].kind == "json"} == {"Jane Doe"}


def test_escape_sequences_in_questions_are_dropped_with_their_payload():
    from bot.answer.question import clean

    for raw in ("What did \x1b]0;pwned\x1b\\Lavrov say?", "What did \x9d0;pwned\x9cLavrov say?",
                "What did \x1b[2J\x1b[31mLavrov say?", "What did \x9b1mLavrov\x07 say?"):
        assert clean(raw).text in ("What did Lavrov say?", "What did Lavrov say ?"), repr(clean(raw).text)


# -- row 7 ----------------------------------------------------------------------------------------


def test_a_file_replaced_while_it_is_read_is_stored_with_the_hash_of_the_text_stored(tmp_path, embedder, settings_for,
                                                                                     monkeypatch):
    root = tmp_path / "transcripts"
    root.mkdir()
    target = root / "talk.txt"
    first = STATEMENT
    second = STATEMENT.replace("next week", "next year").replace("timetable", "budget")
    target.write_text(first, encoding="utf-8")
    replacement = tmp_path / "replacement.txt"
    replacement.write_text(second, encoding="utf-8")
    real_open = builtins.open
    swapped = []

    def open_then_replace(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if not swapped and "r" in mode and isinstance(file, (str, os.PathLike)) \
                and os.path.abspath(file) == str(target):
            swapped.append(file)
            os.replace(replacement, target)  # the editor saves a new version right after the first read began
        return handle

    settings = settings_for(tmp_path / "index")
    monkeypatch.setattr(builtins, "open", open_then_replace)
    summary = run_index([root], settings, embedder=embedder, progress=False)
    monkeypatch.setattr(builtins, "open", real_open)
    assert swapped and summary.added == 1
    target.write_text(first, encoding="utf-8")  # the version that was hashed is back
    summary = run_index([root], settings, embedder=embedder, progress=False)
    (d,) = _stored(settings.index_dir)
    # the run calls the file unchanged: what is stored must then be its text (hash and text of the same bytes)
    assert summary.unchanged == 1 and d["text"] == first
    target.write_text(second, encoding="utf-8")
    run_index([root], settings, embedder=embedder, progress=False)
    (d,) = _stored(settings.index_dir)
    assert d["text"] == second


# -- row 12 ---------------------------------------------------------------------------------------


def test_nul_bytes_past_the_first_8_kb_refuse_the_file_with_a_reason(tmp_path, embedder, settings_for):
    root = tmp_path / "transcripts"
    root.mkdir()
    head = "Statement by Jane Doe\n\n" + "We will continue the talks next week, in good faith. " * 200
    assert len(head.encode()) > 8192
    (root / "late-nul.txt").write_bytes(head.encode() + b"\x00\x00hidden\x00 words\n")
    (root / "late-nul-utf16.txt").write_bytes((head + "\x00hidden\n").encode("utf-16"))
    (root / "escaped-nul.json").write_text(json.dumps(
        {"segments": [{"start": 0, "end": 2, "text": "The ministers met\u0000 in Vienna to discuss tariffs."}]}),
        encoding="utf-8")
    settings = settings_for(tmp_path / "index")
    summary = run_index([root], settings, embedder=embedder, progress=False)
    skipped = dict(summary.skipped)
    for name in ("late-nul.txt", "late-nul-utf16.txt"):
        assert "NUL" in skipped[str(root / name)], summary.skipped
    assert summary.added == 1  # the JSON file: its escaped NUL is mapped out like every control character
    stored = _all_text(settings.index_dir)
    assert "\x00" not in stored and "hidden" not in stored and "to discuss tariffs." in stored
