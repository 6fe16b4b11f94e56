"""How both Qdrant adapters index and search: one set of HNSW and quantisation settings, and the
per-query choice between exact and graph search.

Qdrant's own planner already scans exactly, per segment, when the filter's estimated cardinality
is below `full_scan_threshold`; that bound is absolute (kilobytes of vectors), so at millions of
chunks a principal reading 1% is still sent into a filtered graph walk, where recall drops. The
share rule here adds the relative bound: a principal reading at most `exact_share` of the points
is scored exactly over its payload-index candidates (cheap: few points), everyone else walks the
graph with a raised `hnsw_ef`, where a broad filter loses few neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import QdrantSettings


@dataclass(frozen=True)
class SearchPlan:
    """The dense-search parameters of one query."""

    exact: bool
    hnsw_ef: int
    quantized: bool  # search the int8 copies, then rescore `oversampling` x limit on the originals
    oversampling: float
    readable: int  # the estimated points the principal may read (0 when not estimated)
    acorn: bool = False
    acorn_max_selectivity: float = 0.4


def plan(settings: QdrantSettings, readable: int, total: int) -> SearchPlan:
    """Exact when forced, when the collection is small, or when the principal reads a small share."""
    quantized = settings.quantization != "none"
    small = total <= full_scan_points(settings)
    share = readable / total if total else 0.0
    exact = settings.exact_search or small or share <= settings.exact_share
    return SearchPlan(
        exact,
        settings.hnsw_ef,
        quantized,
        settings.oversampling,
        readable,
        settings.acorn,
        settings.acorn_max_selectivity,
    )


def reference(settings: QdrantSettings) -> SearchPlan:
    """Exact search on the original vectors: the ground truth recall is measured against."""
    return SearchPlan(True, settings.hnsw_ef, False, 1.0, 0)


def _vectors_in(kilobytes: int, dimension: int) -> int:
    return kilobytes * 1024 // (4 * dimension)  # float32 vectors; Qdrant's thresholds count KB


def full_scan_points(settings: QdrantSettings, dimension: int = 384) -> int:
    """How many vectors of `dimension` fit the full-scan threshold."""
    return _vectors_in(settings.full_scan_threshold_kb, dimension)


def indexing_points(settings: QdrantSettings, dimension: int = 384) -> int:
    """How many unindexed vectors make a segment the engine builds a graph for."""
    return _vectors_in(settings.indexing_threshold_kb, dimension)
