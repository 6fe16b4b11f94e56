"""HTML checked before it is partitioned: libxml2 silently drops a document nested too deeply."""

from __future__ import annotations

from pathlib import Path

from core.errors import TooComplex

_DEPTH_ERROR = "excessive depth"


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
