"""The parser registry: picks a reader by extension, checks the bytes first, explains failures.

Every file either yields text elements or raises a `DocumentError` subclass whose message a
person can act on; nothing silently yields no text.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import olefile

from core.errors import (
    DocumentTooLarge,
    EmptyDocument,
    EncryptedDocument,
    MalformedDocument,
    NoTextLayer,
    UnsupportedFormat,
)
from core.types import Element, ParsedDocument
from ingest.parsers import hwp, office, text

Reader = Callable[[Path], list[Element]]

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_OOXML = {".docx", ".pptx", ".xlsx", ".odt", ".epub", ".hwpx"}
_IMAGES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".webp"}
_ARCHIVES = {".zip", ".tar", ".gz", ".tgz", ".7z", ".rar"}
_LEGACY = {".doc": "Word 97-2003 (.doc)", ".ppt": "PowerPoint 97-2003 (.ppt)", ".xls": "Excel 97-2003 (.xls)"}


def _plain(path: Path) -> list[Element]:
    return text.paragraphs(text.decode(path.read_bytes()))


def _delimited(delimiter: str) -> Reader:
    return lambda path: text.delimited_rows(text.decode(path.read_bytes()), delimiter)


READERS: dict[str, Reader] = {
    ".pdf": office.parse_pdf,
    ".eml": office.parse_email,
    ".msg": office.parse_msg,
    ".hwp": hwp.parse_hwp,
    ".hwpx": hwp.parse_hwpx,
    ".csv": _delimited(","),
    ".tsv": _delimited("\t"),
    **{ext: _plain for ext in (".txt", ".text", ".log", ".rst", ".json", ".xml", ".yaml", ".yml")},
    **{
        ext: office.unstructured_reader(ext)
        for ext in (".docx", ".pptx", ".xlsx", ".odt", ".epub", ".rtf", ".html", ".htm", ".md")
    },
}


class ParserRegistry:
    """Implements `DocumentParser` for every supported format."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes

    @staticmethod
    def supported(filename: str) -> bool:
        """True when the file's extension has a reader."""
        return Path(filename).suffix.lower() in READERS

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
        self._check_container(path, ext)
        if ext in _IMAGES:
            raise NoTextLayer("the image has no text layer and OCR is not available")
        reader = READERS.get(ext)
        if reader is None:
            raise UnsupportedFormat(self._unsupported_reason(ext))
        elements = [e for e in reader(path) if e.text.strip()]
        if not elements:
            raise EmptyDocument("the file contains no text")
        title = next((e.text for e in elements if e.kind == "title"), Path(filename).stem)
        return ParsedDocument(title=title[:200], elements=tuple(elements))

    @staticmethod
    def _check_container(path: Path, ext: str) -> None:
        with path.open("rb") as handle:
            head = handle.read(8)
        if ext in _OOXML and head.startswith(_OLE_MAGIC):
            with olefile.OleFileIO(str(path)) as ole:
                if ole.exists("EncryptionInfo") or ole.exists("EncryptedPackage"):
                    raise EncryptedDocument("the file is encrypted with a password")
            raise MalformedDocument(f"the file is not a valid {ext} (it is an older binary Office file)")
        if ext in _OOXML and not head.startswith(_ZIP_MAGIC):
            raise MalformedDocument(f"the file is not a valid {ext} (its contents are not a zip package)")

    @staticmethod
    def _unsupported_reason(ext: str) -> str:
        if ext in _ARCHIVES:
            return f"archives ({ext}) are not indexed; extract the files and add them one by one"
        if ext in _LEGACY:
            return f"{_LEGACY[ext]} is a legacy binary format; save it in the current format and upload again"
        return f"files of type {ext or '(no extension)'} are not supported"
