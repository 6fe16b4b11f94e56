"""Ports: the small protocols that adapters implement. Each docstring is the contract.

They speak Sillok's own types only; no LangChain, Qdrant or FastAPI type crosses them.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from core.search import Query, SparseVector
from core.types import Chunk, ParsedDocument, PointKey, ScoredChunk


class Embedder(Protocol):
    """Turns text into fixed-size vectors; queries and passages may be encoded differently."""

    @property
    def name(self) -> str:
        """A stable identifier of the model (recorded with every collection)."""
        ...

    @property
    def dimension(self) -> int:
        """Length of every vector returned."""
        ...

    @property
    def max_tokens(self) -> int:
        """The longest input, in the model's own tokens, that is encoded without truncation."""
        ...

    def count_tokens(self, text: str) -> int:
        """Number of model tokens in `text` (used to size chunks)."""
        ...

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        """One normalised vector per passage, in order."""
        ...

    def embed_query(self, text: str) -> list[float]:
        """One normalised vector for a search query."""
        ...


class VectorIndex(Protocol):
    """A store of chunk vectors with their ACL tokens; every read is filtered by tokens inside it.

    Invariants every adapter must keep:
    - `search` and `query` return only chunks whose ACL tokens intersect `tokens` (and each set
      of `also`, an audience's), and the ACL filter runs inside the index, in every stage of a
      fused query; empty `tokens` (or an empty set in `also`) returns [].
    - `upsert` is idempotent: the same chunk (same point id) stored twice is one point.
    - `delete_document(doc, keep_version=v)` removes every point of `doc` except those of `v`.
    - A collection created before keyword vectors existed (`has_keywords` false) answers every
      query by its dense part alone.
    """

    def ensure_collection(self, dimension: int, model: str) -> None:
        """Create the collection (dense and sparse vectors, payload indexes) if absent; refuse a
        different model."""
        ...

    @property
    def has_keywords(self) -> bool:
        """Whether sparse keyword vectors of the current analyzer are stored and searched."""
        ...

    def upsert(
        self,
        chunks: Sequence[Chunk],
        vectors: Sequence[Sequence[float]],
        sparse: Sequence[SparseVector] | None = None,
    ) -> None:
        """Store chunks with their dense vectors and, optionally, sparse keyword vectors (same order)."""
        ...

    def search(self, vector: Sequence[float], tokens: frozenset[str], limit: int) -> list[ScoredChunk]:
        """The `limit` nearest chunks readable with `tokens`, best first (dense only)."""
        ...

    def query(
        self, query: Query, tokens: frozenset[str], limit: int, also: Sequence[frozenset[str]] = ()
    ) -> list[ScoredChunk]:
        """The `limit` best chunks readable with `tokens` (and every set of `also`) by dense,
        sparse or fused ranking."""
        ...

    def delete_document(self, document_id: str, keep_version: str | None = None) -> None:
        """Remove a document's points, optionally keeping one version."""
        ...

    def set_acl(self, document_id: str, tokens: frozenset[str]) -> None:
        """Replace the ACL tokens of every point of a document, without re-embedding."""
        ...

    def count(self, document_id: str | None = None) -> int:
        """Number of points, in total or for one document."""
        ...

    def delete_version(self, document_id: str, version: str) -> None:
        """Remove the points of one version of a document."""
        ...

    def points(self, document_id: str | None = None) -> list[PointKey]:
        """What every stored point belongs to, for one document or all (audits, reconciliation)."""
        ...

    def chunks(self) -> Iterator[Chunk]:
        """Every stored chunk with its payload, in pages (re-embedding into a new collection)."""
        ...

    def close(self) -> None:
        """Release files and connections."""
        ...


class LLMClient(Protocol):
    """An OpenAI-compatible chat model.

    `stream` raises `Overloaded` when every generation slot is busy, `ContextTooLong` when the
    server says the prompt does not fit, and `DependencyUnavailable` on connect, first-token
    and total timeouts; closing the iterator early cancels the generation upstream.
    """

    @property
    def model(self) -> str:
        """The served model's name."""
        ...

    def context_tokens(self) -> int:
        """The served model's context window in tokens (from the server, else the settings)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` by the served model's tokenizer (a safe estimate when the server
        exposes none)."""
        ...

    def check_capacity(self) -> None:
        """Return when a generation could start now; raise `Overloaded` (after the short queue
        wait) when every slot is busy, so a request is refused before its other work."""
        ...

    def complete(self, messages: Sequence[dict[str, str]], max_tokens: int | None = None) -> str:
        """The full reply to a chat."""
        ...

    def stream(
        self, messages: Sequence[dict[str, str]], max_tokens: int | None = None
    ) -> Generator[str, None, None]:
        """The reply as it is generated, piece by piece."""
        ...


class DocumentParser(Protocol):
    """Reads one file into text elements, or raises a `DocumentError` saying why it cannot."""

    def parse(self, path: Path, filename: str) -> ParsedDocument:
        """Parse `path`; `filename` (the user's name for it) decides the format."""
        ...


class WorkQueue(Protocol):
    """Where entrances send background work, by document id. Sending never raises: a broker
    outage returns False and the registry keeps the work for the reconciler to send again."""

    def ingest(self, document_id: str, version: str) -> bool:
        """Queue the processing of one registered version."""
        ...

    def apply_acl(self, document_id: str) -> bool:
        """Queue the update of a document's ACL on its stored points."""
        ...

    def purge(self, document_id: str) -> bool:
        """Queue the removal of a deleted document's points."""
        ...
