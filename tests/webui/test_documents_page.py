"""The documents page at scale, in the browser: a page at a time with more as the reader
scrolls, title search (Korean too), the status filter, a failed document retried from its row,
and live status kept current by asking only for what changed (`updated_since`), never for the
whole list again. Another user's private documents never appear."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.webui.conftest import (
    JUN_DOCUMENTS,
    PASSWORD,
    PUBLIC_TITLE,
    Session,
    Site,
    open_session,
    sign_in,
)
from tests.webui.test_webui import assert_clean

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.e2e

READER = "dana"
MEMOS = 56  # with the Korean notices and the public document: more than one page of 50
NOTICES = {
    "연차 안내 1": "연차는 입사 첫해에 15일이 주어지며 매년 1일씩 늘어납니다.\n",
    "연차 안내 2": "연차를 쓰려면 사흘 전까지 팀장에게 알려야 합니다.\n",
    "Parking notice": "The parking garage closes at ten in the evening on weekdays.\n",
}
PAGE_SIZE = 50


@pytest.fixture(scope="module")
def dana(site: Site) -> Iterator[dict[str, str]]:
    """dana (group ops), her memos that cannot be indexed (no text) and her notices, all final.
    Returns title -> document id."""
    ids: dict[str, str] = {}
    with httpx.Client(base_url=site.base, headers=site.admin(), timeout=60) as admin:
        body = {"username": READER, "password": PASSWORD, "groups": ["ops"], "admin": False}
        assert admin.post("/api/v1/users", json=body).status_code == 201
        key = admin.post(f"/api/v1/users/{READER}/api-keys").json()["key"]
    with httpx.Client(base_url=site.base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        files = {f"Memo {n:03d}": "   \n" for n in range(MEMOS)} | NOTICES
        for title, text in files.items():
            reply = client.post(
                "/api/v1/documents",
                files={"file": (f"{title}.txt", text.encode(), "text/plain")},
                data={"title": title},
            )
            assert reply.status_code == 202, reply.text
            ids[title] = reply.json()["id"]
        deadline = time.monotonic() + 300
        final: dict[str, str] = {}
        while time.monotonic() < deadline and not set(ids.values()) <= set(final):
            cursor = None
            while True:
                params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
                page = client.get("/api/v1/documents", params=params).json()
                final |= {
                    d["id"]: d["status"] for d in page["documents"] if d["status"] in ("indexed", "failed")
                }
                cursor = page["next_cursor"]
                if not cursor:
                    break
            time.sleep(1)
        assert {final.get(ids[f"Memo {n:03d}"]) for n in range(MEMOS)} == {"failed"}
        assert {final.get(ids[title]) for title in NOTICES} == {"indexed"}
    yield ids


@pytest.fixture
def session(site: Site, browser: Browser, dana: dict[str, str]) -> Iterator[Session]:
    opened = open_session(browser, site)
    sign_in(opened, READER)
    opened.page.click("nav a[data-route=documents]")
    opened.page.wait_for_selector("#view-documents:not([hidden])")
    yield opened
    assert_clean(opened, site)
    opened.close()


def titles(page: Page) -> list[str]:
    return page.locator("#doc-rows tr .doc-name strong").all_inner_texts()


def wait_rows(page: Page, count: int) -> None:
    page.wait_for_function("(n) => document.querySelectorAll('#doc-rows tr').length === n", arg=count)


def list_requests(session: Session, since: int = 0) -> list[dict[str, list[str]]]:
    """The query of every `GET /api/v1/documents` the page sent (after the first `since`)."""
    lists = [url for url in session.requests if urlsplit(url).path == "/api/v1/documents"]
    return [parse_qs(urlsplit(url).query) for url in lists[since:]]


def test_pages_load_as_the_reader_scrolls_and_show_each_document_once(
    session: Session, dana: dict[str, str]
) -> None:
    page = session.page
    everything = {*dana, PUBLIC_TITLE}
    wait_rows(page, PAGE_SIZE)
    assert page.locator("#doc-more").is_visible()
    assert "50" in page.locator("#doc-count").inner_text()
    page.locator("#doc-more").scroll_into_view_if_needed()  # no click: scrolling to the end loads more
    wait_rows(page, len(everything))
    shown = titles(page)
    assert len(shown) == len(set(shown)) and set(shown) == everything
    assert not set(shown) & set(JUN_DOCUMENTS)  # jun's private documents never appear
    assert page.locator("#doc-more").is_hidden()
    first, second = list_requests(session)[:2]
    assert first["limit"] == ["50"] and "cursor" not in first and "cursor" in second


def test_search_and_status_filter_ask_the_server(session: Session, dana: dict[str, str]) -> None:
    page = session.page
    wait_rows(page, PAGE_SIZE)
    page.fill("#doc-search", "연차")
    wait_rows(page, 2)
    assert sorted(titles(page)) == ["연차 안내 1", "연차 안내 2"]
    assert list_requests(session)[-1]["q"] == ["연차"]
    page.fill("#doc-search", "PARKING")
    wait_rows(page, 1)
    assert titles(page) == ["Parking notice"]
    page.fill("#doc-search", "no such title anywhere")
    page.wait_for_selector("#doc-no-match:not([hidden])")
    assert page.locator("#doc-empty").is_hidden()
    page.fill("#doc-search", "")
    page.select_option("#doc-status-filter", "indexed")
    wait_rows(page, len(NOTICES) + 1)
    assert set(titles(page)) == {*NOTICES, PUBLIC_TITLE}
    assert list_requests(session)[-1]["status"] == ["indexed"]
    page.select_option("#doc-status-filter", "failed")
    wait_rows(page, PAGE_SIZE)
    statuses = page.locator("#doc-rows tr").evaluate_all("(rows) => rows.map((r) => r.dataset.status)")
    assert set(statuses) == {"failed"}


RECORD_STATUSES = """(id) => {
  window.__statuses = [];
  const rows = document.querySelector('#doc-rows');
  const note = () => {
    const row = rows.querySelector(`tr[data-document-id="${id}"]`);
    const status = row ? row.dataset.status : 'gone';
    if (window.__statuses.at(-1) !== status) window.__statuses.push(status);
  };
  note();
  new MutationObserver(note).observe(rows, { childList: true, subtree: true, attributes: true });
}"""


def test_a_failed_document_is_retried_from_its_row_and_followed_by_updated_since(
    site: Site, session: Session, dana: dict[str, str]
) -> None:
    page = session.page
    memo = dana["Memo 007"]
    wait_rows(page, PAGE_SIZE)
    page.fill("#doc-search", "Memo 007")
    wait_rows(page, 1)
    row = page.locator(f"#doc-rows tr[data-document-id='{memo}']")
    assert row.get_attribute("data-status") == "failed"
    assert "The file contains no text." in row.inner_text()
    page.evaluate(RECORD_STATUSES, memo)
    with page.expect_response(lambda r: r.url.endswith(f"/{memo}/retry")) as retried:
        row.get_by_role("button", name="Index Memo 007 again").click()
    assert retried.value.status == 202
    # The worker takes it again, and it fails again (the file is still empty); the row follows.
    page.wait_for_function("() => window.__statuses.length > 2 && window.__statuses.at(-1) === 'failed'")
    statuses = page.evaluate("window.__statuses")
    assert statuses[0] == "failed" and statuses[1] == "queued", statuses
    assert "The file contains no text." in row.inner_text()
    retry_at = next(i for i, url in enumerate(session.requests) if url.endswith(f"/{memo}/retry"))
    after = [u for u in session.requests[retry_at:] if urlsplit(u).path == "/api/v1/documents"]
    assert after, "the page did not follow the retried document"
    for url in after:  # only what changed, never the whole list again
        query = parse_qs(urlsplit(url).query)
        assert "updated_since" in query and "cursor" not in query, url
    # The audit log records who retried it.
    audit = httpx.get(
        f"{site.base}/api/v1/audit", headers=site.admin(), params={"action": "document.retry"}, timeout=30
    )
    assert audit.status_code == 200 and memo in audit.text and READER in audit.text


def test_the_documents_page_in_korean(site: Site, browser: Browser, dana: dict[str, str]) -> None:
    korean = open_session(browser, site, locale="ko-KR")
    try:
        sign_in(korean, READER)
        page = korean.page
        page.click("nav a[data-route=documents]")
        wait_rows(page, PAGE_SIZE)
        assert page.locator("label[for=doc-search]").inner_text() == "제목 검색"
        assert page.locator("#doc-more").inner_text() == "더 보기"
        assert page.locator("#doc-rows tr[data-status=failed] button", has_text="다시 시도").count() > 0
        assert_clean(korean, site)
    finally:
        korean.close()
