"""On Record as a LangChain retriever: verified verbatim quotes, with their citations, as Documents.

    from bot.retriever import OnRecordRetriever
    retriever = OnRecordRetriever.from_index("~/.local/share/onrecord/index", k=3)
    docs = retriever.invoke("Vad sa Lavrov om vapenvila?")   # [] when nothing is on record

Each Document's page_content is an exact slice of the source text (the quote `onrecord ask --json`
prints), in the language asked where a version in it exists; its metadata is that quote's citation.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from .answer.types import Answer, Answerer, Quote


class OnRecordRetriever(BaseRetriever):
    """Retrieves what was said on record: one Document per verified quote, none when the record is silent.

    Metadata: source, start, end, speaker, title, date, url, location, language, score (as in
    `ask --json`, plus speaker_role, spoken_language and versions where known) and question_language.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    engine: Any = Field(description="An On Record answering engine (bot.answer.Engine or any Answerer).")
    k: int = Field(default=3, description="Quotes per question, as `ask` shows them.")
    lang_hint: str | None = Field(default=None, description="Language (ISO 639-1) that wins when detection is unsure.")

    @classmethod
    def from_index(cls, index_dir: str | Path | None = None, settings=None, embedder=None, **kwargs) -> "OnRecordRetriever":
        """A retriever over an index folder (default: ONRECORD_INDEX); loads the embedding model once."""
        from .answer import Engine

        path = Path(index_dir).expanduser() if index_dir is not None else None
        return cls(engine=Engine.open(index_dir=path, settings=settings, embedder=embedder), **kwargs)

    def _answer(self, query: str) -> Answer:
        engine: Answerer = self.engine
        return engine.ask(query, lang_hint=self.lang_hint, limit=self.k)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return documents(self._answer(query))

    async def _aget_relevant_documents(self, query: str, *,
                                       run_manager: AsyncCallbackManagerForRetrieverRun) -> list[Document]:
        return documents(await asyncio.to_thread(self._answer, query))


def documents(answer: Answer) -> list[Document]:
    """The answer's quotes as Documents; none when nothing is on record (abstention)."""
    if not answer.found:
        return []
    return [to_document(q, answer.language) for q in answer.quotes]


def to_document(quote: Quote, question_language: str) -> Document:
    meta = quote.to_json()
    text = meta.pop("text")
    meta["question_language"] = question_language
    return Document(page_content=text, metadata=meta, id=f"{quote.source}:{quote.start}-{quote.end}")
