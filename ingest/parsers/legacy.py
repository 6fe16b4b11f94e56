"""Word, PowerPoint and Excel 97-2003 files, and RTF: checked, then read directly or converted.

`.doc` and `.ppt` are converted by LibreOffice to DOCX and PPTX and read like those (tables as
rows, slides as pages). `.xls` is read with xlrd, sheet by sheet, and converted to XLSX only when
xlrd cannot read it (LibreOffice recovers many damaged workbooks). RTF is converted to DOCX where
LibreOffice is installed: the pandoc reader unstructured uses garbles Korean code pages (cp949)
and runs table rows together; without LibreOffice it remains the reader.

Before anything reads a compound file, `check_compound` opens it, requires the stream of its
format and refuses encrypted files, so no converter ever sees bytes of another kind.
"""

from __future__ import annotations

import struct
from pathlib import Path

import msoffcrypto  # type: ignore[import-untyped]
import olefile
import structlog

from core.errors import EncryptedDocument, FormatMismatch, MalformedDocument
from core.types import Element
from ingest.parsers import libreoffice, office
from ingest.parsers.limits import ParseLimits
from ingest.parsers.packages import inspect_package
from ingest.parsers.xls import parse_xls

log = structlog.get_logger(__name__)

FORMATS = {
    ".doc": "Word 97-2003 document",
    ".ppt": "PowerPoint 97-2003 presentation",
    ".xls": "Excel 97-2003 workbook",
}
_STREAMS = {".doc": ("WordDocument",), ".ppt": ("PowerPoint Document",), ".xls": ("Workbook", "Book")}
_WORD_IDENTS = (0xA5EC, 0xA5DC)  # Word 97 and later; Word 6 and 95
_WORD_97_FIB = 0x00C1
_WORD_95_FIB = 0x0068
_RTF_PREFIX = b"{\\rtf"


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text if 0 < len(text) <= 80 else "its sector tables are invalid"


def word_filter(path: Path) -> str:
    """LibreOffice's import filter for a Word document, from the header of its main stream."""
    try:
        with olefile.OleFileIO(str(path)) as ole:
            head = ole.openstream("WordDocument").read(4)
    except (OSError, ValueError, EOFError) as exc:
        raise MalformedDocument(f"the compound file is damaged ({_reason(exc)})") from exc
    if len(head) < 4:
        raise MalformedDocument("the Word document is damaged (its main stream is cut short)")
    ident, version = struct.unpack("<HH", head)
    if ident not in _WORD_IDENTS:
        raise MalformedDocument("the Word document is damaged (its main stream has no Word header)")
    if version >= _WORD_97_FIB:
        return "MS Word 97"
    return "MS Word 95" if version >= _WORD_95_FIB else "MS WinWord 6.0"


def _encrypted(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return bool(msoffcrypto.OfficeFile(handle).is_encrypted())
    except Exception as exc:  # msoffcrypto fails on streams it does not expect; the reader decides
        log.info("encryption_check_failed", error=f"{type(exc).__name__}: {exc}")
        return False


def check_compound(path: Path, ext: str) -> None:
    """Check a `.doc`, `.ppt` or `.xls` compound file before anything reads it.

    Raises `EncryptedDocument` for password-protected files, `FormatMismatch` when the compound
    file holds another format, `MalformedDocument` when it is damaged.
    """
    what = FORMATS[ext]
    try:
        with olefile.OleFileIO(str(path)) as ole:
            if ole.exists("EncryptionInfo") or ole.exists("EncryptedPackage"):
                raise EncryptedDocument("the file is encrypted with a password")
            if not any(ole.exists(name) for name in _STREAMS[ext]):
                raise FormatMismatch(
                    f"the file is a compound file but not a {what} (it has no {_STREAMS[ext][0]} stream)"
                )
    except (OSError, ValueError, EOFError) as exc:
        raise MalformedDocument(f"the compound file is damaged ({_reason(exc)})") from exc
    if ext == ".doc":
        word_filter(path)  # a stream without a Word header must not be taken for an encrypted one
    if _encrypted(path):
        raise EncryptedDocument("the file is encrypted with a password")


def _converted(path: Path, source: str, infilter: str, target: str, limits: ParseLimits) -> list[Element]:
    what = FORMATS.get(source, "RTF document")
    with libreoffice.converted(
        path,
        source=source,
        infilter=infilter,
        target=target,
        what=what,
        soffice=limits.soffice,
        timeout_s=limits.convert_timeout_s,
    ) as result:
        inspect_package(result, target, limits)  # the converter's output is checked like an upload
        return office.partition(result, target)


def parse_doc(path: Path, limits: ParseLimits) -> list[Element]:
    """A Word 97-2003 (or 6/95) document, converted to DOCX."""
    check_compound(path, ".doc")
    return _converted(path, ".doc", word_filter(path), ".docx", limits)


def parse_ppt(path: Path, limits: ParseLimits) -> list[Element]:
    """A PowerPoint 97-2003 presentation, converted to PPTX: one page per slide."""
    check_compound(path, ".ppt")
    return _converted(path, ".ppt", "MS PowerPoint 97", ".pptx", limits)


def parse_xls_file(path: Path, limits: ParseLimits) -> list[Element]:
    """An Excel 97-2003 workbook read with xlrd; converted to XLSX when xlrd cannot read it."""
    check_compound(path, ".xls")
    try:
        return parse_xls(path)
    except EncryptedDocument:
        raise
    except MalformedDocument as exc:
        if not libreoffice.installed(limits.soffice):
            raise
        log.info("xls_converted_instead", reason=exc.message)
        return _converted(path, ".xls", "MS Excel 97", ".xlsx", limits)


def parse_rtf(path: Path, limits: ParseLimits) -> list[Element]:
    """An RTF document, converted to DOCX where LibreOffice is installed."""
    with path.open("rb") as handle:
        head = handle.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(_RTF_PREFIX):
        raise FormatMismatch(
            "the file's content is not RTF (it does not begin with {\\rtf) though its name says .rtf"
        )
    if not libreoffice.installed(limits.soffice):
        return office.partition(path, ".rtf")
    return _converted(path, ".rtf", "Rich Text Format", ".docx", limits)
