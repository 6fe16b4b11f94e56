"""Every real document in ../shared/data/docs yields chunks with text (and page numbers where the
format has pages) or raises a typed error that says why. Nothing silently yields zero chunks.

The files go through the product's parser: sandboxed processes under the default limits, with
OCR (Tesseract, kor+eng) for images and scanned pages."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import DocumentError, EmptyDocument, EncryptedDocument, UnsupportedFormat
from core.settings import IngestSettings
from ingest.chunking import Chunker
from ingest.parsers.factory import make_parser
from ingest.parsers.sandbox import SandboxedParser
from tests.conftest import DOCS

pytestmark = pytest.mark.integration

FILES = (
    sorted(
        p.relative_to(DOCS).as_posix()
        for p in DOCS.rglob("*")
        if p.is_file() and p.name != "MANIFEST.tsv" and "_licenses" not in p.parts
    )
    if DOCS.exists()
    else []
)
PAGINATED = {".pdf", ".pptx", ".ppt", ".xlsx", ".hwp", ".png", ".jpg"}
EXPECTED_ERRORS: dict[str, type[DocumentError]] = {
    "pdf/password.pdf": EncryptedDocument,
    "xlsx/password_protected.xlsx": EncryptedDocument,
    "eml/fake-encrypted.eml": EncryptedDocument,
    "msg/fake-encrypted.msg": EncryptedDocument,
    "txt/empty.txt": EmptyDocument,
    "txt/fake-text-all-whitespace.txt": EmptyDocument,
    "eml/empty.eml": EmptyDocument,
    "xlsx/empty.xlsx": EmptyDocument,
    "zip/simple.zip": UnsupportedFormat,
}
EXPECTED_TEXT = {
    "hwp/minimal-body-table.hwp": ["편집 탭 – 표", "제목 | 담당자 | 세부 내용"],
    "pdf/korean-text-with-tables.pdf": ["빅포인트"],
    "txt/fake-text-utf-16.txt": ["This is a test document"],
    "csv/stanley-cups-utf-16.csv": ["Stanley Cups"],
    "docx/docx-tables.docx": [" | "],
    "doc/fake.doc": ["Lorem ipsum dolor sit amet."],  # converted by LibreOffice
    "doc/fake-doc-emphasized-text.doc": ["Header Col 1 | Header Col 2"],
    "ppt/fake-power-point.ppt": ["Adding a Bullet Slide"],
    "png/english-and-korean.png": ["RULES AND INSTRUCTIONS", "안녕하세요"],  # by OCR
    "jpg/layout-parser-paper-fast.jpg": ["LayoutParser"],  # by OCR
}


@pytest.fixture(scope="module")
def parser() -> Iterator[SandboxedParser]:
    sandbox = make_parser(IngestSettings(max_file_mb=200))
    yield sandbox
    sandbox.close()


@pytest.fixture(scope="module")
def chunker(minilm) -> Chunker:  # type: ignore[no-untyped-def]
    return Chunker(minilm.count_tokens, 200, 30)


def test_the_shared_corpus_is_present() -> None:
    assert len(FILES) >= 60, f"expected the shared documents under {DOCS}"


@pytest.mark.parametrize("name", FILES)
def test_document_yields_chunks_or_a_clear_error(
    name: str, parser: SandboxedParser, chunker: Chunker, tmp_path: Path
) -> None:
    stored = tmp_path / "blob"  # as the pipeline stores it: named by hash, without extension
    shutil.copyfile(DOCS / name, stored)
    try:
        parsed = parser.parse(stored, Path(name).name)
    except DocumentError as exc:
        assert name not in EXPECTED_TEXT, f"{name} should parse, got {exc.code}: {exc.message}"
        assert len(exc.message) > 15 and exc.code != "document_failed"
        if name in EXPECTED_ERRORS:
            assert isinstance(exc, EXPECTED_ERRORS[name]), f"{name}: {exc.code}"
        return
    assert name not in EXPECTED_ERRORS, f"{name} should have failed with {EXPECTED_ERRORS[name].__name__}"
    chunks = chunker.chunk(parsed.elements)
    assert chunks and all(c.text.strip() for c in chunks)
    if Path(name).suffix in PAGINATED:
        assert all(c.page is not None and c.page >= 1 for c in chunks)
    joined = "\n".join(c.text for c in chunks)
    for needle in EXPECTED_TEXT.get(name, []):
        assert needle in joined, f"{needle!r} missing from {name}"
