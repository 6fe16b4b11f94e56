"""The verifier reads an answer's sentences and citations as a person would, and a changed number,
date, amount or name, or a sentence citing nothing, is never passed as supported."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from core.types import Chunk, ScoredChunk
from retrieval import claims
from retrieval.verify import Verifier, answer_sentences

pytestmark = pytest.mark.unit

HANDBOOK = (
    "Welcome to the handbook. Full-time employees receive 15 days of annual leave per year. "
    "Unused leave expires on March 31, 2025. The relocation allowance is $2,099.00 per move."
)
KO_HANDBOOK = (
    "사내 규정 안내입니다. 정규직 직원은 매년 15일의 연차 휴가를 받습니다. "
    "2024년 3월 1일부터 출장비 한도는 1,000억원에서 1조 3,000억원으로 바뀌었습니다. 김민수 팀장이 승인합니다."
)


def source(n: int, text: str) -> ScoredChunk:
    return ScoredChunk(Chunk(f"d{n}", "v1", 0, text, f"doc {n}", frozenset({"public"})), 1.0)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            "Leave is 15 days [2]. Sick leave is 10 days [1, 3].",
            [("Leave is 15 days.", (2,)), ("Sick leave is 10 days.", (1, 3))],
        ),
        (
            "Leave is 15 days. [2] It expires in March [1][3].",
            [("Leave is 15 days.", (2,)), ("It expires in March.", (1, 3))],
        ),
        (
            "연차는 15일이다 [2]. 병가는 10일입니다. [1][3]",
            [("연차는 15일이다.", (2,)), ("병가는 10일입니다.", (1, 3))],
        ),
        (
            "> Leave is 15 days [1]\n>\n> Dr. Kim approves 3.5 days [3]",
            [("Leave is 15 days", (1,)), ("Dr. Kim approves 3.5 days", (3,))],
        ),
        ("- First point [1]\n- Second point [2, 2]\n\n", [("First point", (1,)), ("Second point", (2,))]),
        (
            "Leave is 15 days and sick leave 10 days [2] [4].",
            [("Leave is 15 days and sick leave 10 days.", (2, 4))],
        ),
        ("No citation here.", [("No citation here.", ())]),
    ],
)
def test_sentences_and_their_citations(answer: str, expected: list[tuple[str, tuple[int, ...]]]) -> None:
    assert answer_sentences(answer) == expected


def test_source_text_brackets_are_not_citations() -> None:
    assert answer_sentences("See the footnote ［2］ in the handbook [1].") == [
        ("See the footnote ［2］ in the handbook.", (1,))
    ]


@pytest.mark.parametrize(
    ("sentence", "passage"),
    [
        ("The amount paid was $2099.00.", "Your card was charged $2,099.00 by MIXPANEL."),
        ("Athena received $2 500.00.", "A payment of $2,500.00 was sent to Athena."),
        ("최저자본금은 1000억 원입니다.", "시중은행은 1,000억원이 필요하다."),
        ("The budget is 1.3 trillion won.", "예산은 1조 3,000억 원이다."),
        ("예산은 1.3조 원이다.", "예산은 1조 3,000억 원이다."),
        ("Employees get 15 days of leave.", "직원은 15일의 연차를 받는다."),
        ("The rule starts on April 5, 2023.", "2023년 4월 5일부터 시행한다."),
        ("The rule starts on 2023-04-05.", "It takes effect on 5 April 2023."),
        ("She had three children.", "She and Fox had 3 children."),
        ("Haig served under Ronald Reagan.", "He was Secretary of State under President Ronald Reagan."),
        ("은행법 제8조에 근거한다.", "은행법 제8조에 따라 인가를 받는다."),
        ("2025년 이후에는 연 2,000만원으로 상향된다.", "’25년 이후 연 2000만원으로 상향"),
    ],
)
def test_written_forms_of_one_fact_agree(sentence: str, passage: str) -> None:
    assert claims.missing(sentence, claims.evidence([passage])) == []


@pytest.mark.parametrize(
    ("sentence", "passage", "wrong"),
    [
        ("The amount paid was $2,999.00.", "Your card was charged $2,099.00 by MIXPANEL.", "2,999.00"),
        ("최저자본금은 2,000억원입니다.", "시중은행은 1,000억원이 필요하다.", "2,000억"),
        ("The rule starts on April 6, 2023.", "2023년 4월 5일부터 시행한다.", "6"),
        ("Employees get 16 days of leave.", "Employees get 15 days of leave.", "16"),
        ("Employees get 25 days of leave.", "From March 31, 2025 employees get 15 days.", "25"),
        ("Haig served under Jimmy Carter.", "Haig served under President Ronald Reagan.", "Jimmy"),
        ("박지영 팀장이 승인합니다.", "김민수 팀장이 승인합니다.", "박지영"),
    ],
)
def test_a_changed_fact_is_found(sentence: str, passage: str, wrong: str) -> None:
    lacking = claims.missing(sentence, claims.evidence([passage]))
    assert [f.written(sentence) for f in lacking][:1] == [wrong]


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return Verifier(None)


def test_supported_sentences_pass_and_changed_numbers_fail(verifier: Verifier) -> None:
    sources = [source(1, "Parking is free for visitors."), source(2, HANDBOOK)]
    good = verifier.verify("Full-time employees receive 15 days of annual leave per year [2].", sources)
    bad = verifier.verify("Full-time employees receive 25 days of annual leave per year [2].", sources)
    assert good.sentences[0].supported and good.groundedness == 1.0
    assert not bad.sentences[0].supported and bad.groundedness == 0.0
    assert bad.sentences[0].support <= good.sentences[0].support * 0.25 + 1e-9  # the hard penalty


def test_korean_answer_with_amounts_and_dates(verifier: Verifier) -> None:
    sources = [source(1, KO_HANDBOOK)]
    good = verifier.verify("2024년 3월 1일부터 출장비 한도는 1.3조 원으로 바뀌었습니다 [1].", sources)
    bad = verifier.verify("2024년 3월 1일부터 출장비 한도는 2조 원으로 바뀌었습니다 [1].", sources)
    assert good.sentences[0].supported
    assert not bad.sentences[0].supported


def test_uncited_sentences_are_unsupported_and_framing_is_not_counted(verifier: Verifier) -> None:
    answer = "Here is what I found:\n\nFull-time employees receive 15 days of annual leave per year."
    result = verifier.verify(answer, [source(1, HANDBOOK)])
    assert [(s.text, s.citations, s.supported) for s in result.sentences] == [
        ("Full-time employees receive 15 days of annual leave per year.", (), False)
    ]
    assert result.groundedness == 0.0 and result.spans == {}


def test_citations_outside_the_sources_support_nothing(verifier: Verifier) -> None:
    result = verifier.verify(
        "Full-time employees receive 15 days of annual leave per year [7].", [source(1, HANDBOOK)]
    )
    assert result.sentences[0].citations == () and not result.sentences[0].supported


def test_a_sentence_the_cited_passage_does_not_state_is_unsupported(verifier: Verifier) -> None:
    sources = [source(1, HANDBOOK), source(2, "Parking is free for visitors on weekends.")]
    result = verifier.verify("Full-time employees receive 15 days of annual leave per year [2].", sources)
    assert not result.sentences[0].supported


def test_spans_mark_the_supporting_sentence_of_each_cited_source(verifier: Verifier) -> None:
    sources = [source(1, HANDBOOK), source(2, KO_HANDBOOK)]
    answer = "> Unused leave expires on March 31, 2025. [1]\n>\n> 정규직 직원은 매년 15일의 연차 휴가를 받습니다 [2]"  # noqa: E501
    result = verifier.verify(answer, sources)
    assert result.groundedness == 1.0
    start, end = result.spans[1]
    assert HANDBOOK[start:end] == "Unused leave expires on March 31, 2025."
    start, end = result.spans[2]
    assert "15일의 연차 휴가" in KO_HANDBOOK[start:end]


class ScriptedJudge:
    """An LLM client that answers every support question with fixed verdicts."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.calls = 0

    @property
    def model(self) -> str:
        return "scripted"

    def context_tokens(self) -> int:
        return 4096

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def complete(self, messages: Sequence[dict[str, str]], max_tokens: int | None = None) -> str:
        self.calls += 1
        return self.reply

    def stream(self, messages: Sequence[dict[str, str]], max_tokens: int | None = None) -> Iterator[str]:
        yield self.reply


def test_a_judge_that_says_no_overrules_lexical_support() -> None:
    answer = "Full-time employees receive 15 days of annual leave per year [1]. Leave expires on March 31, 2025 [1]."  # noqa: E501
    judge = ScriptedJudge("1: no\n2: yes")
    result = Verifier(None, judge=judge).verify(answer, [source(1, HANDBOOK)])
    assert judge.calls == 1
    assert [s.supported for s in result.sentences] == [False, True]


def test_a_sentence_without_markers_cites_the_next_cited_sentence_on_its_line() -> None:
    sentences = answer_sentences("> Parental leave. Employees get 90 days. [1]\n>\n> Contractors get none.")
    assert sentences == [
        ("Parental leave.", (1,)),
        ("Employees get 90 days.", (1,)),
        ("Contractors get none.", ()),
    ]
