"""Settings of the index and the answering engine: environment variables ONRECORD_*, or a .env file."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_LANGUAGES = ["en", "sv", "ru", "de", "fr", "es", "it", "uk", "pl", "fi", "da", "nb", "nl", "pt"]


def _default_home() -> Path:
    return Path(user_data_dir("onrecord", appauthor=False))


class IndexSettings(BaseSettings):
    """Where data lives, which model embeds, how transcripts are cut into passages."""

    model_config = SettingsConfigDict(env_prefix="ONRECORD_", env_file=".env", extra="ignore")

    home: Path = Field(
        default_factory=_default_home,
        description="Data folder (ONRECORD_HOME): holds the prepared model and the default index.",
    )
    index: Path | None = Field(
        default=None,
        description="Index folder (ONRECORD_INDEX); defaults to HOME/index.",
    )
    model: str | None = Field(
        default=None,
        description=(
            "Embedding model (ONRECORD_MODEL): a shipped model's name (multilingual-e5-small, "
            "embeddinggemma-300m; see index/models), a local sentence-transformers folder or a hub name "
            "(needs hub access); safetensors weights only, no remote code. Unset: the default shipped "
            "model (index.models.DEFAULT_MODEL) when prepared, else the fast one."
        ),
    )
    model_dim: int | None = Field(
        default=None,
        description=(
            "Keep only the first N dimensions of each vector (ONRECORD_MODEL_DIM; Matryoshka: "
            "embeddinggemma-300m was trained for 512, 256 and 128 of its 768). Unset: full size. "
            "An index records the size; changing it means a rebuild."
        ),
    )
    models_dir: Path | None = Field(
        default=None, description="Where `onrecord model prepare` writes models; defaults to HOME/models."
    )
    backend: str = Field(
        default="auto",
        description="Embedding precision/backend: auto (picked by a capability check), fp32 or bf16.",
    )
    batch_size: int = Field(default=32, description="Passages per embedding batch.")
    languages: list[str] = Field(
        default_factory=lambda: list(DEFAULT_LANGUAGES),
        description="ISO 639-1 codes language detection may answer with (ONRECORD_LANGUAGES, JSON list).",
    )
    passage_chars: int = Field(
        default=700, description="Target passage size in characters (a few sentences; fits the model window)."
    )
    sidecars: bool = Field(
        default=True,
        description="Read manifest.jsonl / manifest.csv / metadata.csv beside transcripts to override extracted metadata.",
    )
    max_file_mb: int = Field(default=50, description="Files larger than this are skipped, with the reason.")
    follow_symlinks: bool = Field(
        default=False,
        description=(
            "Follow symbolic links that lead out of the folders being indexed (ONRECORD_FOLLOW_SYMLINKS). "
            "Off: such links (to files or folders) are skipped, with the reason, so a link dropped into a "
            "transcripts folder cannot get a private file quoted."
        ),
    )

    # --- LLM prose answers (bot/llm, issue 15): unset provider = extractive answers only, unchanged ---
    llm_provider: Literal["openai", "ollama"] | None = Field(
        default=None,
        description=(
            "Chat model that writes prose answers (ONRECORD_LLM_PROVIDER): openai (any OpenAI-compatible "
            "endpoint, see LLM_BASE_URL) or ollama (a local Ollama server). Needs `pip install .[llm]`. "
            "Unset: extractive answers only."
        ),
    )
    llm_model: str | None = Field(
        default=None, description="Model name at the provider (ONRECORD_LLM_MODEL), e.g. gpt-4o-mini or qwen2.5:7b."
    )
    llm_base_url: str | None = Field(
        default=None,
        description=(
            "Endpoint (ONRECORD_LLM_BASE_URL): an OpenAI-compatible base URL such as http://localhost:8000/v1, "
            "or the Ollama server (default http://localhost:11434)."
        ),
    )
    llm_api_key_env: str = Field(
        default="OPENAI_API_KEY",
        description="Name of the environment variable holding the endpoint's API key (ONRECORD_LLM_API_KEY_ENV); the key itself is never a setting.",
    )
    llm_timeout: float = Field(
        default=20.0,
        description="Seconds the model may take (ONRECORD_LLM_TIMEOUT); slower or failing: the extractive answer stands.",
    )
    llm_passages: int = Field(
        default=6, description="Ranked, verified quotes offered to the model as numbered passages (ONRECORD_LLM_PASSAGES)."
    )
    llm_method: str | None = Field(
        default=None,
        description=(
            "Structured-output method (ONRECORD_LLM_METHOD): function_calling, json_schema or json_mode as the "
            "provider supports; text = ask for JSON in plain text. Default: the provider's own."
        ),
    )
    # --- end of LLM settings ---

    @property
    def index_dir(self) -> Path:
        return self.index or (self.home / "index")

    @property
    def model_dir(self) -> Path:
        return self.models_dir or (self.home / "models")


@lru_cache(maxsize=1)
def get_settings() -> IndexSettings:
    return IndexSettings()
