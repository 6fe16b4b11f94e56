"""One contract suite for every `VectorIndex` adapter: Qdrant Edge and qdrant-client (local mode).

The most important property of the product: a search never returns a chunk whose ACL does not
intersect the principal's tokens.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qdrant_client import QdrantClient, models

from core.acl import PUBLIC, Acl, Principal
from core.errors import ConfigurationError
from core.ports import VectorIndex
from core.search import Fusion, Query, SparseVector
from core.settings import QdrantSettings
from core.types import Chunk
from core.vectors.qdrant_edge import QdrantEdgeIndex
from core.vectors.qdrant_server import QdrantServerIndex
from core.vectors.tuning import plan

pytestmark = pytest.mark.contract
DIM = 8
MODEL = "test-model"


# The same graph and quantisation settings on both adapters; no full-scan floor, so the share
# rule alone decides, and small test collections take the graph path too.
TUNED = QdrantSettings(
    hnsw_m=8,
    hnsw_ef_construct=32,
    hnsw_ef=64,
    hnsw_payload_m=8,
    full_scan_threshold_kb=1,
    indexing_threshold_kb=1,
    exact_share=0.3,
    quantization="int8",
    oversampling=2.0,
)


def make_edge(path: Path) -> VectorIndex:
    return QdrantEdgeIndex(path / "edge", TUNED)


def make_client(path: Path) -> VectorIndex:
    return QdrantServerIndex(QdrantClient(location=":memory:"), "chunks", TUNED)


@pytest.fixture(params=[make_edge, make_client], ids=["qdrant-edge", "qdrant-client"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorIndex]:
    idx = request.param(tmp_path)
    idx.ensure_collection(DIM, MODEL)
    yield idx
    idx.close()


def vec(seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(-1, 1) for _ in range(DIM)]


def chunk(doc: str, version: str = "v1", index: int = 0, acl: frozenset[str] = frozenset({PUBLIC})) -> Chunk:
    return Chunk(doc, version, index, f"text of {doc} {version} {index}", f"Title {doc}", acl, page=1)


def test_upsert_is_idempotent(index: VectorIndex) -> None:
    chunks = [chunk("d1", index=i) for i in range(3)]
    index.upsert(chunks, [vec(i) for i in range(3)])
    index.upsert(chunks, [vec(i) for i in range(3)])
    assert index.count() == 3
    assert sorted(p.point_id for p in index.points("d1")) == sorted(c.id for c in chunks)


def test_search_returns_payload_and_best_first(index: VectorIndex) -> None:
    index.upsert([chunk("d1"), chunk("d2")], [vec(1), vec(2)])
    hits = index.search(vec(2), frozenset({PUBLIC}), 2)
    assert [h.chunk.document_id for h in hits] == ["d2", "d1"]
    assert hits[0].score >= hits[1].score
    assert hits[0].chunk == chunk("d2")


def test_empty_tokens_return_nothing(index: VectorIndex) -> None:
    index.upsert([chunk("d1")], [vec(1)])
    assert index.search(vec(1), frozenset(), 10) == []


def test_delete_keeps_only_the_named_version(index: VectorIndex) -> None:
    index.upsert([chunk("d1", "v1", i) for i in range(2)], [vec(i) for i in range(2)])
    index.upsert([chunk("d1", "v2", 0)], [vec(9)])
    index.upsert([chunk("d2")], [vec(5)])
    index.delete_document("d1", keep_version="v2")
    assert index.count("d1") == 1 and index.count("d2") == 1
    index.delete_document("d1")
    assert index.count("d1") == 0 and index.count() == 1


def test_points_name_their_document_version_and_chunk(index: VectorIndex) -> None:
    index.upsert([chunk("d1", "v1", i) for i in range(2)], [vec(i) for i in range(2)])
    index.upsert([chunk("d1", "v2", 0), chunk("d2")], [vec(8), vec(9)])
    keys = {(p.document_id, p.version, p.chunk_index) for p in index.points()}
    assert keys == {("d1", "v1", 0), ("d1", "v1", 1), ("d1", "v2", 0), ("d2", "v1", 0)}
    index.delete_version("d1", "v1")
    assert [(p.version, p.chunk_index) for p in index.points("d1")] == [("v2", 0)]
    assert index.count("d2") == 1


def test_set_acl_applies_to_the_next_search(index: VectorIndex) -> None:
    alice = Principal("alice", user_id="id-alice")
    index.upsert([chunk("d1", acl=Acl.of(users=["id-bob"]).tokens())], [vec(1)])
    assert index.search(vec(1), alice.tokens(), 5) == []
    index.set_acl("d1", Acl.of(users=["id-alice"]).tokens())
    assert [h.chunk.document_id for h in index.search(vec(1), alice.tokens(), 5)] == ["d1"]
    index.set_acl("d1", frozenset())
    assert index.search(vec(1), alice.tokens(), 5) == []


def test_a_different_model_is_refused(index: VectorIndex) -> None:
    index.ensure_collection(DIM, MODEL)
    with pytest.raises(ConfigurationError):
        index.ensure_collection(DIM, "another-model")


USERS = ["u0", "u1", "u2", "u3"]
GROUPS = ["g0", "g1", "g2"]
acls = st.builds(
    Acl,
    users=st.frozensets(st.sampled_from(USERS), max_size=2),
    groups=st.frozensets(st.sampled_from(GROUPS), max_size=2),
    public=st.booleans(),
)
principals = st.builds(
    Principal, username=st.sampled_from(USERS), groups=st.frozensets(st.sampled_from(GROUPS), max_size=3)
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(docs=st.lists(acls, min_size=1, max_size=15), who=principals, seed=st.integers(0, 10_000))
def test_search_never_returns_a_chunk_the_principal_may_not_read(
    index: VectorIndex, docs: list[Acl], who: Principal, seed: int
) -> None:
    index.delete_document("d-any")  # hypothesis reuses the fixture: start from a known state
    for i in range(40):
        index.delete_document(f"d{i}")
    chunks = [chunk(f"d{i}", acl=acl.tokens()) for i, acl in enumerate(docs)]
    index.upsert(chunks, [vec(seed + i) for i in range(len(chunks))])
    hits = index.search(vec(seed), who.tokens(), 50)
    readable = {c.document_id for c, acl in zip(chunks, docs, strict=True) if who.can_read(acl.tokens())}
    assert {h.chunk.document_id for h in hits} == readable
    assert all(who.can_read(h.chunk.acl_tokens) for h in hits)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    docs=st.lists(acls, min_size=1, max_size=15),
    asker=principals,
    listeners=st.lists(principals, max_size=4),
    seed=st.integers(0, 10_000),
)
def test_an_audience_reads_only_what_every_listener_may_read(
    index: VectorIndex, docs: list[Acl], asker: Principal, listeners: list[Principal], seed: int
) -> None:
    for i in range(40):
        index.delete_document(f"d{i}")
    chunks = [chunk(f"d{i}", acl=acl.tokens()) for i, acl in enumerate(docs)]
    index.upsert(chunks, [vec(seed + i) for i in range(len(chunks))])
    heard = asker.heard_by(p.tokens() for p in listeners)
    hits = index.query(Query(dense=vec(seed)), heard.tokens(), 50, heard.audience)
    everyone = [asker, *listeners]
    readable = {
        c.document_id
        for c, acl in zip(chunks, docs, strict=True)
        if all(p.can_read(acl.tokens()) for p in everyone)
    }
    assert {h.chunk.document_id for h in hits} == readable
    assert all(heard.can_read(h.chunk.acl_tokens) for h in hits)


def test_a_shard_open_in_another_process_is_a_clear_error(tmp_path: Path) -> None:
    from core.errors import DependencyUnavailable

    first = QdrantEdgeIndex(tmp_path / "shared")
    first.ensure_collection(DIM, MODEL)
    with pytest.raises(DependencyUnavailable, match="open in another process"):
        QdrantEdgeIndex(tmp_path / "shared")
    first.close()
    QdrantEdgeIndex(tmp_path / "shared").close()  # released on close


# Keyword (sparse) and fused search: the same contract, including the ACL property.


def sparse(*terms: int) -> SparseVector:
    return SparseVector(tuple(sorted(set(terms))), tuple(1.0 for _ in set(terms)))


def test_sparse_search_ranks_by_shared_terms_with_idf(index: VectorIndex) -> None:
    assert index.has_keywords
    docs = [chunk("d1"), chunk("d2"), chunk("d3")]
    index.upsert(docs, [vec(1), vec(2), vec(3)], [sparse(1, 2), sparse(2, 3), sparse(2)])
    hits = index.query(Query(sparse=sparse(2, 3)), frozenset({PUBLIC}), 10)
    assert hits[0].chunk.document_id == "d2"  # the rarer term 3 decides
    assert {h.chunk.document_id for h in hits} == {"d1", "d2", "d3"}
    assert index.query(Query(sparse=sparse(99)), frozenset({PUBLIC}), 10) == []


@pytest.mark.parametrize("fusion", [Fusion("rrf"), Fusion("rrf", 2, 1.0, 3.0, 10), Fusion("dbsf")])
def test_hybrid_query_fuses_both_rankings(index: VectorIndex, fusion: Fusion) -> None:
    docs = [chunk(f"d{i}") for i in range(6)]
    index.upsert(docs, [vec(i) for i in range(6)], [sparse(100 + i) for i in range(6)])
    # d1 is nearest by meaning, d4 is the only keyword match: both must come back on top.
    hits = index.query(Query(dense=vec(1), sparse=sparse(104), fusion=fusion), frozenset({PUBLIC}), 2)
    assert {h.chunk.document_id for h in hits} == {"d1", "d4"}
    assert hits[0].score >= hits[1].score


def test_upsert_without_sparse_vectors_still_serves_dense_and_hybrid(index: VectorIndex) -> None:
    index.upsert([chunk("d1")], [vec(1)])
    hits = index.query(Query(dense=vec(1), sparse=sparse(7)), frozenset({PUBLIC}), 5)
    assert [h.chunk.document_id for h in hits] == ["d1"]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    docs=st.lists(acls, min_size=1, max_size=15),
    who=principals,
    seed=st.integers(0, 10_000),
    mode=st.sampled_from(["sparse", "hybrid-rrf", "hybrid-dbsf"]),
)
def test_keyword_and_fused_search_never_return_a_chunk_the_principal_may_not_read(
    index: VectorIndex, docs: list[Acl], who: Principal, seed: int, mode: str
) -> None:
    for i in range(40):
        index.delete_document(f"d{i}")
    chunks = [chunk(f"d{i}", acl=acl.tokens()) for i, acl in enumerate(docs)]
    rng = random.Random(seed)
    terms = [sparse(*rng.sample(range(8), 3)) for _ in chunks]
    index.upsert(chunks, [vec(seed + i) for i in range(len(chunks))], terms)
    # Every chunk shares a term with the query, so each readable one is found.
    wanted = sparse(*range(8))
    query = {
        "sparse": Query(sparse=wanted),
        "hybrid-rrf": Query(dense=vec(seed), sparse=wanted, fusion=Fusion("rrf", candidates=50)),
        "hybrid-dbsf": Query(dense=vec(seed), sparse=wanted, fusion=Fusion("dbsf", candidates=50)),
    }[mode]
    hits = index.query(query, who.tokens(), 50)
    readable = {c.document_id for c, acl in zip(chunks, docs, strict=True) if who.can_read(acl.tokens())}
    assert {h.chunk.document_id for h in hits} == readable
    assert all(who.can_read(h.chunk.acl_tokens) for h in hits)


def test_an_index_from_before_keyword_vectors_answers_by_meaning(tmp_path: Path) -> None:
    import json

    old = QdrantEdgeIndex(tmp_path / "old")
    old.ensure_collection(DIM, MODEL)
    old.upsert([chunk("d1")], [vec(1)], [sparse(5)])
    old.close()
    meta = tmp_path / "old" / "sillok_index.json"
    meta.write_text(json.dumps({"model": MODEL, "dimension": DIM}))  # as written before keywords
    reopened = QdrantEdgeIndex(tmp_path / "old")
    reopened.ensure_collection(DIM, MODEL)
    assert not reopened.has_keywords
    hits = reopened.query(Query(dense=vec(1), sparse=sparse(5)), frozenset({PUBLIC}), 5)
    assert [h.chunk.document_id for h in hits] == ["d1"]
    assert reopened.query(Query(sparse=sparse(5)), frozenset({PUBLIC}), 5) == []
    reopened.close()


def test_chunks_gives_back_every_stored_chunk_for_reembedding(index: VectorIndex) -> None:
    stored = [chunk(f"d{i}", index=j) for i in range(3) for j in range(100)]
    index.upsert(stored, [vec(i) for i in range(len(stored))])
    assert sorted(index.chunks(), key=lambda c: c.id) == sorted(stored, key=lambda c: c.id)


def test_the_share_rule_picks_exact_for_narrow_principals_and_the_graph_for_broad_ones() -> None:
    assert plan(TUNED, readable=10, total=1000).exact
    broad = plan(TUNED, readable=900, total=1000)
    assert not broad.exact and broad.hnsw_ef == 64 and broad.quantized
    assert plan(TUNED.model_copy(update={"exact_search": True}), 900, 1000).exact
    assert plan(QdrantSettings(), readable=900, total=1000).exact  # under the full-scan floor


def _spread(index: VectorIndex, n: int = 200) -> None:
    """`n` points, one in ten readable by group a, the rest by group b."""
    chunks = [chunk(f"d{i}", acl=frozenset({"group:a" if i % 10 == 0 else "group:b"})) for i in range(n)]
    index.upsert(chunks, [vec(i) for i in range(n)])


def test_the_server_adapter_searches_by_graph_for_a_broad_principal_and_exactly_for_a_narrow_one() -> None:
    client = QdrantClient(location=":memory:")
    created: list[dict[str, Any]] = []
    create = client.create_collection

    def record(*args: Any, **kwargs: Any) -> bool:
        created.append(kwargs)
        return create(*args, **kwargs)

    client.create_collection = record  # type: ignore[method-assign]
    index = QdrantServerIndex(client, "chunks", TUNED)
    index.ensure_collection(DIM, MODEL)
    # local mode accepts and ignores these; a server builds its graph and int8 copies from them
    (config,) = created
    hnsw, quantization = config["hnsw_config"], config["quantization_config"]
    assert (hnsw.m, hnsw.ef_construct, hnsw.payload_m, hnsw.full_scan_threshold) == (8, 32, 8, 1)
    assert quantization.scalar.type == models.ScalarType.INT8 and quantization.scalar.always_ram
    _spread(index)
    sent: list[dict[str, object]] = []
    query_points = index.client.query_points

    def spy(*args: object, **kwargs: object) -> object:
        sent.append(kwargs)
        return query_points(*args, **kwargs)  # type: ignore[arg-type]

    index.client.query_points = spy  # type: ignore[method-assign]
    broad = Principal("u", frozenset({"a", "b"}))
    narrow = Principal("u", frozenset({"a"}))
    assert index.query(Query(dense=vec(1)), broad.tokens(), 5)
    assert index.query(Query(dense=vec(1)), narrow.tokens(), 5)
    graph, exact = (kw["search_params"] for kw in sent)
    assert graph.exact is False and graph.hnsw_ef == 64  # type: ignore[attr-defined]
    assert graph.quantization.rescore and graph.quantization.oversampling == 2.0  # type: ignore[attr-defined]
    assert exact.exact is True  # type: ignore[attr-defined]
    index.close()


def test_an_optimised_edge_shard_searches_its_graph_and_still_filters_by_acl(tmp_path: Path) -> None:
    index = QdrantEdgeIndex(tmp_path / "edge", TUNED.model_copy(update={"full_scan_threshold_kb": 1}))
    index.ensure_collection(DIM, MODEL)
    _spread(index, 2000)
    assert index.optimize()
    assert index.shard.info().indexed_vectors_count >= 2000
    narrow = Principal("u", frozenset({"a"})).tokens()
    broad = Principal("u", frozenset({"a", "b"})).tokens()
    for tokens, allowed in ((narrow, {"group:a"}), (broad, {"group:a", "group:b"})):
        hits = index.query(Query(dense=vec(7)), tokens, 20)
        assert len(hits) == 20 and all(h.chunk.acl_tokens <= allowed for h in hits)
        truth = {h.chunk.id for h in index.query_exact(Query(dense=vec(7)), tokens, 20)}
        assert len(truth & {h.chunk.id for h in hits}) >= 18
    assert not index.optimize()  # nothing new to index
    index.close()
