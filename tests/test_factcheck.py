"""Fact-checking on the real engine and real indexes: verdicts on claimed quotes (English, Swedish,
Russian), quote references that re-verify after the file changes, and language versions that differ
(a version difference constructed in a copy of the seed)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.factcheck.diff import align, tokenize
from bot.factcheck.refs import BadRef, QuoteRef
from bot.factcheck.render import diff_slack, diff_terminal, verdict_json, verdict_slack, verdict_text, verify_text, versions_text
from bot.factcheck.verdict import check, parse_claim, surname_matches
from bot.factcheck.verify import verify
from bot.factcheck.version_diff import compare_ref, differ, numbers


def _slice_ok(q: dict) -> None:
    assert open(q["source"], encoding="utf-8").read()[q["start"] : q["end"]] == q["text"]


# -- pieces -----------------------------------------------------------------------------------------

def test_parse_claim_and_names():
    assert parse_claim('Lavrov: "We will not be satisfied with a truce."') == (
        "We will not be satisfied with a truce.", "Lavrov")
    assert parse_claim("«Нас не устроит перемирие»", "Лавров") == ("Нас не устроит перемирие", "Лавров")
    assert surname_matches("Лавров", "Sergey Lavrov") and surname_matches("Lawrow", "Sergey Lavrov")
    assert not surname_matches("Sergey Shoigu", "Sergey Lavrov")


def test_word_diff_operations():
    record = tokenize("President Putin has said this. We will not be satisfied with a truce. We need agreements.")
    a = align(tokenize("We will be satisfied with a peace"), record)
    ops = [(o.op, o.claim, o.record) for o in a.ops if o.op != "equal"]
    assert ops == [("delete", "", "not"), ("replace", "peace", "truce")]
    assert not a.exact and a.matched == 6 and a.share == pytest.approx(6 / 7)
    assert align(tokenize("we will NOT be “satisfied” with a truce"), record).exact  # case, quote marks aside
    assert align(tokenize("nothing at all like it"), record).matched == 0


def test_refs_round_trip_and_refuse_what_is_not_one():
    ref = QuoteRef("0" * 16, 10, 20, "a" * 16, "/x/y z.txt")
    assert QuoteRef.parse(str(ref)) == ref
    for bad in ("", "https://example.org", "onrecord://quote/xyz/1-2/abc", "onrecord://quote/" + "0" * 16 + "/5-5/" + "a" * 16,
                "onrecord://document/3"):
        with pytest.raises(BadRef):
            QuoteRef.parse(bad)


def test_numbers_and_differences():
    assert numbers("25 000 rubles, 1,5 million, 3.2 bn, 1,500 people, 14 June 2024") == [
        "25000", "1.5", "3.2", "1500", "14", "2024"]
    d = differ("President Putin spoke on June 14 about 25 tanks.", "President Medvedev talade 14 juni om 26 stridsvagnar.",
               "en", "sv")
    assert d.numbers_here == ["25"] and d.numbers_there == ["26"]
    assert d.names_here == ["Putin"] and d.names_there == ["Medvedev"]
    # a translation's own spelling of names is no difference
    assert not differ("Foreign Minister Sergey Lavrov said Russia and the West met in 2021.",
                      "Utrikesminister Sergej Lavrov sa att Ryssland och väst möttes 2021.", "en", "sv")


# -- verdicts on the small real index ------------------------------------------------------------------

def test_exact_with_citation_and_ref(engine):
    v = check(engine, '"we will NOT be satisfied with a truce"', speaker="Lavrov")
    assert v.kind == "exact" and v.share == 1.0 and v.record_speaker == "Sergey Lavrov"
    d = verdict_json(v, "we will NOT be satisfied with a truce")
    assert {"question", "language", "found", "answer", "quotes", "verdict"} <= set(d) and d["found"]
    q = d["quotes"][0]
    _slice_ok(q)
    assert q["ref"].startswith("onrecord://quote/") and d["verdict"]["kind"] == "exact"


def test_altered_shows_the_diff_everywhere(engine):
    v = check(engine, "We will be satisfied with a truce.", speaker="Lavrov")
    assert v.kind == "altered"
    assert [(o.op, o.record) for o in v.ops if o.op != "equal"] == [("delete", "not")]
    assert v.quote.text == "We will not be satisfied with a truce."
    d = verdict_json(v, "x")
    assert {"op": "delete", "claim": "", "record": "not"} in d["verdict"]["diff"]
    assert "~not~" in diff_slack(v)
    assert "\x1b[9m" in diff_terminal(v) and "[-not-]" in verdict_text(v)
    assert "\x1b[9m" in verdict_text(v, color=True)
    blocks = json.dumps(verdict_slack(v)["blocks"], ensure_ascii=False)
    assert "~not~" in blocks and "onrecord_verify" in blocks
    changed = check(engine, "We will never be satisfied with a ceasefire.", speaker="Lavrov")
    assert changed.kind == "altered" and 0.6 <= changed.share < 1
    assert {(o.claim, o.record) for o in changed.ops if o.op == "replace"} == {("never", "not"), ("ceasefire", "truce")}


def test_different_speaker(engine):
    v = check(engine, 'Zakharova: "We will not be satisfied with a truce."')
    assert v.kind == "different_speaker" and v.record_speaker == "Sergey Lavrov"
    assert "Sergey Lavrov" in verdict_text(v) and "Zakharova" in verdict_text(v)
    # a name the record knows, then a colon, names the speaker without quotation marks too
    bare = check(engine, "Zakharova: We will not be satisfied with a truce.")
    assert bare.kind == "different_speaker" and bare.claimed_speaker == "Zakharova"


def test_out_of_context_shows_the_sentence(engine):
    v = check(engine, "walk away from talks", speaker="Lavrov")
    assert v.kind == "out_of_context" and v.cue == "never"
    assert "we never walk away from talks" in v.context.text
    d = verdict_json(v, "walk away from talks")
    # dropping the negation itself is an alteration, shown as such
    dropped = check(engine, "we walk away from talks", speaker="Lavrov")
    assert dropped.kind == "altered" and [o.record for o in dropped.ops if o.op == "delete"] == ["never"]
    _slice_ok(d["quotes"][0])
    assert "never walk away" in d["quotes"][0]["text"]
    # the same words elsewhere in context: exact
    assert check(engine, "there can be no victors in a nuclear war", speaker="Lavrov").kind == "exact"


def test_not_found_lists_nearest_statements_as_not_matching(engine):
    v = check(engine, "Russia will hand Crimea back to Ukraine next spring.", speaker="Lavrov")
    assert v.kind == "not_found" and v.nearest
    d = verdict_json(v, "x")
    assert d["found"] is False and d["quotes"] == []
    assert all(n["matching"] is False for n in d["verdict"]["nearest"])
    assert all(n["speaker"] == "Sergey Lavrov" for n in d["verdict"]["nearest"])
    for n in d["verdict"]["nearest"]:
        _slice_ok(n)
    assert "NOT match" in verdict_text(v)
    assert verdict_text(v).count("by Lavrov") == 1 and d["verdict"]["nearest_by_speaker"] is True
    # a speaker the record does not know: the nearest statements of anyone, not said to be theirs
    w = check(engine, "Russia will hand Crimea back to Ukraine next spring.", speaker="Napoleon Bonaparte")
    assert w.kind == "not_found" and w.nearest and not w.nearest_by_speaker and "Bonaparte" not in verdict_text(w)


def test_swedish_claims_are_compared_with_the_swedish_version(engine):
    v = check(engine, "Vi blir inte nöjda med en vapenvila.", speaker="Lavrov")
    assert v.kind == "exact" and v.language == "sv" and v.record_language == "sv"
    assert v.compared_with == "version" and v.quote.language == "sv"
    assert verdict_text(v).startswith("Finns i protokollet")
    w = check(engine, "Vi blir nöjda med en vapenvila.", speaker="Lavrov")
    assert w.kind == "altered" and [o.record for o in w.ops if o.op == "delete"] == ["inte"]
    assert check(engine, 'Zakharova: "Vi blir inte nöjda med en vapenvila."').kind == "different_speaker"


def test_russian_claims(engine):
    exact = check(engine, "По статье о госизмене ему грозит срок вплоть до пожизненного.")
    assert exact.kind == "exact" and exact.language == "ru" and exact.record_language == "ru"
    altered = check(engine, "По статье о госизмене ему не грозит срок вплоть до пожизненного.")
    assert altered.kind == "altered" and [o.claim for o in altered.ops if o.op == "insert"] == ["не"]
    # the record has this statement in English and Swedish only: a translation is all that can be compared
    v = check(engine, "Нас не устроит перемирие.", speaker="Лавров")
    assert v.kind == "translation_only" and v.compared_with == "translation"
    assert v.quote is not None and v.quote.language in ("en", "sv")
    assert "перевод" in verdict_text(v)
    d = verdict_json(v, "x")
    assert d["found"] is False and d["verdict"]["original"]["text"] == v.quote.text


def test_english_claim_on_a_russian_item_uses_its_english_version(engine):
    v = check(engine, "The young man confessed to the crime.")
    assert v.kind == "exact" and v.record_language == "en"


# -- refs and verify --------------------------------------------------------------------------------------

def test_every_quote_has_a_ref_that_verifies(engine):
    a = engine.ask("What did Lavrov say about a truce?")
    assert a.quotes
    for q in a.quotes:
        d = q.to_json()
        assert d["ref"] == q.ref and QuoteRef.parse(q.ref).quote_hash
        r = verify(engine, q.ref)
        assert r.status == "intact" and r.quote.text == q.text and r.file.found and r.index.found
        for v in q.versions:
            assert verify(engine, v.ref).status == "intact"


TRANSCRIPT = """🎙 Briefing on the harbour (3 March 2026)
💬 Anna Berg: The harbour will reopen on 12 May. We have repaired both piers.
The ferries return in June.
Read in full
"""


@pytest.fixture
def own_file(tmp_path, embedder, settings_for):
    """A transcript of our own, indexed, that a test may change."""
    from bot.answer import Engine
    from index.indexer import run_index

    folder = tmp_path / "transcripts"
    folder.mkdir()
    path = folder / "harbour.txt"
    path.write_text(TRANSCRIPT, encoding="utf-8")
    settings = settings_for(tmp_path / "index")
    run_index([folder], settings, embedder=embedder, progress=False)
    eng = Engine.open(settings=settings, embedder=embedder)
    yield path, settings, eng
    eng.close()


def test_verify_after_the_file_changes(own_file, embedder):
    from index.indexer import run_index

    path, settings, eng = own_file
    [q] = eng.quote("We have repaired both piers.").quotes[:1]
    assert verify(eng, q.ref).status == "intact"

    # words moved: a line added above them
    path.write_text(TRANSCRIPT.replace("💬 Anna Berg:", "💬 Anna Berg: Good morning.", 1), encoding="utf-8")
    r = verify(eng, q.ref)
    assert r.status == "moved" and "index_behind" in r.notes  # the file decides; the index is behind
    assert path.read_text(encoding="utf-8")[r.file.start : r.file.end] == q.text
    run_index([path.parent], settings, embedder=embedder, progress=False)
    r = verify(eng, q.ref)
    assert r.status == "moved" and r.index.found and r.index.start == r.file.start == q.start + len(" Good morning.")
    assert not r.notes and r.quote.text == q.text and r.quote.start == r.index.start
    assert "characters" in verify_text(r)

    # words gone: what stands there now is shown
    path.write_text(TRANSCRIPT.replace("We have repaired both piers.", "We have closed the northern pier."),
                    encoding="utf-8")
    run_index([path.parent], settings, embedder=embedder, progress=False)
    r = verify(eng, q.ref)
    assert r.status == "gone" and r.quote is None
    assert "We have closed the northern pier." in r.now
    assert r.now_quote is not None and "closed the northern pier" in r.now_quote.text
    assert "no longer on record" in verify_text(r)
    with pytest.raises(BadRef):
        verify(eng, "onrecord://quote/nothing")


# -- language versions that differ -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def changed_seed(tmp_path_factory, corpus, embedder, settings_for):
    """A copy of the seed whose Swedish version says 1989 where the English says 1987, Medvedev where it
    says Putin, and leaves out one sentence, indexed."""
    from bot.answer import Engine
    from index.indexer import run_index

    src = next((corpus / "seed").glob("*.txt"))
    text = src.read_text(encoding="utf-8")
    en, sv = text.split("🎙 Utrikesminister", 1)
    sv = sv.replace("1987 års", "1989 års").replace("President Putin har upprepade", "President Medvedev har upprepade")
    sv = sv.replace("Detta var ett ryskt initiativ.\n", "")  # a sentence only the English version has
    assert "1989 års" in sv and "Medvedev" in sv and "ryskt initiativ" not in sv
    folder = tmp_path_factory.mktemp("changed-seed")
    path = folder / "seed-changed.txt"
    path.write_text(en + "🎙 Utrikesminister" + sv, encoding="utf-8")
    settings = settings_for(folder / "index")
    run_index([path], settings, embedder=embedder, progress=False)
    eng = Engine.open(settings=settings, embedder=embedder)
    yield eng
    eng.close()


def test_versions_side_by_side_mark_the_differences(changed_seed):
    a = changed_seed.quote("there can be no victors in a nuclear war, thus it should never be instigated")
    q = a.quotes[0]
    assert q.language == "en" and q.versions
    # the quote carries a note: its Swedish version has another figure
    [note] = q.version_differences
    assert note["language"] == "sv" and note["numbers"] == {"here": ["1987"], "there": ["1989"]}
    assert "1987" in a.answer and "1989" in a.answer and "Swedish version differs" in a.answer
    assert "names" not in note  # Gorbachev-Reagan / Gorbatjov-Reagan-princip: one name, two spellings
    assert q.to_json()["version_differences"][0]["numbers"]["there"] == ["1989"]

    [c], lang = compare_ref(changed_seed, q.ref)
    assert lang == "en" and c.other.language == "sv"
    differs = [r for r in c.rows if r.status == "differs"]
    assert {tuple(r.difference.numbers_there) for r in differs} >= {("1989",)}
    putin = [r for r in differs if r.difference.names_there]
    assert putin and putin[0].difference.names_here == ["Putin"] and putin[0].difference.names_there == ["Medvedev"]
    assert any(r.in_quote and r.status == "differs" for r in c.rows)
    text = versions_text([c])
    assert "figures 1987 here, 1989 there" in text and "names Putin here, Medvedev there" in text
    d = c.to_json()
    assert d["counts"]["differs"] == len(differs) and d["rows"][0]["here"]


def test_versions_of_the_real_seed_agree_and_carry_no_note(engine):
    a = engine.quote("We will not be satisfied with a truce")
    q = a.quotes[0]
    assert q.versions and not q.version_differences and "version_differences" not in q.to_json()
    [c], _ = compare_ref(engine, q.ref)
    counts = c.counts()
    assert counts["differs"] == 0 and counts["aligned"] >= 15


def test_a_sentence_missing_in_one_version_is_marked(changed_seed):
    q = changed_seed.quote("This was a Russian initiative.").quotes[0]
    [c], _ = compare_ref(changed_seed, q.ref)
    missing = [r for r in c.rows if r.status == "only_here"]
    assert [r.here_text for r in missing] == ["This was a Russian initiative."]
    assert missing[0].in_quote and missing[0].there is None
    assert "(only in English)" in versions_text([c])


def test_cli_check_verify_versions(small_index, monkeypatch):
    from typer.testing import CliRunner

    from bot.cli import app

    monkeypatch.setenv("ONRECORD_INDEX", str(small_index))
    r = CliRunner().invoke(app, ["check", "--json", "--speaker", "Lavrov", "We will be satisfied with a truce"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout.strip().splitlines()[-1])
    assert {"question", "language", "found", "answer", "quotes"} <= set(d) and d["verdict"]["kind"] == "altered"
    ref = d["quotes"][0]["ref"]
    r = CliRunner().invoke(app, ["verify", "--json", ref])
    assert r.exit_code == 0 and json.loads(r.stdout)["status"] == "intact"
    r = CliRunner().invoke(app, ["versions", ref])
    assert r.exit_code == 0 and "[sv] Vi blir inte nöjda med en vapenvila." in r.stdout
    r = CliRunner().invoke(app, ["verify", "onrecord://nothing"])
    assert r.exit_code == 2


def test_a_forged_reference_never_opens_a_file_the_index_does_not_hold(engine, tmp_path):
    """A reference is user input (Slack button values, MCP arguments): its source hint is a path. A file
    the index does not hold is not read, so nothing of it is shown."""
    secret = tmp_path / "secret.txt"
    secret.write_text("SLACK_BOT_TOKEN=xoxb-not-for-anyone\nThe second line of a private file.\n", encoding="utf-8")
    forged = QuoteRef("0" * 16, 0, 20, "1" * 16, str(secret))
    result = verify(engine, str(forged))
    shown = json.dumps(result.to_json(), ensure_ascii=False) + verify_text(result, "en")
    assert result.status == "gone" and not result.file.checked
    assert "xoxb" not in shown and "private file" not in shown


def test_a_translated_name_is_no_difference_in_a_quotes_note(tmp_path, embedder, settings_for):
    """The bundled sample's Swedish 'Hamngatan' is 'Harbour Street' in English: the quote carries no
    note; names are compared where they can be seen in their sentences (`onrecord versions`)."""
    from bot.answer import Engine
    from bot.render.text import terminal_text
    from index.indexer import run_index
    from tests.conftest import REPO

    settings = settings_for(tmp_path / "index")
    run_index([REPO / "samples" / "harbour-press-conference.md"], settings, embedder=embedder, progress=False)
    eng = Engine.open(settings=settings, embedder=embedder)
    try:
        a = eng.ask("Vad sa ministern om hamntunneln?")
        street = [q for q in a.quotes if "Hamngatan" in q.text]
        assert street and street[0].versions and "Harbour Street" in street[0].versions[0].text
        assert not any(q.version_differences for q in a.quotes)
        assert "skiljer sig" not in terminal_text(a)
    finally:
        eng.close()
