"""The retriever builds one index query per mode and keeps its registry gate in every mode."""

from collections.abc import Collection, Sequence

import pytest

from core.acl import PUBLIC, Principal
from core.search import Query, SearchMode
from core.settings import RetrievalSettings
from core.types import Chunk, ScoredChunk
from retrieval.retriever import Retriever

pytestmark = pytest.mark.unit


class StubEmbedder:
    name, dimension, max_tokens = "stub", 2, 100

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        return [[1.0, 0.0] for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        return [1.0, 0.0]


class StubIndex:
    def __init__(self, hits: list[ScoredChunk]) -> None:
        self.hits = hits
        self.queries: list[tuple[Query, frozenset[str], int]] = []

    def query(
        self, query: Query, tokens: frozenset[str], limit: int, also: Sequence[frozenset[str]] = ()
    ) -> list[ScoredChunk]:
        self.queries.append((query, tokens, limit))
        return self.hits[:limit]


def hit(doc: str, version: str = "v1", score: float = 1.0) -> ScoredChunk:
    return ScoredChunk(Chunk(doc, version, 0, f"text {doc}", doc, frozenset({PUBLIC})), score)


def current(principal: Principal, ids: Collection[str]) -> dict[str, str]:
    return {d: "v1" for d in ids if d != "revoked"}


def make(index: StubIndex, mode: str, **kw: object) -> Retriever:
    settings = RetrievalSettings(mode=mode, **kw)  # type: ignore[arg-type]
    return Retriever(StubEmbedder(), index, current, settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "dense", "sparse"), [("dense", True, False), ("sparse", False, True), ("hybrid", True, True)]
)
def test_each_mode_sends_its_signals(mode: str, dense: bool, sparse: bool) -> None:
    index = StubIndex([hit("a")])
    make(index, mode).search(Principal("u"), "annual leave policy", 3)
    query, tokens, limit = index.queries[0]
    assert (query.dense is not None, bool(query.sparse)) == (dense, sparse)
    assert query.mode == SearchMode(mode)
    assert tokens == Principal("u").tokens() and limit == 6


def test_fusion_settings_reach_the_index() -> None:
    index = StubIndex([])
    make(index, "hybrid", fusion="dbsf", candidates=40).search(Principal("u"), "leave", 3)
    assert index.queries[0][0].fusion.method == "dbsf" and index.queries[0][0].fusion.candidates == 40


def test_a_query_of_stop_words_falls_back_to_meaning() -> None:
    index = StubIndex([])
    make(index, "hybrid").search(Principal("u"), "what is the", 3)
    assert index.queries[0][0].mode == SearchMode.DENSE


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
def test_the_registry_gate_applies_in_every_mode(mode: str) -> None:
    index = StubIndex([hit("revoked"), hit("old", "v0"), hit("ok")])
    hits = make(index, mode).search(Principal("u"), "leave", 3)
    assert [h.chunk.document_id for h in hits] == ["ok"]


class ReverseReranker:
    def rerank(self, query: str, hits: Sequence[ScoredChunk]) -> list[ScoredChunk]:
        return list(reversed(hits))


def test_a_reranker_reorders_only_readable_passages() -> None:
    index = StubIndex([hit("a"), hit("revoked"), hit("b"), hit("c")])
    settings = RetrievalSettings(rerank_depth=10)
    retriever = Retriever(StubEmbedder(), index, current, settings, ReverseReranker())  # type: ignore[arg-type]
    hits = retriever.search(Principal("u"), "leave", 2)
    assert [h.chunk.document_id for h in hits] == ["c", "b"]
    assert index.queries[0][2] == 10
