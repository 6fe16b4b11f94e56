"""The API documentation at /docs, in the browser: Swagger UI served by Sillok itself lists the
operations with their typed answers, under the app's Content-Security-Policy, and no request
leaves the server; the web UI's menu links to it in both languages."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from tests.webui.conftest import Session, Site, open_session, screenshot_dir, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.e2e


def _assert_offline(session: Session, site: Site) -> None:
    """Every request stayed on this origin; nothing was refused by the CSP; nothing failed."""
    outside = [url for url in session.requests if not site.same_origin(url)]
    assert outside == [], f"requests outside the server: {outside}"
    assert session.blocked == []
    assert session.errors == []
    assert session.dialogs == []


def test_docs_render_every_operation_without_leaving_the_server(browser: Browser, site: Site) -> None:
    spec = httpx.get(f"{site.base}/openapi.json", timeout=30).json()
    operations = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    session = open_session(browser, site)
    try:
        page = session.page
        page.goto("/docs")
        page.wait_for_selector(".opblock-summary-path")
        shown = page.eval_on_selector_all(
            ".opblock",
            """blocks => blocks.map(b => [
                b.querySelector('.opblock-summary-method').textContent.trim(),
                b.querySelector('.opblock-summary-path').getAttribute('data-path'),
            ])""",
        )
        assert {tuple(pair) for pair in shown} == operations
        assert page.title() == "Sillok API"
        page.screenshot(path=str(screenshot_dir() / "api-docs.png"))

        upload = page.locator(".opblock-post", has=page.locator('[data-path="/api/v1/documents"]'))
        upload.locator(".opblock-summary").first.click()
        body = upload.locator(".opblock-section-request-body")
        body.wait_for()
        text = body.inner_text()
        assert "multipart/form-data" in text
        for field in ("file", "acl", "title", "source_url"):
            assert field in text, field
        answers = upload.locator(".responses-table").first.inner_text()
        for status in ("202", "401", "403", "413", "429"):
            assert status in answers
        schemas = page.locator("section.models")
        schemas.scroll_into_view_if_needed()
        listed = schemas.inner_text()
        for model in ("ErrorBody", "DocumentView", "SearchResults", "ChatReply", "Completion"):
            assert model in listed, model  # the typed bodies
        _assert_offline(session, site)
        assert any(url.endswith("/openapi.json") for url in session.requests)
    finally:
        session.close()


@pytest.mark.parametrize(("locale", "label"), [("en-US", "API docs"), ("ko-KR", "API 문서")])
def test_the_web_ui_menu_links_to_the_docs(browser: Browser, site: Site, locale: str, label: str) -> None:
    session = open_session(browser, site, locale)
    try:
        page = session.page
        sign_in(session, "hana")
        link = page.locator("#api-docs-link")
        link.filter(has_text=label).wait_for()  # the label once the UI's language is applied
        assert link.inner_text() == label
        link.click()
        page.wait_for_url("**/docs")
        page.wait_for_selector(".opblock-summary-path")
        _assert_offline(session, site)
    finally:
        session.close()
