"""Domain types shared by every layer; plain frozen dataclasses with no vendor types."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

# Fixed namespace so that point ids are stable across processes and machines.
POINT_NAMESPACE = uuid.UUID("6f1d3c2a-5b7e-4c1d-9a8e-51110c0ffee0")


class DocumentStatus(StrEnum):
    """Where a document version is in the ingestion state machine."""

    QUEUED = "queued"
    PROCESSING = "processing"
    INDEXED = "indexed"
    FAILED = "failed"
    SUPERSEDED = "superseded"  # a version replaced by newer content before it was indexed
    DELETED = "deleted"  # its document was deleted before it was indexed (an outcome, never stored)


class PointKey(NamedTuple):
    """What one stored point belongs to: its id, document, version and chunk position."""

    point_id: str
    document_id: str
    version: str
    chunk_index: int


@dataclass(frozen=True)
class Element:
    """One piece of parsed text with its place in the document."""

    text: str
    page: int | None = None
    section: str | None = None
    kind: str = "text"  # "text", "title" or "table"
    header: str | None = None  # a table's header row(s), the first line(s) of its text


@dataclass(frozen=True)
class ParsedDocument:
    """What a parser returns: the document's title and its text elements in reading order."""

    title: str
    elements: tuple[Element, ...]


def point_id(document_id: str, version: str, index: int) -> str:
    """The uuid5 point id of one chunk; the same inputs always give the same id."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{document_id}:{version}:{index}"))


def chunk_position(document_id: str, version: str | None, chunk_count: int, chunk_id: str) -> int | None:
    """The index of `chunk_id` among a version's chunks, or None when it is not one of them."""
    if version is None:
        return None
    return next((i for i in range(chunk_count) if point_id(document_id, version, i) == chunk_id), None)


@dataclass(frozen=True)
class Chunk:
    """A passage of one document version, as stored in the vector index."""

    document_id: str
    version: str
    index: int
    text: str
    title: str
    acl_tokens: frozenset[str]
    page: int | None = None
    section: str | None = None
    suspicious: bool = False  # flagged at ingestion: the text gives instructions to a model

    @property
    def id(self) -> str:
        """The chunk's point id (uuid5 of document, version and index)."""
        return point_id(self.document_id, self.version, self.index)


@dataclass(frozen=True)
class Turn:
    """An earlier question of a conversation and the answer it got."""

    question: str
    answer: str


@dataclass(frozen=True)
class ScoredChunk:
    """A chunk returned by a search, with its score (higher is better)."""

    chunk: Chunk
    score: float


@dataclass(frozen=True)
class Citation:
    """A numbered source shown with an answer.

    `span` is the `[start, end)` character range of the passage's text that best supports the
    sentences citing it (None when nothing in it does); `suspicious` marks a passage flagged at
    ingestion as giving instructions to a model.
    """

    n: int
    document_id: str
    chunk_id: str
    title: str
    page: int | None
    snippet: str
    version: str | None = None  # the document version the passage came from
    span: tuple[int, int] | None = None
    suspicious: bool = False

    def as_dict(self) -> dict[str, object]:
        """The public JSON shape of a citation."""
        return {
            "n": self.n,
            "document_id": self.document_id,
            "chunk_id": self.chunk_id,
            "title": self.title,
            "page": self.page,
            "snippet": self.snippet,
            "version": self.version,
            "span": list(self.span) if self.span else None,
            "suspicious": self.suspicious,
        }


@dataclass(frozen=True)
class SentenceSupport:
    """One sentence of an answer, the source numbers it cites, and how well they support it.

    `support` is in [0, 1]; `supported` is that score against the verifier's calibrated
    threshold.
    """

    text: str
    citations: tuple[int, ...]
    support: float
    supported: bool

    def as_dict(self) -> dict[str, object]:
        """The public JSON shape of a checked sentence."""
        return {
            "text": self.text,
            "citations": list(self.citations),
            "support": round(self.support, 3),
            "supported": self.supported,
        }


@dataclass(frozen=True)
class Answer:
    """A checked answer: text that cites its sources by [n], or an honest refusal.

    `groundedness` is the share of the answer's claims its cited passages support; `sentences`
    holds each checked sentence (those removed as unsupported included, marked so);
    `dropped_citations` counts `[n]` markers that named no source provided; `language` is the
    question's ("ko" or "en"), which the refusal and the labels follow; `generated` is the
    model's own reply before any check (None for an extract), kept for evaluation, never shown.
    """

    text: str
    grounded: bool
    citations: tuple[Citation, ...] = field(default_factory=tuple)
    mode: str = "llm"  # "llm" or "extractive"
    refused: bool = False
    groundedness: float = 0.0
    sentences: tuple[SentenceSupport, ...] = field(default_factory=tuple)
    dropped_citations: int = 0
    language: str = "en"
    generated: str | None = None

    def as_dict(self) -> dict[str, object]:
        """The public JSON shape of an answer."""
        return {
            "answer": self.text,
            "grounded": self.grounded,
            "refused": self.refused,
            "mode": self.mode,
            "language": self.language,
            "groundedness": round(self.groundedness, 3),
            "sentences": [s.as_dict() for s in self.sentences],
            "dropped_citations": self.dropped_citations,
            "citations": [c.as_dict() for c in self.citations],
        }
