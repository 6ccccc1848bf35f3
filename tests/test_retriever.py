"""OnRecordRetriever: On Record as a LangChain retriever over a real index, with the real engine and model."""
from __future__ import annotations

import asyncio
import json

from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from typer.testing import CliRunner

from bot.cli import app
from bot.retriever import OnRecordRetriever

QUESTIONS = [
    "What did Lavrov say about a truce?",
    "Vad sa Lavrov om vapenvila?",
    "What did Zakharova say about the EU loan to Kiev?",
]
UNANSWERABLE = "What did the Pope say about Fukushima in 1970?"


def as_quotes(docs: list[Document]) -> list[dict]:
    """Documents back into `ask --json` quote objects."""
    out = []
    for d in docs:
        meta = dict(d.metadata)
        meta.pop("question_language")
        out.append({"text": d.page_content, **meta})
    return out


def test_documents_are_exactly_the_quotes_ask_json_prints(engine, small_index):
    retriever = OnRecordRetriever(engine=engine)
    runner = CliRunner()
    for question in QUESTIONS:
        result = runner.invoke(app, ["ask", "--json", "--index", str(small_index), question])
        assert result.exit_code == 0, result.output
        printed = json.loads(result.stdout.strip().splitlines()[-1])
        docs = retriever.invoke(question)
        assert printed["found"] and docs
        assert as_quotes(docs) == printed["quotes"]
        for d in docs:
            assert set(d.metadata) >= {"source", "start", "end", "speaker", "title", "date", "url", "location",
                                       "language", "score"}
            assert d.metadata["question_language"] == printed["language"]
            with open(d.metadata["source"], encoding="utf-8") as f:  # a verified slice of the source
                assert f.read()[d.metadata["start"] : d.metadata["end"]] == d.page_content


def test_language_asked_and_k(engine):
    docs = OnRecordRetriever(engine=engine, k=1).invoke("Vad sa Lavrov om vapenvila?")
    assert len(docs) == 1
    assert docs[0].metadata["language"] == "sv" and docs[0].metadata["question_language"] == "sv"
    assert "vapenvila" in docs[0].page_content
    assert docs[0].id == f"{docs[0].metadata['source']}:{docs[0].metadata['start']}-{docs[0].metadata['end']}"


def test_abstention_gives_no_documents(engine):
    retriever = OnRecordRetriever(engine=engine)
    assert engine.ask(UNANSWERABLE).found is False
    assert retriever.invoke(UNANSWERABLE) == []
    assert asyncio.run(retriever.ainvoke(UNANSWERABLE)) == []


def test_async_matches_sync(engine):
    retriever = OnRecordRetriever(engine=engine)

    async def both():
        return await asyncio.gather(*(retriever.ainvoke(q) for q in QUESTIONS))

    for question, docs in zip(QUESTIONS, asyncio.run(both())):
        assert as_quotes(docs) == as_quotes(retriever.invoke(question))


def test_from_index_and_use_in_a_chain(small_index, settings_for, embedder):
    retriever = OnRecordRetriever.from_index(small_index, settings=settings_for(small_index), embedder=embedder)

    def cite(docs: list[Document]) -> str:
        return "\n".join(f"“{d.page_content}” — {d.metadata['speaker']}, {d.metadata['date']}" for d in docs)

    prompt = ChatPromptTemplate.from_messages([
        ("system", "Answer only from these quotes; quote them verbatim.\n{context}"),
        ("human", "{question}"),
    ])
    chain = {"context": retriever | RunnableLambda(cite), "question": RunnablePassthrough()} | prompt
    messages = chain.invoke("What did Lavrov say about a truce?").to_messages()
    docs = retriever.invoke("What did Lavrov say about a truce?")
    assert docs and all(d.page_content in messages[0].content for d in docs)
    assert messages[1].content == "What did Lavrov say about a truce?"
    retriever.engine.close()
