"""The isolated parser process, started by `SandboxedParser` as `python -m ingest.parsers.child FD`.

Over the connection on file descriptor FD it first receives the parent's import path, then a
pickled parser factory and its address-space limit. It imports the parsing libraries once,
caps its own address space (`RLIMIT_AS`), answers "ready" (or "failed", or "misconfigured"
when the limit leaves no room), then parses one file per request until the connection closes.
Every answer is `(kind, payload, retire)`: "ok" with a `ParsedDocument`, or "error" with a
`DocumentError`; `retire` asks the parent to replace the process (after a `MemoryError` its heap
is not trusted). If the parent dies, the process kills itself and anything it started.
"""

from __future__ import annotations

import importlib
import os
import resource
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

from core.errors import ConfigurationError, DocumentError, MalformedDocument, TooComplex
from core.offline import disable_phone_home
from core.ports import DocumentParser
from core.types import ParsedDocument

Reply = tuple[str, ParsedDocument | DocumentError, bool]

MB = 1 << 20
_START_HEADROOM = 256 * MB  # address space that must remain free once the libraries are loaded
_PARTITIONERS = ("auto", "pdf", "docx", "pptx", "xlsx", "html", "email", "msg", "md", "epub", "odt", "rtf")
_UNUSED = ("torch",)  # spaCy's thinc imports it when present; no parser needs it (~200 MB saved)


def address_space() -> int:
    """This process's current virtual memory size in bytes (0 where /proc is unavailable)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def warm_up() -> None:
    """Import the parsing libraries and read one small PDF, so no file pays for first use."""
    from ingest.parsers.office import partition
    from ingest.parsers.offline import prepare_unstructured

    prepare_unstructured()
    for name in _PARTITIONERS:
        importlib.import_module(f"unstructured.partition.{name}")
    importlib.import_module("pypdfium2")
    import pikepdf

    with tempfile.TemporaryDirectory(prefix="sillok-warm-") as folder:
        sample = Path(folder) / "warm.pdf"
        with pikepdf.new() as pdf:
            pdf.add_blank_page()
            pdf.save(sample)
        partition(sample, ".pdf", strategy="fast")


def _limit_memory(limit: int) -> None:
    used = address_space()
    if used + _START_HEADROOM > limit:
        raise ConfigurationError(
            f"the parser process needs {used / MB:.0f} MB of address space before reading any file; "
            f"ingest.parse_memory_mb must be at least {(used + _START_HEADROOM) / MB:.0f}"
        )
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _watch_parent(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _memory_message(limit: int) -> str:
    return (
        f"reading the file needed more than {limit / MB:.0f} MB of memory; "
        "it may be damaged or built to exhaust the parser"
    )


def handle(parser: DocumentParser, path: str, filename: str, limit: int) -> Reply:
    """Parse one file and turn every outcome into a reply."""
    try:
        return "ok", parser.parse(Path(path), filename), False
    except DocumentError as exc:
        return "error", exc, False
    except MemoryError:
        return "error", TooComplex(_memory_message(limit)), True
    except RecursionError:
        return "error", TooComplex("the file is nested too deeply to be read"), False
    except Exception as exc:  # a parser bug must not take the process down
        return "error", MalformedDocument(f"the file could not be read ({type(exc).__name__}: {exc})"), False


def serve(connection: Connection, parser: DocumentParser, limit: int) -> None:
    """Answer parse requests until the connection closes or a reply asks for retirement."""
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        reply = handle(parser, request[0], request[1], limit)
        connection.send(reply)
        if reply[2]:
            return


def main(argv: list[str]) -> None:
    """Start-up handshake, then `serve`."""
    disable_phone_home()  # before the parser factory and the parsing libraries are imported
    connection = Connection(int(argv[1]))
    _watch_parent(os.getppid())
    for name in _UNUSED:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # None: "import fails"
    try:
        sys.path[:] = connection.recv()
        factory: Callable[[], DocumentParser]
        factory, limit = connection.recv()
        parser = factory()
        warm_up()
        _limit_memory(limit)
    except ConfigurationError as exc:
        connection.send(("misconfigured", exc.message, True))
        return
    except Exception as exc:
        connection.send(("failed", f"{type(exc).__name__}: {exc}", True))
        return
    connection.send(("ready", address_space(), False))
    serve(connection, parser, limit)


if __name__ == "__main__":
    main(sys.argv)
