"""Log lines are plain structured records, written off the calling thread, with every secret masked;
the log file is readable by its owner only."""

from __future__ import annotations

import io
import json
import logging
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from core.settings import Settings
from serving.logs import configure_logging, start_logging, stop_logging
from serving.redact import MASK, Redactor

pytestmark = pytest.mark.unit
BOOTSTRAP = "bootstrap-" + "Zq" * 16
API_KEY = "slk_" + "AbCdEf0123456789_-" * 2
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJoYW5hIn0.c2lnbmF0dXJl"
SESSION = "sess-" + "9f" * 20


@pytest.fixture
def lines(tmp_path: Path) -> Iterator[Path]:
    """Logging to a file, in the product's JSON format; stopped (and flushed) by `read`."""
    log_file = tmp_path / "logs" / "sillok.log"
    start_logging("INFO", "json", log_file, [BOOTSTRAP])
    yield log_file
    stop_logging()


def read(log_file: Path) -> list[dict[str, object]]:
    stop_logging()
    return [json.loads(line) for line in log_file.read_text().splitlines()]


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {API_KEY}",
        f"authorization=Bearer {JWT}",
        f"(b'authorization', b'Bearer {BOOTSTRAP}')",
        f"key {API_KEY} seen",
        f"token {JWT}",
        f"the bootstrap token is {BOOTSTRAP}",
        f"Cookie: sillok_session={SESSION}; sillok_csrf=abc",
        f"set-cookie: sillok_session={SESSION}; HttpOnly",
        f'{{"username": "hana", "password": "{SESSION} with spaces"}}',
        f"password={SESSION}",
        f"{{'client_secret': '{SESSION}'}}",
        f"x-csrf-token: {SESSION}",
        "Basic aGFuYTpodW50ZXIy",
    ],
)
def test_every_kind_of_secret_is_masked_in_text(text: str) -> None:
    masked = Redactor([BOOTSTRAP]).text(text)
    for secret in (API_KEY, JWT, BOOTSTRAP, SESSION, "aGFuYTpodW50ZXIy", "hunter"):
        assert secret not in masked
    assert MASK in masked
    assert Redactor([BOOTSTRAP]).text(masked) == masked  # masking twice changes nothing


def test_fields_are_masked_by_name_at_any_depth() -> None:
    event = {
        "event": "request",
        "headers": [(b"authorization", f"Bearer {API_KEY}".encode()), (b"host", b"example")],
        "password": "hunter2 hunter2",
        "body": '{"message": "private question"}',
        "nested": {"Cookie": "a=b", "api-key": "k", "refresh_token": "r", "kept": "visible"},
        "prose": "basic information about the token bucket",
    }
    masked = Redactor().value(event)
    flat = json.dumps(masked)
    for secret in (API_KEY, "hunter2", "private question", '"a=b"', '"k"', '"r"'):
        assert secret not in flat
    assert masked["nested"]["kept"] == "visible" and masked["headers"][1] == [b"host".decode(), "example"]
    assert masked["prose"] == event["prose"]  # ordinary words are left alone


def test_exceptions_are_plain_tracebacks_without_locals(lines: Path) -> None:
    log = structlog.get_logger("test")

    def handler(authorization: str = f"Bearer {API_KEY}") -> None:
        request_body = {"password": "hunter2 hunter2"}  # a local: must never be printed
        raise ValueError(f"boom with {API_KEY} after {len(request_body)} field")

    try:
        handler()
    except ValueError:
        log.exception("unhandled_error", path="/api/v1/chat")
    [record] = read(lines)
    assert record["event"] == "unhandled_error" and record["level"] == "error"
    trace = str(record["exception"])
    assert "Traceback (most recent call last)" in trace
    assert "ValueError: boom with slk_[redacted] after 1 field" in trace
    assert "in handler" in trace  # frames are there
    assert "hunter2" not in trace and "request_body =" not in trace and "─ locals ─" not in trace
    assert API_KEY not in json.dumps(record)


@pytest.fixture
def library_loggers() -> Iterator[None]:
    """uvicorn's and Celery's loggers as a fresh process has them (earlier tests in this
    process may have run a server or a worker that set their levels or disabled them)."""
    # uvicorn's default logging config (which an in-process server in an earlier test may have
    # applied) stops propagation at "uvicorn", the parent of "uvicorn.error".
    loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "celery", "celery.worker")]
    saved = [(lg.level, lg.disabled, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.NOTSET)
        lg.disabled, lg.propagate = False, True
    yield
    for lg, (level, disabled, propagate) in zip(loggers, saved, strict=True):
        lg.setLevel(level)
        lg.disabled, lg.propagate = disabled, propagate


@pytest.mark.usefixtures("library_loggers")
def test_library_records_are_masked_too(lines: Path) -> None:
    logging.getLogger("uvicorn.error").warning("Invalid header: Authorization: Bearer %s", API_KEY)
    logging.getLogger("celery.worker").error("task got %s", {"token": BOOTSTRAP})
    try:
        raise RuntimeError(f"login failed for password={SESSION}")
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    records = read(lines)
    assert [r["logger"] for r in records] == ["uvicorn.error", "celery.worker", "uvicorn.error"]
    text = json.dumps(records)
    assert API_KEY not in text and BOOTSTRAP not in text and SESSION not in text
    assert "RuntimeError" in str(records[2]["exception"])


def test_configured_secrets_come_from_the_settings(tmp_path: Path) -> None:
    log_file = tmp_path / "sillok.log"
    configure_logging(
        Settings(data_dir=tmp_path, bootstrap_admin_token=BOOTSTRAP, log_file=log_file, log_format="keyvalue")
    )
    structlog.get_logger("test").warning("odd_token", seen=f"x{BOOTSTRAP}y")
    stop_logging()
    text = log_file.read_text()
    assert BOOTSTRAP not in text and "event='odd_token'" in text and "level='warning'" in text


def test_the_log_file_is_private(tmp_path: Path) -> None:
    fresh = tmp_path / "new" / "sillok.log"
    start_logging("INFO", "json", fresh)
    structlog.get_logger("test").info("hello")
    stop_logging()
    assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o600
    existing = tmp_path / "old.log"
    existing.write_text("")
    existing.chmod(0o644)
    start_logging("INFO", "json", existing)
    stop_logging()
    assert stat.S_IMODE(os.stat(existing).st_mode) == 0o600  # an existing file is narrowed


class SlowStream(io.StringIO):
    """A terminal that takes a while to write (a slow disk, a full pipe)."""

    def __init__(self) -> None:
        super().__init__()
        self.writer: str | None = None

    def write(self, text: str) -> int:
        self.writer = threading.current_thread().name
        time.sleep(0.3)
        return super().write(text)


def test_records_are_written_off_the_calling_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = SlowStream()
    monkeypatch.setattr("sys.stderr", slow)
    start_logging("INFO", "json")
    log = structlog.get_logger("test")
    started = time.perf_counter()
    try:
        raise KeyError("x" * 1000)
    except KeyError:
        for _ in range(5):
            log.exception("unhandled_error")
    elapsed = time.perf_counter() - started
    stop_logging()
    assert elapsed < 0.2, f"logging blocked the caller for {elapsed:.2f} s"
    assert slow.getvalue().count("unhandled_error") == 5
    assert slow.writer is not None and slow.writer != threading.current_thread().name
