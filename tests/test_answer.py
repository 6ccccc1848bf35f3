"""Answers on a real index: language, verbatim quotes, citations, versions, abstention, bad input."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from bot.messages import available, catalogue, t


def _verbatim(q) -> bool:
    return open(q.source, encoding="utf-8").read()[q.start : q.end] == q.text


def test_swedish_question_is_answered_in_swedish_from_the_swedish_version(engine):
    a = engine.ask("Vad sa Lavrov om vapenvila?")
    assert a.language == "sv" and a.found
    # the speaker the question names is a filter, said first (bot/answer/filters.py)
    assert a.answer.startswith(t("sv", "filtered", filters="Sergey Lavrov") + "\n" + t("sv", "found"))
    first = a.quotes[0]
    assert first.language == "sv" and "seed" in first.source
    assert "vapenvila" in first.text.lower()
    assert first.speaker == "Sergey Lavrov" and first.date == "2024-12-25"
    assert first.location.startswith("¶ ")
    assert _verbatim(first)
    assert any(v.language == "en" and _verbatim(v) for v in first.versions)


def test_same_question_in_english_quotes_the_english_version(engine):
    a = engine.ask("What did Lavrov say about a truce?")
    assert a.language == "en" and a.found
    assert a.quotes[0].language == "en" and "truce" in a.quotes[0].text.lower()
    assert all(_verbatim(q) for q in a.quotes)
    # one statement in two languages counts once
    assert len({q.source for q in a.quotes if "seed" in q.source}) <= 1


def test_cross_lingual_question_quotes_the_original_and_says_its_language(engine):
    a = engine.ask("Что Захарова сказала о кредите ЕС Киеву?")
    assert a.language == "ru" and a.found
    q = a.quotes[0]
    assert q.language == "en" and "loan to Kiev" in q.text
    assert "язык оригинала: английский" in a.answer  # "original in English", in Russian
    assert _verbatim(q)


def test_quote_lookup_finds_misspelled_fragment_across_two_sentences(engine):
    a = engine.quote("history is a strict lady, she doesnt forgive such short memories")
    assert a.found
    assert a.quotes[0].text == "History is a strict lady. She does not forgive such short memories."
    assert _verbatim(a.quotes[0])


def test_quote_lookup_with_typos_and_a_swapped_word_returns_versions(engine):
    a = engine.quote("we are not interestd in escalting the issue of nuclaer weapons usage")
    assert a.found
    q = a.quotes[0]
    assert q.text == "We are not interested in escalating the issue of nuclear weapons usage risks."
    assert [v.text for v in q.versions] == ["Vi är inte intresserade av att eskalera frågan om kärnvapenanvändning."]
    b = engine.quote("relations between China and Russia are now at their highest level in history")
    assert b.found and "highest level in history" in b.quotes[0].text


def test_nothing_relevant_is_said_so_in_the_question_language(engine):
    # (the fast model's answer model is near its threshold on "Lavrov ... Fukushima" in Swedish, before and
    # after its calibration was refitted: the default model declines it at 0.21 against 0.41)
    a = engine.ask("Vad sa Lavrov om pingvinerna i Antarktis?")
    assert (a.found, a.quotes, a.language) == (False, [], "sv")
    # after the speaker filter and what it left (bot/answer/filters.py), the answer says so
    assert a.answer.startswith(t("sv", "filtered", filters="Sergey Lavrov") + "\n")
    assert a.answer.endswith("\n" + t("sv", "not_found"))
    b = engine.quote("the quick brown fox jumps over the lazy dog")
    assert not b.found and b.answer == t("en", "not_found_quote")


@pytest.mark.parametrize("raw", ["", "   ", "🙂🙂🙂", "?!...", "\x00\x07\x1b[31m"])
def test_empty_or_meaningless_questions_get_a_clear_message(engine, raw):
    a = engine.ask(raw)
    assert not a.found and a.quotes == []
    assert a.answer == t(a.language, "empty_question")


def test_slack_markup_control_characters_and_huge_paste(engine):
    a = engine.ask("<@U123ABC> <#C1|general> what did Lavrov say about a truce? <http://x.example|link>\x00")
    assert a.found and a.quotes[0].language == "en"
    assert "<@U123ABC>" not in a.question or a.question.startswith("<@U123ABC>")  # the question is echoed as asked
    huge = ("What did Lavrov say about a truce? " + "blah " * 5000)[:20000]
    b = engine.ask(huge)
    used = int(re.search(r"\d+", b.notes[0]).group())
    assert 1000 < used <= 2000 and b.answer.startswith(b.notes[0])
    assert b.found and b.quotes[0].language == "en"


def test_language_outside_the_set_falls_back_clearly(engine):
    a = engine.ask("ロシアの外務大臣は停戦について何と言いましたか?")
    assert a.language == "en"  # words of the answer in the fallback language
    assert a.answer.splitlines()[0] in (t("en", "found"), t("en", "not_found"))
    b = engine.ask("ロシアの外務大臣は停戦について何と言いましたか?", lang_hint="sv")
    assert b.language == "sv"


def test_message_catalogues_have_every_key():
    keys = set(catalogue("en"))
    assert {"en", "sv", "ru", "de"} <= set(available())
    for lang in available():
        assert set(catalogue(lang)) == keys, lang


def test_cli_json_contract_and_stdin_lines(small_index, monkeypatch):
    from typer.testing import CliRunner

    from bot.cli import app

    monkeypatch.setenv("ONRECORD_INDEX", str(small_index))
    r = CliRunner().invoke(app, ["ask", "--json", "Vad sa Lavrov om vapenvila?"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout.strip().splitlines()[-1])
    # the contract's keys, and `filters`: the question names the speaker (bot/answer/filters.py)
    assert set(d) == {"question", "language", "found", "answer", "quotes", "filters"}
    assert d["filters"]["speaker"] == "Sergey Lavrov" and d["filters"]["from_question"] == ["speaker"]
    q = d["quotes"][0]
    assert {"text", "language", "source", "title", "speaker", "date", "url", "location", "start", "end", "score"} <= set(q)
    assert open(q["source"], encoding="utf-8").read()[q["start"] : q["end"]] == q["text"]
    r = CliRunner().invoke(app, ["quote", "--json", "-"], input="history is a strict lady\n\nnothing like this sentence at all zzz\n")
    lines = [json.loads(x) for x in r.stdout.strip().splitlines() if x.startswith("{")]
    assert [x["found"] for x in lines] == [True, False]
    r = CliRunner().invoke(app, ["ask", "Vad sa Lavrov om vapenvila?"])
    assert r.exit_code == 0 and "\n> " in r.stdout and "— Sergey Lavrov" in r.stdout


def test_short_acronyms_are_names_a_question_turns_on():
    """"G7" decides whether the record answers "What has Moscow said about the G7 oil price cap?"."""
    from bot.answer.names import entities, missing_entities

    assert entities("What has Moscow said about the G7 oil price cap?") == ["Moscow", "G7"]
    assert entities("Was sagte die AfD zur EU?") == ["AfD", "EU"]
    assert entities("Am Ende: wie geht es weiter?") == ["Ende"]  # "Am" is a word, not an acronym
    assert missing_entities("What did the G7 say?", "The G7 summit ended.") == []
    assert missing_entities("What did the G7 say?", "The G20 summit ended.") == ["G7"]


def test_german_nouns_are_not_names_and_russian_names_match_across_spellings():
    from bot.answer.names import entities, phonetic

    # German capitalises every noun: after an article it is a word, not a name the record must spell
    assert entities("Was sagte Lawrow über den Waffenstillstand?", "de") == ["Lawrow"]
    assert entities("Welche Rolle spielt die OVKS für Russland?", "de") == ["OVKS", "Russland"]
    assert entities("Was sagte Lawrow über den Waffenstillstand?", "en") == ["Lawrow", "Waffenstillstand"]
    for spellings in (["Sacharowa", "Zakharova", "Захарова"], ["Saporischschja", "Zaporizhzhia"],
                      ["Kiew", "Kiev"], ["Lawrow", "Lavrov", "Лавров"], ["Uljanow", "Ulyanov"]):
        assert len({phonetic(s) for s in spellings}) == 1, spellings


def test_words_leading_up_to_a_found_name_are_not_missing():
    """A first name or title before a surname the record has is part of that name (dev question d129:
    the record says "Premierminister Hamdok", the question "Regierungschef Abdallah Hamdouk"); a name
    after a comma, or a name whose own last word is missing, still counts."""
    from bot.answer.names import missing_entities

    record = "drei Treffen mit Premierminister Hamdok"
    q = "Wie oft traf Maas den sudanesischen Regierungschef Abdallah Hamdouk?"
    assert missing_entities(q, record, "de") == ["Maas"]
    assert missing_entities("Was sagte Lawrow über Boris Johnson?", "Lavrov and Johnson", "de") == []
    assert missing_entities("Was sagte Lawrow über Boris Johnson?", "Lavrov and Boris", "de") == ["Johnson"]
    assert missing_entities("Traf Lawrow Boris, Johnson?", "Lavrov and Johnson", "de") == ["Boris"]
    assert missing_entities("Was sagte Lawrow über die WHO Russland?", "Lavrov, Russland", "de") == ["WHO"]
    # English puts a generic word last: "Chagos" is what the question turns on, not "Islands"
    assert missing_entities("What did Lavrov say about the Chagos Islands?", "Lavrov, the Falkland Islands",
                            "en") == ["Chagos"]


def test_two_word_names_are_candidates_for_one_word_translations():
    from index.textnorm import capitalised_words

    found = capitalised_words("The European Parliament and the Council met in Moscow.")
    assert {"European Parliament", "Moscow", "Council"} <= set(found)
    assert "Parliament and" not in found


def test_bare_labels_are_not_quoted_as_statements():
    from bot.answer.assemble import is_statement

    for label in ("X (ex-Twitter)", "Facebook", "Russia's MFA website"):
        assert not is_statement(label)
    for said in ("Nein!", "„Ja.“", "We will not.", "Man braucht nur vier Buchstaben"):
        assert is_statement(said)


def test_a_names_presence_is_looked_up_as_the_word_by_word_check_finds_it(corpus):
    """NameKeys answers in a few lookups what comparing the name's key with every word of the text
    answers (same key, a prefix, fuzzy ratio 80 within 3 letters, a compound's head either way): checked
    on real transcripts against the question names of every dev question, and variants of them."""
    import random

    from rapidfuzz import fuzz

    from bot.answer.names import _TOKEN, entities, name_keys, phonetic

    def word_by_word(key: str, keys: set[str]) -> bool:
        if key in keys:
            return True
        prefix = key[: max(4, len(key) - 2)]
        for w in keys:
            if w.startswith(prefix) or (abs(len(w) - len(key)) <= 3 and fuzz.ratio(key, w) >= 80):
                return True
            if len(w) >= 6 and len(key) > len(w) and key.endswith(w):
                return True
            if len(key) >= 6 and len(w) > len(key) and w.endswith(key):
                return True
        return False

    rng = random.Random(7)
    questions = [json.loads(x) for x in (corpus.parent / "dev-questions.jsonl").read_text().splitlines() if x.strip()]
    names = sorted({e for q in questions for e in entities(q["question"], q.get("lang"))})
    variants = [n[: len(n) - 2] for n in names] + [n + "ов" for n in names] + ["Kern" + n.lower() for n in names]
    files = sorted(p for p in corpus.rglob("*") if p.suffix in (".txt", ".md"))
    texts = [f.read_text(encoding="utf-8")[:4000] for f in rng.sample(files, 25)] + ["", "G7 Kraftwerk"]
    found = checked = 0
    for text in texts:
        keys = {phonetic(w) for w in _TOKEN.findall(text)}
        fast = name_keys(text)
        for name in names + variants + [w for w in _TOKEN.findall(text)[:40]]:
            key = phonetic(name)
            expect = word_by_word(key, keys)
            assert fast.present(key) == expect, (name, text[:60])
            found += expect
            checked += 1
    assert checked > 5000 and 0 < found < checked  # both answers were exercised


class _CountingEmbedder:
    """The real embedder, recording the texts it is asked to embed as passages (names, words)."""

    def __init__(self, inner):
        self.inner, self.passages = inner, []
        self.name, self.dimension = inner.name, inner.dimension

    def embed_queries(self, texts):
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts):
        self.passages += list(texts)
        return self.inner.embed_passages(texts)


def test_the_passages_names_are_embedded_with_them_and_a_question_embeds_only_its_own(
        small_index, embedder, settings_for):
    """The names check compares a name the passages do not spell with their capitalised words through
    the model; those words are embedded at index time, so a question embeds only its own names."""
    from bot.answer import Engine
    from bot.answer.evidence import passages_text
    from index.store import open_backend
    from index.textnorm import capitalised_words

    reader = open_backend(small_index).open_reader()
    try:
        ids = [d.id for d in reader.documents()]
        pids = sorted(reader.passages(range(1, 40)))
        words = capitalised_words(passages_text(reader, pids, []))
        stored = reader.word_vectors(words)
        assert len(ids) > 3 and len(words) > 50 and sorted(stored) == words
        sample = words[:: max(1, len(words) // 8)]
        cos = np.sum(np.stack([stored[w] for w in sample]) * embedder.embed_passages(sample), axis=1)
        assert cos.min() > 0.99, cos  # the model's vector of the word alone, in float16
    finally:
        reader.close()
    counting = _CountingEmbedder(embedder)
    eng = Engine.open(settings=settings_for(small_index), embedder=counting)
    try:
        answer = eng.ask("What did Lavrov say about the Fukushima reactor?")
    finally:
        eng.close()
    assert counting.passages == ["Fukushima"], counting.passages
    assert not answer.found  # Fukushima is nowhere in the record
