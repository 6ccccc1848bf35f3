"""The chat model the settings name (ONRECORD_LLM_*): an OpenAI-compatible endpoint or a local Ollama server.

Provider packages are the optional extra `llm` (`pip install .[llm]`); without them, or without a
provider set, On Record answers extractively as always.
"""
from __future__ import annotations

import os

from langchain_core.language_models import BaseChatModel

from index.errors import LLMUnavailable

OLLAMA_URL = "http://localhost:11434"


def chat_model(settings) -> BaseChatModel | None:
    """The configured chat model, or None when ONRECORD_LLM_PROVIDER is unset."""
    provider = settings.llm_provider
    if not provider:
        return None
    if not settings.llm_model:
        raise LLMUnavailable("ONRECORD_LLM_MODEL is not set: name the model to use at the provider.")
    try:
        if provider == "openai":
            from langchain_openai import ChatOpenAI

            # a local OpenAI-compatible server usually wants no key; the client insists on one
            key = os.environ.get(settings.llm_api_key_env) or "unused"
            return ChatOpenAI(model=settings.llm_model, base_url=settings.llm_base_url, api_key=key,
                              temperature=0, timeout=settings.llm_timeout, max_retries=0)
        if provider == "ollama":
            from langchain_ollama import ChatOllama

            return ChatOllama(model=settings.llm_model, base_url=settings.llm_base_url or OLLAMA_URL,
                              temperature=0, client_kwargs={"timeout": settings.llm_timeout})
    except ImportError as exc:
        raise LLMUnavailable(f"the {provider} provider is not installed: pip install 'onrecord[llm]' ({exc.name})") from exc
    raise LLMUnavailable(f"unknown ONRECORD_LLM_PROVIDER {provider!r}: openai or ollama")
