"""PDF files: the text layer page by page, and OCR for pages that have none (scans).

Encrypted, damaged and over-long PDFs raise before the text layer is read. The text layer is
read by unstructured (pdfminer), which keeps titles; tables drawn with ruling lines are read row
by row in place of the loose text unstructured made of them (`pdf_tables`). A page it finds no
text on is read again with pdfium, which copes with damaged files pdfminer gives up on. A page
without a text layer in either is a scan: it is rendered with pdfium and read by Tesseract
(blank pages are skipped). A PDF with no text layer at all and more scanned pages than OCR reads
per file is refused rather than indexed in part; in a PDF with a text layer, the first scanned
pages up to that bound are read.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import structlog
from PIL import Image

from core.errors import (
    DocumentTooLarge,
    EmptyDocument,
    EncryptedDocument,
    MalformedDocument,
    NoTextLayer,
)
from core.types import Element
from ingest.parsers import ocr, pdf_tables, text
from ingest.parsers.limits import ParseLimits
from ingest.parsers.office import partition_raw, to_elements

log = structlog.get_logger(__name__)
_MAX_RENDER_PIXELS = 40_000_000  # a page larger than this at OCR resolution is rendered smaller
_BLANK_CONTRAST = 24  # a rendered page whose darkest and lightest grey differ less is blank


def page_count(path: Path) -> int:
    """Number of pages; encrypted and unrepairable PDFs raise."""
    import pikepdf

    try:
        with pikepdf.open(path) as pdf:
            return len(pdf.pages)
    except pikepdf.PasswordError as exc:
        raise EncryptedDocument("the PDF is password-protected") from exc
    except pikepdf.PdfError as exc:
        raise MalformedDocument(f"the PDF is damaged and could not be repaired: {exc}") from exc


@contextmanager
def _pdfium(path: Path) -> Iterator[Any]:
    import pypdfium2  # type: ignore[import-untyped]

    try:
        document = pypdfium2.PdfDocument(str(path))
    except pypdfium2.PdfiumError as exc:
        raise MalformedDocument(f"the PDF is damaged: its pages could not be opened ({exc})") from exc
    try:
        yield document
    finally:
        document.close()


def _page_text(document: Any, number: int) -> list[Element]:
    page = document[number - 1]
    raw: str = page.get_textpage().get_text_bounded()
    return [Element(e.text, page=number) for e in text.paragraphs(raw.replace("\r\n", "\n"))]


def _has_content(document: Any, number: int) -> bool:
    """Whether a page draws anything: page objects or annotations (stamps, free text)."""
    import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]

    page = document[number - 1]
    return any(True for _ in page.get_objects(max_depth=1)) or pdfium_c.FPDFPage_GetAnnotCount(page.raw) > 0


def _render(document: Any, number: int, limits: ParseLimits) -> Image.Image:
    page = document[number - 1]
    width, height = page.get_size()
    scale = limits.ocr_dpi / 72
    pixels = width * height * scale * scale
    budget = min(_MAX_RENDER_PIXELS, limits.max_image_pixels)
    if pixels > budget:
        scale *= math.sqrt(budget / pixels)
    image: Image.Image = page.render(scale=scale, grayscale=True).to_pil()
    return image.convert("L")


def _is_blank(image: Image.Image) -> bool:
    low, high = cast(tuple[int, int], image.getextrema())  # one band ("L"): its darkest and lightest
    return high - low < _BLANK_CONTRAST


def _recognise(document: Any, numbers: list[int], limits: ParseLimits) -> list[Element]:
    elements: list[Element] = []
    for number in numbers:
        image = _render(document, number, limits)
        if not _is_blank(image):
            elements.extend(ocr.page_elements(ocr.recognise(image, limits), page=number))
    return elements


def _read_scans(document: Any, scanned: list[int], limits: ParseLimits, has_text: bool) -> list[Element]:
    """OCR elements of the scanned pages, or the reason they cannot be read when nothing else can."""
    reason = ocr.unavailable_reason(limits)
    if reason is not None:
        if has_text:
            return []
        raise NoTextLayer(
            f"the PDF has no text layer ({len(scanned)} scanned page(s)) and OCR is not available ({reason})"
        )
    if len(scanned) > limits.max_ocr_pages:
        if not has_text:
            raise DocumentTooLarge(
                f"the PDF has {len(scanned)} scanned pages without a text layer; "
                f"OCR reads at most {limits.max_ocr_pages} pages per file"
            )
        log.warning("pdf_ocr_truncated", scanned=len(scanned), read=limits.max_ocr_pages)
        scanned = scanned[: limits.max_ocr_pages]
    recognised = _recognise(document, scanned, limits)
    if not has_text and not recognised:
        raise EmptyDocument(
            f"the PDF has no text layer and OCR ({limits.ocr_languages}) found no readable text "
            f"on its {len(scanned)} scanned page(s)"
        )
    return recognised


def _text_layer(path: Path) -> list[Element]:
    """The text layer as unstructured reads it, ruled tables read row by row in their place."""
    raw = partition_raw(path, ".pdf", strategy="fast")
    read = {getattr(item.metadata, "page_number", None) for item in raw}
    try:
        with _pdfium(path) as document:
            ruled = [n for n in pdf_tables.ruled_pages(document) if n in read]
    except MalformedDocument:  # pdfminer read it; the tables are a bonus
        ruled = []
    return to_elements(pdf_tables.place_tables(raw, pdf_tables.find_tables(path, ruled)))


def parse_pdf(path: Path, limits: ParseLimits) -> list[Element]:
    """A PDF's text, page by page, with scanned pages read by OCR when it is available."""
    pages = page_count(path)
    if pages > limits.max_pages:
        raise DocumentTooLarge(f"the PDF has {pages} pages; the limit is {limits.max_pages}")
    elements = _text_layer(path)
    with_text = {e.page for e in elements}
    missing = [n for n in range(1, pages + 1) if n not in with_text]
    if not missing:
        return elements
    with _pdfium(path) as document:
        scanned: list[int] = []
        for number in missing:
            found = _page_text(document, number)
            elements.extend(found)
            if not found and _has_content(document, number):
                scanned.append(number)
        if scanned:
            elements.extend(_read_scans(document, scanned, limits, has_text=bool(elements)))
    return sorted(elements, key=lambda e: e.page or 0)
