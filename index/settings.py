"""All settings, in one object (`get_settings()`): environment variables or a .env file.

    Settings            the index, the model, ingest (ONRECORD_*) and optional prose answers (ONRECORD_LLM_*)
    Settings.answers    how answers are chosen (ONRECORD_ANSWER_*)
    Settings.slack      the Slack app (SLACK_*, and ONRECORD_ADMINS, ONRECORD_TRANSCRIPTS, ...)

Every field has a description; `onrecord` and the Slack app read them from here only.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from platformdirs import user_data_dir
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .errors import MissingSettings

DEFAULT_LANGUAGES = ["en", "sv", "ru", "de", "fr", "es", "it", "uk", "pl", "fi", "da", "nb", "nl", "pt"]


def _default_home() -> Path:
    return Path(user_data_dir("onrecord", appauthor=False))


class AnswerSettings(BaseSettings):
    """How answers are chosen (ONRECORD_ANSWER_*). The defaults were measured with scripts/eval on
    ../shared/dev-questions.jsonl for multilingual-e5-small; cosine thresholds are that model's scale."""

    model_config = SettingsConfigDict(env_prefix="ONRECORD_ANSWER_", env_file=".env", extra="ignore")

    candidates: int = Field(default=40, description="Passages each of dense and full-text search contribute.")
    fts_weight: float = Field(
        default=1.0, description="Weight of the full-text list in the rank fusion (dense: 1.0); 0.5 measured worse.")
    other_language_bonus: float = Field(
        default=0.03,
        description=(
            "Cosine added to passages in another language than the question's: the model scores the same words "
            "0.03-0.06 higher in the question's own language (measured on the corpus's linked versions)."
        ),
    )
    min_dense: float = Field(
        default=0.78, description="The best passage's cosine must reach this, or its words be found in it.")
    min_lexical: float = Field(
        default=0.55, description="Share of the question's idf-weighted stems a passage must hold to count as found.")
    entity_passages: int = Field(
        default=10, description="Passages searched for the names the question turns on.")
    entity_min_cosine: float = Field(
        default=0.93,
        description="A name missing by spelling counts as present when this close to a capitalised word found "
                    "(translations of names 0.937-0.963; unrelated words 0.85-0.925).",
    )
    common_word_share: float = Field(
        default=0.002, description="A capitalised word in at least this share of passages is common, not a name.")
    rerank_named: int = Field(default=20, description="Leading candidates re-ranked by the names they carry.")
    named_penalty: float = Field(
        default=1.0 / 61, description="Score taken per missing name (about one rank at the top of a fused list).")
    speaker_passages: int = Field(
        default=10, description="A named speaker's passages nearest the question, fused in as a third list.")
    speaker_bonus: float = Field(
        default=1.0 / 61, description="Score added to every passage of a speaker the question names.")
    lexical_tiebreak: float = Field(
        default=0.05, description="Weight of the question's words found in a sentence, beside its cosine.")
    dense_margin: float = Field(
        default=0.04,
        description="Rule ranker: a further quote's passage must be this close to the best one's cosine, or hold "
                    "min_lexical of the question's words (the learnt ranker uses min_probability instead).")
    min_probability: float = Field(
        default=0.0,
        description="Learnt ranker: a further quote's passage must have at least this probability of holding the "
                    "answer (the best one is always quoted when the question is answered). 0 quotes every candidate "
                    "in the ranker's order: the cosine margin it replaces cost a question with each shipped model, "
                    "cross-validated (README, \"Answer quality\").")
    per_statement: int = Field(
        default=3, description="Quotes from one statement (in any of its languages) per answer; 2 measured worse.")
    max_quote_sentences: int = Field(default=3, description="Sentences in one quote, at most.")
    max_quote_chars: int = Field(
        default=650, description="A quote grows by neighbouring sentences up to this length; 500 measured worse.")
    quote_min_score: float = Field(
        default=80.0, description="Fragment lookup (rapidfuzz, 0-100): below this a pasted fragment is not found.")
    fallback_language: str = Field(
        default="en", description="Language of the answer when the question's cannot be told.")
    names_check: bool = Field(
        default=True,
        description="Decline a question whose names are in none of the passages found, and rank passages that "
                    "carry the question's names first (off only to measure what it buys: scripts/eval --ablate).")
    sentence_choice: bool = Field(
        default=True,
        description="Quote the sentences of a passage that answer best (off: its first sentences; for measuring).")
    ranker: str = Field(
        default="auto",
        description="Ranking stage: auto (the learnt ranker when a calibration for the model in use exists, shipped "
                    "or made by `onrecord calibrate`; else the rules), rules, or learnt (refuses to start without one).")
    fold_reposts: bool = Field(
        default=True, description="Show the same words posted twice once (off only for measuring).")
    reranker: Path | None = Field(
        default=None,
        description="A local sentence-transformers CrossEncoder folder (off by default). When set, it scores the "
                    "best candidates as one more feature of the learnt ranker; fit a calibration with it set "
                    "(`onrecord calibrate`): a calibration fitted without it does not read it.")
    reranker_candidates: int = Field(
        default=20, description="Candidates (best first) the cross-encoder scores; the others get 0.")


DEFAULT_API_URL = "https://slack.com/api/"


def _alias(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class SlackSettings(BaseSettings):
    """What the Slack app needs to connect. See docs/slack.md for where each value comes from."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    bot_token: str | None = Field(
        default=None,
        validation_alias=_alias("SLACK_BOT_TOKEN"),
        description="Bot User OAuth Token (xoxb-…), from the app's “OAuth & Permissions” page after installing it.",
    )
    app_token: str | None = Field(
        default=None,
        validation_alias=_alias("SLACK_APP_TOKEN"),
        description=(
            "App-level token (xapp-…) with the connections:write scope, from “Basic Information → "
            "App-Level Tokens”; needed for Socket Mode (the default)."
        ),
    )
    signing_secret: str | None = Field(
        default=None,
        validation_alias=_alias("SLACK_SIGNING_SECRET"),
        description="Signing Secret from “Basic Information → App Credentials”; needed for HTTP mode (--http).",
    )
    api_url: str = Field(
        default=DEFAULT_API_URL,
        validation_alias=_alias("SLACK_API_URL"),
        description="Base URL of Slack's Web API; point it at a local stand-in for tests or staging.",
    )
    admins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=_alias("ONRECORD_ADMINS"),
        description="Slack user ids (U…) allowed to re-index and add transcripts: comma-separated or a JSON list.",
    )
    transcripts: Path | None = Field(
        default=None,
        validation_alias=_alias("ONRECORD_TRANSCRIPTS"),
        description=(
            "Transcripts folder that `/reindex` re-syncs and where transcripts shared with the bot by an "
            "admin are saved (default: the folder given to `onrecord serve --watch`)."
        ),
    )
    upload_max_mb: float = Field(
        default=20,
        validation_alias=_alias("ONRECORD_UPLOAD_MAX_MB"),
        description="Largest transcript file (in MB) an admin may share with the bot; larger ones are refused unread.",
    )
    feedback_db: Path | None = Field(
        default=None,
        validation_alias=_alias("ONRECORD_FEEDBACK_DB"),
        description="SQLite file where 👍/👎 feedback is stored; defaults to ONRECORD_HOME/feedback.sqlite3.",
    )
    workers: int = Field(
        default=16,
        validation_alias=_alias("ONRECORD_SLACK_WORKERS"),
        description="Threads that answer questions in the background (acknowledgement never waits for them).",
    )
    engine_threads: int = Field(
        default=1,
        validation_alias=_alias("ONRECORD_ENGINE_THREADS"),
        description="Threads that may call the engine at once (1 = one engine thread, safe for any engine).",
    )
    quotes: int = Field(default=3, validation_alias=_alias("ONRECORD_SLACK_QUOTES"), description="Quotes per answer.")
    http_max_body: int = Field(
        default=1 << 20,
        validation_alias=_alias("ONRECORD_HTTP_MAX_BODY"),
        description=(
            "HTTP mode: largest request body (bytes) accepted at /slack/events; a larger one is answered 413 "
            "without being read (Slack's requests are a few kB)."
        ),
    )
    http_timeout: float = Field(
        default=10.0,
        validation_alias=_alias("ONRECORD_HTTP_TIMEOUT"),
        description="HTTP mode: seconds a connection may stay silent (mid-request or idle) before it is closed.",
    )
    heartbeat: Path | None = Field(
        default=None,
        validation_alias=_alias("ONRECORD_HEARTBEAT"),
        description=(
            "File the running bot touches every `heartbeat_every` seconds while it is connected (Socket Mode) or "
            "serving (HTTP), and removes when it stops; health checks read its age. Default: "
            "ONRECORD_HOME/serve.heartbeat."
        ),
    )
    heartbeat_every: float = Field(
        default=30.0,
        validation_alias=_alias("ONRECORD_HEARTBEAT_EVERY"),
        description="Seconds between two touches of the heartbeat file.",
    )

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, v):
        if v is None or v == "":
            return []
        if isinstance(v, str):
            v = v.strip()
            if v.startswith("["):
                return [str(x).strip() for x in json.loads(v) if str(x).strip()]
            return [x.strip() for x in v.split(",") if x.strip()]
        return v

    @field_validator("api_url")
    @classmethod
    def _slash(cls, v: str) -> str:
        return v if v.endswith("/") else v + "/"

    def missing(self, http: bool) -> dict[str, str]:
        """Names (and descriptions) of the settings the mode needs but that are not set."""
        needed = ["bot_token", "signing_secret"] if http else ["bot_token", "app_token"]
        out = {}
        for name in needed:
            if not getattr(self, name):
                field = type(self).model_fields[name]
                env = field.validation_alias.choices[0]  # type: ignore[union-attr]
                out[env] = field.description or ""
        return out

    def require(self, http: bool) -> "SlackSettings":
        missing = self.missing(http)
        if missing:
            raise MissingSettings(missing)
        return self

    def heartbeat_path(self) -> Path:
        if self.heartbeat:
            return self.heartbeat
        return get_settings().home / "serve.heartbeat"

    def feedback_path(self) -> Path:
        if self.feedback_db:
            return self.feedback_db
        return get_settings().home / "feedback.sqlite3"


class Settings(BaseSettings):
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
    store: str | None = Field(
        default=None,
        description=(
            "Index store (ONRECORD_STORE): a postgresql://USER:PASSWORD@HOST/DATABASE URL keeps the index in "
            "PostgreSQL with pgvector (one database per index; needs the `postgres` extra). Unset: the "
            "index folder (SQLite + FAISS, the embedded default)."
        ),
    )
    backend: str = Field(
        default="auto",
        description="Embedding precision/backend: auto (picked by a capability check), fp32 or bf16.",
    )
    question_backend: str = Field(
        default="auto",
        description=(
            "How an answering process embeds questions (ONRECORD_QUESTION_BACKEND): onnx (the model's ONNX "
            "export run by onnxruntime, without torch: less memory, and in its 8-bit variant faster), torch "
            "(the indexing embedder), or auto: the ONNX export where `onrecord model prepare` or `onrecord "
            "model export` kept its 8-bit variant (it passed the check against float32), else torch. "
            "With ONRECORD_BACKEND set to fp32 or bf16, auto means torch."
        ),
    )
    batch_size: int = Field(default=64, description="Texts per embedding batch, at most (see batch_tokens).")
    batch_tokens: int = Field(
        default=1024,
        description=(
            "Padded tokens per embedding batch (ONRECORD_BATCH_TOKENS): texts sorted by length go as many at a "
            "time as fit, at most batch_size: a few long passages, or many short words. Smaller batches of "
            "passages ran faster on 2-core CPUs (see README, Benchmarks)."
        ),
    )
    languages: list[str] = Field(
        default_factory=lambda: list(DEFAULT_LANGUAGES),
        description="ISO 639-1 codes language detection may answer with (ONRECORD_LANGUAGES, JSON list).",
    )
    late_sentence_vectors: bool = Field(
        default=False,
        description=(
            "Take each sentence's vector from its passage's own pass through the model, the mean of the "
            "passage's token embeddings over the sentence (ONRECORD_LATE_SENTENCE_VECTORS; \"late chunking\"), "
            "instead of embedding every sentence again on its own: indexing embeds each text once, about "
            "half the time. The sentence is then read in its passage's context. Applies to models that "
            "pool by mean (both shipped ones); sentences past the model's window are embedded on their own. "
            "Versions are aligned, and fact-checks look for translations, with sentences embedded on their "
            "own as before: set it alike for indexing and serving."
        ),
    )
    passage_chars: int = Field(
        default=700, description="Target passage size in characters (a few sentences; fits the model window)."
    )
    sentence_vectors: bool = Field(
        default=True,
        description=(
            "Embed every sentence at index time and store its vector (ONRECORD_SENTENCE_VECTORS), so that "
            "choosing which sentences of a passage to quote embeds nothing while a question waits. Costs "
            "about as much embedding again as the passages (indexing about twice as long) and 2 bytes per "
            "dimension per sentence on disk. Off: sentences are embedded when first quoted (the same vectors; "
            "each question then waits for 10-20 of them: p50 3.8 s against 0.5 s with embeddinggemma-300m on a 2-core machine). "
            "An index built without them gains them at its next `onrecord index` run."
        ),
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
    # --- bulk indexing on a Ray cluster (index/ray_index.py, `onrecord index --ray`; needs the `ray` extra) ---
    ray_address: str | None = Field(
        default=None,
        description=(
            "Ray cluster that embeds for `onrecord index` (ONRECORD_RAY_ADDRESS): local (a private cluster on "
            "this machine for the run), auto (the cluster this machine joined with `ray start`), HOST:6379 or "
            "ray://HOST:10001. The driver still parses and writes the store. Unset: embedding in this process. "
            "`--watch` and Slack uploads always index in this process."
        ),
    )
    ray_workers: int | None = Field(
        default=None,
        description="Embedding actors on the Ray cluster, one model each (ONRECORD_RAY_WORKERS). Unset: as many as its CPUs hold.",
    )
    ray_worker_cpus: int = Field(
        default=1,
        description="CPUs (torch threads) per Ray embedding actor (ONRECORD_RAY_WORKER_CPUS); each actor holds its own model in memory.",
    )
    # --- end of Ray settings ---
    answers: AnswerSettings = Field(default_factory=AnswerSettings, description="How answers are chosen.")
    slack: SlackSettings = Field(default_factory=SlackSettings, description="The Slack app (docs/slack.md).")

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
    def index_location(self) -> str | Path:
        """Where the index lives: ONRECORD_STORE (a PostgreSQL URL) when set, else the index folder."""
        return self.store or self.index_dir

    ann_threshold: int = Field(
        default=100_000,
        description=(
            "Passages from which a generation's vectors get an approximate index (ONRECORD_ANN_THRESHOLD): "
            "IVF with 8-bit scalar quantisation (index/store/ann.py), memory-mapped; below it, exact search "
            "(FAISS flat). Measured in docs/scaling.md; it takes effect at the next index run."
        ),
    )
    ann_nprobe: int = Field(
        default=128,
        description=(
            "Inverted lists the approximate index searches per question (ONRECORD_ANN_NPROBE); chosen so "
            "recall@10 against exact search stays >= 0.95 (scripts/bench ann). More: slower, closer to exact."
        ),
    )
    ann_exact_filter: int = Field(
        default=0,
        description=(
            "A speaker or metadata filter admitting at most this many passages is searched exactly over "
            "them on an approximate index (ONRECORD_ANN_EXACT_FILTER; 0: 2 x the square root of the "
            "passages, the measured crossover); broader filters go through the index."
        ),
    )
    ann_mmap: bool = Field(
        default=True,
        description="Memory-map an approximate index when reading it (ONRECORD_ANN_MMAP; off: load it into memory).",
    )

    @property
    def model_dir(self) -> Path:
        return self.models_dir or (self.home / "models")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
