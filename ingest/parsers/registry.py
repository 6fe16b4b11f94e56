"""The parser registry: picks a reader by extension, checks the bytes first, explains failures.

Every file either yields text elements or raises a `DocumentError` subclass whose message a
person can act on; nothing silently yields no text. Before any third-party parser sees a file,
its size, its real content type and (for zip packages) its structure are checked.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import olefile
import structlog

from core.errors import (
    DocumentError,
    DocumentTooLarge,
    EmptyDocument,
    EncryptedDocument,
    MalformedDocument,
    TooComplex,
    UnsupportedFormat,
)
from core.types import Element, ParsedDocument
from ingest.parsers import hwp, images, legacy, markup, office, pdf, sniff, text
from ingest.parsers.limits import ParseLimits
from ingest.parsers.packages import inspect_package

Reader = Callable[[Path], list[Element]]

log = structlog.get_logger(__name__)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PACKAGES = {".docx", ".pptx", ".xlsx", ".odt", ".epub", ".hwpx"}
_IMAGES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".webp"}
_ARCHIVES = {".zip", ".tar", ".gz", ".tgz", ".7z", ".rar"}
_TEXT = (".txt", ".text", ".log", ".rst", ".json", ".xml", ".yaml", ".yml")
_UNSTRUCTURED = (".docx", ".pptx", ".xlsx", ".odt", ".epub", ".html", ".htm", ".md")


def _plain(path: Path) -> list[Element]:
    return text.paragraphs(text.decode(path.read_bytes()))


def _delimited(delimiter: str) -> Reader:
    return lambda path: text.delimited_rows(text.decode(path.read_bytes()), delimiter)


def readers(limits: ParseLimits) -> dict[str, Reader]:
    """The reader of every supported extension, bound to `limits` where they matter."""
    return {
        ".pdf": partial(pdf.parse_pdf, limits=limits),
        ".eml": office.parse_email,
        ".msg": office.parse_msg,
        ".hwp": hwp.parse_hwp,
        ".hwpx": hwp.parse_hwpx,
        ".doc": partial(legacy.parse_doc, limits=limits),
        ".ppt": partial(legacy.parse_ppt, limits=limits),
        ".xls": partial(legacy.parse_xls_file, limits=limits),
        ".rtf": partial(legacy.parse_rtf, limits=limits),
        ".csv": _delimited(","),
        ".tsv": _delimited("\t"),
        **dict.fromkeys(_TEXT, _plain),
        **{ext: office.unstructured_reader(ext) for ext in _UNSTRUCTURED},
        **dict.fromkeys(_IMAGES, partial(images.parse_image, limits=limits)),
    }


SUPPORTED = frozenset(readers(ParseLimits()))


class ParserRegistry:
    """Implements `DocumentParser` for every supported format, in the calling process."""

    def __init__(self, max_bytes: int, limits: ParseLimits | None = None) -> None:
        self._limits = limits or ParseLimits()
        self._max_bytes = max_bytes
        self._readers = readers(self._limits)

    @staticmethod
    def supported(filename: str) -> bool:
        """True when the file's extension has a reader."""
        return Path(filename).suffix.lower() in SUPPORTED

    def parse(self, path: Path, filename: str) -> ParsedDocument:
        """Parse one file; raise a typed, human-readable error when it cannot yield text."""
        ext = Path(filename).suffix.lower()
        size = path.stat().st_size
        if size > self._max_bytes:
            raise DocumentTooLarge(
                f"the file is {size / 1e6:.1f} MB; the limit is {self._max_bytes / 1e6:.0f} MB"
            )
        if size == 0:
            raise EmptyDocument("the file is empty (0 bytes)")
        reader = self._readers.get(ext)
        if reader is None:
            raise UnsupportedFormat(self._unsupported_reason(ext))
        self._check_content(path, ext)
        elements = [e for e in self._read(reader, path) if e.text.strip()]
        if not elements:
            raise EmptyDocument("the file contains no text")
        title = next((e.text for e in elements if e.kind == "title"), Path(filename).stem)
        return ParsedDocument(title=title[:200], elements=tuple(elements))

    @staticmethod
    def _read(reader: Reader, path: Path) -> list[Element]:
        try:
            return reader(path)
        except (DocumentError, MemoryError):
            raise
        except RecursionError as exc:
            raise TooComplex("the file is nested too deeply to be read") from exc
        except Exception as exc:  # a reader's library failed on hostile or damaged bytes
            log.warning("reader_failed", error=type(exc).__name__, exc_info=True)
            raise MalformedDocument(f"the file could not be read ({type(exc).__name__}: {exc})") from exc

    def _check_content(self, path: Path, ext: str) -> None:
        with path.open("rb") as handle:
            head = handle.read(sniff.HEAD_BYTES)
        if ext in _PACKAGES and head.startswith(_OLE_MAGIC):
            if self._ole_encrypted(path):
                raise EncryptedDocument("the file is encrypted with a password")
            raise MalformedDocument(f"the file is not a valid {ext} (it is an older binary Office file)")
        sniff.check(head, ext)
        if ext in _PACKAGES:
            inspect_package(path, ext, self._limits)
        if ext in (".html", ".htm"):
            markup.check_html(path)

    @staticmethod
    def _ole_encrypted(path: Path) -> bool:
        try:
            with olefile.OleFileIO(str(path)) as ole:
                return bool(ole.exists("EncryptionInfo") or ole.exists("EncryptedPackage"))
        except (OSError, ValueError, EOFError) as exc:
            raise MalformedDocument(f"the compound file is damaged ({exc})") from exc

    @staticmethod
    def _unsupported_reason(ext: str) -> str:
        if ext in _ARCHIVES:
            return f"archives ({ext}) are not indexed; extract the files and add them one by one"
        return f"files of type {ext or '(no extension)'} are not supported"
