"""robots.txt, fetched once per origin through the crawler's guarded client and then obeyed.

As in RFC 9309: a missing robots.txt (other 4xx) allows everything; 401/403, a server error or
an unreachable file disallow everything for the origin during this crawl.
"""

from __future__ import annotations

from urllib.robotparser import RobotFileParser

import httpx

from ingest.connectors.guard import Refused

AGENT = "SillokBot"
MAX_ROBOTS_BYTES = 512 * 1024
_DISALLOW_ALL = ["User-agent: *", "Disallow: /"]


class RobotsPolicy:
    """Answers whether the crawler may fetch a URL, caching each origin's robots.txt."""

    def __init__(self, client: httpx.Client, agent: str = AGENT) -> None:
        self._client = client
        self._agent = agent
        self._origins: dict[str, tuple[RobotFileParser, str]] = {}

    def problem(self, url: httpx.URL) -> str | None:
        """Why robots.txt forbids fetching `url`, or None when it may be fetched."""
        origin = url.copy_with(path="/robots.txt", query=None, fragment=None)
        key = str(origin)
        if key not in self._origins:
            self._origins[key] = self._load(origin)
        parser, reason = self._origins[key]
        return None if parser.can_fetch(self._agent, str(url)) else reason

    def _load(self, robots_url: httpx.URL) -> tuple[RobotFileParser, str]:
        lines: list[str] = []
        reason = "disallowed by robots.txt"
        try:
            with self._client.stream("GET", robots_url, follow_redirects=True) as response:
                status = response.status_code
                if status == 200:
                    lines = _read(response).decode("utf-8", errors="replace").splitlines()
                elif status in (401, 403) or status >= 500:
                    lines, reason = _DISALLOW_ALL, f"robots.txt answered HTTP {status}"
        except Refused as exc:
            lines, reason = _DISALLOW_ALL, f"robots.txt redirected to a refused address: {exc.reason}"
        except httpx.HTTPError as exc:
            lines, reason = _DISALLOW_ALL, f"robots.txt unreachable: {exc}"
        parser = RobotFileParser(str(robots_url))
        parser.parse(lines)
        return parser, reason


def _read(response: httpx.Response) -> bytes:
    body = bytearray()
    for block in response.iter_bytes():
        body += block
        if len(body) >= MAX_ROBOTS_BYTES:
            break
    return bytes(body[:MAX_ROBOTS_BYTES])
