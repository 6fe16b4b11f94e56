"""`sillok reindex` on the embedded default: every passage re-embedded into a new shard, same ids."""

from collections.abc import Sequence
from pathlib import Path

import pytest

from core.acl import PUBLIC
from core.errors import ConfigurationError
from core.search import Query
from core.types import Chunk
from core.vectors.qdrant_edge import QdrantEdgeIndex
from serving.cli.reindex import _reindex_edge

pytestmark = pytest.mark.integration


class NewModel:
    name, dimension, max_tokens = "new-model", 3, 100

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        return [[1.0, float(len(t)), 0.5] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return [1.0, 0.0, 0.0]


def test_reindex_moves_every_passage_to_the_new_model(tmp_path: Path) -> None:
    path = tmp_path / "qdrant"
    old = QdrantEdgeIndex(path)
    old.ensure_collection(2, "old-model")
    chunks = [
        Chunk(f"d{i}", "v1", 0, f"노트북 분실 신고 {i}", "보안", frozenset({PUBLIC})) for i in range(70)
    ]
    old.upsert(chunks, [[1.0, 0.0]] * len(chunks))
    old.close()
    with pytest.raises(ConfigurationError, match="reindex"):
        QdrantEdgeIndex(path).ensure_collection(3, "new-model")
    assert _reindex_edge(path, NewModel()) == 70  # type: ignore[arg-type]
    new = QdrantEdgeIndex(path)
    new.ensure_collection(3, "new-model")
    assert new.has_keywords and new.count() == 70
    assert {p.point_id for p in new.points()} == {c.id for c in chunks}
    from core.lexical import query_vector

    hits = new.query(Query(sparse=query_vector("노트북을")), frozenset({PUBLIC}), 100)
    assert len(hits) == 70
    new.close()
    assert not list(tmp_path.glob("qdrant.*"))  # no leftovers
