"""The intranet crawler against a real local HTTP server, on the real pipeline."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from core.acl import Acl
from core.documents import CONNECTOR_NAMESPACE, acl_of, document_id_for
from core.errors import NotFound
from core.settings import AclRule
from core.types import DocumentStatus
from ingest.connectors.report import Problem
from ingest.connectors.web import crawl
from tests.conftest import DOCS
from tests.integration.pipeline_sink import Parts, pipeline_parts

pytestmark = pytest.mark.integration
PDF = DOCS / "pdf" / "fake-memo.pdf"


def html(title: str, *links: str, body: str = "") -> tuple[int, dict[str, str], bytes]:
    anchors = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    head = f"<head><title>{title}</title></head>"
    page = f"<html>{head}<body><h1>{title}</h1><p>{body}</p><ul>{anchors}</ul></body></html>"
    return 200, {"Content-Type": "text/html; charset=utf-8"}, page.encode()


def redirect(location: str) -> tuple[int, dict[str, str], bytes]:
    return 302, {"Location": location}, b""


@dataclass
class Site:
    """A mutable intranet site served on 127.0.0.1; records every path requested."""

    pages: dict[str, tuple[int, dict[str, str], bytes]]
    requests: list[str] = field(default_factory=list)
    base: str = ""


def build_pages() -> dict[str, tuple[int, dict[str, str], bytes]]:
    pages = {
        "/robots.txt": (200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /private/\n"),
        "/": html(
            "Hanbit intranet",
            "about.html#team",
            "/private/secret.html",
            "docs/memo.pdf",
            "docs/huge.txt",
            "/go/outside",
            "/go/metadata",
            "/go/far/0",
            "/missing.html",
            "mailto:help@hanbit.example",
            "deep/1.html",
            body="Welcome to the Hanbit intranet home page.",
        ),
        "/about.html": html("About Hanbit", "/", body="Hanbit builds robots in Daejeon since 2009."),
        "/private/secret.html": html("Secret", body="Never crawl this."),
        "/docs/memo.pdf": (200, {"Content-Type": "application/pdf"}, PDF.read_bytes()),
        "/docs/huge.txt": (200, {"Content-Type": "text/plain"}, b"x" * 300_000),
        "/go/outside": redirect("http://outside.example/"),
        "/go/metadata": redirect("http://169.254.169.254/latest/meta-data/"),
        "/deep/1.html": html("Deep one", "2.html", body="The first deep page describes parking."),
        "/deep/2.html": html("Deep two", "3.html", body="The second deep page describes the gym."),
        "/deep/3.html": html("Deep three", body="The third deep page is beyond the depth limit."),
    }
    for hop in range(7):
        pages[f"/go/far/{hop}"] = redirect(f"/go/far/{hop + 1}")
    return pages


@pytest.fixture
def site() -> Iterator[Site]:
    state = Site(build_pages())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            status, headers, body = state.pages.get(self.path, (404, {"Content-Type": "text/plain"}, b"no"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def parts(tmp_path: Path, minilm):  # type: ignore[no-untyped-def]
    with pipeline_parts(tmp_path, minilm) as built:
        yield built


def crawl_site(site: Site, parts: Parts, **options: object):  # type: ignore[no-untyped-def]
    settings: dict[str, object] = {
        "allowed_hosts": ["169.254.169.254"],  # a misconfiguration the address guard must survive
        "trusted_hosts": ["127.0.0.1"],
        "max_depth": 2,
        "max_pages": 50,
        "timeout_s": 5.0,
        "max_bytes": 200_000,
    }
    rules = [
        AclRule(prefix=site.base, groups=["staff"]),
        AclRule(prefix=site.base + "docs/", public=True),
    ]
    return crawl([site.base], parts.sink, rules, **{**settings, **options})  # type: ignore[arg-type]


def test_crawl_follows_links_within_its_limits_and_records_refusals(site: Site, parts: Parts) -> None:
    report = crawl_site(site, parts)
    base = site.base
    stored = {base, base + "about.html", base + "docs/memo.pdf", base + "deep/1.html", base + "deep/2.html"}
    assert set(report.new) == stored and report.errors == []
    assert base + "deep/3.html" not in {p.item for p in report.refused}  # beyond max_depth: not even tried
    assert "/deep/3.html" not in site.requests and "/private/secret.html" not in site.requests
    refused = {(p.item, p.reason) for p in report.refused}
    assert refused == {
        (base + "private/secret.html", "disallowed by robots.txt"),
        ("http://outside.example/", "host outside.example is not allowed"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
        (base + "docs/huge.txt", "larger than 200000 bytes"),
        (base + "go/far/0", "more than 5 redirects"),
    }
    assert Problem(base + "missing.html", "gone (HTTP 404)") in report.skipped

    assert parts.process(report.to_process) == [DocumentStatus.INDEXED] * len(stored)
    memo = parts.registry.get(document_id_for(CONNECTOR_NAMESPACE, base + "docs/memo.pdf"))
    assert memo.filename == "memo.pdf" and acl_of(memo) == Acl.of(public=True)
    about = parts.registry.get(document_id_for(CONNECTOR_NAMESPACE, base + "about.html"))
    assert about.title == "About Hanbit" and acl_of(about) == Acl.of(groups=["staff"])
    assert about.id in parts.readable_documents("Where does Hanbit build robots?", {"group:staff"})


def test_a_second_crawl_changes_nothing_then_removes_pages_that_are_gone(site: Site, parts: Parts) -> None:
    first = crawl_site(site, parts)
    parts.process(first.to_process)
    again = crawl_site(site, parts)
    assert (again.new, again.changed, again.to_process, again.removed) == ([], [], [], [])
    assert again.unchanged == 5

    base = site.base
    del site.pages["/about.html"]  # still linked from the home page: found gone by the crawl
    del site.pages["/deep/2.html"]  # no longer linked: found gone by the re-check
    site.pages["/"] = html("Hanbit intranet", "about.html", "docs/memo.pdf", body="Home, rewritten.")
    report = crawl_site(site, parts)
    assert sorted(report.removed) == [base + "about.html", base + "deep/2.html"]
    assert report.changed == [base] and report.rechecked == 2  # deep/1 (still there) and deep/2
    for gone in report.removed:
        with pytest.raises(NotFound):
            parts.registry.get(document_id_for(CONNECTOR_NAMESPACE, gone))
        assert parts.index.count(document_id_for(CONNECTOR_NAMESPACE, gone)) == 0
    assert (
        parts.registry.get(document_id_for(CONNECTOR_NAMESPACE, base + "deep/1.html")).current_version
        is not None
    )


def test_page_limit(site: Site, parts: Parts) -> None:
    report = crawl_site(site, parts, max_pages=2)
    assert report.fetched == 2 and len(report.new) == 2
    assert len([p for p in site.requests if p != "/robots.txt"]) == 2


def test_depth_zero_fetches_only_the_seed(site: Site, parts: Parts) -> None:
    report = crawl_site(site, parts, max_depth=0)
    assert report.new == [site.base] and report.refused == []


def test_an_untrusted_loopback_site_is_refused_entirely(site: Site, parts: Parts) -> None:
    report = crawl_site(site, parts, trusted_hosts=[])
    assert report.refused == [Problem(site.base, "127.0.0.1 is a loopback address")]
    assert report.fetched == 0 and report.new == [] and site.requests == []
