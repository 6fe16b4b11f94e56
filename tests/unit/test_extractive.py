"""The extractive answerer answers only with sentences that answer, in Korean and English."""

from __future__ import annotations

import pytest

from core.types import Chunk, ScoredChunk
from retrieval.extractive import best_sentences, render, sentences
from retrieval.language import say

pytestmark = pytest.mark.unit


def hits(*texts: str) -> list[ScoredChunk]:
    return [ScoredChunk(Chunk(f"d{i}", "v", 0, t, "", frozenset()), 1.0) for i, t in enumerate(texts)]


def answer(question: str, *texts: str) -> list[str]:
    return [e.sentence for e in best_sentences(question, hits(*texts))]


MAIL = (
    "Hi David, your debit card was charged $2,099.00 by Mixpanel. "
    "If you have any questions, just reply to this email."
)


def test_a_money_question_is_answered_by_the_sentence_with_the_amount_and_the_payee() -> None:
    assert answer("How much was paid to Mixpanel?", MAIL) == [
        "Hi David, your debit card was charged $2,099.00 by Mixpanel."
    ]


def test_a_money_question_is_refused_when_no_sentence_holds_an_amount() -> None:
    text = "Mixpanel released a new product update for its customers this week. Thanks for reading it."
    assert answer("How much was paid to Mixpanel?", text) == []


def test_the_question_s_key_entity_must_be_named() -> None:
    assert answer("How much was paid to Notion?", MAIL) == []


def test_an_explicit_direction_that_contradicts_the_question_is_refused() -> None:
    assert answer("How much was paid by Mixpanel?", MAIL) == []  # Mixpanel charged: it was paid
    sent = "You sent a wire payment of $150.00 to Julia from the company account."
    assert answer("How much was paid by Julia?", sent) == []
    assert answer("How much was paid to Julia?", sent) == [sent]


def test_someone_else_in_the_asked_role_is_not_an_answer() -> None:
    text = "Ganesha's card has received a $420.00 credit from Typeform today."
    assert answer("How much was paid by Ganesha?", text) == []
    assert answer("How much was paid by Typeform?", text) == [text]


def test_a_heading_names_the_entity_for_the_sentences_below_it() -> None:
    text = "FROM: Upwork Billing Team <billing@upwork.com>\n"
    text += "A payment of $200.85 was applied to the financial account today."
    assert answer("How much was paid to Upwork?", text) == [
        "A payment of $200.85 was applied to the financial account today."
    ]


def test_when_questions_need_a_date_and_how_many_a_number() -> None:
    text = "The bridge was designed by a famous engineer from the north. It opened in March 1932."
    assert answer("When did the bridge open?", text) == ["It opened in March 1932."]
    assert answer("How many lanes does the bridge have?", "The bridge has wide lanes for the cars.") == []


def test_korean_questions_follow_the_same_rules() -> None:
    text = "삼성전자는 지난해 매출액이 258조 원이라고 발표했다. 회사는 새 공장을 지었다."
    assert answer("삼성전자의 매출액은 얼마인가?", text) == [
        "삼성전자는 지난해 매출액이 258조 원이라고 발표했다."
    ]
    assert answer("삼성전자의 매출액은 얼마인가?", "삼성전자는 지난해 새 공장을 지었다고 발표했다.") == []
    assert answer("엘지전자의 매출액은 얼마인가?", text) == []


def test_questions_without_a_type_need_a_third_of_their_terms() -> None:
    text = "Vacation requests go to your manager through the portal. The cafeteria opens at noon."
    assert answer("Where do vacation requests go?", text) == [
        "Vacation requests go to your manager through the portal."
    ]
    assert answer("What is the parking policy for visitors?", text) == []


def test_label_lines_join_their_values_and_fragments_are_left_out() -> None:
    assert sentences("Total paid\n$120.00 by card\n\nView\n\nThe trip starts in Paris on Sunday.") == [
        "Total paid $120.00 by card",
        "The trip starts in Paris on Sunday.",
    ]


def test_render_quotes_each_sentence_with_its_citation_in_the_asker_s_language() -> None:
    extracts = best_sentences(
        "How much was paid to Mixpanel?", hits(MAIL.replace("Mixpanel.", "Mixpanel [3]."))
    )
    assert render(extracts) == "> Hi David, your debit card was charged $2,099.00 by Mixpanel ［3］. [1]"
    assert render(extracts, "ko").startswith(say("extracted", "ko") + "\n\n> ")
