"""The Edge shard's graph is built beside it, in a child process: searches and writes go on
meanwhile, nothing written meanwhile is lost, and a crash or a failed build leaves the shard whole."""

from __future__ import annotations

import shutil
import sys
import threading
from pathlib import Path

import pytest

from core.errors import DependencyUnavailable
from core.search import Query
from core.settings import QdrantSettings
from core.vectors import edge_optimizer
from core.vectors.qdrant_edge import QdrantEdgeIndex
from tests.contract.test_vector_index import DIM, MODEL, TUNED, chunk, vec

pytestmark = pytest.mark.contract
A = frozenset({"group:a"})
B = frozenset({"group:b"})


def _filled(path: Path, n: int = 3000, settings: QdrantSettings = TUNED) -> QdrantEdgeIndex:
    index = QdrantEdgeIndex(path, settings)
    index.ensure_collection(DIM, MODEL)
    index.upsert([chunk(f"d{i}", acl=A if i % 2 else B) for i in range(n)], [vec(i) for i in range(n)])
    return index


def _ids(index: QdrantEdgeIndex, tokens: frozenset[str], seed: int = 7, limit: int = 20) -> set[str]:
    return {h.chunk.document_id for h in index.query(Query(dense=vec(seed)), tokens, limit)}


def test_searches_and_writes_go_on_while_the_graph_is_built_and_the_writes_survive_the_swap(
    tmp_path: Path,
) -> None:
    index = _filled(tmp_path / "edge")
    swapped: list[bool] = []
    builder = threading.Thread(target=lambda: swapped.append(index.optimize()))
    builder.start()
    searched = 0
    while builder.is_alive():
        assert _ids(index, A | B)
        if searched == 0:
            index.upsert([chunk("late", acl=A)], [vec(424242)])
            index.delete_document("d0")
            index.set_acl("d1", B)
        searched += 1
    builder.join()
    # the engine holds the GIL while it optimises: in-process, not one search would have run
    assert swapped == [True] and searched >= 5
    assert index.shard.info().indexed_vectors_count >= 3000  # the optimised copy is in place
    assert _ids(index, A, seed=424242, limit=1) == {"late"}
    assert index.count("d0") == 0
    assert "d1" in _ids(index, B, seed=1, limit=1) and "d1" not in _ids(index, A, seed=1)
    assert not (tmp_path / "edge.optimizing").exists() and not (tmp_path / "edge.replaced").exists()
    index.close()

    reopened = QdrantEdgeIndex(tmp_path / "edge", TUNED)
    assert reopened.count() == 3000
    assert not reopened.optimize()  # nothing new since the graph was built: no copy, no child
    reopened.close()


def test_a_failed_build_leaves_the_shard_searchable_and_no_copy_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = _filled(tmp_path / "edge", 500)
    monkeypatch.setattr(sys, "executable", "/bin/false")
    assert not index.optimize()
    assert not (tmp_path / "edge.optimizing").exists()
    assert index.count() == 500 and _ids(index, A)
    index.close()


def test_a_swap_cut_short_by_a_crash_is_undone_when_the_shard_opens(tmp_path: Path) -> None:
    index = _filled(tmp_path / "edge", 50)
    index.close()
    (tmp_path / "edge").rename(tmp_path / "edge.replaced")  # the crash came between the renames
    (tmp_path / "edge.optimizing").mkdir()
    reopened = QdrantEdgeIndex(tmp_path / "edge", TUNED)
    assert reopened.count() == 50 and _ids(reopened, A)
    assert not (tmp_path / "edge.optimizing").exists() and not (tmp_path / "edge.replaced").exists()
    reopened.close()


def test_a_shard_below_the_indexing_threshold_is_not_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = _filled(tmp_path / "edge", 50, QdrantSettings())  # 50 points: far below 10,000 KB

    def no_copy(path: Path) -> Path:
        raise AssertionError(f"{path} copied")

    monkeypatch.setattr(edge_optimizer, "copy_of", no_copy)
    assert not index.optimize()
    index.close()


def test_a_second_build_or_a_second_opener_never_touches_the_running_builds_copy(tmp_path: Path) -> None:
    index = _filled(tmp_path / "edge")
    results: list[bool] = []
    builders = [threading.Thread(target=lambda: results.append(index.optimize())) for _ in range(2)]
    for builder in builders:
        builder.start()
    while not (tmp_path / "edge.optimizing").exists() and any(b.is_alive() for b in builders):
        pass
    with pytest.raises(DependencyUnavailable):  # e.g. a CLI run while the server builds
        QdrantEdgeIndex(tmp_path / "edge", TUNED)
    for builder in builders:
        builder.join()
    assert sorted(results) == [False, True]  # one build; the other call found it running
    assert index.count() == 3000 and index.shard.info().indexed_vectors_count >= 3000
    index.close()


def test_no_build_starts_without_room_for_it_and_writes_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = _filled(tmp_path / "edge", 500)
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: shutil._ntuple_diskusage(10**9, 10**9 - 1, 1))
    assert not index.optimize()
    assert not (tmp_path / "edge.optimizing").exists()
    index.upsert([chunk("after", acl=A)], [vec(99)])
    assert index.count() == 501
    index.close()
