"""The verifier with the real multilingual e5 model and the shared evaluation sets: supported gold
sentences pass, perturbed ones fail, in Korean and English, and calibrating on a small slice of
the labelled pairs gives a precise verifier on the held-out part of that slice."""

from __future__ import annotations

import pytest

from core.types import Chunk, ScoredChunk
from retrieval.verifier_set import Pair, build, calibrate, held_out, scores
from retrieval.verify import Verifier, combine
from tests.conftest import EVAL

pytestmark = pytest.mark.integration

EN_PASSAGE = (
    "Thelma & Louise is a 1991 American female buddy road crime film directed by Ridley Scott and "
    "written by Callie Khouri. In a fit of rage, Louise shoots Harlan in the chest, killing him instantly."
)
KO_PASSAGE = (
    "시중은행의 최저자본금은 1,000억원이며, 지방은행과 인터넷전문은행은 250억원이다. "
    "비금융주력자의 주식 보유한도는 시중은행 4%, 지방은행 15%, 인터넷은행 34%이다."
)
SLICE = 60  # items per data set
EMBEDDED = 4  # pairs of each kind and language measured with e5


def source(text: str) -> ScoredChunk:
    return ScoredChunk(Chunk("d1", "v1", 0, text, "doc", frozenset({"public"})), 1.0)


@pytest.fixture(scope="module")
def pairs() -> list[Pair]:
    if not EVAL.is_dir():
        pytest.skip(f"no shared evaluation sets at {EVAL}")
    everything = build(EVAL)
    kept: list[Pair] = []
    for dataset in sorted({p.dataset for p in everything}):
        groups = sorted({p.group for p in everything if p.dataset == dataset})[:SLICE]
        kept += [p for p in everything if p.dataset == dataset and p.group in groups]
    return kept


@pytest.mark.parametrize(
    ("passage", "good", "bad"),
    [
        (
            EN_PASSAGE,
            "Thelma & Louise is a 1991 film directed by Ridley Scott [1].",
            "Thelma & Louise is a 1994 film directed by Ridley Scott [1].",
        ),
        (
            EN_PASSAGE,
            "In the film, Louise shoots Harlan and kills him [1].",
            "In the film, Louise shoots Travis and kills him [1].",
        ),
        (
            KO_PASSAGE,
            "시중은행은 최저자본금이 1000억 원 필요합니다 [1].",
            "시중은행은 최저자본금이 1500억 원 필요합니다 [1].",
        ),
        (
            KO_PASSAGE,
            "인터넷은행의 비금융주력자 주식 보유한도는 34%입니다. [1]",
            "인터넷은행의 비금융주력자 주식 보유한도는 43%입니다. [1]",
        ),
    ],
    ids=["en-year", "en-name", "ko-amount", "ko-percent"],
)
def test_supported_pairs_pass_and_perturbed_ones_fail(e5, passage: str, good: str, bad: str) -> None:  # type: ignore[no-untyped-def]
    for verifier in (Verifier(e5), Verifier(e5, embed_all=True)):  # as shipped, and measuring similarity
        supported = verifier.verify(good, [source(passage)]).sentences[0]
        changed = verifier.verify(bad, [source(passage)]).sentences[0]
        assert supported.support >= verifier.threshold and supported.supported
        assert changed.support < verifier.threshold and not changed.supported


def test_calibration_on_a_slice_is_precise_on_its_held_out_part(pairs: list[Pair]) -> None:
    verifier = Verifier(None)  # the shipped weights give similarity none; see the next test for e5
    signals = [verifier.signals(p.sentence, p.passages) for p in pairs]
    cal = [i for i, p in enumerate(pairs) if not held_out(p)]
    test = [i for i, p in enumerate(pairs) if held_out(p)]
    model = calibrate(
        [signals[i] for i in cal], [pairs[i].supported for i in cal], False, [pairs[i].language for i in cal]
    )
    for language in ("en", "ko"):
        chosen = [i for i in test if pairs[i].language == language]
        result = scores(
            [combine(signals[i], model) >= model.threshold for i in chosen],
            [pairs[i].supported for i in chosen],
        )
        assert result.pairs >= 40
        assert result.precision >= 0.85, (language, result)
        assert result.recall >= 0.7, (language, result)


def test_e5_similarity_separates_gold_sentences_from_distractors(e5, pairs: list[Pair]) -> None:  # type: ignore[no-untyped-def]
    verifier = Verifier(e5)
    for language in ("en", "ko"):
        gold = [p for p in pairs if p.language == language and p.kind == "gold"][:EMBEDDED]
        other = [p for p in pairs if p.language == language and p.kind == "distractor"][:EMBEDDED]
        cosine = {
            kind: sum(verifier.signals(p.sentence, p.passages).cosine for p in chosen) / len(chosen)
            for kind, chosen in (("gold", gold), ("distractor", other))
        }
        assert cosine["gold"] > cosine["distractor"] + 0.03, (language, cosine)
