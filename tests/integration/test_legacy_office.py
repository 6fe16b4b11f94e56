"""Word, PowerPoint and Excel 97-2003 files, and RTF, through the product's sandboxed parser and
the ingestion pipeline: their text is indexed and found by search; encrypted, damaged and
unreadable ones fail with a reason; without LibreOffice the failure says so."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.acl import Acl, Principal
from core.db.engine import make_engine, migrate, session_factory
from core.documents import CONNECTOR_NAMESPACE, DocumentRegistry
from core.errors import DocumentError
from core.intake import Intake
from core.settings import IngestSettings
from core.types import DocumentStatus, Element
from core.vectors.qdrant_edge import QdrantEdgeIndex
from ingest.chunking import Chunker
from ingest.parsers.factory import make_parser
from ingest.parsers.libreoffice import network_isolation
from ingest.parsers.limits import ParseLimits
from ingest.parsers.registry import ParserRegistry
from ingest.parsers.sandbox import SandboxedParser
from ingest.pipeline import IngestionPipeline
from retrieval.retriever import Retriever
from tests.conftest import DOCS
from tests.integration.legacy_files import FIXTURES, require_libreoffice, with_stream

pytestmark = pytest.mark.integration

READER = Principal("reader", frozenset({"staff"}))
FORMATE = FIXTURES / "Formate.xls"
SHARED = {
    "doc/fake.doc": ["Lorem ipsum dolor sit amet."],
    "doc/fake-doc-emphasized-text.doc": [
        "Header Col 1 | Header Col 2\nA bold italic bold-italic example | A Link example",
        "I am a bold italic bold-italic text.",
    ],
    "ppt/fake-power-point.ppt": [
        "Adding a Bullet Slide",
        "Use _TextFrame.add_paragraph() for subsequent bullets",
    ],
}
KOREAN = "연차 휴가는 15일이며 신청은 인사팀에 합니다"


def korean_rtf() -> bytes:
    """RTF as Word writes Korean: code page 949 with escaped bytes."""
    escaped = "".join(f"\\'{byte:02x}" for byte in KOREAN.encode("cp949"))
    fonts = "{\\fonttbl{\\f0\\fnil\\fcharset129 Gulim;}}"
    return ("{\\rtf1\\ansi\\ansicpg949\\deff0" + fonts + "\\f0 " + escaped + "\\par\n}").encode("ascii")


@pytest.fixture(scope="module")
def parser() -> Iterator[SandboxedParser]:
    require_libreoffice()
    sandbox = make_parser(IngestSettings())
    sandbox.start()
    yield sandbox
    sandbox.close()


def parse(parser: SandboxedParser, tmp_path: Path, data: bytes, filename: str) -> list[Element]:
    stored = tmp_path / "blob"  # stored files are named by hash: the format comes from the name
    stored.write_bytes(data)
    return list(parser.parse(stored, filename).elements)


def joined(elements: list[Element]) -> str:
    return "\n".join(e.text for e in elements)


@pytest.mark.skipif(not DOCS.exists(), reason="the shared documents are not present")
@pytest.mark.parametrize("name", sorted(SHARED))
def test_shared_legacy_files_yield_their_text(name: str, parser: SandboxedParser, tmp_path: Path) -> None:
    started = time.monotonic()
    elements = parse(parser, tmp_path, (DOCS / name).read_bytes(), Path(name).name)
    print(f"{name}: {time.monotonic() - started:.2f} s, {len(elements)} elements")
    for needle in SHARED[name]:
        assert needle in joined(elements), f"{needle!r} missing from {name}"
    if name.endswith(".ppt"):  # slides are pages
        assert all(e.page == 1 for e in elements)
        assert elements[0].kind == "title" and elements[0].section == "Adding a Bullet Slide"


def test_xls_sheets_become_tables_of_rows(parser: SandboxedParser, tmp_path: Path) -> None:
    elements = parse(parser, tmp_path, FORMATE.read_bytes(), "Formate.xls")
    assert [(e.page, e.section, e.kind) for e in elements] == [
        (1, "Blätt1", "table"),
        (2, "ÖÄÜ", "table"),
        (3, "Blätt3", "table"),
        (4, "Formate", "table"),
    ]
    first = elements[0].text.splitlines()
    assert first[:3] == ["Huber | 1907-07-03", "Äcker | 2005-02-23", "Öcker | 1988-05-03"]
    assert "Morgen | 06:34:00" in first
    assert "viel | 1000.3" in first
    assert elements[1].text.splitlines() == ["-100", " |  | MERGED CELLS"]


@pytest.mark.parametrize("ext", [".doc", ".ppt", ".xls"])
def test_encrypted_legacy_files_fail_as_encrypted(ext: str, parser: SandboxedParser, tmp_path: Path) -> None:
    data = (FIXTURES / f"rc4cryptoapi_password{ext}").read_bytes()
    with pytest.raises(DocumentError) as failure:
        parse(parser, tmp_path, data, f"locked{ext}")
    assert failure.value.code == "encrypted" and "password" in failure.value.message


def test_korean_rtf_is_read_in_its_code_page(parser: SandboxedParser, tmp_path: Path) -> None:
    assert KOREAN in joined(parse(parser, tmp_path, korean_rtf(), "휴가.rtf"))


@pytest.mark.skipif(not DOCS.exists(), reason="the shared documents are not present")
def test_rtf_tables_keep_their_rows(parser: SandboxedParser, tmp_path: Path) -> None:
    elements = parse(parser, tmp_path, (DOCS / "rtf/fake-doc.rtf").read_bytes(), "a.rtf")
    tables = [e.text for e in elements if e.kind == "table"]
    assert tables == ["Column 1 | Column 2\nRow 1, Cell 1 | Row 1, Cell 2\nRow 2, Cell 1 | Row 2, Cell 2"]


def test_a_workbook_xlrd_cannot_read_goes_to_libreoffice_and_fails_with_its_reason(
    parser: SandboxedParser, tmp_path: Path
) -> None:
    damaged = with_stream(FORMATE.read_bytes(), "Workbook", b"NOT A WORKBOOK ")
    with pytest.raises(DocumentError) as failure:
        parse(parser, tmp_path, damaged, "damaged.xls")
    assert failure.value.code == "malformed_document"
    assert failure.value.message == (
        "LibreOffice could not open the file; it is damaged or not a real Excel 97-2003 workbook"
    )


def test_a_compound_file_of_another_format_is_refused_before_conversion(
    parser: SandboxedParser, tmp_path: Path
) -> None:
    with pytest.raises(DocumentError) as failure:
        parse(parser, tmp_path, FORMATE.read_bytes(), "report.doc")
    assert failure.value.code == "format_mismatch" and "no WordDocument stream" in failure.value.message


@pytest.mark.skipif(not DOCS.exists(), reason="the shared documents are not present")
def test_without_libreoffice_doc_and_ppt_fail_saying_so_and_xls_and_rtf_still_read(tmp_path: Path) -> None:
    registry = ParserRegistry(10_000_000, ParseLimits(soffice="sillok-no-such-soffice"))
    for name in ("doc/fake.doc", "ppt/fake-power-point.ppt"):
        with pytest.raises(DocumentError) as failure:
            registry.parse(DOCS / name, Path(name).name)
        assert failure.value.code == "unsupported_format"
        assert failure.value.message.startswith(
            "LibreOffice is not installed (sillok-no-such-soffice was not found)"
        )
        assert "libreoffice-core-nogui" in failure.value.message
    sheets = registry.parse(FORMATE, "Formate.xls").elements
    assert "Äcker | 2005-02-23" in sheets[0].text
    rtf = tmp_path / "note.rtf"
    rtf.write_bytes(b"{\\rtf1\\ansi\\deff0 {\\fonttbl {\\f0 Arial;}} \\f0 The budget was approved.\\par}")
    assert "The budget was approved." in joined(list(registry.parse(rtf, "note.rtf").elements))


def test_conversions_run_without_network() -> None:
    prefix = network_isolation()
    if not prefix:
        pytest.skip("this system refuses unprivileged network namespaces (logged as a warning)")
    command = [*prefix, "cat", "/proc/self/net/dev"]
    listed = subprocess.run(command, capture_output=True, text=True, check=True)
    interfaces = {line.split(":")[0].strip() for line in listed.stdout.splitlines()[2:]}
    assert interfaces == {"lo"}


@pytest.mark.skipif(not DOCS.exists(), reason="the shared documents are not present")
def test_legacy_files_are_indexed_and_found_by_search(  # type: ignore[no-untyped-def]
    tmp_path: Path, minilm, parser: SandboxedParser
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    index = QdrantEdgeIndex(tmp_path / "qdrant")
    index.ensure_collection(minilm.dimension, minilm.name)
    registry = DocumentRegistry(session_factory(engine))
    pipeline = IngestionPipeline(registry, parser, Chunker(minilm.count_tokens, 120, 20), minilm, index)
    intake = Intake(registry, tmp_path / "files")
    retriever = Retriever(minilm, index, registry.readable_versions)
    files = {**{name: DOCS / name for name in SHARED}, "xls/Formate.xls": FORMATE}
    queries = {
        "doc/fake.doc": "Lorem ipsum dolor sit amet",
        "doc/fake-doc-emphasized-text.doc": "bold italic bold-italic text",
        "ppt/fake-power-point.ppt": "bullet slide layout TextFrame add_paragraph",
        "xls/Formate.xls": "Huber Äcker Öcker",
    }
    try:
        ids = {}
        for name, path in files.items():
            registration = intake.submit(
                path, namespace=CONNECTOR_NAMESPACE, source=f"file:///{name}", acl=Acl.of(groups=["staff"])
            )
            outcome = pipeline.process(registration.document_id, registration.version)
            assert outcome.status == DocumentStatus.INDEXED and outcome.chunks >= 1, (name, outcome)
            ids[name] = registration.document_id
        for name, query in queries.items():
            hits = retriever.search(READER, query, 3)
            assert hits and hits[0].chunk.document_id == ids[name], (name, [h.chunk.text[:60] for h in hits])
    finally:
        index.close()
        engine.dispose()
