"""The web UI in headless Chromium against a real `sillok serve`: sign-in, uploads that reach
`indexed`, streamed answers with citations in English and Korean, feedback, the language switch,
isolation between users, hostile documents and questions, administration, and screenshots."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.conftest import DOCS
from tests.webui.conftest import (
    PUBLIC_TITLE,
    Session,
    Site,
    open_session,
    screenshot_dir,
    sign_in,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, FilePayload, Page

pytestmark = pytest.mark.e2e

DOCX = DOCS / "docx" / "docx-tables.docx"
KOREAN_PDF = DOCS / "pdf" / "korean-text-with-tables.pdf"
ENCRYPTED_PDF = DOCS / "pdf" / "password.pdf"
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ENGLISH_QUESTION = "What does the simple uniform table in the tables document contain?"
KOREAN_QUESTION = "커피전문점에서 결제하면 빅포인트를 몇 퍼센트 적립하나요?"
ENGLISH_REFUSAL = "The documents available to you do not answer this question."
KOREAN_REFUSAL = "열람 가능한 문서에서 이 질문의 답을 찾을 수 없습니다."
OLD_EXTRACTIVE_LABEL = "Extracted from your documents (no language model is configured)"
INDEX_TIMEOUT_MS = 180_000
ANSWER_TIMEOUT_MS = 60_000

# Records the answer's visible length every time the DOM changes while it streams, and every
# element and link target its body ever held (the streamed text is rendered as it arrives).
WATCH_STREAM = """() => {
  window.__lengths = [];
  window.__tags = new Set();
  window.__hrefs = new Set();
  window.__classes = new Set();
  window.__streamed = '';
  const observer = new MutationObserver(() => {
    const answers = document.querySelectorAll('#messages .answer');
    const last = answers[answers.length - 1];
    if (!last) return;
    const body = last.querySelector('.answer-body');
    for (const el of body.querySelectorAll('*')) {
      window.__tags.add(el.tagName.toLowerCase());
      for (const name of el.classList) window.__classes.add(name);
    }
    for (const a of body.querySelectorAll('a[href]')) window.__hrefs.add(a.href);
    if (last.dataset.state !== 'streaming') return;
    window.__streamed = body.textContent;
    const length = body.textContent.length;
    if (window.__lengths[window.__lengths.length - 1] !== length) window.__lengths.push(length);
  });
  observer.observe(document.getElementById('messages'),
    { subtree: true, childList: true, characterData: true, attributes: true });
}"""

DROP_FILE = """([name, data, type]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  return transfer;
}"""


@dataclass
class Uploaded:
    """hana's two private documents, uploaded through the UI."""

    ids: dict[str, str]  # title -> id
    statuses_seen: dict[str, list[str]]
    seconds: float
    failure_shown: str

    @property
    def docx_title(self) -> str:
        return DOCX.stem

    @property
    def pdf_title(self) -> str:
        return KOREAN_PDF.stem


def shot(page: Page, name: str) -> Path:
    path = screenshot_dir() / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def ask(page: Page, question: str) -> dict[str, Any]:
    """Type a question, press Enter and wait for the final answer; returns what was seen."""
    page.evaluate(WATCH_STREAM)
    before = page.locator("#messages .answer").count()
    page.fill("#question", question)
    page.press("#question", "Enter")
    answer = page.locator("#messages .answer").nth(before)
    answer.wait_for()
    page.wait_for_function(
        "(n) => { const a = document.querySelectorAll('#messages .answer')[n];"
        " return a && a.dataset.state !== 'streaming'; }",
        arg=before,
        timeout=ANSWER_TIMEOUT_MS,
    )
    return {
        "state": answer.get_attribute("data-state"),
        "lengths": page.evaluate("window.__lengths"),
        "tags": set(page.evaluate("[...window.__tags]")),
        "hrefs": page.evaluate("[...window.__hrefs]"),
        "classes": set(page.evaluate("[...window.__classes]")),
        "streamed": page.evaluate("window.__streamed"),
        "text": answer.locator(".answer-body").inner_text(),
        "sources": answer.locator(".source-button").all_inner_texts(),
        "locator": answer,
    }


def document_rows(page: Page) -> dict[str, str]:
    """Title -> status of every row in the documents table."""
    rows = page.locator("#doc-rows tr")
    return {
        rows.nth(i).locator(".doc-name strong").inner_text(): rows.nth(i).get_attribute("data-status") or ""
        for i in range(rows.count())
    }


def assert_clean(session: Session, site: Site) -> None:
    """Nothing ran that should not have, every request stayed on this origin, and the page never
    tried anything the Content-Security-Policy had to refuse."""
    page = session.page
    assert page.evaluate("window.__pwned") is None
    assert session.dialogs == []
    assert session.errors == []
    assert session.blocked == []
    assert page.evaluate("window.__htmlSinks") == []  # no HTML parsed from a string, ever
    outside = [url for url in session.requests if not site.same_origin(url)]
    assert outside == [], f"requests outside the app: {outside}"


MODULE_CHECKS = (Path(__file__).parent / "module_checks.js").read_text(encoding="utf-8")


def test_markdown_sse_and_citation_helpers_in_the_browser(site: Site, browser: Browser) -> None:
    session = open_session(browser, site)
    page = session.page
    page.goto("/")
    page.wait_for_selector("body[data-ready]")
    result = page.evaluate(MODULE_CHECKS)
    assert result["library"] is True  # markdown-it, served by Sillok from /ui/vendor/
    assert result["extractive"] == [1, 3, "문서에서 발췌한 내용:"]
    assert result["rich"] == [
        "Title",
        2,
        2,
        "bold",
        "em",
        "code",
        "/api/v1/documents/d1/content",
        "<b>kept as text</b>",
        0,
        True,
        "gone",
    ]
    assert result["richBlocks"] == ["h3", "ul", "ol", "pre", "p"]
    assert result["table"] == [1, ["Item", "Limit"], 2, 2, "30,000", ["align-left", "align-right"]]
    # Nothing clickable leaves the server (four outside links and an autolink are text; the
    # `javascript:`, `data:` and `vbscript:` ones are not even links), no image element exists,
    # and a reference definition cannot turn the citation markers into links.
    assert result["hostile"] == [0, 4, 2, True, 3, True]
    assert result["deep"] == [True, True]  # nesting is bounded
    assert result["inlineHtml"] == [0, 'a <b onclick="window.__pwned=4">b</b> <!-- c --> <i>']
    # `http:evil.example` and `\evil.example\x` are paths on this origin; `\\evil.example` is a host.
    stay = ["/evil.example", "/evil.example/x"]
    assert result["hrefs"] == ["/x?y=1#z", None, None, None, None, *stay, None, None, "/ui/index.html", None]
    assert result["spans"] == [
        ["beta gamma"],
        ["ab cd"],
        ["Short passage here."],
        ["Short passage here."],
    ]
    assert result["languages"] == ["ko", "en", "ko"]
    assert result["labels"] == ["문서에 답이 없습니다.", "No answer in your documents."]
    assert result["block"] == {"event": "delta", "data": "a\nb"}
    assert result["events"] == [
        {"event": "delta", "data": '{"text":"안녕"}'},
        {"event": "answer", "data": '{"a":1}\n2'},
    ]
    assert result["cited"] == ["First fact.", "Second fact .", "Quoted line here"]
    assert result["sinks"] == []  # no HTML was parsed from a string anywhere
    assert result["pwned"] is None
    assert_clean(session, site)
    session.close()


@pytest.fixture(scope="module")
def uploaded(site: Site, browser: Browser) -> Iterator[Uploaded]:
    """hana drags the DOCX onto the drop zone, chooses the Korean PDF (and an encrypted one) with
    the file picker, keeps the default (only me), uploads, and watches them reach a final status."""
    session = open_session(browser, site)
    page = session.page
    sign_in(session, "hana")
    page.click("nav a[data-route=documents]")
    page.wait_for_selector("#view-documents:not([hidden])")
    transfer = page.evaluate_handle(
        DROP_FILE, [DOCX.name, base64.b64encode(DOCX.read_bytes()).decode(), DOCX_MIME]
    )
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})
    page.set_input_files("#upload-input", [str(KOREAN_PDF), str(ENCRYPTED_PDF)])
    assert page.locator("#upload-queue li").count() == 3
    assert page.is_checked("input[name=share][value=me]")
    started = time.monotonic()
    page.click("#upload-submit")
    seen: dict[str, list[str]] = {DOCX.stem: [], KOREAN_PDF.stem: [], ENCRYPTED_PDF.stem: []}
    deadline = started + INDEX_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        rows = document_rows(page)
        for title, statuses in seen.items():
            status = rows.get(title)
            if status and (not statuses or statuses[-1] != status):
                statuses.append(status)
        if all(statuses and statuses[-1] in ("indexed", "failed") for statuses in seen.values()):
            break
        page.wait_for_timeout(200)
    seconds = time.monotonic() - started
    ids = {
        title: page.locator(f"#doc-rows tr:has(.doc-name strong:text-is('{title}'))").get_attribute(
            "data-document-id"
        )
        or ""
        for title in seen
    }
    failure = page.locator(f"#doc-rows tr:has(.doc-name strong:text-is('{ENCRYPTED_PDF.stem}'))")
    failure_shown = failure.locator(".doc-status").inner_text() if failure.count() else ""
    assert_clean(session, site)
    session.close()
    yield Uploaded(ids, seen, seconds, failure_shown)


def test_uploads_show_live_status_until_indexed(uploaded: Uploaded) -> None:
    print(f"\nuploads indexed in {uploaded.seconds:.1f}s; statuses shown: {uploaded.statuses_seen}")
    final = {title: statuses[-1] if statuses else "" for title, statuses in uploaded.statuses_seen.items()}
    assert final == {DOCX.stem: "indexed", KOREAN_PDF.stem: "indexed", ENCRYPTED_PDF.stem: "failed"}
    assert "Failed" in uploaded.failure_shown
    assert "The file is encrypted or password-protected." in uploaded.failure_shown
    shown = [s for statuses in uploaded.statuses_seen.values() for s in statuses]
    assert {"queued", "processing"} & set(shown), "no live status was shown before `indexed`"
    assert all(uploaded.ids.values())


def test_chat_in_english_and_korean(site: Site, browser: Browser, uploaded: Uploaded) -> None:
    session = open_session(browser, site, locale="en-US")
    session.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.base)
    page = session.page
    sign_in(session, "hana")
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.locator("nav a[data-route=chat]").inner_text() == "Chat"
    assert page.locator("nav a[data-route=admin]").is_hidden()  # hana is not an admin

    # A streamed English answer from the DOCX, with a citation.
    seen = ask(page, ENGLISH_QUESTION)
    assert seen["state"] == "done"
    assert len(seen["lengths"]) >= 3 and seen["lengths"] == sorted(seen["lengths"]), seen["lengths"]
    assert any(uploaded.docx_title in s for s in seen["sources"]), seen["sources"]
    answer = seen["locator"]
    assert answer.locator(".not-grounded, .refusal").count() == 0
    assert "Verified:" in answer.locator(".verification").inner_text()

    # The citation panel: highlighted passage, title, version date, original, why.
    cite = answer.locator(".answer-body button.cite").first
    cite.focus()
    page.keyboard.press("Enter")  # keyboard only
    panel = page.locator("#citation-panel")
    panel.wait_for(state="visible")
    assert page.evaluate("document.activeElement.id") == "citation-panel"
    assert panel.locator(".cite-title").inner_text() == uploaded.docx_title
    marked = panel.locator(".passage mark").all_inner_texts()
    shown = " ".join(seen["text"].split())
    assert marked and any(" ".join(m.split())[:40] in shown for m in marked), marked
    page.wait_for_function(
        "() => !document.querySelector('#citation-panel .cite-version').textContent.includes('…')"
    )
    assert re.search(r"\d{4}", panel.locator(".cite-version").inner_text())
    original = panel.locator("a[download]")
    href = original.get_attribute("href") or ""
    assert href == f"/api/v1/documents/{uploaded.ids[uploaded.docx_title]}/content"
    download = page.request.get(href)
    assert download.status == 200 and download.body() == DOCX.read_bytes()
    assert "attachment" in download.headers.get("content-disposition", "")
    assert panel.locator(".why li").count() >= 1
    page.keyboard.press("Escape")
    panel.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.classList.contains('cite')")

    # Copy and feedback with a comment.
    answer.locator(".answer-actions button", has_text="Copy").click()
    page.wait_for_function("() => document.querySelector('.feedback-status').textContent.length > 0")
    assert seen["text"].split()[0] in page.evaluate("navigator.clipboard.readText()")
    answer.locator("button.rate[data-rating='1']").click()
    page.wait_for_selector(".rate[data-rating='1'][aria-pressed=true]")
    answer.locator(".feedback-comment").fill("Exactly the table I needed.")
    answer.locator(".feedback-form button[type=submit]").click()
    page.wait_for_function("() => document.querySelector('.feedback-status').textContent.includes('comment')")
    events = httpx.get(
        f"{site.base}/api/v1/audit", params={"actor": "hana", "action": "feedback"}, headers=site.admin()
    ).text.splitlines()
    assert len(events) == 2 and json.loads(events[-1])["detail"]["rating"] == 1

    # A question the documents cannot answer is visibly not grounded.
    lunch = ask(page, "When does the staff cafeteria serve lunch?")
    assert any(PUBLIC_TITLE in s for s in lunch["sources"]), lunch["sources"]
    refused = ask(page, "What is the weather like on Mars today?")
    assert refused["text"].strip() == ENGLISH_REFUSAL
    assert refused["locator"].locator(".refusal").is_visible()
    assert "No answer in your documents." in refused["locator"].locator(".refusal").inner_text()
    assert refused["locator"].locator("button.cite, .verification:visible").count() == 0
    shot(page, "chat-en")
    lunch["locator"].locator(".answer-body button.cite").first.click()
    page.wait_for_function(
        "() => !document.querySelector('#citation-panel .cite-version').textContent.includes('…')"
    )
    assert panel.locator(".passage mark").count() >= 1
    shot(page, "citation-en")
    page.click("#citation-close")

    # Stop generating keeps what arrived and marks it stopped.
    page.fill("#question", ENGLISH_QUESTION + " Quote it slowly.")
    page.press("#question", "Enter")
    last = page.locator("#messages .answer").last
    page.wait_for_function(
        "() => { const a = [...document.querySelectorAll('#messages .answer')].pop();"
        " return a.querySelector('.answer-body').textContent.trim().length > 3; }"
    )
    page.click("#stop")
    page.wait_for_selector("#messages .answer[data-state=stopped]")
    assert last.locator(".badge", has_text="Stopped").is_visible()
    assert page.locator("#stop").is_hidden() and page.locator("#send").is_enabled()

    page.click("nav a[data-route=documents]")
    page.wait_for_selector("#doc-rows tr[data-status=indexed]")
    shot(page, "documents-en")

    # Switch to Korean: every label changes, and the choice survives a reload.
    page.click("[data-lang=ko]")
    assert page.evaluate("document.documentElement.lang") == "ko"
    assert page.locator("nav a[data-route=documents]").inner_text() == "문서"
    assert page.locator("#doc-list-heading").inner_text() == "열람할 수 있는 문서"
    assert "색인 완료" in page.locator("#doc-rows").inner_text()
    page.reload()
    page.wait_for_selector("body[data-ready]")
    assert page.locator("nav a[data-route=chat]").inner_text() == "대화"
    shot(page, "documents-ko")

    # A streamed Korean answer from the PDF, and its citation.
    page.click("nav a[data-route=chat]")
    page.click("#new-chat")
    assert page.get_attribute("#question", "placeholder") == "질문을 입력하세요…"
    korean = ask(page, KOREAN_QUESTION)
    assert korean["state"] == "done" and len(korean["lengths"]) >= 3
    assert any(uploaded.pdf_title in s for s in korean["sources"]), korean["sources"]
    assert re.search(r"[가-힣]", korean["text"])
    shot(page, "chat-ko")
    korean["locator"].locator(".answer-body button.cite").first.click()
    panel.wait_for(state="visible")
    assert panel.locator("#citation-heading").inner_text() == "출처 1"
    assert panel.locator(".cite-title").inner_text() == uploaded.pdf_title
    assert panel.locator(".passage mark").count() >= 1
    page.wait_for_function(
        "() => !document.querySelector('#citation-panel .cite-version').textContent.includes('…')"
    )
    shot(page, "citation-ko")

    # History: the English conversation reopens with its citations.
    page.locator(".conversation-link", has_text=ENGLISH_QUESTION[:20]).first.click()
    page.wait_for_function("() => document.querySelectorAll('#messages .turn').length >= 3")
    assert page.locator("#messages .answer").first.locator("button.cite").count() >= 1
    # The refusal's labels follow the answer's language (English), not the page's (Korean).
    assert page.locator("#messages .refusal").count() == 1
    assert "No answer in your documents." in page.locator("#messages .refusal").inner_text()
    assert page.locator("#messages .answer-content[lang=en]").count() >= 3
    assert_clean(session, site)
    session.close()


def test_language_follows_the_browser(site: Site, browser: Browser) -> None:
    session = open_session(browser, site, locale="ko-KR")
    page = session.page
    page.goto("/")
    page.wait_for_selector("body[data-ready]")
    assert page.evaluate("document.documentElement.lang") == "ko"
    assert page.locator("#login-heading").inner_text() == "실록에 로그인"
    page.fill("#login-username", "hana")
    page.fill("#login-password", "not-the-password")
    page.click("#login-form button[type=submit]")
    page.wait_for_function("() => document.getElementById('login-error').textContent.length > 0")
    assert page.locator("#login-error").inner_text() == "사용자 이름 또는 비밀번호가 올바르지 않습니다."
    assert all(c["name"] != "sillok_session" for c in page.context.cookies())
    page.click("[data-lang=en]")
    assert page.locator("#login-heading").inner_text() == "Sign in to Sillok"
    session.close()


def test_single_sign_on_button_when_the_server_offers_it(site: Site, browser: Browser) -> None:
    session = open_session(browser, site)
    page = session.page
    config = {"local": True, "oidc": True, "oidc_login_url": "/api/v1/auth/oidc/start"}
    page.route("**/api/v1/auth/config", lambda route: route.fulfill(json=config))
    page.goto("/")
    page.wait_for_selector("body[data-ready]")
    button = page.locator("#oidc-login")
    assert button.is_visible() and button.get_attribute("href") == "/api/v1/auth/oidc/start"
    assert button.inner_text() == "Sign in with your company account"
    page.unroute("**/api/v1/auth/config")
    config = {"local": True, "oidc": True, "oidc_login_url": "https://evil.example/login"}
    page.route("**/api/v1/auth/config", lambda route: route.fulfill(json=config))
    page.reload()
    page.wait_for_selector("body[data-ready]")
    assert page.locator("#oidc-login").is_hidden()  # only a link on this server is offered
    assert_clean(session, site)
    session.close()


def test_session_cookie_is_httponly_and_nothing_is_stored(site: Site, browser: Browser) -> None:
    session = open_session(browser, site)
    page = session.page
    sign_in(session, "hana")
    cookies = {c["name"]: c for c in session.context.cookies()}
    assert cookies["sillok_session"]["httpOnly"] and cookies["sillok_session"]["sameSite"] == "Strict"
    assert "sillok_session" not in page.evaluate("document.cookie")
    storage = page.evaluate("JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})")
    assert cookies["sillok_session"]["value"] not in storage and "csrf" not in storage.lower()
    page.click("#logout")
    page.wait_for_selector("#view-login:not([hidden])")
    assert page.request.get("/api/v1/me").status == 401
    session.close()


def test_second_user_never_sees_the_private_documents(
    site: Site, browser: Browser, uploaded: Uploaded
) -> None:
    session = open_session(browser, site)
    page = session.page
    sign_in(session, "minsu")
    assert page.locator("#conversation-list li").count() == 0  # hana's conversations are hers

    page.click("nav a[data-route=documents]")
    page.wait_for_selector("#doc-rows tr")
    rows = document_rows(page)
    assert PUBLIC_TITLE in rows
    assert uploaded.docx_title not in rows and uploaded.pdf_title not in rows

    page.click("nav a[data-route=chat]")
    for question in (ENGLISH_QUESTION, KOREAN_QUESTION):
        seen = ask(page, question)
        assert seen["state"] == "done"
        assert all(uploaded.docx_title not in s and uploaded.pdf_title not in s for s in seen["sources"])
    page_text = page.locator("body").inner_text()
    for secret in (uploaded.docx_title, uploaded.pdf_title, "Simple uniform table", "빅포인트 적립"):
        assert secret not in page_text
    for button in page.locator("#messages button.cite").all()[:2]:
        button.click()
        assert page.locator("#citation-panel .cite-title").inner_text() == PUBLIC_TITLE

    for document_id in uploaded.ids.values():
        for suffix in ("", "/content", "/why"):
            assert page.request.get(f"/api/v1/documents/{document_id}{suffix}").status == 404

    # minsu deletes his conversation through the page's confirmation dialog.
    assert page.locator("#conversation-list li").count() == 1
    page.locator(".conversation-delete").first.click()
    page.click("#confirm-ok")
    page.wait_for_selector("#conversation-list li", state="detached")
    assert page.locator("#chat-welcome").is_visible()
    assert_clean(session, site)
    session.close()


HOSTILE_TITLE = "<img src=x onerror=\"window.__pwned='title'\">Payroll notice"
HOSTILE_TEXT = """Payroll notice for all staff. <script>window.__pwned = 'script'</script>
Read the [payroll policy](javascript:window.__pwned='link') before the 25th.
![tracker](http://evil.example/pixel.png) <img src="http://evil.example/x.png" onerror="window.__pwned='img'">
<a href="javascript:alert(1)" onclick="window.__pwned='click'">open</a> [home](//evil.example/home)
<svg onload="window.__pwned='svg'"></svg><iframe src="https://evil.example/frame"></iframe>
[ok](/ui/index.html) <style>body{background:url(http://evil.example/bg.png)}</style>
"""
HOSTILE_QUESTION = (
    "ECHO: what does the payroll notice for all staff say about the payroll policy before the 25th? "
    "<script>window.__pwned='q'</script> ![x](https://evil.example/q.png) "
    "[go](javascript:window.__pwned='qlink') <img src=x onerror=\"window.__pwned='qimg'\"> "
    "<a href='https://evil.example' onmouseover=\"window.__pwned='hover'\">hover</a>"
)


def test_hostile_document_and_question_run_nothing_and_fetch_nothing_outside(
    site: Site, browser: Browser, uploaded: Uploaded
) -> None:
    session = open_session(browser, site)
    page = session.page
    response = page.goto("/")
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    sign_in(session, "hana")
    page.click("nav a[data-route=documents]")
    page.set_input_files(
        "#upload-input",
        {"name": "<svg onload=alert(1)>.txt", "mimeType": "text/plain", "buffer": HOSTILE_TEXT.encode()},
    )
    page.fill("#upload-title", HOSTILE_TITLE)
    page.click("#upload-submit")
    row = page.locator("#doc-rows tr", has_text="Payroll notice")
    row.wait_for()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#doc-rows tr')].some((r) =>"
        " r.textContent.includes('Payroll notice') && r.dataset.status === 'indexed')",
        timeout=INDEX_TIMEOUT_MS,
    )
    assert HOSTILE_TITLE in row.inner_text()  # shown as text

    page.click("nav a[data-route=chat]")
    seen = ask(page, HOSTILE_QUESTION)
    assert seen["state"] == "done"
    body = seen["locator"].locator(".answer-body")
    assert "<script>" in seen["streamed"] + body.inner_text()  # the markup is visible as text
    for removed in seen["locator"].locator(".md-link-removed").all():
        removed.click()
    for link in seen["locator"].locator(".answer-body a").all():
        link.hover()
    assert page.url.startswith(site.base)
    anchors = page.eval_on_selector_all("a[href]", "(links) => links.map((a) => a.href)")
    assert all(site.same_origin(href) for href in anchors), anchors
    # Everything the answer ever showed, streamed or checked: same-origin links survive, nothing
    # else is a link, no image, script or frame element ever existed, images became text.
    assert all(site.same_origin(href) for href in seen["hrefs"]), seen["hrefs"]
    assert any(href.endswith("/ui/index.html") for href in seen["hrefs"]), seen["hrefs"]
    assert not {"img", "script", "iframe", "image", "style"} & seen["tags"], seen["tags"]
    assert "md-image-removed" in seen["classes"]
    assert page.locator("#messages img, #messages script, #messages iframe, #messages svg image").count() == 0
    handlers = page.evaluate(
        "() => [...document.querySelectorAll('*')].flatMap((el) =>"
        " [...el.attributes].filter((a) => a.name.startsWith('on')).map((a) => el.tagName + ' ' + a.name))"
    )
    assert handlers == []
    seen["locator"].locator(".source-button", has_text="Payroll notice").first.click()
    panel = page.locator("#citation-panel")
    assert panel.locator(".cite-title").inner_text() == HOSTILE_TITLE
    assert "<script>" in panel.locator(".passage").inner_text()
    assert page.locator(".conversation-title", has_text="ECHO: what does the payroll").count() == 1

    # The uploader deletes it through the page's own confirmation dialog.
    page.click("nav a[data-route=documents]")
    row.locator("button", has_text="Delete").click()
    page.click("#confirm-ok")
    row.wait_for(state="detached")
    page.wait_for_timeout(300)
    assert_clean(session, site)
    session.close()


def test_documents_access_can_be_changed_by_the_uploader(
    site: Site, browser: Browser, uploaded: Uploaded
) -> None:
    session = open_session(browser, site)
    page = session.page
    sign_in(session, "hana")
    page.click("nav a[data-route=documents]")
    row = page.locator(f"#doc-rows tr[data-document-id='{uploaded.ids[uploaded.pdf_title]}']")
    row.locator("button", has_text="Access").click()
    dialog = page.locator("#acl-dialog")
    dialog.wait_for(state="visible")
    assert dialog.locator("input[name=acl-group]").count() == 1  # only hana's own group is offered
    assert dialog.locator("#acl-public").is_hidden()
    dialog.locator("input[name=acl-group][value=hr]").check()
    dialog.locator("#acl-save").click()
    dialog.wait_for(state="hidden")
    page.wait_for_function(
        "(id) => document.querySelector(`#doc-rows tr[data-document-id='${id}'] .doc-access`)"
        ".textContent.includes('hr')",
        arg=uploaded.ids[uploaded.pdf_title],
    )
    acl = page.request.get(f"/api/v1/documents/{uploaded.ids[uploaded.pdf_title]}").json()["acl"]
    assert acl == {"users": ["hana"], "groups": ["hr"], "public": False}
    public_row = page.locator("#doc-rows tr", has_text=PUBLIC_TITLE)
    assert public_row.locator("button").count() == 0  # not hers: no access or delete buttons
    assert_clean(session, site)
    session.close()


def test_admin_pages(site: Site, browser: Browser, uploaded: Uploaded) -> None:
    session = open_session(browser, site)
    page = session.page
    sign_in(session, "boss")
    # boss's own upload that cannot be indexed, sent as the page would (session cookie + CSRF).
    csrf = next(c["value"] for c in session.context.cookies() if c["name"] == "sillok_csrf")
    empty: FilePayload = {"name": "minutes.txt", "mimeType": "text/plain", "buffer": b"  \n"}
    reply = page.request.post("/api/v1/documents", multipart={"file": empty}, headers={"X-CSRF-Token": csrf})
    assert reply.status == 202, reply.text()
    empty_id = reply.json()["id"]
    for _ in range(100):
        if page.request.get(f"/api/v1/documents/{empty_id}").json()["status"] == "failed":
            break
        page.wait_for_timeout(200)
    page.click("nav a[data-route=admin]")
    page.wait_for_selector("#view-admin:not([hidden])")
    page.wait_for_function("() => document.querySelector('#health-stats .stat-indexed .stat-value')")
    assert int(page.locator("#health-stats .stat-indexed .stat-value").inner_text()) >= 3
    assert int(page.locator("#health-stats .stat-failed .stat-value").inner_text()) >= 2
    assert "OK" in page.locator("#health-stats .stat-services").inner_text()
    failures = page.locator("#health-failures").inner_text()
    assert "minutes" in failures and "The file contains no text." in failures
    assert "1 more failed version(s) in documents you cannot read." in failures  # hana's encrypted PDF
    page.wait_for_selector("#user-rows tr[data-username]")  # the list reads every page first
    users = page.locator("#user-rows tr[data-username]")
    assert {users.nth(i).get_attribute("data-username") for i in range(users.count())} >= {
        "hana",
        "minsu",
        "boss",
    }

    # A key for minsu: shown once, works, then revoked.
    minsu = page.locator("#user-rows tr[data-username=minsu]")
    minsu.locator("button", has_text="API keys").click()
    page.locator(".keys-row button", has_text="Issue a new key").click()
    key = page.locator(".keys-row .key-value").inner_text()
    me = httpx.get(f"{site.base}/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200 and me.json()["username"] == "minsu"
    page.locator(".keys-row button", has_text="Revoke").click()
    page.click("#confirm-ok")
    page.wait_for_selector(".keys-row .chip", state="visible")
    assert httpx.get(f"{site.base}/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    # A search-only key that ends in a day: the scope boxes (admin only for admins) and the expiry.
    assert page.locator(".keys-row input[data-scope=admin]").is_disabled()  # minsu is not an admin
    page.locator(".keys-row input[data-scope=search]").check()
    tomorrow = (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    page.locator(".keys-row .key-expiry").fill(tomorrow)
    page.locator(".keys-row button", has_text="Issue a new key").click()
    page.wait_for_function(f"() => document.querySelector('.keys-row .key-value')?.textContent !== {key!r}")
    scoped = page.locator(".keys-row .key-value").inner_text()
    me = httpx.get(f"{site.base}/api/v1/me", headers={"Authorization": f"Bearer {scoped}"})
    assert me.json()["scopes"] == ["search"]
    page.wait_for_selector(".keys-row .key-list li:has-text('expires')")
    assert "Search" in page.locator(".keys-row .key-list li", has_text="expires").inner_text()
    minsu.locator("button", has_text="API keys").click()

    # Memberships: minsu joins support.
    minsu.locator(".groups-input").fill("sales, support")
    minsu.locator(".inline-edit button").click()
    page.click("#tab-groups")
    page.wait_for_selector("#group-rows tr:has-text('support')")
    assert "minsu" in page.locator("#group-rows tr", has_text="support").inner_text()

    # Audit: hana's questions and what she was shown.
    page.click("#tab-audit")
    page.fill("#audit-actor", "hana")
    page.fill("#audit-action", "chat")
    page.click("#audit-form button[type=submit]")
    page.wait_for_selector("#audit-rows tr")
    assert "chat" in page.locator("#audit-rows").inner_text()
    page.fill("#seen-user", "hana")
    page.click("#seen-form button[type=submit]")
    page.wait_for_selector("#seen-rows tr")
    assert uploaded.ids[uploaded.docx_title] in page.locator("#seen-rows").inner_text()

    # Every control on every page (the views are all in the DOM) has an accessible name.
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('input, textarea, select, button, a[href]')]
          .filter((el) => el.type !== 'hidden')
          .filter((el) => !(el.labels?.length || el.getAttribute('aria-label')
            || el.getAttribute('aria-labelledby') || el.textContent.trim()))
          .map((el) => el.outerHTML.slice(0, 80))"""
    )
    assert unnamed == []

    page.click("#tab-users")
    page.evaluate("document.querySelector('#view-admin').scrollTo(0, 0)")
    shot(page, "admin-en")
    page.click("[data-lang=ko]")
    assert page.locator("#admin-heading").inner_text() == "관리"
    assert page.locator("#health-heading").inner_text() == "색인 상태"
    shot(page, "admin-ko")
    assert_clean(session, site)
    session.close()
    print(f"\nserver ready with users in {site.started_s:.1f}s")
