"""OCR of image files and scanned PDF pages with Tesseract (kor+eng), through the product's parser.

The English samples are drawn here with a font of this machine. No font with Hangul glyphs is
installed (Debian's fonts-nanum would provide one), so the Korean samples are the shared scan
`png/english-and-korean.png` and a PDF made of it.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pikepdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from core.errors import DocumentError, EmptyDocument, NoTextLayer
from core.settings import IngestSettings
from core.types import ParsedDocument
from ingest.parsers import ocr
from ingest.parsers.factory import make_parser
from ingest.parsers.limits import ParseLimits
from ingest.parsers.registry import ParserRegistry
from ingest.parsers.sandbox import SandboxedParser
from tests.conftest import DOCS

pytestmark = pytest.mark.integration

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
KOREAN_SCAN = DOCS / "png" / "english-and-korean.png"
ENGLISH = ["Quarterly revenue grew by twelve percent.", "The board approved the budget on Monday."]
OCR_TEXT = {
    "png/english-and-korean.png": ["RULES AND INSTRUCTIONS", "안녕하세요"],
    "png/table-multi-row-column-cells.png": ["Dexterity"],
    "jpg/layout-parser-paper-fast.jpg": ["LayoutParser"],
}


def _scanned_rows() -> list[str]:
    manifest = DOCS / "MANIFEST.tsv"
    if not manifest.exists():
        return []
    with manifest.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    hints = ("scanned", "image-only", "ocr")
    return sorted(
        r["file"]
        for r in rows
        if r["format"] in ("png", "jpg") or any(h in r["notes"].lower() for h in hints)
    )


SCANNED = _scanned_rows()


@pytest.fixture(scope="module", autouse=True)
def _tesseract() -> None:
    if shutil.which("tesseract") is None:
        if os.environ.get("CI"):
            pytest.fail("Tesseract is not installed (scripts/install installs tesseract-ocr-kor)")
        pytest.skip("Tesseract is not installed")


@pytest.fixture(scope="module")
def parser() -> Iterator[SandboxedParser]:
    sandbox = make_parser(IngestSettings())
    yield sandbox
    sandbox.close()


def drawn(lines: list[str]) -> Image.Image:
    """Black text on white, about 30 px high per line, as a scanner at 300 dpi would give."""
    font = ImageFont.truetype(str(FONT), 40) if FONT.exists() else ImageFont.load_default(40)
    image = Image.new("L", (1700, 120 + 90 * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for n, line in enumerate(lines):
        draw.text((80, 60 + 90 * n), line, fill=0, font=font)
    return image


def image_pdf(*images: Image.Image) -> bytes:
    out = io.BytesIO()
    images[0].convert("RGB").save(out, "PDF", resolution=200, save_all=True, append_images=list(images[1:]))
    return out.getvalue()


def text_of(parsed: ParsedDocument) -> str:
    return " ".join(" ".join(e.text for e in parsed.elements).split())


def test_png_is_read_by_ocr_with_its_page(parser: SandboxedParser, tmp_path: Path) -> None:
    path = tmp_path / "blob"
    drawn(ENGLISH).save(path, "PNG")
    parsed = parser.parse(path, "scan.png")
    assert all(sentence in text_of(parsed) for sentence in ENGLISH), text_of(parsed)
    assert {e.page for e in parsed.elements} == {1}


def test_image_only_pdf_is_read_by_ocr(parser: SandboxedParser, tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(image_pdf(drawn(ENGLISH[:1]), drawn(ENGLISH[1:])))
    parsed = parser.parse(path, "scan.pdf")
    by_page = {p: " ".join(e.text for e in parsed.elements if e.page == p) for p in (1, 2)}
    assert "Quarterly revenue" in by_page[1] and "board approved" in by_page[2], by_page


def test_scanned_page_next_to_a_text_page_keeps_reading_order(
    parser: SandboxedParser, tmp_path: Path
) -> None:
    document = pikepdf.new()
    font = document.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
    )
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=[0, 0, 612, 792],
        Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)),
    )
    page.Contents = document.make_stream(b"BT /F1 14 Tf 72 700 Td (Typed first page) Tj ET")
    document.pages.append(pikepdf.Page(page))
    with pikepdf.open(io.BytesIO(image_pdf(drawn(ENGLISH[:1])))) as scan:
        document.pages.extend(scan.pages)
        path = tmp_path / "blob"
        document.save(path)
    parsed = parser.parse(path, "mixed.pdf")
    first = parsed.elements[0]
    assert first.page == 1 and "Typed first page" in first.text
    assert any(e.page == 2 and "Quarterly revenue" in e.text for e in parsed.elements)


@pytest.mark.skipif(not KOREAN_SCAN.exists(), reason="the shared documents are not present")
def test_korean_scan_as_png_and_as_image_only_pdf(parser: SandboxedParser, tmp_path: Path) -> None:
    png = tmp_path / "png"
    shutil.copyfile(KOREAN_SCAN, png)
    pdf = tmp_path / "pdf"
    with Image.open(KOREAN_SCAN) as image:
        pdf.write_bytes(image_pdf(image))
    for path, name in ((png, "korean.png"), (pdf, "korean.pdf")):
        parsed = parser.parse(path, name)
        assert "안녕하세요" in text_of(parsed) and "HARUTO" in text_of(parsed), (name, text_of(parsed))
        assert {e.page for e in parsed.elements} == {1}


def test_without_ocr_scans_fail_as_having_no_text_layer(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    drawn(ENGLISH).save(path, "PNG")
    pdf = tmp_path / "pdf"
    pdf.write_bytes(image_pdf(drawn(ENGLISH)))
    off = ParserRegistry(10_000_000, ParseLimits(ocr=False))
    for stored, name in ((path, "scan.png"), (pdf, "scan.pdf")):
        with pytest.raises(NoTextLayer, match=r"no text layer.* and OCR is not available"):
            off.parse(stored, name)
    missing = ParserRegistry(10_000_000, ParseLimits(ocr_languages="kor+xyz"))
    with pytest.raises(NoTextLayer, match="lacks the language data xyz"):
        missing.parse(path, "scan.png")


def test_without_tesseract_scans_fail_as_having_no_text_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "blob"
    drawn(ENGLISH).save(path, "PNG")
    monkeypatch.setattr(ocr.shutil, "which", lambda _name: None)
    with pytest.raises(NoTextLayer, match="Tesseract is not installed"):
        ParserRegistry(10_000_000).parse(path, "scan.png")


def test_a_scan_without_readable_text_fails_with_a_reason(parser: SandboxedParser, tmp_path: Path) -> None:
    blank = Image.new("L", (1200, 800), 255)
    ImageDraw.Draw(blank).rectangle((100, 100, 1100, 700), outline=0, width=6)  # a frame, no words
    png = tmp_path / "png"
    blank.save(png, "PNG")
    pdf = tmp_path / "pdf"
    pdf.write_bytes(image_pdf(blank))
    for stored, name in ((png, "frame.png"), (pdf, "frame.pdf")):
        with pytest.raises(EmptyDocument, match=r"OCR \(kor\+eng\) found no readable text"):
            parser.parse(stored, name)


@pytest.mark.parametrize("name", SCANNED)
def test_shared_scans_yield_text_or_a_clear_reason(
    name: str, parser: SandboxedParser, tmp_path: Path
) -> None:
    stored = tmp_path / "blob"
    shutil.copyfile(DOCS / name, stored)
    try:
        parsed = parser.parse(stored, Path(name).name)
    except DocumentError as exc:
        assert name not in OCR_TEXT, f"{name}: {exc.code}: {exc.message}"
        assert exc.code != "document_failed" and len(exc.message) > 15
        return
    text = text_of(parsed)
    assert text.strip() and all(e.page is not None for e in parsed.elements)
    for needle in OCR_TEXT.get(name, []):
        assert needle in text, f"{needle!r} missing from {name}"
