"""An intranet crawler: breadth-first from seed URLs into the ingestion pipeline.

Only http(s) URLs on allowed hosts (the configured ones plus every seed's host) are fetched,
robots.txt is obeyed (user agent `SillokBot`), and every request, each redirect hop included,
passes the SSRF guard of `ingest.connectors.guard`, which connects to the address it vetted.
Redirects are followed by hand (at most five hops), each hop checked like a link. A document's
source is its canonical URL (lower-case scheme and host, no default port, no fragment); its
ACL comes from the prefix rules. A registered page that now answers 404 or 410 is removed;
pages registered under a seed's origin that no link reached in this crawl are re-checked for
that. Every refusal is recorded in the report with its reason.

Limits: no page is taken from the queue once `max_pages` page requests were made (redirect
hops count, robots.txt does not, so the last page's redirects may pass the limit by up to
five); the re-checks of pages no link reached have their own budget of `max_pages`
(`rechecked`). `max_depth` counts links from a seed (redirects do not add depth). There are
no conditional requests: an unchanged page is downloaded again and recognised by its SHA-256.
Crawl-delay is not observed.
"""

from __future__ import annotations

import tempfile
from collections import deque
from collections.abc import Iterable, Sequence
from itertools import islice
from pathlib import Path

import httpx

from core.errors import SillokError
from core.settings import AclRule
from ingest.connectors.guard import AddressGuard, GuardedTransport, Refused
from ingest.connectors.pages import HTML, extension_for, filename_for, read_html
from ingest.connectors.report import CrawlReport, Problem
from ingest.connectors.robots import AGENT, RobotsPolicy
from ingest.connectors.rules import acl_for
from ingest.connectors.sink import DocumentSink

USER_AGENT = f"{AGENT}/1.0 (Sillok intranet crawler)"
MAX_REDIRECTS = 5
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_GONE = frozenset({404, 410})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical(url: httpx.URL) -> httpx.URL:
    """The URL a page is known by: no fragment, no default port, `/` for an empty path."""
    port = None if url.port == _DEFAULT_PORTS.get(url.scheme) else url.port
    host = url.host.rstrip(".")
    return url.copy_with(host=host, port=port, fragment=None, raw_path=url.raw_path)


def origin_prefix(url: httpx.URL) -> str:
    """The prefix of every source on `url`'s origin, e.g. `http://intranet:8080/`."""
    return str(canonical(url).copy_with(path="/", query=None))


class _Crawler:
    """The state of one crawl: queue, URLs already claimed, robots rules, known sources."""

    def __init__(
        self,
        client: httpx.Client,
        guard: AddressGuard,
        sink: DocumentSink,
        rules: Sequence[AclRule],
        allowed_hosts: frozenset[str],
        workdir: Path,
        max_bytes: int,
    ) -> None:
        self.client = client
        self.guard = guard
        self.sink = sink
        self.rules = rules
        self.allowed_hosts = allowed_hosts
        self.workdir = workdir
        self.max_bytes = max_bytes
        self.robots = RobotsPolicy(client)
        self.report = CrawlReport()
        self.claimed: set[str] = set()
        self.requested: set[str] = set()
        self._known: dict[str, set[str]] = {}

    def known(self, url: httpx.URL) -> set[str]:
        """Sources registered before this crawl on `url`'s origin."""
        prefix = origin_prefix(url)
        if prefix not in self._known:
            self._known[prefix] = self.sink.sources(prefix)
        return self._known[prefix]

    def run(self, seeds: list[httpx.URL], max_depth: int, max_pages: int) -> None:
        """Breadth-first crawl from `seeds`."""
        for seed in seeds:
            self.known(seed)  # before anything is registered
        queue = deque((seed, 0) for seed in seeds)
        self.claimed.update(str(seed) for seed in seeds)
        while queue and self.report.fetched < max_pages:
            url, depth = queue.popleft()
            links = self.fetch(url, store=True)
            if depth >= max_depth:
                continue
            for link in links:
                target = _parse(link)
                if target is not None and target.scheme in _DEFAULT_PORTS and str(target) not in self.claimed:
                    self.claimed.add(str(target))
                    queue.append((target, depth + 1))

    def recheck(self, seeds: list[httpx.URL], max_pages: int) -> None:
        """Remove pages registered under the seeds' origins that no link reached and that are gone."""
        known = sorted({s for seed in seeds for s in self.known(seed)} - self.requested)
        for source in islice(known, max_pages):
            url = _parse(source)
            if url is not None and source not in self.claimed:
                self.claimed.add(source)
                self.fetch(url, store=False)

    def fetch(self, url: httpx.URL, *, store: bool) -> list[str]:
        """Fetch `url` (following redirects); store it when `store`; return the links to follow."""
        opened = self._open(url, recheck=not store)
        if opened is None:
            return []
        final, response = opened
        try:
            status = response.status_code
            if status in _GONE:
                self._gone(final, status)
                return []
            if not store:
                return []
            if status != 200:
                self.report.errors.append(Problem(str(final), f"HTTP {status}"))
                return []
            return self._store(final, response)
        finally:
            response.close()

    def _open(self, url: httpx.URL, *, recheck: bool) -> tuple[httpx.URL, httpx.Response] | None:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = self._request(current, recheck=recheck)
            except Refused as exc:
                self.report.refused.append(Problem(str(current), exc.reason))
                return None
            except httpx.HTTPError as exc:
                self.report.errors.append(Problem(str(current), f"{type(exc).__name__}: {exc}"))
                return None
            location = response.headers.get("location")
            if response.status_code not in _REDIRECTS or not location:
                return current, response
            response.close()
            target = _parse(location, current)
            if target is None:
                self.report.errors.append(Problem(str(current), f"invalid redirect to {location!r}"))
                return None
            if str(target) in self.claimed:
                return None
            self.claimed.add(str(target))
            current = target
        self.report.refused.append(Problem(str(url), f"more than {MAX_REDIRECTS} redirects"))
        return None

    def _request(self, url: httpx.URL, *, recheck: bool) -> httpx.Response:
        """Send one GET for `url` if scope, address and robots.txt allow it; raise `Refused` if not."""
        if url.scheme not in _DEFAULT_PORTS:
            raise Refused(f"scheme {url.scheme!r} is not http(s)")
        if url.host not in self.allowed_hosts:
            raise Refused(f"host {url.host} is not allowed")
        self.guard.vet(url)
        problem = self.robots.problem(url)
        if problem is not None:
            raise Refused(problem)
        self.requested.add(str(url))
        if recheck:
            self.report.rechecked += 1
        else:
            self.report.fetched += 1
        return self.client.send(self.client.build_request("GET", url), stream=True)

    def _gone(self, url: httpx.URL, status: int) -> None:
        source = str(url)
        if source in self.known(url):
            self.sink.remove(source)
            self.known(url).discard(source)
            self.report.removed.append(source)
        else:
            self.report.skipped.append(Problem(source, f"gone (HTTP {status})"))

    def _store(self, url: httpx.URL, response: httpx.Response) -> list[str]:
        source = str(url)
        extension = extension_for(response.headers.get("content-type"), url)
        if extension is None:
            kind = response.headers.get("content-type", "none")
            self.report.skipped.append(Problem(source, f"unsupported content type {kind}"))
            return []
        path = self.workdir / f"{self.report.fetched}{extension}"
        try:
            if not self._download(response, path):
                self.report.refused.append(Problem(source, f"larger than {self.max_bytes} bytes"))
                return []
            title, links, index = None, [], True
            if extension == HTML:
                page = read_html(path.read_bytes(), source)
                title, links, index = page.title, page.links, page.index
            if index:
                was_known = source in self.known(url)
                registration = self.sink.submit(
                    path,
                    source=source,
                    acl=acl_for(source, self.rules),
                    title=title,
                    filename=filename_for(url, extension),
                )
                self.report.record(source, registration, known=was_known)
            else:
                self.report.skipped.append(Problem(source, "robots meta tag: noindex"))
            return links
        except httpx.HTTPError as exc:
            self.report.errors.append(Problem(source, f"{type(exc).__name__}: {exc}"))
            return []
        except (OSError, SillokError) as exc:
            self.report.errors.append(Problem(source, str(exc)))
            return []
        finally:
            path.unlink(missing_ok=True)

    def _download(self, response: httpx.Response, path: Path) -> bool:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return False
        size = 0
        with path.open("wb") as handle:
            for block in response.iter_bytes():
                size += len(block)
                if size > self.max_bytes:
                    return False
                handle.write(block)
        return True


def _parse(url: str, base: httpx.URL | None = None) -> httpx.URL | None:
    """The canonical form of `url` (relative to `base` when given); None when it is malformed."""
    try:
        return canonical(base.join(url) if base is not None else httpx.URL(url))
    except (httpx.InvalidURL, TypeError, ValueError):
        return None


def crawl(
    seeds: Iterable[str],
    sink: DocumentSink,
    rules: Sequence[AclRule],
    *,
    allowed_hosts: Iterable[str] = (),
    trusted_hosts: Iterable[str] = (),
    max_depth: int = 2,
    max_pages: int = 200,
    timeout_s: float = 20.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    transport: httpx.BaseTransport | None = None,
) -> CrawlReport:
    """Crawl from `seeds` into `sink`; see the module docstring for the rules it follows.

    `transport` replaces the network transport under the SSRF guard, which still vets and pins
    every request; it exists for tests and special network set-ups.
    """
    seed_urls: list[httpx.URL] = []
    refused: list[Problem] = []
    for seed in seeds:
        url = _parse(seed)
        if url is None or url.scheme not in _DEFAULT_PORTS:
            refused.append(Problem(seed, "not an http(s) URL"))
        else:
            seed_urls.append(url)
    seed_urls = list({str(u): u for u in seed_urls}.values())
    allowed = frozenset(h.strip("[]").rstrip(".").lower() for h in allowed_hosts) | {
        u.host for u in seed_urls
    }
    guard = AddressGuard(trusted_hosts)
    client = httpx.Client(
        transport=GuardedTransport(guard, transport),
        follow_redirects=False,
        max_redirects=MAX_REDIRECTS,
        timeout=timeout_s,
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
    )
    with client, tempfile.TemporaryDirectory(prefix="sillok-crawl-") as workdir:
        crawler = _Crawler(client, guard, sink, rules, allowed, Path(workdir), max_bytes)
        crawler.report.refused.extend(refused)
        crawler.run(seed_urls, max_depth, max_pages)
        crawler.recheck(seed_urls, max_pages)
        return crawler.report
