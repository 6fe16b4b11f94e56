"""Checked answers in the browser: a Korean question gets a Korean refusal and Korean labels,
unsupported sentences are removed and marked, follow-ups keep the conversation's topic,
Markdown renders as elements without outside requests, and suspicious sources carry a warning."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.webui.conftest import (
    CONTRACTOR_TITLE,
    PARENTAL_TITLE,
    PLANTS_TITLE,
    Session,
    Site,
    open_session,
    sign_in,
)
from tests.webui.test_webui import (
    ENGLISH_REFUSAL,
    INDEX_TIMEOUT_MS,
    KOREAN_REFUSAL,
    OLD_EXTRACTIVE_LABEL,
    ask,
    assert_clean,
    shot,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.e2e


def wait_indexed(page: Page, titles: set[str]) -> None:
    """Wait until the documents page lists every one of `titles` as indexed."""
    page.click("nav a[data-route=documents]")
    page.wait_for_function(
        "(titles) => titles.every((t) => [...document.querySelectorAll('#doc-rows tr')].some((r) =>"
        " r.querySelector('.doc-name strong')?.textContent === t && r.dataset.status === 'indexed'))",
        arg=sorted(titles),
        timeout=INDEX_TIMEOUT_MS,
    )
    page.click("nav a[data-route=chat]")


@pytest.fixture(scope="module")
def jun(site: Site, browser: Browser) -> Iterator[Session]:
    """jun, signed in with the page in English, once his three documents are indexed."""
    session = open_session(browser, site)
    sign_in(session, "jun")
    wait_indexed(session.page, {PARENTAL_TITLE, CONTRACTOR_TITLE, PLANTS_TITLE})
    yield session
    assert_clean(session, site)
    session.close()


def new_chat(page: Page) -> None:
    page.click("#new-chat")
    page.wait_for_function("() => !document.querySelector('#messages .turn')")


def test_a_korean_question_gets_a_korean_refusal_and_korean_labels(jun: Session) -> None:
    page = jun.page
    new_chat(page)
    seen = ask(page, "오늘 화성의 날씨는 어떤가요?")
    answer = seen["locator"]
    assert seen["state"] == "done"
    assert seen["text"].strip() == KOREAN_REFUSAL
    assert answer.get_attribute("data-language") == "ko"
    assert answer.locator(".answer-content").get_attribute("lang") == "ko"
    refusal = answer.locator(".refusal")
    assert refusal.is_visible() and "문서에 답이 없습니다." in refusal.inner_text()
    assert answer.locator(".badge-refused").inner_text() == "답을 찾지 못함"
    assert "refused" in (answer.get_attribute("class") or "").split()
    assert answer.locator("button.cite").count() == 0
    # The page itself stays English; no English refusal or label of the product's own is shown.
    assert page.locator("nav a[data-route=chat]").inner_text() == "Chat"
    body = page.locator("body").inner_text()
    assert ENGLISH_REFUSAL not in body and "No answer in your documents." not in body
    assert OLD_EXTRACTIVE_LABEL not in body


def test_unsupported_sentences_are_removed_and_marked(jun: Session) -> None:
    page = jun.page
    new_chat(page)
    seen = ask(page, "What is the parental leave policy? EMBELLISH")
    answer = seen["locator"]
    assert seen["state"] == "done"
    assert "sports car" in seen["streamed"]  # the model said it while streaming …
    assert "sports car" not in seen["text"]  # … and the checked answer replaced that text
    assert "twelve months" in seen["text"]
    assert any(PARENTAL_TITLE in s for s in seen["sources"]), seen["sources"]
    verification = answer.locator(".verification")
    found = re.search(r"Verified: (\d+) of (\d+) sentences", verification.inner_text())
    assert found and 0 < int(found.group(1)) < int(found.group(2)), verification.inner_text()
    assert verification.get_attribute("data-level") == "partial"
    assert re.search(r"\d+% supported", verification.inner_text())
    unsupported = answer.locator(".unsupported")
    assert unsupported.is_visible()
    assert "Not supported by the sources" in unsupported.inner_text()
    assert "do not back these sentences" in unsupported.inner_text()
    removed = unsupported.locator(".unsupported-sentence[data-removed=true]")
    assert removed.count() == 1 and "sports car" in removed.inner_text()
    assert removed.locator("del").count() == 1  # shown struck through, apart from the answer
    shot(page, "verification-en")


def test_follow_up_questions_keep_the_conversation_topic(jun: Session) -> None:
    page = jun.page
    new_chat(page)
    first = ask(page, "What is the parental leave policy?")
    assert any(PARENTAL_TITLE in s for s in first["sources"]), first["sources"]
    follow = ask(page, "And for contractors?")
    assert follow["state"] == "done"
    assert any(PARENTAL_TITLE in s for s in follow["sources"]), follow["sources"]
    assert all(CONTRACTOR_TITLE not in s for s in follow["sources"]), follow["sources"]
    assert page.locator(".conversation-link").count() >= 1
    assert page.locator("#messages .turn").count() == 2  # one conversation, two turns

    # The same words in a new conversation are about contractors alone.
    new_chat(page)
    alone = ask(page, "And for contractors?")
    assert any(CONTRACTOR_TITLE in s for s in alone["sources"]), alone["sources"]

    # And in Korean.
    new_chat(page)
    korean = ask(page, "육아휴직 제도는 어떻게 되나요?")
    assert any(PARENTAL_TITLE in s for s in korean["sources"]), korean["sources"]
    korean_follow = ask(page, "계약직은요?")
    assert any(PARENTAL_TITLE in s for s in korean_follow["sources"]), korean_follow["sources"]
    assert korean_follow["locator"].get_attribute("data-language") == "ko"


def test_markdown_answers_render_as_elements_and_fetch_nothing_outside(jun: Session, site: Site) -> None:
    page = jun.page
    new_chat(page)
    seen = ask(page, "What is the parental leave policy? FORMAT")
    assert seen["state"] == "done"
    # While it streamed, the Markdown was elements: emphasis, a table, a list, inline code.
    assert {"strong", "table", "th", "td", "ul", "li", "code", "button"} <= seen["tags"], seen["tags"]
    # The remote image and the outside link were text, and nothing was requested from them.
    assert "img" not in seen["tags"]
    assert {"md-image-removed", "md-link-removed"} <= seen["classes"], seen["classes"]
    assert all(site.same_origin(href) for href in seen["hrefs"]), seen["hrefs"]
    assert [url for url in jun.requests if "evil.example" in url] == []
    assert page.locator("#messages img, #messages a[href*='evil']").count() == 0


def test_suspicious_sources_carry_a_warning(jun: Session) -> None:
    page = jun.page
    new_chat(page)
    seen = ask(page, "When does the facilities team water the office plants?")
    answer = seen["locator"]
    assert any(PLANTS_TITLE in s for s in seen["sources"]), seen["sources"]
    warning = answer.locator(".source.suspicious .suspicious-warning")
    assert warning.count() >= 1
    assert "instructions addressed to language models" in warning.first.inner_text()
    assert answer.locator(".suspicious-notice").is_visible()
    answer.locator(".source.suspicious .source-button").first.click()
    panel = page.locator("#citation-panel")
    panel.wait_for(state="visible")
    assert "treat it with care" in panel.locator(".suspicious-notice").inner_text()
    assert panel.locator(".passage mark").count() >= 1
    page.click("#citation-close")
