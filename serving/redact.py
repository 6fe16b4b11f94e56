"""Secrets never reach a log line: credentials, cookies, passwords and request bodies are masked.

`Redactor` masks by field name (`authorization`, `password`, `body`, …, at any depth) and by
shape inside any text (API keys `slk_…`, `Bearer …`, JWTs, session cookies, `password=…`), plus
the exact values of the configured secrets (the bootstrap token, service keys). It is used as a
structlog processor and as a stdlib `logging.Filter`, so uvicorn's, Celery's and every other
library's records are masked too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from structlog.typing import EventDict, WrappedLogger

MASK = "[redacted]"
_SECRET_NAMES = re.compile(
    r"^(authorization|proxy_authorization|cookies?|set_cookie|x_csrf_token|csrf|passw(or)?d|"
    r"new_password|secret|client_secret|token|access_token|refresh_token|id_token|api_key|apikey|"
    r"credential|bootstrap_admin_token|body|request_body|json_body|form)$|"
    r"(_token|_secret|_password|_api_key)$"
)
_QUOTED = r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'"
_UNQUOTED = r"[^\s,;&}\]\)\[]+"  # never the mask itself: masking twice changes nothing
_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (  # in this order: named values first
    (
        re.compile(
            r"(?i)([\"']?\b[\w-]*(?:authorization|cookie|csrf|token|secret|passw(?:or)?d|api[_-]?key)"
            rf"[\"']?\s*[:=]\s*)(?:{_QUOTED}|(?:bearer|basic)\s+{_UNQUOTED}|{_UNQUOTED})"
        ),
        r"\1" + MASK,
    ),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=\-]+"), r"\1" + MASK),
    (
        re.compile(r"\b([Bb]asic\s+)(?=[A-Za-z0-9+/]*(?:[0-9+/=]|[a-z][A-Z]))[A-Za-z0-9+/]{8,}={0,2}"),
        r"\1" + MASK,
    ),
    (re.compile(r"slk_[A-Za-z0-9_\-]+"), "slk_" + MASK),
    (re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"), MASK),
    (re.compile(r"(?i)\b(sillok_session|sillok_csrf|sillok_oidc)=[^;\s,'\"]+"), r"\1=" + MASK),
)


class Redactor:
    """Masks secrets in log events, messages and tracebacks."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def text(self, value: str) -> str:
        """`value` with every known secret and every credential-shaped substring masked."""
        for secret in self._secrets:
            value = value.replace(secret, MASK)
        for pattern, replacement in _SHAPES:
            value = pattern.sub(replacement, value)
        return value

    def value(self, value: Any) -> Any:
        """A copy of `value` (text, bytes, mappings, sequences) with secrets masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes | bytearray):
            return self.text(bytes(value).decode("utf-8", "replace"))
        if isinstance(value, Mapping):
            return {k: MASK if _secret_name(k) else self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            items = list(value)
            if len(items) == 2 and _secret_name(items[0]):  # a header pair: (b"authorization", b"…")
                return [self.value(items[0]), MASK]
            return [self.value(v) for v in items]
        return value

    def __call__(self, _: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        """The structlog processor."""
        masked: EventDict = self.value(event_dict)
        return masked


def _secret_name(key: object) -> bool:
    if isinstance(key, bytes):
        key = key.decode("latin-1")
    if not isinstance(key, str):
        return False
    return _SECRET_NAMES.search(key.lower().replace("-", "_")) is not None


class RedactingFilter(logging.Filter):
    """Masks the message of every stdlib record that passes (uvicorn, Celery, any library)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message by its masked text; always lets the record through."""
        if isinstance(record.msg, dict):  # a structlog event: the processor masks it
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed format string; keep what can be shown
            message = str(record.msg)
        record.msg, record.args = self._redactor.text(message), None
        return True
