"""Tables in real DOCX, XLSX, PPTX, PDF and HTML files become rows that keep their header.

The files are read by the product's parsers and chunked with the real embedder's token counter:
every chunk of a table split over several starts with the table's header, rows stay whole, no
text is lost, and a question about one row finds a passage where the header stands above that
row, through the real pipeline and retriever (SQLite registry, Qdrant Edge, hybrid search).
Besides the shared files, an 800-row workbook and an HTML table with row spans are generated.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

from core.acl import Acl, Principal
from core.db.engine import make_engine, migrate, session_factory
from core.documents import CONNECTOR_NAMESPACE as NS
from core.documents import DocumentRegistry
from core.intake import Intake
from core.types import DocumentStatus, Element
from core.vectors.qdrant_edge import QdrantEdgeIndex
from ingest.chunking import Chunker, TextChunk
from ingest.parsers.registry import ParserRegistry
from ingest.pipeline import IngestionPipeline
from retrieval.retriever import Retriever
from tests.conftest import DOCS

pytestmark = pytest.mark.integration
READER = Principal("reader", frozenset({"staff"}))
needs_pdfplumber = pytest.mark.skipif(
    find_spec("pdfplumber") is None, reason="pdfplumber (PDF tables) is not installed"
)

# Real files with tables, and a chunk size (real tokens) that splits at least one of them.
SPLIT = [
    ("docx/docx-tables.docx", 16),
    ("pptx/sample-presentation.pptx", 16),
    ("xlsx/vodafone.xlsx", 40),
    ("html/example-10k.html", 200),  # the product's chunk size
    pytest.param("pdf/kbo_only_table.pdf", 200, marks=needs_pdfplumber),
    pytest.param("pdf/kbo_table_text.pdf", 80, marks=needs_pdfplumber),
]


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def own_text(chunk: TextChunk) -> str:
    """A chunk's text without the header it repeats."""
    return chunk.text[len(chunk.repeated_header) :] if chunk.repeated_header else chunk.text


@pytest.fixture(scope="module")
def parser() -> ParserRegistry:
    return ParserRegistry(50_000_000)


@pytest.mark.parametrize(("name", "chunk_tokens"), SPLIT)
def test_every_chunk_of_a_split_table_starts_with_its_header(
    name: str, chunk_tokens: int, parser: ParserRegistry, minilm: Any
) -> None:
    parsed = parser.parse(DOCS / name, Path(name).name)
    tables = [e for e in parsed.elements if e.kind == "table" and e.header and e.header != e.text]
    assert tables, f"{name}: no table with rows under a header"
    chunker = Chunker(minilm.count_tokens, chunk_tokens, 0)
    split = 0
    for table in tables:
        assert table.header is not None and table.text.startswith(table.header)
        chunks = chunker.chunk([table])
        assert squash("".join(own_text(c) for c in chunks)) == squash(table.text)  # nothing lost
        assert all((c.page, c.section) == (table.page, table.section) for c in chunks)
        if len(chunks) == 1:
            continue
        split += 1
        header = table.header
        if minilm.count_tokens(header) <= chunk_tokens:
            assert chunks[0].text.startswith(header) and chunks[0].repeated_header is None
        for chunk in chunks[1:]:
            assert chunk.repeated_header and header.startswith(chunk.repeated_header)
            assert chunk.text.startswith(chunk.repeated_header + "\n")
            if minilm.count_tokens(header) <= chunk_tokens // 2:
                assert chunk.repeated_header == header, f"{name}: the header was cut"
        rows = [r.strip() for r in table.text[len(header) :].split("\n") if r.strip()]
        if all(minilm.count_tokens(f"{header}\n{row}") < chunk_tokens for row in rows):
            own = [chunks[0].text[len(header) :], *(own_text(c) for c in chunks[1:])]
            lines = [line.strip() for text in own for line in text.split("\n") if line.strip()]
            assert lines == rows, f"{name}: a row was broken or moved"
    assert split, f"{name}: no table was split at {chunk_tokens} tokens"


def staff_workbook(path: Path, rows: int) -> Path:
    """One sheet, a header row and `rows` employees."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Directory"
    sheet.append(["Employee ID", "Name", "Department", "Office", "Extension"])
    departments = ["Finance", "Logistics", "Research", "Sales", "Legal", "Support", "Design"]
    for i in range(1, rows + 1):
        sheet.append([f"E{i:04d}", f"Person {i}", departments[i % 7], ["Seoul", "Busan"][i % 2], 40000 + i])
    book.save(path)
    return path


def team_page(path: Path) -> Path:
    """An HTML table whose team cells span the rows of their members."""
    teams = ["Finance", "Logistics", "Research", "Sales", "Legal"]
    body = []
    for t, team in enumerate(teams):
        for m in range(10):
            n = t * 10 + m
            lead = f'<td rowspan="10">{team}</td>' if m == 0 else ""
            body.append(
                f"<tr>{lead}<td>Member {n:02d}</td><td>Room R-{n:02d}</td><td>02-555-01{n:02d}</td></tr>"
            )
    html = (
        "<html><body><h1>Team rooms</h1><table><thead><tr><th>Team</th><th>Member</th><th>Room</th>"
        f"<th>Phone</th></tr></thead><tbody>{''.join(body)}</tbody></table></body></html>"
    )
    path.write_text(html)
    return path


@dataclass
class Indexed:
    retriever: Retriever
    documents: dict[str, str]  # file name -> document id
    chunk_counts: dict[str, int]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, minilm: Any) -> Iterator[Indexed]:
    """The files indexed by the real pipeline at the product's chunk size (200 tokens, 30 overlap)."""
    tmp = tmp_path_factory.mktemp("tables")
    files = {
        name: DOCS / name
        for name in (
            "html/example-10k.html",
            "xlsx/vodafone.xlsx",
            "pdf/kbo_only_table.pdf",
            "pdf/kbo_table_text.pdf",
        )
    }
    files["directory.xlsx"] = staff_workbook(tmp / "directory.xlsx", 800)
    files["teams.html"] = team_page(tmp / "teams.html")
    engine = make_engine(f"sqlite:///{tmp / 'db.sqlite'}")
    migrate(engine)
    index = QdrantEdgeIndex(tmp / "qdrant")
    index.ensure_collection(minilm.dimension, minilm.name)
    registry = DocumentRegistry(session_factory(engine))
    pipeline = IngestionPipeline(
        registry, ParserRegistry(50_000_000), Chunker(minilm.count_tokens, 200, 30), minilm, index
    )
    intake = Intake(registry, tmp / "files")
    documents: dict[str, str] = {}
    counts: dict[str, int] = {}
    for name, path in files.items():
        reg = intake.submit(
            path, namespace=NS, source=f"file:///{name}", acl=Acl.of(public=True), filename=Path(name).name
        )
        outcome = pipeline.process(reg.document_id, reg.version)
        assert outcome.status == DocumentStatus.INDEXED, f"{name}: {outcome.error}"
        documents[name], counts[name] = reg.document_id, outcome.chunks
    try:
        yield Indexed(Retriever(minilm, index, registry.readable_versions), documents, counts)
    finally:
        index.close()
        engine.dispose()


# A question about one row, the row it is about, and the header that must stand above it.
QUESTIONS = [
    pytest.param(
        "html/example-10k.html",
        "Which form and filing date for the Loan Agreement with Breakaway Capital Management?",
        "10.21 | Loan Agreement dated August 29, 2016 with Breakaway Capital Management",
        "Exhibit Number | Description | Form | File No. | Exhibit | Filing Date | Filed Herewith",
        id="html-10k-exhibits",
    ),
    pytest.param(
        "html/example-10k.html",
        "What percent of class do Total Directors, Executive Officers & Beneficial Owners hold?",
        "Total Directors, Executive Officers & Beneficial Owners > 5% |  | 5,315,821",
        "Name of Beneficial Owner | Amount of Beneficial Ownership |  | Percent of Class",
        id="html-10k-ownership",
    ),
    pytest.param(
        "xlsx/vodafone.xlsx",
        "On which page is Mobile ARPU?",
        "Mobile ARPU | Nine quarters to 30 June 2023 | 13",
        "Topic | Period | Page",
        id="xlsx-vodafone",
    ),
    pytest.param(
        "directory.xlsx",
        "What is the extension of employee E0734?",
        "E0734 | Person 734 | Design | Seoul | 40734",
        "Employee ID | Name | Department | Office | Extension",
        id="xlsx-800-rows",
    ),
    pytest.param(
        "teams.html",
        "Which team and room is Member 37 in?",
        "Sales | Member 37 | Room R-37 | 02-555-0137",  # the team comes from a cell spanning rows
        "Team | Member | Room | Phone",
        id="html-row-spans",
    ),
    pytest.param(
        "pdf/kbo_only_table.pdf",
        "비디오 판독 요청은 어떻게 변경되었나?",
        "제28조 [비디오 판독] | - | 수비 시프트 제한 위반 판정에 대해 비디오 판독 요청 가능",
        "구분 | 변경 전 | 변경 후",
        id="pdf-kbo-rules",
        marks=needs_pdfplumber,
    ),
    pytest.param(
        "pdf/kbo_table_text.pdf",
        "4월 토요일 경기개시 시간은?",
        "4월 | 17:00 | 14:00 | 18:30",  # the times come from cells merged over several months
        "구분 | 토요일 | 일요일/공휴일 | 평일",
        id="pdf-kbo-start-times",
        marks=needs_pdfplumber,
    ),
]


@pytest.mark.parametrize(("name", "question", "row", "header"), QUESTIONS)
def test_a_question_about_one_row_finds_it_under_its_header(
    name: str, question: str, row: str, header: str, indexed: Indexed
) -> None:
    hits = indexed.retriever.search(READER, question, 3)
    found = [h.chunk for h in hits if row in h.chunk.text]
    assert found, f"{row!r} not in the top 3: {[h.chunk.text[:80] for h in hits]}"
    passage = found[0]
    assert passage.document_id == indexed.documents[name]
    assert header in passage.text and passage.text.index(header) < passage.text.index(row)


def test_the_large_tables_were_split(indexed: Indexed) -> None:
    assert indexed.chunk_counts["directory.xlsx"] > 40  # 800 rows at 200 tokens a chunk


def test_a_table_element_of_an_unknown_reader_uses_its_first_line(minilm: Any) -> None:
    """Readers that do not mark a header (CSV, HWP) still get it repeated: their first row."""
    rows = [f"{i} | item {i} | {i * 100} won" for i in range(200)]
    table = Element("\n".join(["No | Item | Price", *rows]), kind="table")
    chunks = Chunker(minilm.count_tokens, 200, 30).chunk([table])
    assert len(chunks) > 3 and all(c.text.startswith("No | Item | Price\n") for c in chunks)
