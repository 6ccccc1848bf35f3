"""Optional prose answers from a langchain chat model, in which every quote is a slice On Record inserts.

    writer = ProseWriter.from_settings(engine, settings)   # None when ONRECORD_LLM_PROVIDER is unset
    result = writer.write("What did Lavrov say about a truce?")
    result.text or answer.answer                            # prose, or the extractive answer
"""
from .check import Inserted, Passage, check
from .models import chat_model
from .prose import ProseResult, ProseWriter, writer_for
from .schema import ProseOut, QuoteRef

__all__ = ["Inserted", "Passage", "ProseOut", "ProseResult", "ProseWriter", "QuoteRef",
           "chat_model", "check", "writer_for"]
