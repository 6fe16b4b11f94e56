"""What a search asks the vector index for: a dense vector, sparse keyword weights, or both fused."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal


class SearchMode(StrEnum):
    """Which signals rank the passages."""

    DENSE = "dense"
    SPARSE = "sparse"
    HYBRID = "hybrid"


@dataclass(frozen=True)
class SparseVector:
    """Term ids with weights; the index multiplies query weights by the collection's IDF."""

    indices: tuple[int, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.indices) != len(self.values):
            raise ValueError("sparse indices and values differ in length")

    def __bool__(self) -> bool:
        return bool(self.indices)


@dataclass(frozen=True)
class Fusion:
    """How the dense and sparse rankings are merged inside the index.

    `rrf`: reciprocal rank fusion, `1 / (k + rank / weight)` summed over the two rankings, with
    `dense_weight` and `sparse_weight`; `dbsf`: each ranking's scores normalised by their
    distribution, then summed. `candidates` passages are taken from each ranking before fusing.
    """

    method: Literal["rrf", "dbsf"] = "dbsf"
    k: int = 60
    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    candidates: int = 100


@dataclass(frozen=True)
class Query:
    """A search request: `dense` and/or `sparse`; with both, the rankings are fused by `fusion`."""

    dense: Sequence[float] | None = None
    sparse: SparseVector | None = None
    fusion: Fusion = field(default_factory=Fusion)

    @property
    def mode(self) -> SearchMode:
        """What this query ranks by (an empty sparse vector counts as absent)."""
        if self.dense is not None and self.sparse:
            return SearchMode.HYBRID
        return SearchMode.DENSE if self.dense is not None else SearchMode.SPARSE
