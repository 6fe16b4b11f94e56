"""ACLs for connector documents from configured prefix rules: the longest match wins, else nobody.

Folder sources are `file://` URIs (`Path.resolve().as_uri()`); a rule's prefix may be written as
a plain path or as a file URI, and both are normalised the same way, so `/srv/docs`,
`/srv/docs/` and `file:///srv/docs` are one prefix. A prefix matches at a path boundary only:
`/srv/docs/hr` covers `/srv/docs/hr/pay.pdf` but not `/srv/docs/hr-archive/pay.pdf`, and
`http://intranet` does not cover `http://intranet.example.com/`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from core.acl import Acl
from core.settings import AclRule

_BOUNDARY = "/?#"


@lru_cache(maxsize=1024)
def normalise_prefix(prefix: str) -> str:
    """The canonical form of a rule prefix: a file URI for paths, httpx's form for web URLs.

    Trailing slashes are dropped: matching is at path boundaries, so they change nothing.
    """
    prefix = prefix.strip()
    if not prefix:
        return ""
    scheme = urlsplit(prefix).scheme.lower()
    if scheme == "file":
        return Path(unquote(urlsplit(prefix).path)).resolve().as_uri()
    if scheme in ("http", "https"):
        return str(httpx.URL(prefix)).rstrip("/")
    if scheme and "://" in prefix:
        return prefix.rstrip("/")
    return Path(prefix).expanduser().resolve().as_uri()


def matches(source: str, prefix: str) -> bool:
    """True when the normalised `prefix` covers `source` (a whole path segment at least)."""
    if not prefix or not source.startswith(prefix):
        return False
    return len(source) == len(prefix) or prefix[-1] in _BOUNDARY or source[len(prefix)] in _BOUNDARY


def acl_for(source: str, rules: Sequence[AclRule]) -> Acl:
    """The ACL of the longest rule prefix covering `source`; ties go to the first rule; no match: deny."""
    best: AclRule | None = None
    best_length = -1
    for rule in rules:
        prefix = normalise_prefix(rule.prefix)
        if len(prefix) > best_length and matches(source, prefix):
            best, best_length = rule, len(prefix)
    if best is None:
        return Acl()
    return Acl.of(best.users, best.groups, best.public)
