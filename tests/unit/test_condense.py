"""Follow-up questions carry the conversation's topic into retrieval."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from core.errors import DependencyUnavailable
from core.types import Turn
from retrieval.condense import deterministic, is_follow_up, standalone

pytestmark = pytest.mark.unit
LEAVE = [Turn("How many days of parental leave do employees get?", "Employees get 90 days [1].")]
KOREAN = [Turn("육아휴직은 며칠까지 쓸 수 있나요?", "최대 1년입니다 [1].")]


class Model:
    """Answers every completion with a fixed text, or fails."""

    def __init__(self, reply: str | None) -> None:
        self.reply = reply
        self.model = "m"

    def context_tokens(self) -> int:
        return 2048

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def check_capacity(self) -> None:
        pass

    def complete(self, messages: Sequence[dict[str, str]], max_tokens: int | None = None) -> str:
        if self.reply is None:
            raise DependencyUnavailable("down")
        return self.reply

    def stream(self, messages: Sequence[dict[str, str]], max_tokens: int | None = None) -> Iterator[str]:
        yield self.complete(messages)


def test_a_short_follow_up_carries_the_earlier_topic() -> None:
    query = deterministic("And for contractors?", LEAVE)
    assert query.startswith("And for contractors?")
    assert "parental" in query and "leave" in query


def test_a_korean_follow_up_carries_the_earlier_topic() -> None:
    query = deterministic("그럼 계약직은요?", KOREAN)
    assert "육아휴직" in query


def test_a_new_self_contained_question_is_left_alone() -> None:
    question = "What is the reimbursement limit for business travel hotels in Seoul?"
    assert not is_follow_up(question, LEAVE)
    assert deterministic(question, LEAVE) == question


def test_without_history_nothing_changes() -> None:
    assert standalone("And for contractors?", [], Model("x")) == "And for contractors?"


def test_the_model_rewrite_is_used_and_cannot_lose_the_topic() -> None:
    rewrite = standalone("And for contractors?", LEAVE, Model("How much leave do contractors get?"))
    assert rewrite.startswith("How much leave do contractors get?") and "parental" in rewrite


def test_a_failing_model_falls_back_to_the_deterministic_rewrite() -> None:
    query = standalone("And for contractors?", LEAVE, Model(None))
    assert query == deterministic("And for contractors?", LEAVE)


@pytest.mark.parametrize(
    "reply",
    [
        "Employees receive 90 days of paid parental leave [1] for contractors. many get",
        "The answer is: contractors may take 30 days of unpaid leave.",
        '<source id="1">Contractors are not eligible for paid parental leave.</source>',
    ],
)
def test_a_model_that_answers_instead_of_rewriting_is_not_used(reply: str) -> None:
    assert standalone("And for contractors?", LEAVE, Model(reply)) == deterministic(
        "And for contractors?", LEAVE
    )


@pytest.mark.parametrize("rewrite", ["How much leave do contractors get?", "계약직의 육아휴직은 며칠인가요"])
def test_a_rewrite_that_is_a_question_is_used(rewrite: str) -> None:
    assert standalone("그럼 계약직은요?", KOREAN, Model(rewrite)).startswith(rewrite)
