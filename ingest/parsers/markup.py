"""HTML checked before it is partitioned, and its tables read from the source.

libxml2 silently drops a document nested too deeply, so such a page is refused first. unstructured
renders each table again without its row and column spans, which shifts the cells of every row
under a merged one; the table's own HTML keeps them, so it replaces the rendering wherever the
two hold the same text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.errors import TooComplex

_DEPTH_ERROR = "excessive depth"
_SPACE = re.compile(r"\s+")


def check_html(path: Path) -> None:
    """Raise `TooComplex` when the HTML nests elements deeper than its parser reads (255 levels)."""
    from lxml import etree, html

    parser = html.HTMLParser()
    try:
        html.document_fromstring(path.read_bytes(), parser=parser)
    except (etree.ParserError, ValueError):
        return  # nothing to parse: the partitioner reports the file as empty
    if any(_DEPTH_ERROR in entry.message.lower() for entry in parser.error_log):
        raise TooComplex("the HTML nests elements more than 255 levels deep, beyond what its parser reads")


def source_tables(path: Path) -> dict[str, str]:
    """The HTML of each table of a page without tables inside it, keyed by its text without
    whitespace."""
    from lxml import etree, html

    try:
        root = html.document_fromstring(path.read_bytes())
    except (etree.ParserError, ValueError):
        return {}
    tables: dict[str, str] = {}
    for table in root.iter("table"):
        if table.find(".//table") is not None:
            continue
        tables.setdefault(_squash(table.text_content()), etree.tostring(table, encoding="unicode"))
    return tables


def with_source_tables(raw: Sequence[Any], path: Path) -> list[Any]:
    """unstructured's elements of an HTML page, each Table rendered from the page's own table
    when one holds the same text."""
    tables = [item for item in raw if getattr(item, "category", None) == "Table"]
    if tables:
        sources = source_tables(path)
        for item in tables:
            source = sources.get(_squash(item.text or ""))
            if source is not None:
                item.metadata.text_as_html = source
    return list(raw)


def _squash(text: str) -> str:
    return _SPACE.sub("", text)
