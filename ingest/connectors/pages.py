"""What the crawler needs from a download: a file extension for the parser, a title and links."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from pathlib import PurePosixPath
from urllib.parse import unquote

import httpx
import lxml.etree
import lxml.html

from ingest.parsers.registry import ParserRegistry

HTML = ".html"
_OOXML = "application/vnd.openxmlformats-officedocument"
EXTENSIONS = {
    "text/html": HTML,
    "application/xhtml+xml": HTML,
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/csv": ".csv",
    "text/tab-separated-values": ".tsv",
    "application/json": ".json",
    "application/xml": ".xml",
    "text/xml": ".xml",
    "application/rtf": ".rtf",
    "text/rtf": ".rtf",
    "application/epub+zip": ".epub",
    "message/rfc822": ".eml",
    "application/vnd.ms-outlook": ".msg",
    f"{_OOXML}.wordprocessingml.document": ".docx",
    f"{_OOXML}.presentationml.presentation": ".pptx",
    f"{_OOXML}.spreadsheetml.sheet": ".xlsx",
    "application/vnd.oasis.opendocument.text": ".odt",
    "application/msword": ".doc",
    "application/vnd.ms-powerpoint": ".ppt",
    "application/vnd.ms-excel": ".xls",
    "application/x-hwp": ".hwp",
    "application/haansofthwp": ".hwp",
    "application/vnd.hancom.hwp": ".hwp",
    "application/hwp+zip": ".hwpx",
    "application/vnd.hancom.hwpx": ".hwpx",
}
_GENERIC = {"", "application/octet-stream", "binary/octet-stream"}


def media_type(header: str | None) -> str:
    """The media type of a `Content-Type` header, lower-case and without parameters."""
    message = Message()
    message["content-type"] = header or "application/octet-stream"
    return message.get_content_type()


def extension_for(content_type: str | None, url: httpx.URL) -> str | None:
    """The extension that makes the parser registry pick the right reader; None if unsupported.

    A generic type (`application/octet-stream`) falls back to the URL's own extension.
    """
    kind = media_type(content_type)
    if kind in EXTENSIONS:
        return EXTENSIONS[kind]
    suffix = PurePosixPath(url.path).suffix.lower()
    if kind in _GENERIC and ParserRegistry.supported(f"x{suffix}"):
        return suffix
    return None


def filename_for(url: httpx.URL, extension: str) -> str:
    """A file name for a download: the URL's last segment, with `extension` when it lacks it."""
    name = PurePosixPath(unquote(url.path)).name[:200] or "index"
    return name if name.lower().endswith(extension) else name + extension


@dataclass(frozen=True)
class HtmlPage:
    """The parts of an HTML page the crawler uses; `index`/`follow` honour `<meta name=robots>`."""

    title: str | None
    links: list[str]
    index: bool = True
    follow: bool = True


def read_html(data: bytes, base_url: str) -> HtmlPage:
    """Title and absolute `<a>`/`<area>` links of an HTML page (rel=nofollow links left out)."""
    try:
        doc = lxml.html.document_fromstring(data, base_url=base_url)
    except (lxml.etree.ParserError, ValueError):
        return HtmlPage(None, [])
    doc.make_links_absolute(base_url, resolve_base_href=True, handle_failures="discard")
    directives: set[str] = set()
    for meta in doc.iter("meta"):
        if str(meta.get("name", "")).lower() in ("robots", "sillokbot"):
            directives |= {d.strip().lower() for d in str(meta.get("content", "")).split(",")}
    follow = not directives & {"nofollow", "none"}
    links = [
        str(link)
        for element, attribute, link, _ in doc.iterlinks()
        if follow
        and element.tag in ("a", "area")
        and attribute == "href"
        and "nofollow" not in str(element.get("rel", "")).lower().split()
    ]
    title = doc.findtext(".//title")
    return HtmlPage(
        (title.strip() or None) if title else None,
        links,
        index=not directives & {"noindex", "none"},
        follow=follow,
    )
