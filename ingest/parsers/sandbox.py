"""`SandboxedParser`: every file is parsed in a separate, long-lived, resource-limited process.

A file that hangs the parser, floods its memory or crashes it costs one typed failure for that
file: the process is killed (with anything it started) and a fresh one takes its place for the
next file. The processes are started by `subprocess` (fork and exec, never a bare fork of this
multi-threaded process) running `ingest.parsers.child`, in their own session, with one thread
per library and their own environment; they are reused across files because importing the
parsing libraries takes seconds.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType

import structlog

from core.errors import (
    ConfigurationError,
    DependencyUnavailable,
    DocumentError,
    ParserCrashed,
    ParseTimeout,
)
from core.ports import DocumentParser
from core.types import ParsedDocument

log = structlog.get_logger(__name__)
MB = 1 << 20
_CHILD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OMP_THREAD_LIMIT": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "2",
    "DO_NOT_TRACK": "1",
    "SCARF_NO_ANALYTICS": "true",
}
_EXIT_GRACE_S = 5.0

ParserFactory = Callable[[], DocumentParser]


def _signal_name(code: int | None) -> str:
    if code is None or code >= 0:
        return f"exit status {code}"
    try:
        return f"signal {signal.Signals(-code).name}"
    except ValueError:
        return f"signal {-code}"


class _Worker:
    """One parser process and its connection; replaced after a timeout, a crash or a memory failure."""

    def __init__(self, factory: ParserFactory, memory_bytes: int, start_timeout_s: float) -> None:
        self._factory = factory
        self._memory_bytes = memory_bytes
        self._start_timeout_s = start_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._connection: Connection | None = None

    @property
    def pid(self) -> int | None:
        """The current process id (None before the first start and after a stop)."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the process unless it is running, and wait until it has loaded its libraries."""
        if self._process is not None and self._process.poll() is None:
            return
        self.stop()
        ours, theirs = socket.socketpair()
        with ours, theirs:
            self._process = subprocess.Popen(  # noqa: S603 (our interpreter and module, no shell)
                [sys.executable, "-m", "ingest.parsers.child", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=sys.__stderr__ or subprocess.DEVNULL,
                env={**os.environ, **_CHILD_ENV},
                start_new_session=True,
            )
            self._connection = Connection(ours.detach())
        started = time.monotonic()
        self._connection.send(sys.path)
        self._connection.send((self._factory, self._memory_bytes))
        reply = self._await(self._start_timeout_s)
        if reply is None or reply[0] != "ready":
            self.stop()
            if reply is not None and reply[0] == "misconfigured":
                raise ConfigurationError(str(reply[1]))
            detail = reply[1] if reply is not None else f"no answer within {self._start_timeout_s:.0f} s"
            raise DependencyUnavailable(f"the document parser process could not start ({detail})")
        log.info("parser_process_ready", pid=self.pid, seconds=round(time.monotonic() - started, 1))

    def _await(self, timeout_s: float) -> tuple[str, object, bool] | None:
        assert self._connection is not None
        try:
            if not self._connection.poll(timeout_s):
                return None
            reply: tuple[str, object, bool] = self._connection.recv()
        except (EOFError, OSError, pickle.UnpicklingError):
            return None
        return reply

    def parse(self, path: Path, filename: str, timeout_s: float) -> ParsedDocument:
        """Parse one file in the process, replacing the process when the file broke it."""
        self.start()
        assert self._connection is not None
        try:
            self._connection.send((str(path), filename))
        except OSError:
            self.stop()
            self.start()
            self._connection.send((str(path), filename))
        if not self._connection.poll(timeout_s):
            self.stop()
            raise ParseTimeout(
                f"reading the file took longer than {timeout_s:.0f} s; "
                "it may be damaged or built to exhaust the parser"
            )
        reply = self._await(0)
        if reply is None:
            status = _signal_name(self.stop())
            raise ParserCrashed(
                f"the parser stopped abruptly on this file ({status}); "
                "it may be damaged or built to exhaust the parser"
            )
        kind, payload, retire = reply
        if retire:
            self.stop()
        if kind == "ok" and isinstance(payload, ParsedDocument):
            return payload
        if isinstance(payload, DocumentError):
            raise payload
        raise ParserCrashed(f"the parser process answered {kind!r} unexpectedly")

    def stop(self) -> int | None:
        """Kill the process and everything it started; return its exit code."""
        process, self._process = self._process, None
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
        if process is None:
            return None
        # The process leads its own session: its group also holds whatever it started (Tesseract),
        # which outlives it when it crashed.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        try:
            return process.wait(_EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            log.error("parser_process_unkillable", pid=process.pid)
            return None


class SandboxedParser:
    """A `DocumentParser` that runs another parser in isolated, time- and memory-limited processes.

    `factory` builds the real parser inside each process; it must be picklable (a module-level
    function, a class or a `functools.partial` of those). Calls are thread-safe: each takes one
    of `processes` workers, waiting while all are busy. Processes start on first use (or on
    `start()`); their start-up time never counts against a file's time limit.
    """

    def __init__(
        self,
        factory: ParserFactory,
        *,
        timeout_s: float,
        memory_mb: int,
        processes: int = 1,
        start_timeout_s: float = 180.0,
    ) -> None:
        if processes < 1:
            raise ValueError("processes must be at least 1")
        self._timeout_s = timeout_s
        self._workers = [_Worker(factory, memory_mb * MB, start_timeout_s) for _ in range(processes)]
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        for worker in self._workers:
            self._idle.put(worker)

    def parse(self, path: Path, filename: str) -> ParsedDocument:
        """Parse `path` in a sandboxed process; hangs, crashes and floods fail as `DocumentError`."""
        worker = self._idle.get()
        try:
            return worker.parse(path.resolve(), filename, self._timeout_s)
        finally:
            self._idle.put(worker)

    def start(self) -> None:
        """Start every process now instead of on first use."""
        self._each(_Worker.start)

    def pids(self) -> list[int | None]:
        """Process ids of the workers (None where none runs); for monitoring and tests."""
        return [worker.pid for worker in self._workers]

    def close(self) -> None:
        """Stop every process; a later `parse` starts new ones."""
        self._each(_Worker.stop)

    def _each(self, action: Callable[[_Worker], object]) -> None:
        taken = [self._idle.get() for _ in self._workers]  # waits for files being parsed
        try:
            for worker in taken:
                action(worker)
        finally:
            for worker in taken:
                self._idle.put(worker)

    def __enter__(self) -> SandboxedParser:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
