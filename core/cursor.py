"""Opaque cursors for keyset pages: the sort key of a page's last row, read back only here.

A page after a cursor starts strictly after that row in the list's order, so rows added
meanwhile never repeat or shift a page; a cursor this server did not write is `InvalidInput`.
"""

from __future__ import annotations

import base64
import binascii
import json

from core.errors import InvalidInput

DEFAULT_PAGE = 100
MAX_PAGE = 500


def encode(*key: str | int) -> str:
    """The cursor of the page after the row whose sort key is `key`."""
    raw = json.dumps(list(key), separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str, *kinds: type[str] | type[int]) -> list[str | int]:
    """The sort key a cursor names, checked against the types the list's key has."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(key, list) or len(key) != len(kinds):
            raise ValueError(cursor)
        if not all(type(value) is kind for value, kind in zip(key, kinds, strict=True)):
            raise ValueError(cursor)
        return key
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this server gave out") from exc
