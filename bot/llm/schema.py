"""What the model must answer with (structured output): prose with passage numbers and quote placeholders."""
from __future__ import annotations

from pydantic import BaseModel, Field


class QuoteRef(BaseModel):
    """A quote the model wants in its prose: On Record inserts the passage's sentences first..last."""

    passage: int = Field(description="Number of the passage quoted.")
    first_sentence: int = Field(description="Number of the first sentence quoted, in that passage.")
    last_sentence: int = Field(description="Number of the last sentence quoted (the same as first_sentence for one).")
    translation: str | None = Field(
        default=None,
        description="Only when the passage is not in the answer's language: a translation of the quoted "
        "sentences into it. It is shown labelled as a translation beside the original.",
    )


class ProseOut(BaseModel):
    """A short answer in prose; quotes only as placeholders {Q1}, {Q2}... listed in `quotes`."""

    prose: str = Field(
        description="The answer in the question's language, 1-4 sentences. Cite passages as [n]. Put {Q1}, "
        "{Q2}... where quotes go (the n-th entry of `quotes`). No quotation marks, no quoted words of your own. "
        "Empty when the passages do not answer the question."
    )
    quotes: list[QuoteRef] = Field(default_factory=list, description="The quotes, in the order of their placeholders.")
