"""Filters in the question (bot/answer/filters.py): speaker, date, source and language read from
questions in English, German, Swedish and Russian, explicit flags and Slack options, applied inside
retrieval, shown back, and an empty result that says which filter emptied it. Real index, real model."""
from __future__ import annotations

import json
from datetime import date

import pytest

from bot.answer.filters import FilterRequest, parse_bound, split_options

TODAY = date(2026, 11, 29)


@pytest.fixture
def read(engine):
    """The filters the engine reads from a question, against the small real index."""
    def _read(question: str, lang: str, request: FilterRequest | None = None):
        with engine.live.reader() as store:
            return engine.filters.read(store, question, lang, request, today=TODAY)
    return _read


@pytest.mark.parametrize("lang, question, bounds, rest", [
    ("en", "What did Zakharova say about Moldova in February?", ("2026-02-01", "2026-02-28"),
     "What did Zakharova say about Moldova?"),
    ("en", "What did Zakharova say from January to March 2024?", ("2024-01-01", "2024-03-31"),
     "What did Zakharova say?"),
    ("en", "What did Lavrov say about the truce last week?", ("2026-11-16", "2026-11-22"),
     "What did Lavrov say about the truce?"),
    ("sv", "Vad sa Lavrov om vapenvila 2024?", ("2024-01-01", "2024-12-31"), "Vad sa Lavrov om vapenvila?"),
    ("sv", "Vad sa Zacharova i december om Moldavien?", ("2025-12-01", "2025-12-31"),
     "Vad sa Zacharova om Moldavien?"),
    ("de", "Was sagte Baerbock im März 2024 über den Sudan?", ("2024-03-01", "2024-03-31"),
     "Was sagte Baerbock über den Sudan?"),
    ("de", "Was sagte Ziemiak am 13. Februar 2020?", ("2020-02-13", "2020-02-13"), "Was sagte Ziemiak?"),
    ("ru", "Что говорила Захарова о Молдавии в феврале?", ("2026-02-01", "2026-02-28"),
     "Что говорила Захарова о Молдавии?"),
    ("ru", "Что сказал Лавров с января по март 2024 года?", ("2024-01-01", "2024-03-31"), "Что сказал Лавров?"),
    ("ru", "Что Лавров сказал о перемирии в 2024 году?", ("2024-01-01", "2024-12-31"),
     "Что Лавров сказал о перемирии?"),
])
def test_dates_in_the_question(read, lang, question, bounds, rest):
    f = read(question, lang)
    where = f.where()
    assert (where.date_from, where.date_to) == bounds
    assert f.text == rest and "date" in f.asked


@pytest.mark.parametrize("lang, question", [
    ("en", "What did the ministry say about the 2024 budget?"),  # a year inside the topic
    ("en", "What was said about the budget for 2024?"),  # a year the topic is about
    ("en", "What did Zakharova's January 15 briefing say about Finland?"),  # no preposition
    ("en", "What did she say about safety during the January unrest?"),  # "the January unrest": a topic
    ("en", "Which embassies did Russia open in 2025?"),  # not what was said: the date is the topic's
    ("de", "Was entschied das Gericht im Januar 2020?"),
    ("en", "What was said in 3 speeches about the truce?"),  # a number, not a date
    ("en", "What may the ministry say in reply?"),  # "may" the verb
    ("de", "Was wurde über den Haushalt 2024 des Bundes gesagt?"),
    ("sv", "Vad sades om budgeten för 2024?"),
    ("ru", "Что говорили о бюджете на 2024 год?"),
])
def test_a_date_inside_the_topic_is_no_filter(read, lang, question):
    f = read(question, lang)
    assert f.date_from is None and f.date_to is None and f.text == question


def test_speaker_source_and_language_from_the_question(read):
    f = read("What did Zakharova say about the European Council?", "en")
    assert f.speakers == ("Maria Zakharova",) and f.asked == ("speaker",)
    assert f.text == "What did Zakharova say about the European Council?"  # the name stays searched
    # named as a topic, not as the one who said it: no speaker filter
    assert not read("What was said about Zakharova's briefing?", "en").speakers
    assert not read("Vad sa ministern om Lavrov?", "sv").speakers
    assert not read("What did the President tell the House about the vote?", "en").speakers  # a role
    # attributed: the one named after "according to / enligt / laut / по словам", not the topic's name
    f = read("Var har Putin tidigare tagit upp frågan om vapenvila, enligt Lavrov?", "sv")
    assert f.speakers == ("Sergey Lavrov",) and f.titled == ("Lavrov",)
    assert read("Was geschah in Moldau laut Sacharowa?", "de").speakers == ("Maria Zakharova",)
    assert read("Vad sa Lavrov om vapenvila?", "sv").speakers == ("Sergey Lavrov",)
    assert read("Was sagte Sacharowa über den Europäischen Rat?", "de").speakers == ("Maria Zakharova",)
    # a collection of the index, named after a preposition, in any script
    f = read("Что говорили в Бундестаге о Тюрингии?", "ru")
    assert f.sources == ("bundestag-de",) and f.text == "Что говорили о Тюрингии?"
    assert read("What was said in the Bundestag about Thuringia?", "en").sources == ("bundestag-de",)
    assert read("Vad sades i Europaparlamentet om mjölkkvoter?", "sv").sources == ("europarl-en",)
    assert not read("What did Lavrov say about the Bundestag?", "en").sources
    # a language: closing the question or before what it is about, not "in English media"
    f = read("Vad sa Lavrov på engelska om vapenvila?", "sv")
    assert f.languages == ("en",) and f.text == "Vad sa Lavrov om vapenvila?"
    assert read("Что сказал Лавров на английском языке о перемирии?", "ru").languages == ("en",)
    assert read("Was sagte Lawrow auf Schwedisch?", "de").languages == ("sv",)
    assert not read("What was said in English media about the truce?", "en").languages
    assert not read("What did Lavrov say in Russia?", "en").languages


def test_no_filter_leaves_the_question_as_it_is(read, engine):
    """Questions without a filter: the same text searched, no store filter (the unfiltered searches),
    no `filters` in the JSON."""
    questions = [("en", "How did Moscow react to the drone attacks on tankers near the CPC terminal?"),
                 ("en", "What did the European Council decide about the loan to Kiev?"),
                 ("sv", "Vad sades om historien som en sträng dam?"),
                 ("de", "Welche Verantwortung trägt die Union für Thüringen?"),
                 ("ru", "Где запустили первый энергоблок Курской АЭС-2?")]
    for lang, q in questions:
        f = read(q, lang)
        assert f.where() is None and f.text == q and not f.asked
    a = engine.ask(questions[1][1])
    assert "filters" not in a.to_json() and not any(n.startswith("Filtered") for n in a.notes)


def test_options_and_explicit_dates():
    text, req = split_options('speaker:Lavrov from:2024-01 to:"March 2024" source:seed What about the truce?')
    assert text == "What about the truce?"
    assert req == FilterRequest(speaker="Lavrov", date_from="2024-01", date_to="March 2024", source="seed")
    assert split_options("What is the ratio 3:4 about?") == ("What is the ratio 3:4 about?", FilterRequest())
    assert [parse_bound(v, "en", TODAY) for v in ("2024", "2024-03", "2024-03-15", "15.03.2024", "März 2024")] == [
        "2024", "2024-03", "2024-03-15", "2024-03-15", "2024-03"]
    assert parse_bound("soon", "en", TODAY) is None


def test_a_filtered_answer_in_english(engine):
    a = engine.ask("What did Zakharova say about the European Council in December 2025?")
    assert a.found and a.quotes
    assert all(q.speaker == "Maria Zakharova" and q.date.startswith("2025-12") for q in a.quotes)
    assert a.notes[0] == "Filtered: Maria Zakharova, December 2025"
    assert a.answer.startswith("Filtered: Maria Zakharova, December 2025\n")
    d = a.to_json()
    assert d["filters"]["speaker"] == "Maria Zakharova"
    assert (d["filters"]["from"], d["filters"]["to"]) == ("2025-12-01", "2025-12-31")
    assert d["filters"]["from_question"] == ["date", "speaker"] and "empty" not in d["filters"]


def test_a_filtered_answer_in_swedish_german_and_russian(engine):
    sv = engine.ask("Vad sa Lavrov om vapenvila 2024?")
    assert sv.language == "sv" and sv.found
    assert sv.notes[0] == "Filtrerat: Sergey Lavrov, 2024"
    assert all(q.date == "2024-12-25" and "Lavrov" in q.speaker for q in sv.quotes)
    de = engine.ask("Was sagte Sacharowa im Dezember 2025 über den Europäischen Rat?")
    assert de.language == "de" and de.found and de.notes[0] == "Gefiltert: Maria Zakharova, Dezember 2025"
    assert all(q.speaker == "Maria Zakharova" and q.date == "2025-12-19" for q in de.quotes)
    de = engine.ask("Was sagte Ziemiak über die Verantwortung der Union?")
    assert de.found and de.notes[0] == "Gefiltert: Paul Ziemiak"
    assert all(q.speaker == "Paul Ziemiak" for q in de.quotes)
    ru = engine.ask("Что говорили в Бундестаге об ответственности за Тюрингию?")
    assert ru.language == "ru" and ru.notes[0] == "Фильтр: bundestag-de"
    assert ru.filters["sources"] == ["bundestag-de"]
    assert all("/bundestag-de/" in q.source for q in ru.quotes)


def test_the_filter_applies_inside_retrieval(engine):
    """The source filter keeps the German speech among the candidates of an English question about the
    seed's words: searched among the admitted passages, not cut from the unfiltered top k."""
    from bot.answer.asked import Asked
    from bot.answer.retrieve import retrieve

    with engine.live.reader() as store:
        f = engine.filters.read(store, "What was said in the Bundestag about history being a strict lady?", "en")
        asked = Asked(f.text, "en", engine.vectors.query(f.text))
        filtered = retrieve(store, asked, engine.tuning, engine.speakers, where=f.where())
        plain = retrieve(store, asked, engine.tuning, engine.speakers)
        docs = {store.passage(h.passage_id).doc_id for h in filtered}
        sources = {store.document(d).source for d in docs}
        assert filtered and all("/bundestag-de/" in s for s in sources)
        assert len(filtered) > len([h for h in plain if h.passage_id in {x.passage_id for x in filtered}])


def test_an_empty_result_says_which_filter_emptied_it(engine):
    a = engine.ask("What did Zakharova say about the European Council in March 2024?")
    assert not a.found and not a.quotes
    with engine.live.reader() as store:
        from index.store import PassageFilter

        # hers, and unattributed passages of posts titled with her name ("Spokeswoman Maria Zakharova:")
        n = store.count_documents(PassageFilter(speakers=("Maria Zakharova",), titled=("Zakharova",)))
        assert n > store.count_documents(PassageFilter(speakers=("Maria Zakharova",))) >= 1
    assert a.notes[-1] == (f"No statements on record match Maria Zakharova, March 2024 — without the date filter "
                           f"there are {n}.")
    assert a.filters["empty"] == {"statements": 0, "without": "date", "statements_without": n}
    ru = engine.ask("Что говорила Захарова о Европейском совете в марте 2024 года?")
    assert ru.notes[-1].startswith("Нет заявлений, подходящих под фильтр «Maria Zakharova, март 2024» — без фильтра по дате")
    de = engine.ask('speaker:"Nobody Unknown" Was wurde über die Verantwortung gesagt?')
    assert not de.found and de.notes[-1] == (
        "Keine Äußerungen entsprechen dem Filter Nobody Unknown — ohne den Filter nach Redner sind es 9.")
    # a speech without a date never matches a date filter
    sv = engine.ask("Vad sa Ziemiak om vapenvila i februari 2020?")
    assert not sv.found and sv.notes[-1].startswith("Inga uttalanden matchar filtret Paul Ziemiak, februari 2020")


def test_slack_options_and_rendering(engine):
    from bot.render.slack import render_answer

    a = engine.ask("speaker:Lavrov from:2024-12 to:2024-12 What did he say about the ceasefire?")
    assert a.found and a.notes[0] == "Filtered: Sergey Lavrov, December 2024"
    assert all("Lavrov" in q.speaker for q in a.quotes)
    blocks = render_answer(a)["blocks"]
    assert any(b["type"] == "context" and "Filtered: Sergey Lavrov, December 2024" in json.dumps(b, ensure_ascii=False)
               for b in blocks)


def test_explicit_flags_on_the_command_line(small_index, monkeypatch):
    from typer.testing import CliRunner

    from bot.cli import app

    monkeypatch.setenv("ONRECORD_INDEX", str(small_index))
    questions = "What was said about the European Council?\nWhat was said about the loan to Kiev?\n"
    r = CliRunner().invoke(app, ["ask", "--json", "--speaker", "zakharova", "--from", "2025-12", "--to", "2025-12",
                                 "-"], input=questions)
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert len(lines) == 2
    for d in lines:
        assert d["filters"]["speaker"] == "Maria Zakharova" and d["filters"]["from_question"] == []
        assert (d["filters"]["from"], d["filters"]["to"]) == ("2025-12-01", "2025-12-31")
        assert all(q["speaker"] == "Maria Zakharova" for q in d["quotes"])
    assert lines[0]["found"]
    r = CliRunner().invoke(app, ["ask", "--source", "bundestag-de", "What was said about responsibility?"])
    assert r.exit_code == 0 and "Filtered: bundestag-de" in r.stdout
    r = CliRunner().invoke(app, ["ask", "--from", "soon", "What was said?"])
    assert r.exit_code == 2 and "not a date" in r.output


def test_warm_up_loads_date_languages_and_skips_unknown_ones(engine):
    """A server warms up before serving: every configured language's month names are loaded, a code
    dateparser does not know is passed over (not an error), and the engine answers afterwards."""
    from bot.answer.filters import load_date_languages, month_number

    load_date_languages(["sv", "xx", "ru"])
    assert month_number("mars", "sv") == 3
    assert month_number("марта", "ru") == 3
    engine.warm_up()
    assert engine.ask("What did Zakharova say about Moldova?").language == "en"
