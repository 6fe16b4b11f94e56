"""Office and markup formats read with `unstructured`, keeping pages, titles and tables."""

from __future__ import annotations

import email
from collections.abc import Callable, Sequence
from dataclasses import replace
from email import policy
from pathlib import Path
from typing import Any

from core.errors import EncryptedDocument, MalformedDocument
from core.types import Element
from ingest.parsers import markup
from ingest.parsers.offline import prepare_unstructured
from ingest.parsers.tables import html_rows, table_element

_LANGUAGES = ["eng", "kor"]
# Stored files are named by their hash, so the format comes from the user's file name, never
# from content sniffing (which takes an inline-XBRL HTML page for XML, for example).
CONTENT_TYPES = {
    ".pdf": "application/pdf",
    ".eml": "message/rfc822",
    ".msg": "application/vnd.ms-outlook",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".epub": "application/epub+zip",
    ".rtf": "text/rtf",
    ".html": "text/html",
    ".htm": "text/html",
    ".md": "text/markdown",
}
_SECTION_MAX_CHARS = 200


def to_elements(raw: Sequence[Any]) -> list[Element]:
    """Map unstructured elements to ours, carrying page numbers and the current section title.

    Tables become rows of `cell | cell` that know their header; an `Element` already in `raw`
    (a table another reader found, in reading order) takes the current section.
    """
    elements: list[Element] = []
    section: str | None = None
    for item in raw:
        if isinstance(item, Element):
            elements.append(replace(item, section=section))
            continue
        text = (item.text or "").strip()
        if not text:
            continue
        page = getattr(item.metadata, "page_number", None)
        if item.category == "Table":
            elements.append(_table(item, text, page, section))
        elif item.category == "Title" and len(text) <= _SECTION_MAX_CHARS:
            section = text
            elements.append(Element(text, page, section, "title"))
        else:
            elements.append(Element(text, page, section))
    return elements


def _table(item: Any, text: str, page: int | None, section: str | None) -> Element:
    html = getattr(item.metadata, "text_as_html", None)
    if html:
        rows, header_rows = html_rows(html)
        table = table_element(rows, page, section, header_rows)
        if table is not None:
            return table
    return Element(text, page, section, "table")


def partition(path: Path, ext: str, **kwargs: Any) -> list[Element]:
    """Elements of a file read by unstructured as `ext`; its failures become typed errors."""
    raw = partition_raw(path, ext, **kwargs)
    if ext in (".html", ".htm"):
        raw = markup.with_source_tables(raw, path)
    return to_elements(raw)


def partition_raw(path: Path, ext: str, **kwargs: Any) -> list[Any]:
    """unstructured's own elements of a file read as `ext`; its failures become typed errors."""
    prepare_unstructured()
    from unstructured.partition.auto import partition as unstructured_partition

    try:
        raw = unstructured_partition(
            filename=str(path), content_type=CONTENT_TYPES[ext], languages=_LANGUAGES, **kwargs
        )
    except (ValueError, KeyError, OSError, IndexError, AttributeError, TypeError) as exc:
        raise MalformedDocument(f"the file could not be read ({type(exc).__name__}: {exc})") from exc
    except Exception as exc:  # parser libraries raise many private types; all mean "damaged"
        if "encrypt" in str(exc).lower() or "password" in str(exc).lower():
            raise EncryptedDocument("the file is encrypted or password-protected") from exc
        raise MalformedDocument(f"the file could not be read ({type(exc).__name__}: {exc})") from exc
    return list(raw)


def parse_email(path: Path) -> list[Element]:
    """An RFC 822 message; S/MIME-encrypted messages raise."""
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    if message.get_content_type() in ("application/pkcs7-mime", "multipart/encrypted"):
        raise EncryptedDocument("the e-mail is encrypted (S/MIME or PGP)")
    return _headers(message) + partition(path, ".eml")


def _headers(message: Any) -> list[Element]:
    fields = [f"{name}: {message[name]}" for name in ("Subject", "From", "To", "Date") if message[name]]
    return [Element("\n".join(fields), section=str(message["Subject"] or "") or None)] if fields else []


def parse_msg(path: Path) -> list[Element]:
    """An Outlook message; S/MIME-encrypted messages raise."""
    data = path.read_bytes()
    markers = ("IPM.Note.SMIME", "multipart/encrypted", "application/pkcs7-mime")
    if any(m.encode() in data or m.encode("utf-16-le") in data for m in markers):
        raise EncryptedDocument("the e-mail is encrypted (S/MIME or PGP)")
    return partition(path, ".msg")


def unstructured_reader(ext: str) -> Callable[[Path], list[Element]]:
    """A reader for another format unstructured reads (DOCX, PPTX, XLSX, ODT, EPUB, RTF, HTML, MD)."""
    return lambda path: partition(path, ext)
