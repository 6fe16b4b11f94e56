"""Korean word-processor files: HWP 5 (`hwp5`, OLE compound file) and HWPX (`hwpx`, zipped XML).

Both are read in pure Python into text elements in reading order: tables as one `table` element
of `cell | cell` rows, text boxes and shapes after the paragraph that anchors them, nothing twice,
and page numbers where the file saved its layout.
"""

from __future__ import annotations

from ingest.parsers.hwp5 import para_text, parse_hwp
from ingest.parsers.hwpx import parse_hwpx

__all__ = ["para_text", "parse_hwp", "parse_hwpx"]
