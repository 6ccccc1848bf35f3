"""Prose answers written by a chat model, in which every quote is a slice inserted by On Record.

The model gets the question, its language and the engine's ranked, verified quotes as numbered
passages cut into numbered sentences; it answers with prose that cites passages as [n] and names the
quotes it wants by passage and sentence span (structured output, bot/llm/schema.py). bot/llm/check.py
inserts the slices and neutralises anything else the model put between quotation marks. A model that is
off, slow, failing, or whose answer does not pass the checks leaves the extractive answer as it is:
the reason is logged, never shown.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from string import Template

import yaml
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.output_parsers import PydanticOutputParser

from index.language import UNSURE, detect_language

from ..answer.types import Answer, Answerer
from ..render.citation import citation, plain
from ..messages import language_name
from index.errors import ProseRefused

from .check import MARKER, PLACEHOLDER, Checked, Inserted, Passage, check
from .schema import ProseOut

log = logging.getLogger(__name__)

PROMPTS = Path(__file__).parent / "prompts"
FALLBACK_LANGUAGE = "en"
# Model calls run here so that a slow one can be abandoned at the time budget (the provider's own
# timeout, set to the same budget, ends the request itself).
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="onrecord-llm")


@lru_cache(maxsize=None)
def prompt(name: str, lang: str | None = None) -> str:
    """A prompt file: `name.<lang>.txt` where a language needs its own, else `name.txt`."""
    for path in ([PROMPTS / f"{name}.{lang}.txt"] if lang else []) + [PROMPTS / f"{name}.txt"]:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise FileNotFoundError(PROMPTS / f"{name}.txt")


@lru_cache(maxsize=None)
def label(lang: str, key: str) -> str:
    """Words On Record adds around the prose (translation label, sources), per language, English fallback."""
    for code in (lang, FALLBACK_LANGUAGE):
        path = PROMPTS / f"{code}.yaml"
        if path.is_file():
            words = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if key in words:
                return words[key]
    raise KeyError(key)


@dataclass
class ProseResult:
    """The model's prose with its inserted slices, or why there is none (then the extractive answer stands)."""

    language: str
    text: str | None = None  # prose, slices inserted, then the sources of the [n] it cites
    inserted: list[Inserted] = field(default_factory=list)
    sources: dict[int, dict] = field(default_factory=dict)  # passage number -> quote JSON (citation)
    counts: Counter = field(default_factory=Counter)  # what the checks did
    fallback: str | None = None  # why no prose (logged; never shown to users)

    @property
    def ok(self) -> bool:
        return self.text is not None

    def json_fields(self) -> dict:
        """Beside the unchanged `quotes` of `ask --json`."""
        return {
            "prose": self.text,
            "prose_quotes": [i.to_json() for i in self.inserted],
            "prose_checks": dict(sorted(self.counts.items())),
        }


class ProseWriter:
    """Writes prose answers with a langchain chat model over an Answerer's verified quotes."""

    def __init__(self, engine: Answerer, model: BaseChatModel, *, timeout: float = 20.0, passages: int = 6,
                 method: str | None = None, languages: list[str] | None = None):
        self.engine = engine
        self.model = model
        self.timeout = timeout
        self.passages = passages
        self.method = method
        self.languages = languages or getattr(getattr(engine, "settings", None), "languages", None) or []
        self._runnable, self._text_mode = self._structured()

    @classmethod
    def from_settings(cls, engine: Answerer, settings) -> "ProseWriter | None":
        """The writer the settings ask for, or None when no model is configured (extractive answers only)."""
        from .models import chat_model

        model = chat_model(settings)
        if model is None:
            return None
        return cls(engine, model, timeout=settings.llm_timeout, passages=settings.llm_passages,
                   method=settings.llm_method, languages=settings.languages)

    def _structured(self):
        """The model bound to ProseOut: the provider's structured output, or JSON asked for in text."""
        if self.method != "text":
            try:
                kwargs = {"method": self.method} if self.method else {}
                return self.model.with_structured_output(ProseOut, **kwargs), False
            except NotImplementedError:
                pass
        return self.model | PydanticOutputParser(pydantic_object=ProseOut), True

    # -- the request ---------------------------------------------------------------------------
    def messages(self, question: str, lang: str, passages: list[Passage]) -> list:
        name = language_name(lang, "en")
        system = Template(prompt("system", lang)).safe_substitute(language=lang, language_name=name)
        if self._text_mode:
            system += prompt("text_format", lang)
        payload = {
            "question": question,
            "answer_language": f"{name} ({lang})",
            "passages": [
                {
                    "passage": p.n,
                    "speaker": p.quote.speaker,
                    "title": p.quote.title,
                    "date": p.quote.date,
                    "language": p.quote.language,
                    "sentences": {str(i): p.quote.text[s:e] for i, (s, e) in enumerate(p.sentences, start=1)},
                }
                for p in passages
            ],
        }
        # JSON: a transcript's words stay inside their strings, whatever quotes or brackets they hold
        return [SystemMessage(system), HumanMessage(json.dumps(payload, ensure_ascii=False, indent=1))]

    def candidates(self, question: str, lang_hint: str | None) -> tuple[str, list[Passage]]:
        cand: Answer = self.engine.ask(question, lang_hint=lang_hint, limit=self.passages)
        quotes = cand.quotes if cand.found else []
        return cand.language, [Passage.of(i, q, cand.language) for i, q in enumerate(quotes, start=1)]

    # -- sync and async ------------------------------------------------------------------------
    def write(self, question: str, lang_hint: str | None = None) -> ProseResult:
        lang, passages = self.candidates(question, lang_hint)
        if not passages:
            return ProseResult(lang, fallback="nothing on record")  # the model is not asked
        future = _POOL.submit(self._runnable.invoke, self.messages(question, lang, passages))
        try:
            out = future.result(timeout=self.timeout)
        except FutureTimeout:
            future.cancel()
            return self._failed(lang, f"no answer within {self.timeout:g} s")
        except Exception as exc:  # noqa: BLE001 - any provider or parsing failure: the extractive answer stands
            return self._failed(lang, f"{type(exc).__name__}: {exc}", exc)
        return self._finish(lang, passages, out)

    async def awrite(self, question: str, lang_hint: str | None = None) -> ProseResult:
        lang, passages = await asyncio.to_thread(self.candidates, question, lang_hint)
        if not passages:
            return ProseResult(lang, fallback="nothing on record")
        try:
            out = await asyncio.wait_for(self._runnable.ainvoke(self.messages(question, lang, passages)), self.timeout)
        except asyncio.TimeoutError:
            return self._failed(lang, f"no answer within {self.timeout:g} s")
        except Exception as exc:  # noqa: BLE001
            return self._failed(lang, f"{type(exc).__name__}: {exc}", exc)
        return self._finish(lang, passages, out)

    def _failed(self, lang: str, reason: str, exc: Exception | None = None, counts: Counter | None = None) -> ProseResult:
        log.warning("prose answer not used, extractive answer stands: %s", reason[:300])
        if exc is not None:
            log.debug("model failure", exc_info=exc)
        return ProseResult(lang, counts=counts or Counter(), fallback=reason)

    def _finish(self, lang: str, passages: list[Passage], out) -> ProseResult:
        if not isinstance(out, ProseOut):
            return self._failed(lang, f"no structured answer ({type(out).__name__})")
        try:
            checked = check(out, passages, lang, label(lang, "translation"))
            self._check_language(checked, lang)
        except ProseRefused as refused:
            return self._failed(lang, refused.reason, counts=refused.counts)
        if any(v for k, v in checked.counts.items() if k not in ("quote_inserted", "typed_quote_exact")):
            log.info("prose checks: %s", dict(checked.counts))
        by_n = {p.n: p for p in passages}
        sources = [f"[{n}] {plain(citation(by_n[n].quote, lang))}" for n in checked.cited]
        text = checked.text + "\n\n" + label(lang, "sources") + "\n" + "\n".join(sources)
        return ProseResult(lang, text=text, inserted=checked.inserted,
                           sources={n: by_n[n].quote.to_json() for n in checked.cited}, counts=checked.counts)

    def _check_language(self, checked: Checked, lang: str) -> None:
        """The prose (its own words, not the quotes) must be in the question's language."""
        own = MARKER.sub(" ", PLACEHOLDER.sub(" ", checked.own))
        if not self.languages or len(own.split()) < 3:
            return
        found, confidence = detect_language(own, self.languages, hint=lang)
        if found and found != lang and confidence >= UNSURE:
            checked.counts["prose_in_another_language"] += 1
            raise ProseRefused(f"prose written in {found}, question in {lang}", checked.counts)


def writer_for(engine: Answerer, settings, wanted: bool | None = None) -> ProseWriter | None:
    """The prose writer for a front end: `wanted` True (`--llm`) needs a configured model, False turns
    prose off, None follows the settings (on when ONRECORD_LLM_PROVIDER is set)."""
    from index.errors import LLMUnavailable

    if wanted is False or (wanted is None and not settings.llm_provider):
        return None
    if not settings.llm_provider:
        raise LLMUnavailable("--llm needs a chat model: set ONRECORD_LLM_PROVIDER (openai or ollama) and "
                             "ONRECORD_LLM_MODEL (see docs/llm.md)")
    return ProseWriter.from_settings(engine, settings)
