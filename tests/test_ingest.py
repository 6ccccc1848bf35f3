"""Ingest on the real corpus (../shared/corpus, read-only) and on bad input made in tmp_path.

The corpus manifest (manifest.jsonl) is only a check here: every file is parsed with sidecars
disabled, so extraction is proven to work without it.
"""
from __future__ import annotations

import json
import os
import re
import time
import unicodedata
from pathlib import Path

import pytest

from index.errors import SkipFile
from index.ingest import parse_file
from index.ingest.dates import normalize_date, parse_date, title_date
from index.language import detect_language
from index.settings import DEFAULT_LANGUAGES

NOT_TRANSCRIPTS = {"manifest.jsonl", "README.md"}


def corpus_files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*") if p.is_file() and p.name not in NOT_TRANSCRIPTS)


@pytest.fixture(scope="module")
def manifest(corpus) -> dict[str, dict]:
    return {r["path"]: r for r in map(json.loads, (corpus / "manifest.jsonl").read_text(encoding="utf-8").splitlines()) if r}


@pytest.fixture(scope="module")
def parsed(corpus) -> dict[str, list]:
    """Every corpus file parsed once, sidecars disabled (the manifest must not be needed)."""
    out, skipped = {}, {}
    t0 = time.perf_counter()
    for p in corpus_files(corpus):
        rel = p.relative_to(corpus).as_posix()
        try:
            out[rel] = parse_file(p, sidecars=False)
        except SkipFile as exc:
            skipped[rel] = exc.reason
    elapsed = time.perf_counter() - t0
    docs = sum(len(d) for d in out.values())
    segs = sum(len(doc.segments) for d in out.values() for doc in d)
    print(f"\ncorpus: {len(out)} files, {docs} documents, {segs} segments in {elapsed:.1f}s")
    assert not skipped, f"corpus files skipped: {skipped}"
    return out


def seg_text(doc, s) -> str:
    return doc.text[s.start : s.end]


# ---------------------------------------------------------------------------------------------
# The real corpus


def test_every_corpus_file_parses(parsed, manifest, corpus):
    assert len(parsed) == len(corpus_files(corpus))
    assert set(manifest) <= set(parsed)
    for rel, docs in parsed.items():
        assert docs, rel
        for i, doc in enumerate(docs):
            assert doc.segments, (rel, i)
            assert doc.ordinal == i
            assert doc.source.endswith(rel)


def test_every_segment_is_an_exact_clean_slice(parsed):
    markup = re.compile(r"<P>|<SPEAKER|<CHAPTER|</?[A-Z]+\b[^>]*>")
    n = 0
    for rel, docs in parsed.items():
        for doc in docs:
            assert 0 <= doc.start <= doc.end <= len(doc.text), rel
            prev_end = doc.start
            for s in doc.segments:
                t = seg_text(doc, s)
                n += 1
                assert t, (rel, s)
                assert t == t.strip(), (rel, t[:60])
                assert not t[0].isspace() and not t[-1].isspace()
                assert doc.start <= s.start < s.end <= doc.end, (rel, s)
                assert s.start >= prev_end, f"{rel}: segments overlap or are out of order"
                prev_end = s.end
                assert not markup.search(t), (rel, t[:80])
                assert "🎙" not in t, (rel, t[:80])
                assert "Read in full" not in t and "Läs hela" not in t, (rel, t[:80])
                assert not t.startswith(("•", "💬", "❓")), (rel, t[:40])
    assert n > 5000


def test_utf8_text_files_keep_the_file_text(parsed, corpus):
    for rel, docs in parsed.items():
        if not rel.endswith((".txt", ".md")):
            continue
        with open(corpus / rel, encoding="utf-8") as fh:
            raw = fh.read()
        for doc in docs:
            assert doc.text == raw, rel
            # the contract quotes rely on: open(source).read()[start:end] == quoted text
            for s in doc.segments[:3]:
                assert raw[s.start : s.end] == seg_text(doc, s)


def test_seed_file_holds_english_then_swedish(parsed):
    (rel,) = [r for r in parsed if r.startswith("seed/")]
    docs = parsed[rel]
    assert [d.language for d in docs] == ["en", "sv"]
    for d in docs:
        assert d.date == "2024-12-25"
        assert d.speaker == "Sergey Lavrov"
        assert d.title and "Lavrov" in d.title and "(" in d.title
        assert all(s.speaker == "Sergey Lavrov" for s in d.segments)
    en, sv = docs
    assert en.title.startswith("Foreign Minister Sergey Lavrov")
    assert sv.title.startswith("Utrikesminister")
    assert en.end <= sv.start
    texts = [seg_text(en, s) for s in en.segments]
    assert texts[0].startswith("We have not had any illusions")  # after "💬 Sergey Lavrov: "
    assert any(t.startswith("The prevailing discourse") for t in texts)  # bullet char left out
    assert not any(t.startswith("Sergey Lavrov") for t in texts)
    assert any("vapenvila" in seg_text(sv, s) for s in sv.segments)
    assert en.url is None and sv.url is None  # no link in the text: none invented


def test_mfa_question_is_context_not_segment(parsed):
    docs = parsed["mfa-telegram-en/2025-12-19_msg27755.txt"]
    (doc,) = docs
    assert doc.speaker == "Maria Zakharova"
    assert doc.date == "2025-12-19"
    question = "How would you comment on the outcomes of the European Council meeting"
    assert not any(question in seg_text(doc, s) for s in doc.segments)
    first = doc.segments[0]
    assert seg_text(doc, first).startswith("We have taken note of the decision")
    assert first.speaker == "Maria Zakharova"
    assert first.context and first.context.startswith(question)


def test_mfa_answer_label_keeps_title_speaker(parsed):
    (doc,) = parsed["mfa-telegram-en/2025-12-21_msg27812.txt"]
    assert doc.speaker == "Nikolay Korchunov"
    assert doc.date == "2025-12-20"  # the title's date, not the day it was posted
    assert doc.extra.get("published") == "2025-12-21"
    assert all(s.speaker == "Nikolay Korchunov" for s in doc.segments)
    assert sum(1 for s in doc.segments if s.context and s.context.startswith("How did Norway react")) >= 1


def test_mfa_no_url_is_invented(parsed):
    for rel, docs in parsed.items():
        for doc in docs:
            if doc.url:
                assert doc.url in doc.text, rel
            assert not (doc.url or "").startswith("https://t.me/MFARussia"), rel


def test_europarl_passages_carry_their_own_speaker(parsed):
    (doc,) = parsed["europarl-en/ep-2006-10-24-ch018-00.txt"]
    assert doc.kind == "europarl"
    assert doc.title == "Action programme in the field of lifelong learning (debate)"
    assert doc.date == "2006-10-24"

    def speaker_of(fragment):
        (s,) = [s for s in doc.segments if fragment in seg_text(doc, s)]
        return s, s.speaker

    s, who = speaker_of("Mr President, I congratulate our rapporteur for her work in steering this important report")
    assert who == "Alyn Smith"
    s, who = speaker_of("the new 'lifelong learning' programme was intended to be a sufficient response")
    assert who == "Doris Pack"
    assert seg_text(doc, s).startswith("Mr President")  # "rapporteur. - (DE) " left out
    assert s.context == doc.title
    assert len({s.speaker for s in doc.segments}) > 5
    for rel, docs in parsed.items():
        if rel.startswith("europarl-en/"):
            assert all(s.speaker for s in docs[0].segments), rel
            for s in docs[0].segments:
                t = seg_text(docs[0], s)
                assert not (t.startswith("(") and t.endswith(")")), (rel, t)


def test_europarl_language_tag_is_kept_as_the_turns_spoken_language(parsed):
    """"(FI) Mr President, ..." opens a speech given in Finnish: the English is the Parliament's
    translation, for every paragraph of that turn; the tag itself is not quoted."""
    (doc,) = parsed["europarl-en/ep-2006-11-13-ch019-00.txt"]
    turn = [s for s in doc.segments if s.speaker == "Kyösti Virrankoski"]
    assert len(turn) >= 2 and {s.spoken_language for s in turn} == {"fi"}
    assert seg_text(doc, turn[0]).startswith("Mr President, milk production")
    (pack,) = parsed["europarl-en/ep-2006-10-24-ch018-00.txt"]
    first = [s for s in pack.segments if s.speaker == "Doris Pack"][0]
    assert first.spoken_language == "de"  # after "rapporteur. - "
    smith = [s for s in pack.segments if s.speaker == "Alyn Smith"]
    assert smith and all(s.spoken_language is None for s in smith)  # no tag: spoken in English


def test_speaker_roles_are_embedded_beside_the_words_but_never_quoted(parsed):
    """"Dr. Michael Meister, Parl. Staatssekretär bei der Bundesministerin für Bildung und Forschung:"
    tells who speaks for the research ministry; Europarl gives roles and political groups."""
    from index.chunk import chunk_document

    (doc,) = parsed["bundestag-de/speeches-19-146/ID1914613300.txt"]
    passages = [p for p in chunk_document(doc) if p.speaker == "Dr. Michael Meister"]
    role = "Parl. Staatssekretär bei der Bundesministerin für Bildung und Forschung"
    assert passages and all(p.role == role for p in passages)
    head, body = passages[0].embed_text(doc).split("\n", 1)
    assert head.startswith(f"Dr. Michael Meister, {role}:") and role not in body
    assert body == doc.text[passages[0].start : passages[0].end]
    (ep,) = parsed["europarl-en/ep-2006-11-13-ch019-00.txt"]
    roles = {p.speaker: p.role for p in chunk_document(ep)}
    assert roles["Kyösti Virrankoski"] == "MEP (ALDE)" and roles["Duarte Freitas"] == "author, MEP (PPE-DE)"


def _interjection_spans(text: str) -> list[tuple[int, int, str]]:
    """Lines (or line runs) entirely in parentheses, as in the Bundestag records."""
    spans, pos = [], 0
    for line in text.split("\n"):
        s = line.strip()
        if len(s) > 2 and s.startswith("(") and s.endswith(")"):
            spans.append((pos, pos + len(line), s))
        pos += len(line) + 1
    return spans


def test_bundestag_interjections_are_never_in_segments(parsed, corpus):
    checked = 0
    for rel, docs in parsed.items():
        if not rel.startswith("bundestag-de/"):
            continue
        (doc,) = docs
        spans = _interjection_spans(doc.text)
        starts = [s.start for s in doc.segments]
        for a, b, s in spans:
            for seg in doc.segments:
                assert seg.end <= a or seg.start >= b, f"{rel}: interjection {s[:60]!r} inside a segment"
            checked += 1
        for seg in doc.segments:
            t = seg_text(doc, seg)
            assert "(Beifall" not in t and "(Zuruf" not in t and "(Heiterkeit" not in t, (rel, t[:80])
            assert not re.search(r"\(\w[^()]{0,60}\[[^\]]+\]:", t), (rel, t[:80])
        assert starts == sorted(starts)
    assert checked > 1000


def test_bundestag_speech_speakers(parsed, manifest):
    (doc,) = parsed["bundestag-de/speeches-19-146/ID1914600100.txt"]
    assert doc.speaker == "Heiko Maas"
    assert doc.title == "Heiko Maas, Bundesminister des Auswärtigen"
    texts = {seg_text(doc, s): s.speaker for s in doc.segments}
    assert texts["Herzlichen Dank."] == "Heiko Maas"
    assert texts["Jetzt hat das Wort der Kollege Martin Hebner, AfD."] == "Dr. Wolfgang Schäuble"  # the chair
    assert not any("Die meisten werden trotzdem 50!" in t for t in texts)  # an interjection
    # the manifest (a check, not an input) agrees on every speech's speaker
    wrong = []
    for rel, docs in parsed.items():
        if rel.startswith("bundestag-de/speeches-19-146/"):
            d = docs[0]
            if d.speaker != " ".join(manifest[rel]["speaker"].split()):
                wrong.append((rel, d.speaker, manifest[rel]["speaker"]))
            assert d.segments[0].speaker == d.speaker, rel
    assert not wrong, wrong


def test_bundestag_sessions_turns_and_toc(parsed):
    (doc,) = parsed["bundestag-de/sessions/session_18181.txt"]
    assert doc.date == "2016-06-28"
    speakers = {s.speaker for s in doc.segments}
    assert {"Dr. Norbert Lammert", "Dr. Angela Merkel", "Katrin Göring-Eckardt", "Thomas Oppermann"} <= speakers
    first = doc.segments[0]
    assert seg_text(doc, first) == "Nehmen Sie bitte Platz. Die Sitzung ist eröffnet."
    assert first.speaker == "Dr. Norbert Lammert"
    merkel = [s for s in doc.segments if seg_text(doc, s).startswith("Sehr geehrter Herr Präsident! Liebe Kolleginnen")]
    assert merkel and merkel[0].speaker == "Dr. Angela Merkel"
    assert not any("17881 B" in seg_text(doc, s) for s in doc.segments)  # table of contents skipped
    assert not any("Deutscher Bundestag – 18. Wahlperiode" in seg_text(doc, s) for s in doc.segments)

    (old,) = parsed["bundestag-de/sessions/session_01143.txt"]
    assert old.date == "1951-05-23"
    by_text = {seg_text(old, s)[:40]: s.speaker for s in old.segments}
    assert by_text["Meine Damen und Herren! Ich eröffne die "] == "Dr. Ehlers"
    assert any(s.speaker == "Lausen" and seg_text(old, s).startswith("Herr Präsident! Meine Damen und Herren! Der Antrag") for s in old.segments)
    assert any(s.speaker == "Schäffer" for s in old.segments)
    (mid,) = parsed["bundestag-de/sessions/session_09036.txt"]
    assert any(s.speaker == "Dr. de With" for s in mid.segments)
    assert any(s.speaker == "Windelen" for s in mid.segments)


def test_tv_news_title_and_stamp_are_metadata(parsed):
    (doc,) = parsed["1tv-news-ru/2026-01-01_530156.txt"]
    assert doc.language == "ru" and doc.date == "2026-01-01"
    assert doc.title.startswith("Задержан житель Мариуполя")
    assert doc.extra["stamp"] == "Сегодня, 15:04"
    texts = [seg_text(doc, s) for s in doc.segments]
    assert len(texts) == 1 and texts[0].startswith("Он")
    (en,) = parsed["1tv-news-en-mt/2026-01-01_530156.txt"]
    assert en.language == "en" and [seg_text(en, s) for s in en.segments][0].startswith("He collected information")


def test_detected_language_matches_manifest_for_every_file(parsed, manifest):
    wrong = []
    for rel, rec in manifest.items():
        got = {d.language for d in parsed[rel]}
        want = set(rec["lang"].split("+"))
        if got != want:
            wrong.append((rel, got, want))
    assert not wrong, wrong


def _norm_title(t: str | None) -> str:
    t = (t or "").replace("…", "")
    t = "".join(ch for ch in unicodedata.normalize("NFC", t).lower() if ch.isalnum() or ch.isspace())
    return " ".join(t.split())


def test_dates_and_titles_agree_with_manifest(parsed, manifest):
    """The manifest is only a check. Dates: the extracted date (or, for posts whose title dates the
    statement, the posting date the file name gives) must match for most files; titles must match
    where the text carries one (posts, debates)."""
    date_ok = title_ok = title_n = 0
    date_miss, title_miss = [], []
    for rel, rec in manifest.items():
        doc = parsed[rel][0]
        want = normalize_date(rec["date"])
        if want in (doc.date, doc.extra.get("published")):
            date_ok += 1
        else:
            date_miss.append((rel, doc.date, want))
        if rel.startswith(("mfa-telegram-en/", "europarl-en/", "seed/")):
            title_n += 1
            a, b = _norm_title(doc.title), _norm_title(rec["title"])
            if a and b and (a.startswith(b) or b.startswith(a) or (len(b) > 20 and b[:20] in a)):
                title_ok += 1
            else:
                title_miss.append((rel, doc.title, rec["title"]))
    print(f"\ndates agree {date_ok}/{len(manifest)}; titles agree {title_ok}/{title_n}")
    for m in date_miss[:20] + title_miss:
        print("  mismatch:", m)
    # Bundestag speech files carry no date at all (139 files): everything else must agree.
    assert date_ok / len(manifest) >= 0.80
    assert sum(1 for r, *_ in date_miss if not r.startswith("bundestag-de/speeches")) == 0
    assert title_ok / title_n >= 0.97


def test_every_document_has_metadata(parsed):
    for rel, docs in parsed.items():
        for d in docs:
            assert d.language in DEFAULT_LANGUAGES, rel
            assert d.title, rel
            assert d.kind in {"text", "europarl", "bundestag", "subtitle", "json"}
            if d.date is not None:
                assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", d.date), (rel, d.date)
            if not rel.startswith("bundestag-de/speeches"):
                assert d.date, rel


def test_sidecar_manifest_overrides_when_enabled(corpus):
    """With sidecars on, the corpus manifest (a user-style sidecar) applies: url and date."""
    p = corpus / "mfa-telegram-en" / "2025-12-19_msg27748.txt"
    (doc,) = parse_file(p)
    assert doc.url == "https://t.me/MFARussia/27748"
    assert doc.extra["overrides"]["sidecar"]
    (bare,) = parse_file(p, sidecars=False)
    assert bare.url is None
    # the seed file holds two documents: the file-level title and "en+sv" do not clobber them
    seed = next((corpus / "seed").glob("*.txt"))
    docs = parse_file(seed)
    assert [d.language for d in docs] == ["en", "sv"]
    assert docs[1].title.startswith("Utrikesminister")
    # "multiple (<SPEAKER NAME=...> tags)" is not a speaker
    (ep,) = parse_file(corpus / "europarl-en" / "ep-2006-10-24-ch018-00.txt")
    assert not ep.speaker.startswith("multiple")


# ---------------------------------------------------------------------------------------------
# Dates and language detection


@pytest.mark.parametrize(
    "title, iso",
    [
        ("Foreign Minister Sergey Lavrov’s interview (December 25, 2024)", "2024-12-25"),
        ("Utrikesminister Sergey Lavrovs intervju (25. december 2024)", "2024-12-25"),
        ("Interview (25 december 2024)", "2024-12-25"),
        ("Rede (25. Dezember 2024)", "2024-12-25"),
        ("Интервью Сергея Лаврова (25 декабря 2024 года)", "2024-12-25"),
        ("Entrevista (25 de diciembre de 2024)", "2024-12-25"),
        ("Remarks (Moscow, February 12, 2026)", "2026-02-12"),
        ("Talks (February 25, 2026, Moscow)", "2026-02-12".replace("12", "25")),
        ("Comment ( January 19, 2026 )", "2026-01-19"),
        ("No date here", None),
    ],
)
def test_title_dates_in_many_languages(title, iso):
    assert title_date(title) == iso


def test_normalize_date_forms():
    assert normalize_date("2026-03-09T08:04:57+00:00") == "2026-03-09"
    assert normalize_date("13.02.2020") == "2020-02-13"
    assert parse_date("Bonn, Mittwoch, den 23. Mai 1951.") == "1951-05-23"
    assert normalize_date("31.02.2020") is None


@pytest.mark.parametrize(
    "question, lang",
    [
        ("Vad sa Lavrov om vapenvila?", "sv"),
        ("Что МИД говорил?", "ru"),
        ("Was sagte Sacharowa?", "de"),
        ("What did Lavrov say about a truce?", "en"),
    ],
)
def test_detect_language_of_short_questions(question, lang):
    got, conf = detect_language(question, DEFAULT_LANGUAGES)
    assert got == lang
    assert 0 < conf <= 1


def test_detect_language_hint_and_edge_cases():
    assert detect_language("Putin", ["en", "sv", "de"], hint="sv")[0] == "sv"  # unsure: the hint wins
    assert detect_language("This is clearly an English sentence about the weather.", DEFAULT_LANGUAGES, hint="sv")[0] == "en"
    assert detect_language("12345 !!!", DEFAULT_LANGUAGES) == (None, 0.0)
    assert detect_language("12345", DEFAULT_LANGUAGES, hint="de") == ("de", 0.0)
    assert detect_language("Hej", ["sv"]) == ("sv", 1.0)
    assert detect_language("Hello there, friends", ["en", "xx"])[0] == "en"


# ---------------------------------------------------------------------------------------------
# Bad input and the other formats (files made here)


def skip_reason(path: Path, **kw) -> str:
    with pytest.raises(SkipFile) as exc:
        parse_file(path, **kw)
    return exc.value.reason


def test_binary_empty_whitespace_files_are_skipped(tmp_path):
    b = tmp_path / "blob.txt"
    b.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    assert "binary" in skip_reason(b)
    e = tmp_path / "empty.txt"
    e.write_bytes(b"")
    assert "empty" in skip_reason(e)
    w = tmp_path / "blank.md"
    w.write_text(" \n\t\n\r\n   \n", encoding="utf-8")
    assert "no text" in skip_reason(w)
    only_noise = tmp_path / "links.txt"
    only_noise.write_text("#Tag\nhttps://example.org/x\n📍 Cairo\n", encoding="utf-8")
    assert "no transcript text" in skip_reason(only_noise)
    u = tmp_path / "image.png"
    u.write_bytes(b"\x89PNG")
    assert "unsupported" in skip_reason(u)
    d = tmp_path / "folder.txt"
    d.mkdir()
    assert skip_reason(d)


def test_undecodable_bytes_are_skipped(tmp_path):
    import random

    rnd = random.Random(7)
    p = tmp_path / "noise.txt"
    p.write_bytes(bytes(rnd.randrange(128, 256) for _ in range(3000)))
    reason = skip_reason(p)
    assert "undecodable" in reason or "binary" in reason


def test_legacy_encodings_are_decoded(tmp_path):
    ru = "Министр иностранных дел России Сергей Лавров заявил, что переговоры продолжатся. " * 3
    p = tmp_path / "cp1251.txt"
    p.write_bytes(ru.encode("cp1251"))
    (doc,) = parse_file(p)
    assert doc.text == ru
    assert doc.language == "ru"
    assert doc.extra["encoding"].replace("_", "").lower() in {"cp1251", "windows1251"}
    s = doc.segments[0]
    assert doc.text[s.start : s.end] == ru.strip()

    fr = "Le ministre a déclaré à la presse que la coopération économique était très importante pour l'été prochain. " * 3
    q = tmp_path / "latin1.txt"
    q.write_bytes(fr.encode("latin-1"))
    (doc,) = parse_file(q)
    assert doc.text == fr
    assert doc.language == "fr"


def test_utf8_bom_and_crlf(tmp_path):
    body = "🎙 Press conference by Jane Doe (March 3, 2025)\r\n💬 Jane Doe: We will continue the talks next week.\r\n\r\n• The talks were useful.\r\nRead in full\r\n"
    p = tmp_path / "bom.txt"
    p.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    (doc,) = parse_file(p)
    with open(p, encoding="utf-8") as fh:
        raw = fh.read()
    assert doc.text == raw and raw[0] == "\ufeff" and "\r" not in raw
    assert doc.extra["encoding"] == "utf-8-sig"
    texts = [doc.text[s.start : s.end] for s in doc.segments]
    assert texts == ["We will continue the talks next week.", "The talks were useful."]
    assert doc.title == "Press conference by Jane Doe (March 3, 2025)"
    assert doc.date == "2025-03-03" and doc.speaker == "Jane Doe" and doc.language == "en"
    # an old-Mac file with CR only
    m = tmp_path / "cr.txt"
    m.write_bytes(b"First paragraph of the statement, in plain text.\rSecond paragraph of it.\r")
    (doc,) = parse_file(m)
    assert doc.text == open(m, encoding="utf-8").read()
    assert [doc.text[s.start : s.end] for s in doc.segments] == ["First paragraph of the statement, in plain text.", "Second paragraph of it."]


def test_read_in_full_link_becomes_url(tmp_path):
    p = tmp_path / "2025-01-05_msg12345.txt"
    p.write_text("🎙 Statement by Jane Doe (January 4, 2025)\n\nWe welcome the agreement reached today.\n\nRead in full: https://example.org/statement/1\n", encoding="utf-8")
    (doc,) = parse_file(p)
    assert doc.url == "https://example.org/statement/1"
    assert doc.date == "2025-01-04" and doc.extra["published"] == "2025-01-05"
    assert [doc.text[s.start : s.end] for s in doc.segments] == ["We welcome the agreement reached today."]
    q = tmp_path / "2025-01-05_msg12346.txt"
    q.write_text("🎙 Statement by Jane Doe (January 4, 2025)\n\nWe welcome the agreement reached today.\n", encoding="utf-8")
    assert parse_file(q)[0].url is None


def test_malformed_subtitles_are_skipped(tmp_path):
    p = tmp_path / "bad.srt"
    p.write_text("this is not\na subtitle file\n\nat all\n", encoding="utf-8")
    assert "malformed subtitle" in skip_reason(p)
    q = tmp_path / "bad.vtt"
    q.write_text("00:00:01.000 --> 00:00:02.000\nno header\n", encoding="utf-8")
    assert "malformed subtitle" in skip_reason(q)
    r = tmp_path / "broken.srt"
    r.write_text("1\n00:00:01,000 --> 00:00:02,000\nfine\n\n2\n00:00:xx --> nope\nbroken\n\n3\nbroken again\n\n4\n???\n\n", encoding="utf-8")
    assert "malformed subtitle" in skip_reason(r)


def test_srt_with_timestamps_and_speakers(tmp_path):
    p = tmp_path / "talk.srt"
    p.write_text(
        "1\n00:00:01,000 --> 00:00:04,500\nLAVROV: We have not had any illusions.\n\n"
        "2\n00:00:04,600 --> 00:00:07,000\nResolving the crisis\ntakes time.\n\n"
        "3\n00:01:02,250 --> 00:01:05,000\n<i>Jane Doe: Thank you, minister.</i>\n",
        encoding="utf-8",
    )
    (doc,) = parse_file(p)
    assert doc.kind == "subtitle" and doc.timed
    texts = [doc.text[s.start : s.end] for s in doc.segments]
    assert texts == ["We have not had any illusions.", "Resolving the crisis\ntakes time.", "Thank you, minister."]
    assert [s.time for s in doc.segments] == [1.0, 4.6, 62.25]
    assert doc.segments[0].end_time == 4.5
    assert [s.speaker for s in doc.segments] == ["Lavrov", "Lavrov", "Jane Doe"]
    assert doc.language == "en"


def test_vtt_with_voice_tags(tmp_path):
    p = tmp_path / "talk.vtt"
    p.write_text(
        "WEBVTT - briefing\n\nNOTE made up for the test\n\n"
        "intro\n00:00.000 --> 00:03.200 align:start\n<v Maria Zakharova>Good afternoon, colleagues.</v>\n\n"
        "00:00:03.300 --> 00:00:06.000\n<v.loud Sergey Lavrov>We will answer all the questions &amp; more.\n",
        encoding="utf-8",
    )
    (doc,) = parse_file(p)
    texts = [doc.text[s.start : s.end] for s in doc.segments]
    assert texts == ["Good afternoon, colleagues.", "We will answer all the questions & more."]
    assert [s.speaker for s in doc.segments] == ["Maria Zakharova", "Sergey Lavrov"]
    assert [s.time for s in doc.segments] == [0.0, 3.3]
    assert doc.speaker == "Maria Zakharova"


def test_whisper_json(tmp_path):
    p = tmp_path / "whisper.json"
    p.write_text(
        json.dumps(
            {
                "text": " Vi har inte haft några illusioner. Vi behöver seriösa förslag.",
                "language": "sv",
                "title": "Intervju",
                "date": "2024-12-25",
                "url": "https://example.org/intervju",
                "segments": [
                    {"id": 0, "start": 0.0, "end": 2.5, "text": " Vi har inte haft några illusioner om utsikterna.", "speaker": "Sergej Lavrov"},
                    {"id": 1, "start": 2.5, "end": 5.0, "text": "   "},
                    {"id": 2, "start": 5.0, "end": 9.75, "text": " Vi behöver se seriösa, konkreta förslag."},
                ],
            }
        ),
        encoding="utf-8",
    )
    (doc,) = parse_file(p)
    assert doc.kind == "json" and doc.language == "sv"
    assert doc.title == "Intervju" and doc.date == "2024-12-25" and doc.url == "https://example.org/intervju"
    assert doc.speaker == "Sergej Lavrov"
    assert [doc.text[s.start : s.end] for s in doc.segments] == [
        "Vi har inte haft några illusioner om utsikterna.",
        "Vi behöver se seriösa, konkreta förslag.",
    ]
    assert [(s.time, s.end_time) for s in doc.segments] == [(0.0, 2.5), (5.0, 9.75)]
    bad = tmp_path / "bad.json"
    bad.write_text('{"segments": [', encoding="utf-8")
    assert "malformed JSON" in skip_reason(bad)
    other = tmp_path / "package.json"
    other.write_text('{"name": "x"}', encoding="utf-8")
    assert "segments" in skip_reason(other)


def test_front_matter_overrides_metadata(tmp_path):
    p = tmp_path / "pc.md"
    p.write_text(
        "---\ntitle: Fictional press conference\nspeaker: Jane Doe\ndate: 2025-03-01\nlanguage: sv\nurl: https://example.org/pc\n---\n"
        "# Press conference\n\nJane Doe: We will continue the talks next week, in good faith.\n\nQuestion: Will there be a deal?\n\nJane Doe: It is too early to say.\n",
        encoding="utf-8",
    )
    (doc,) = parse_file(p)
    assert (doc.title, doc.speaker, doc.date, doc.language, doc.url) == (
        "Fictional press conference", "Jane Doe", "2025-03-01", "sv", "https://example.org/pc",
    )
    assert doc.extra["overrides"]["front_matter"]
    assert doc.text == p.read_text(encoding="utf-8")  # offsets still index the whole file
    assert doc.start > 0 and doc.text[: doc.start].startswith("---\n")
    texts = [doc.text[s.start : s.end] for s in doc.segments]
    assert texts == ["We will continue the talks next week, in good faith.", "It is too early to say."]
    assert doc.segments[1].context == "Will there be a deal?"
    assert all(s.speaker == "Jane Doe" for s in doc.segments)


def test_sidecar_overrides_and_can_be_disabled(tmp_path):
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    f = root / "a" / "b" / "talk.txt"
    f.write_text("The minister said the talks would continue next week.\n", encoding="utf-8")
    (root / "manifest.jsonl").write_text(
        json.dumps({"path": "a/b/talk.txt", "title": "Sidecar title", "speaker": "Jane Doe", "date": "13.02.2020", "lang": "de", "url": "https://example.org/t"}) + "\n",
        encoding="utf-8",
    )
    (doc,) = parse_file(f, root=root)
    assert (doc.title, doc.speaker, doc.date, doc.language, doc.url) == ("Sidecar title", "Jane Doe", "2020-02-13", "de", "https://example.org/t")
    (plain,) = parse_file(f, sidecars=False)
    assert plain.title.startswith("The minister said") and plain.language == "en" and plain.url is None
    # a nearer CSV sidecar wins; keys are relative to the sidecar's folder
    (root / "a" / "metadata.csv").write_text("path,title,speaker\nb/talk.txt,CSV title,John Roe\n", encoding="utf-8")
    (doc,) = parse_file(f, root=root)
    assert (doc.title, doc.speaker) == ("CSV title", "John Roe")
    # the sidecar files themselves are not transcripts
    assert "sidecar" in skip_reason(root / "manifest.jsonl")


def test_too_large_file_is_skipped_without_reading(tmp_path, monkeypatch):
    big = tmp_path / "huge.txt"
    with open(big, "wb") as fh:
        fh.truncate(200 * 2**20)  # sparse: 200 MB on paper, nothing on disk
    import builtins

    real_open = builtins.open

    def guarded_open(file, *a, **kw):
        assert Path(file) != big, "the too-large file was opened"
        return real_open(file, *a, **kw)

    monkeypatch.setattr(builtins, "open", guarded_open)
    reason = skip_reason(big)
    assert "too large" in reason
    small_limit = tmp_path / "small.txt"
    monkeypatch.setattr(builtins, "open", real_open)
    small_limit.write_text("A short statement that is long enough to matter here.\n", encoding="utf-8")
    assert "too large" in skip_reason(small_limit, max_bytes=10)


def test_vanished_file_and_symlink_loop(tmp_path):
    gone = tmp_path / "gone.txt"
    gone.write_text("Soon gone.\n", encoding="utf-8")
    gone.unlink()
    assert "vanished" in skip_reason(gone)
    loop = tmp_path / "loop.txt"
    os.symlink(loop, loop)
    assert "symlink loop" in skip_reason(loop)


def test_vanishing_between_stat_and_read(tmp_path, monkeypatch):
    f = tmp_path / "flaky.txt"
    f.write_text("A statement that disappears mid-run.\n", encoding="utf-8")
    import index.ingest.encoding as enc

    real = enc.stat_checked

    def stat_then_delete(path, *args):
        size = real(path, *args)
        Path(path).unlink()
        return size

    monkeypatch.setattr(enc, "stat_checked", stat_then_delete)
    assert "vanished" in skip_reason(f)


def test_generic_transcript_shapes(tmp_path):
    """Hard-wrapped prose is joined into paragraphs; NAME: labels set the speaker; headings are context."""
    wrapped = (
        "Press conference of the Fictional Ministry\n\n"
        "JANE DOE: Good morning. We have a short statement today about the\n"
        "negotiations that took place in Geneva over the last three days, and\n"
        "about the next steps that both delegations have agreed upon.\n\n"
        "JOHN ROE: Thank you. I would add that the talks were constructive and\n"
        "that the next round is planned for the spring of next year, in Vienna.\n"
        "We hope that the experts will meet before that, as agreed in Geneva.\n"
        "There is a lot of technical work to do before then, and little time.\n"
    )
    p = tmp_path / "pc.txt"
    p.write_text(wrapped, encoding="utf-8")
    (doc,) = parse_file(p)
    assert doc.title == "Press conference of the Fictional Ministry"
    texts = [doc.text[s.start : s.end] for s in doc.segments]
    assert len(texts) == 2
    assert texts[0].startswith("Good morning.") and texts[0].endswith("agreed upon.")
    assert [s.speaker for s in doc.segments] == ["Jane Doe", "John Roe"]
    assert doc.speaker == "Jane Doe"


def test_dialogue_starting_with_a_label(tmp_path):
    p = tmp_path / "dialogue.txt"
    p.write_text(
        "Anna Berg: Welcome to the briefing on the new trade agreement.\n"
        "Tom Lind: Thank you. The agreement enters into force next month.\n"
        "Anna Berg: And what about the tariffs on steel?\n",
        encoding="utf-8",
    )
    (doc,) = parse_file(p)
    assert [s.speaker for s in doc.segments] == ["Anna Berg", "Tom Lind", "Anna Berg"]
    assert doc.text[doc.segments[1].start : doc.segments[1].end] == "Thank you. The agreement enters into force next month."
    # a caption is not a speaker label
    q = tmp_path / "caption.txt"
    q.write_text("🎬 Kostroma Ballet: A Family Affair — a documentary film.\n\nWatch it tonight on our channel.\n", encoding="utf-8")
    (doc,) = parse_file(q)
    assert all(s.speaker is None for s in doc.segments)


def test_markdown_transcript(tmp_path):
    p = tmp_path / "briefing.md"
    p.write_text(
        "# Weekly briefing (March 5, 2025)\n\n## Trade\n\n**Jane Doe:** The talks on tariffs will resume on Monday.\n\n"
        "- Both sides agreed on a timetable.\n* The next round is in Oslo.\n\n## Energy\n\n__John Roe__: Gas prices fell again this week.\n",
        encoding="utf-8",
    )
    (doc,) = parse_file(p)
    assert doc.title == "Weekly briefing (March 5, 2025)" and doc.date == "2025-03-05"
    texts = [doc.text[s.start : s.end] for s in doc.segments]
    assert texts == [
        "The talks on tariffs will resume on Monday.",
        "Both sides agreed on a timetable.",
        "The next round is in Oslo.",
        "Gas prices fell again this week.",
    ]
    assert [s.speaker for s in doc.segments] == ["Jane Doe", "Jane Doe", "Jane Doe", "John Roe"]
    assert [s.context for s in doc.segments] == ["Trade", "Trade", "Trade", "Energy"]
    assert doc.speaker == "Jane Doe"


def test_whisper_language_names_and_bare_lists(tmp_path):
    p = tmp_path / "w.json"
    p.write_text(json.dumps({"language": "english", "segments": [{"start": 1, "end": 2, "text": "Ja."}]}), encoding="utf-8")
    (doc,) = parse_file(p)
    assert doc.language == "en"  # too short to tell: the transcript's own language wins
    q = tmp_path / "list.json"
    q.write_text(json.dumps([{"start": 0, "end": 3, "text": "Wir werden die Gespräche fortsetzen.", "speaker": "SPEAKER_00"}]), encoding="utf-8")
    (doc,) = parse_file(q)
    assert doc.language == "de" and doc.segments[0].speaker == "SPEAKER_00" and doc.segments[0].time == 0


# ---------------------------------------------------------------------------------------------
# The format registry


def test_a_new_format_is_one_module_registered_and_indexed_end_to_end(tmp_path, embedder, settings_for):
    """A toy format, defined here as its module would define it: "Speaker | words" lines in `.said` files.
    Registering it is all it takes for discovery, parsing, indexing and uploads to take such files."""
    from bot.uploads import safe_name
    from index.document import Document, Segment
    from index.indexer import run_index
    from index.ingest import formats
    from index.store import open_backend

    def parse_said(text: str, source: str, path: Path, body_start: int = 0) -> list[Document]:
        segments, pos = [], body_start
        for line in text[body_start:].splitlines(keepends=True):
            speaker, bar, words = line.partition(" | ")
            if bar and words.strip():
                start = pos + len(speaker) + len(bar)
                segments.append(Segment(start, start + len(words.rstrip()), speaker=speaker.strip()))
            pos += len(line)
        if not segments:
            raise SkipFile("no 'Speaker | words' lines")
        return [Document(source, text, body_start, len(text), segments, speaker=segments[0].speaker, kind="said")]

    toy = formats.Format(name="toy-said", suffixes=(".said",), parse=parse_said,
                         sniff=lambda text, body: " | " in text[body : body + 2000],
                         description="a toy format: 'Speaker | words' lines")
    root = tmp_path / "transcripts"
    root.mkdir()
    (root / "talk.said").write_text(
        "Jane Doe | We will continue the talks next week, in good faith.\n"
        "John Roe | The delegations agreed on a timetable for the technical work.\n", encoding="utf-8")
    (root / "nothing.said").write_text("no bars in this file\n", encoding="utf-8")
    settings = settings_for(tmp_path / "index")
    assert ".said" not in formats.TRANSCRIPT_SUFFIXES
    formats.register(toy)
    try:
        assert ".said" in formats.TRANSCRIPT_SUFFIXES and formats.is_candidate(root / "talk.said")
        assert safe_name("interview.said") == "interview.said"  # uploads read the registry's list
        summary = run_index([root], settings, embedder=embedder, progress=False)
    finally:
        formats.unregister("toy-said")
    assert ".said" not in formats.TRANSCRIPT_SUFFIXES
    assert summary.added == 1, summary.skipped
    assert dict(summary.skipped) == {str(root / "nothing.said"): "not a transcript format this indexer knows (.said)"}
    reader = open_backend(settings.index_dir).open_reader()
    try:
        (doc,) = reader.documents()
        text = reader.document_text(doc.id)
        sentences = reader.sentences_of_document(doc.id)
        passages = reader.passages({s.passage_id for s in sentences})
    finally:
        reader.close()
    assert doc.kind == "said" and doc.speaker == "Jane Doe" and doc.language == "en"
    assert sorted((p.speaker, text[p.start : p.end]) for p in passages.values()) == [
        ("Jane Doe", "We will continue the talks next week, in good faith."),
        ("John Roe", "The delegations agreed on a timetable for the technical work."),
    ]


def test_the_registry_lists_every_format_once():
    from index.ingest import formats

    names = [f.name for f in formats.all_formats()]
    assert names == ["europarl", "bundestag", "tv-news", "json-segments", "subtitles", "text"]
    assert set(formats.TRANSCRIPT_SUFFIXES) == {".txt", ".md", ".markdown", ".text", ".srt", ".vtt", ".json"}
    assert all(f.description for f in formats.all_formats())
    with pytest.raises(ValueError):
        formats.Format(name="bad", suffixes=("TXT",), parse=lambda *a: [])


def test_a_format_giving_offsets_outside_its_text_is_a_skip_with_a_reason(tmp_path):
    from index.document import Document, Segment
    from index.ingest import formats, parse_bytes

    def sloppy(text, source, path, body_start=0):
        return [Document(source, text, 0, len(text), [Segment(0, len(text) + 5)])]

    fmt = formats.Format(name="sloppy", suffixes=(".sloppy",), parse=sloppy)
    with pytest.raises(SkipFile) as exc:
        parse_bytes(b"Some words that a broken parser mis-measures.", Path("x.sloppy"), fmt=fmt, sidecars=False)
    assert "sloppy format gave offsets outside the text" in exc.value.reason
