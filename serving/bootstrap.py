"""The composition root of the API and CLI processes: builds every dependency once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLog
from core.conversations import Conversations
from core.db.engine import make_engine, migrate, session_factory
from core.documents import DocumentRegistry
from core.embeddings import make_embedder
from core.ports import Embedder, LLMClient, VectorIndex
from core.settings import Settings
from core.users import UserDirectory
from retrieval.answer import AnswerService
from retrieval.retriever import Retriever
from serving.logs import configure_logging

if TYPE_CHECKING:
    from celery import Celery

    from core.auth.oidc import OidcAuthenticator
    from core.auth.oidc_login import OidcLogin
    from core.auth.passwords import PasswordStore
    from core.auth.sessions import WebSessions
    from ingest.chunking import Chunker
    from ingest.intake import Intake
    from ingest.parsers.sandbox import SandboxedParser
    from ingest.pipeline import IngestionPipeline
    from serving.api.ratelimit import AbuseLimits
    from serving.worker.embedded import EmbeddedWorker
    from serving.worker.queue import TaskQueue

# Heavy clients (qdrant-client, openai, parsers) are imported where they are first needed, so
# that quick commands such as `sillok users add` start fast.


def make_index(settings: Settings, path: Path | None = None) -> VectorIndex:
    """Qdrant server by URL, else Qdrant Edge in-process under the data dir (or `path`)."""
    if settings.qdrant.url:
        from qdrant_client import QdrantClient

        from core.vectors.qdrant_server import QdrantServerIndex

        key = settings.qdrant.api_key.get_secret_value() if settings.qdrant.api_key else None
        client = QdrantClient(url=settings.qdrant.url, api_key=key, timeout=int(settings.qdrant.timeout_s))
        return QdrantServerIndex(client, settings.qdrant.collection)
    from core.vectors.qdrant_edge import QdrantEdgeIndex

    return QdrantEdgeIndex(path or settings.vectors_dir, exact=settings.qdrant.exact_search)


@dataclass
class Container:
    """Every long-lived dependency of one process, built lazily and once."""

    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        """The SQL engine, with the schema migrated to the newest version."""
        engine = make_engine(self.settings.sql_url)
        migrate(engine)
        return engine

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        """Session factory."""
        return session_factory(self.engine)

    @cached_property
    def documents(self) -> DocumentRegistry:
        """The document registry."""
        return DocumentRegistry(self.sessions)

    @cached_property
    def users(self) -> UserDirectory:
        """Users, groups and keys."""
        token = self.settings.bootstrap_admin_token
        return UserDirectory(self.sessions, token.get_secret_value() if token else None)

    @cached_property
    def audit(self) -> AuditLog:
        """The audit log."""
        return AuditLog(self.sessions)

    @cached_property
    def conversations(self) -> Conversations:
        """Chat conversations per user."""
        return Conversations(self.sessions)

    @cached_property
    def embedder(self) -> Embedder:
        """The configured embedding model."""
        return make_embedder(self.settings.embedding)

    @cached_property
    def index(self) -> VectorIndex:
        """The vector index, created for the embedder's model if absent."""
        index = make_index(self.settings)
        index.ensure_collection(self.embedder.dimension, self.embedder.name)
        return index

    @cached_property
    def llm(self) -> LLMClient | None:
        """The configured language model, or None for extractive answers."""
        if not self.settings.llm.base_url:
            return None
        from retrieval.llm import OpenAICompatibleLLM

        return OpenAICompatibleLLM(self.settings.llm)

    @cached_property
    def retriever(self) -> Retriever:
        """ACL-filtered search."""
        from retrieval.rerank import make_reranker

        retrieval = self.settings.retrieval
        readable = self.documents.readable_versions
        return Retriever(
            self.embedder, self.index, readable, retrieval, make_reranker(retrieval.reranker_path)
        )

    @cached_property
    def answers(self) -> AnswerService:
        """The answer service every channel uses."""
        return AnswerService(
            self.retriever,
            self.llm,
            self.embedder.count_tokens,
            self.settings.llm.context_tokens,
            self.settings.retrieval.answer_sources,
        )

    @cached_property
    def oidc(self) -> OidcAuthenticator | None:
        """Validates the configured issuer's access tokens; None when OIDC is off."""
        from core.auth.oidc import make_oidc

        return make_oidc(self.settings.oidc, self.users)

    @cached_property
    def passwords(self) -> PasswordStore:
        """Local accounts' password hashes."""
        from core.auth.passwords import PasswordStore

        return PasswordStore(self.sessions)

    @cached_property
    def oidc_login(self) -> OidcLogin:
        """The web UI's sign-in through the identity provider (needs issuer and client id)."""
        from core.auth.oidc_login import OidcLogin
        from core.errors import NotFound

        if not (self.settings.oidc.issuer and self.settings.oidc.client_id):
            raise NotFound("sign-in with an identity provider is not configured")
        return OidcLogin(self.settings.oidc, self.users)

    @cached_property
    def web_sessions(self) -> WebSessions:
        """Browser sessions of the web UI."""
        from core.auth.sessions import WebSessions

        return WebSessions(self.sessions)

    @cached_property
    def abuse_limits(self) -> AbuseLimits:
        """Request rates and failed sign-ins, in Redis when one is configured."""
        from serving.api.ratelimit import AbuseLimits, make_limiter

        return AbuseLimits(make_limiter(self.settings), self.settings.limits)

    def chunker(self) -> Chunker:
        """A chunker sized in the embedder's tokens."""
        from ingest.chunking import Chunker

        chunking = self.settings.chunking
        limit = min(chunking.chunk_tokens, self.embedder.max_tokens - 16)
        return Chunker(self.embedder.count_tokens, limit, min(chunking.overlap_tokens, limit // 2))

    @cached_property
    def intake(self) -> Intake:
        """Takes files in (files and SQL only; no index needed)."""
        from ingest.intake import Intake

        return Intake(self.documents, self.settings.files_dir)

    @cached_property
    def parser(self) -> SandboxedParser:
        """Reads documents in sandboxed child processes, one per worker thread."""
        from ingest.parsers.factory import make_parser

        return make_parser(self.settings.ingest, processes=self.settings.ingest.worker_concurrency)

    @cached_property
    def pipeline(self) -> IngestionPipeline:
        """Processes registered versions into the index (the workers' side)."""
        return self.make_pipeline(self.documents, self.embedder, self.index)

    def make_pipeline(
        self, documents: DocumentRegistry, embedder: Embedder, index: VectorIndex
    ) -> IngestionPipeline:
        """A pipeline over the given stores (benchmarks use isolated ones)."""
        from ingest.pipeline import IngestionPipeline

        max_chunks = self.settings.ingest.max_chunks
        return IngestionPipeline(documents, self.parser, self.chunker(), embedder, index, max_chunks)

    @cached_property
    def celery(self) -> Celery:
        """The process's Celery app (`ingest.tasks.app`) configured from these settings: Redis when
        configured, else an in-process transport. Its tasks use what a worker installed."""
        from ingest.tasks import app, configure

        return configure(app, self.settings)

    @cached_property
    def queue(self) -> TaskQueue:
        """Where API and CLI send background work."""
        from serving.worker.queue import TaskQueue

        return TaskQueue(self.celery, self.documents)

    def reconcile(self) -> None:
        """Re-send stuck work and remove unreachable points (the periodic task)."""
        from serving.worker.reconcile import reconcile

        reconcile(self.documents, self.queue, self.pipeline, self.settings.ingest)

    def sync_connectors(self) -> None:
        """Synchronise the configured folders and sites (the periodic task)."""
        from serving.connectors import sync_all

        sync_all(self)

    @property
    def runs_worker(self) -> bool:
        """Whether `sillok serve` consumes the queues itself (by default: when there is no broker)."""
        ingest = self.settings.ingest
        return ingest.embedded_worker if ingest.embedded_worker is not None else ingest.broker_url is None

    def embedded_worker(self) -> EmbeddedWorker:
        """A worker and beat for this process; once started, its tasks use this container's
        pipeline, reconciler and connector sync."""
        from serving.worker.embedded import EmbeddedWorker
        from serving.worker.services import task_services

        return EmbeddedWorker(
            self.celery,
            lambda: task_services(self),
            self.settings.data_dir / "beat-schedule",
            self.settings.ingest.worker_concurrency,
        )

    def close(self) -> None:
        """Release the vector index and the database."""
        if "parser" in self.__dict__:
            self.parser.close()
        if "index" in self.__dict__:
            self.index.close()
        if "engine" in self.__dict__:
            self.engine.dispose()


def build(settings: Settings | None = None) -> Container:
    """A container for this process's settings."""
    settings = settings or Settings()
    configure_logging(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Container(settings)
