"""The shared factory functions every process's composition root builds from.

Each function turns settings (and what it needs) into one component; nothing here is created at
import time. `Stores` and `Searching` are the two groups of members several roots share: the
SQL side, and the query side (embedder, index, retriever, answers). Each root builds a member
on first use, so a process builds only what it uses. Heavy clients (qdrant-client, openai,
parsers) are imported where they are first needed, so quick commands start fast.
"""

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
from core.intake import Intake
from core.ports import Embedder, LLMClient, VectorIndex
from core.settings import Settings
from core.users import UserDirectory
from retrieval.answer import AnswerService
from retrieval.retriever import Retriever
from serving.asking import Asking

if TYPE_CHECKING:
    from celery import Celery

    from ingest.queue import TaskQueue


@dataclass(frozen=True)
class Database:
    """The SQL engine, its schema migrated to the newest version, and its session factory."""

    engine: Engine
    sessions: sessionmaker[Session]

    def close(self) -> None:
        """Release every connection."""
        self.engine.dispose()


def make_database(settings: Settings) -> Database:
    """Open (and migrate) the configured database."""
    engine = make_engine(settings.sql_url)
    migrate(engine)
    return Database(engine, session_factory(engine))


def make_index(settings: Settings, path: Path | None = None) -> VectorIndex:
    """Qdrant server by URL, else Qdrant Edge in-process under the data dir (or `path`)."""
    if settings.qdrant.url:
        from qdrant_client import QdrantClient

        from core.vectors.qdrant_server import QdrantServerIndex

        key = settings.qdrant.api_key.get_secret_value() if settings.qdrant.api_key else None
        client = QdrantClient(url=settings.qdrant.url, api_key=key, timeout=int(settings.qdrant.timeout_s))
        return QdrantServerIndex(client, settings.qdrant.collection, settings.qdrant)
    from core.vectors.qdrant_edge import QdrantEdgeIndex

    return QdrantEdgeIndex(path or settings.vectors_dir, settings.qdrant)


def open_index(settings: Settings, embedder: Embedder) -> VectorIndex:
    """The configured vector index, with a collection for the embedder's model."""
    index = make_index(settings)
    index.ensure_collection(embedder.dimension, embedder.name)
    return index


def make_llm(settings: Settings) -> LLMClient | None:
    """The configured OpenAI-compatible model, or None for extractive answers."""
    if not settings.llm.base_url:
        return None
    from retrieval.llm import OpenAICompatibleLLM

    return OpenAICompatibleLLM(settings.llm)


def make_retriever(
    settings: Settings, embedder: Embedder, index: VectorIndex, registry: DocumentRegistry
) -> Retriever:
    """ACL-filtered search whose hits the registry confirms."""
    from retrieval.rerank import make_reranker

    retrieval = settings.retrieval
    return Retriever(
        embedder, index, registry.readable_versions, retrieval, make_reranker(retrieval.reranker_path)
    )


def make_answers(
    settings: Settings, retriever: Retriever, llm: LLMClient | None, embedder: Embedder
) -> AnswerService:
    """The answer service every channel uses, every answer checked by the offline verifier
    (and by the model as judge when the settings ask for it)."""
    from retrieval.verify import Verifier

    answers = settings.answers
    verifier = Verifier(embedder, llm if answers.judge else None, answers.min_support)
    return AnswerService(
        retriever,
        llm,
        verifier,
        answers,
        settings.retrieval.answer_sources,
        settings.llm.max_tokens,
    )


def make_task_app(settings: Settings) -> Celery:
    """The process's Celery app (`ingest.tasks.app`) configured from `settings`: Redis when
    configured, else an in-process transport."""
    from ingest.tasks import app, configure

    return configure(app, settings)


def runs_worker(settings: Settings) -> bool:
    """Whether `sillok serve` consumes the queues itself (by default: when there is no broker)."""
    ingest = settings.ingest
    return ingest.embedded_worker if ingest.embedded_worker is not None else ingest.broker_url is None


@dataclass
class Stores:
    """The SQL side every process uses: registry, users, audit, conversations, file intake, and
    the queue it sends work to. With `shared`, the database is that root's (one process
    hosting two roots, such as `sillok serve` with its embedded worker)."""

    settings: Settings
    shared: Stores | None = None

    @cached_property
    def database(self) -> Database:
        """The database, opened on first use."""
        return self.shared.database if self.shared is not None else make_database(self.settings)

    @cached_property
    def documents(self) -> DocumentRegistry:
        """The document registry."""
        return DocumentRegistry(self.database.sessions)

    @cached_property
    def users(self) -> UserDirectory:
        """Users, groups and keys."""
        token = self.settings.bootstrap_admin_token
        return UserDirectory(self.database.sessions, token.get_secret_value() if token else None)

    @cached_property
    def audit(self) -> AuditLog:
        """The audit log."""
        return AuditLog(self.database.sessions)

    @cached_property
    def conversations(self) -> Conversations:
        """Chat conversations per user."""
        return Conversations(self.database.sessions)

    @cached_property
    def intake(self) -> Intake:
        """Takes files in (files and SQL only; no index needed)."""
        return Intake(self.documents, self.settings.files_dir)

    @cached_property
    def celery(self) -> Celery:
        """The Celery app this process sends work with (and, in a worker, consumes it)."""
        return make_task_app(self.settings)

    @cached_property
    def queue(self) -> TaskQueue:
        """Where this process sends background work, by task name."""
        from ingest.queue import TaskQueue

        return TaskQueue(self.celery, self.documents)

    def close(self) -> None:
        """Release what this root opened (not what it shares)."""
        if "database" in self.__dict__ and self.shared is None:
            self.database.close()


@dataclass
class Indexed(Stores):
    """`Stores` plus the embedding model and the vector index (the host root's, when shared)."""

    @cached_property
    def embedder(self) -> Embedder:
        """The configured embedding model."""
        if isinstance(self.shared, Indexed):
            return self.shared.embedder
        return make_embedder(self.settings.embedding)

    @cached_property
    def index(self) -> VectorIndex:
        """The vector index, created for the embedder's model if absent."""
        if isinstance(self.shared, Indexed):
            return self.shared.index
        return open_index(self.settings, self.embedder)

    def close(self) -> None:
        """Release the index (unless shared) and the database."""
        if "index" in self.__dict__ and not isinstance(self.shared, Indexed):
            self.index.close()
        super().close()


@dataclass
class Searching(Indexed):
    """`Indexed` plus the query side: the retriever and the answer service."""

    @cached_property
    def retriever(self) -> Retriever:
        """ACL-filtered search."""
        return make_retriever(self.settings, self.embedder, self.index, self.documents)

    @cached_property
    def answers(self) -> AnswerService:
        """The answer service every channel uses."""
        return make_answers(self.settings, self.retriever, make_llm(self.settings), self.embedder)

    @cached_property
    def asking(self) -> Asking:
        """Questions from any channel: answered, kept in the conversation and audited."""
        return Asking(self.answers, self.retriever, self.conversations, self.audit)
