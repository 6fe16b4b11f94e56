"""Hostile and broken files, generated here, each with its expected outcome, through one sandboxed
parser: every one fails with a typed, readable error (or is indexed with the text it holds) within
the time limit, and the same parser still reads good files afterwards. A legacy document that
outlasts the converter's time limit is tested with a parser of its own (a one-second limit)."""

from __future__ import annotations

import io
import os
import signal
import stat
import struct
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import pikepdf
import psutil
import pytest
from pikepdf import Dictionary, Name

from core.errors import DocumentError
from core.types import ParsedDocument
from ingest.parsers.limits import MB, ParseLimits
from ingest.parsers.registry import ParserRegistry
from ingest.parsers.sandbox import SandboxedParser
from tests.integration.legacy_files import large_word97, with_stream, word97

pytestmark = pytest.mark.integration

TIMEOUT_S = 6.0
LIMITS = ParseLimits(
    max_bytes=20 * MB,
    max_unpacked_bytes=5 * MB,
    max_pages=5,
    max_image_pixels=50_000_000,
    max_zip_entries=1000,
)


class PoisonRegistry(ParserRegistry):
    """The real registry, plus three extensions that hang, flood memory or crash the process."""

    def parse(self, path: Path, filename: str) -> ParsedDocument:
        ext = Path(filename).suffix
        if ext == ".hang":
            time.sleep(3600)
        if ext == ".hog":
            bytearray(16 << 30)
        if ext == ".crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        return super().parse(path, filename)


@pytest.fixture(scope="module")
def parser() -> Iterator[SandboxedParser]:
    sandbox = SandboxedParser(
        partial(PoisonRegistry, LIMITS.max_bytes, LIMITS), timeout_s=TIMEOUT_S, memory_mb=2048
    )
    sandbox.start()
    yield sandbox
    sandbox.close()


# --- builders: each returns the file's bytes -------------------------------------------------


def text_pdf(pages: list[str]) -> bytes:
    pdf = pikepdf.new()
    font = pdf.make_indirect(Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica))
    for text in pages:
        content = f"BT /F1 14 Tf 72 700 Td ({text}) Tj ET".encode()
        resources = Dictionary(Font=Dictionary(F1=font))
        page = Dictionary(Type=Name.Page, MediaBox=[0, 0, 612, 792], Resources=resources)
        page.Contents = pdf.make_stream(content)
        pdf.pages.append(pikepdf.Page(page))
    out = io.BytesIO()
    pdf.save(out, compress_streams=False)
    return out.getvalue()


def xobject_bomb_pdf() -> bytes:
    """1.5 KB: forms that each draw the previous one 100 times, 10^9 operators in all."""
    pdf = pikepdf.new()
    font = pdf.make_indirect(Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica))
    form = pdf.make_stream(b"q Q\n" * 1000, Type=Name.XObject, Subtype=Name.Form, BBox=[0, 0, 10, 10])
    for _ in range(3):
        form = pdf.make_stream(
            b"/X Do\n" * 100,
            Type=Name.XObject,
            Subtype=Name.Form,
            BBox=[0, 0, 10, 10],
            Resources=Dictionary(XObject=Dictionary(X=form)),
        )
    resources = Dictionary(Font=Dictionary(F1=font), XObject=Dictionary(X=form))
    page = Dictionary(Type=Name.Page, MediaBox=[0, 0, 612, 792], Resources=resources)
    page.Contents = pdf.make_stream(b"BT /F1 12 Tf 72 700 Td (Hello) Tj ET\n/X Do\n")
    pdf.pages.append(pikepdf.Page(page))
    out = io.BytesIO()
    pdf.save(out, compress_streams=True)
    return out.getvalue()


def good_docx(text: str = "The quarterly report is ready.") -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def repacked(base: bytes, extra: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    """A copy of the zip package `base` with extra entries appended."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(base)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            target.writestr(info, source.read(info))
        for name, data in extra:
            target.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def zip_of(entries: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return out.getvalue()


def with_document_xml(xml: bytes) -> bytes:
    """A DOCX whose word/document.xml is replaced by `xml`."""
    base = good_docx()
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(base)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            target.writestr(info, xml if info.filename == "word/document.xml" else source.read(info))
    return out.getvalue()


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1 if i > 1 else "") + ";") * 10}">\n'.encode()
        for i in range(1, 10)
    )
    + b'.]>\n<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    + b"<w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>"
)


def symlink_entry() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("ppt/slides/link.xml")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def understated_size() -> bytes:
    """A DOCX entry whose headers claim 1000 bytes while its data inflates to 2 MB."""
    name = b"word/media/pad.bin"
    data = bytearray(repacked(good_docx(), [(name.decode(), b"A" * 2_000_000)]))
    # (signature, offset of the uncompressed size, of the name length, of the name) in each header
    for signature, size_at, length_at, name_at in ((b"PK\x03\x04", 22, 26, 30), (b"PK\x01\x02", 24, 28, 46)):
        start = data.find(signature)
        while start >= 0:
            (length,) = struct.unpack_from("<H", data, start + length_at)
            if data[start + name_at : start + name_at + length] == name:
                struct.pack_into("<I", data, start + size_at, 1000)
            start = data.find(signature, start + 4)
    return bytes(data)


def nested_zip() -> bytes:
    innermost = zip_of([("c.txt", b"deep")])
    middle = zip_of([("b.zip", innermost)])
    return repacked(good_docx(), [("word/embeddings/a.zip", middle)])


def many_entries() -> bytes:
    return repacked(good_docx(), [(f"word/parts/part{i}.xml", b"<a/>") for i in range(1001)])


def encrypted_entry() -> bytes:
    info = zipfile.ZipInfo("word/secret.xml")
    data = bytearray(repacked(good_docx(), [(info, b"<secret/>")]))
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = data.rfind(signature)
        flags = struct.unpack_from("<H", data, start + flags_at)[0]
        struct.pack_into("<H", data, start + flags_at, flags | 0x1)
    return bytes(data)


def png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 4096))
        + chunk(b"IEND", b"")
    )


def gif_header(width: int, height: int) -> bytes:
    screen = b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00"
    frame = b"," + struct.pack("<HHHH", 0, 0, width, height) + b"\x00" + b"\x02\x02\x44\x01\x00"
    return screen + frame + b";"


def windows_program() -> bytes:
    head = bytearray(512)
    head[0:2] = b"MZ"
    struct.pack_into("<I", head, 0x3C, 0x80)
    head[0x80:0x84] = b"PE\x00\x00"
    head[0x4E:0x72] = b"This program cannot be run in DOS mode."[:36]
    return bytes(head)


def big_attachment_eml() -> bytes:
    import base64

    attachment = base64.encodebytes(os.urandom(3_000_000))
    return (
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: Budget\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\n"
        b"The quarterly budget is attached.\r\n--XX\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename=big.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + attachment
        + b"\r\n--XX--\r\n"
    )


def nested_html(depth: int) -> bytes:
    return b"<html><body>" + b"<div>" * depth + b"deep text" + b"</div>" * depth + b"</body></html>"


def truncated_doc() -> bytes:
    """A real Word 97-2003 document cut off halfway, as an interrupted download leaves it."""
    whole = word97("The board approved the budget.")
    return whole[: len(whole) // 2]


KOREAN_MINUTES = "회의록: 다음 주 월요일 오전 10시에 예산 회의가 있습니다. 모든 팀장은 참석해 주세요. " * 20


@dataclass(frozen=True)
class Case:
    """One hostile file: its name, its bytes, and either the error code or a text it must yield."""

    id: str
    filename: str
    build: Callable[[], bytes]
    code: str | None = None
    says: str = ""  # a fragment of the error message, or of the indexed text when `code` is None
    replaces_process: bool = False


CASES = [
    # zip packages
    Case(
        "zip-bomb-docx",
        "report.docx",
        lambda: repacked(good_docx(), [("word/media/a.bin", bytes(4_000_000))]),
        "too_complex",
        "zip bombs",
    ),
    Case(
        "xml-entity-bomb-docx",
        "laughs.docx",
        lambda: with_document_xml(BILLION_LAUGHS),
        "unsafe_content",
        "DOCTYPE or entities",
    ),
    Case(
        "xml-doctype-utf16-docx",
        "utf16.docx",
        lambda: with_document_xml(
            '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "b">]><x/>'.encode("utf-16")
        ),
        "unsafe_content",
        "DOCTYPE or entities",
    ),
    Case(
        "huge-entry-xlsx",
        "sheet.xlsx",
        lambda: zip_of([("xl/worksheets/sheet1.xml", os.urandom(3_000_000).hex().encode())]),
        "too_large",
        "once unpacked",
    ),
    Case(
        "traversal-entry-docx",
        "evil.docx",
        lambda: repacked(good_docx(), [("../../etc/cron.d/evil", b"x")]),
        "unsafe_content",
        "unsafe path",
    ),
    Case(
        "absolute-entry-xlsx",
        "evil.xlsx",
        lambda: zip_of([("/etc/passwd", b"root")]),
        "unsafe_content",
        "unsafe path",
    ),
    Case(
        "symlink-entry-pptx",
        "link.pptx",
        lambda: repacked(zip_of([("a.xml", b"<a/>")]), [(symlink_entry(), b"/etc/passwd")]),
        "unsafe_content",
        "symbolic link",
    ),
    Case("nested-zips-docx", "nested.docx", nested_zip, "too_complex", "nests archives"),
    Case("too-many-entries-docx", "many.docx", many_entries, "too_complex", "entries"),
    Case("understated-entry-size-docx", "liar.docx", understated_size, "malformed_document", "damaged"),
    Case("encrypted-entry-docx", "locked.docx", encrypted_entry, "encrypted", "encrypted"),
    Case("archive-zip", "photos.zip", lambda: zip_of([("a.txt", b"a")]), "unsupported_format", "archives"),
    # content that is not what its name says
    Case(
        "pdf-that-is-zip",
        "invoice.pdf",
        lambda: zip_of([("a.txt", b"a")]),
        "format_mismatch",
        "a zip archive",
    ),
    Case("docx-that-is-pdf", "memo.docx", lambda: text_pdf(["memo"]), "format_mismatch", "a PDF document"),
    Case("exe-renamed-pdf", "setup.pdf", windows_program, "format_mismatch", "a Windows program"),
    Case(
        "html-renamed-pdf",
        "page.pdf",
        lambda: b"<!DOCTYPE html><html><body>phish</body></html>",
        "format_mismatch",
        "an HTML page",
    ),
    Case("pdf-renamed-txt", "notes.txt", lambda: text_pdf(["notes"]), "format_mismatch", "a PDF document"),
    Case(
        "text-renamed-png",
        "scan.png",
        lambda: b"just some text, not an image",
        "format_mismatch",
        "not an image",
    ),
    # images
    Case("pixel-flood-png", "flood.png", lambda: png_header(30_000, 30_000), "too_large", "megapixels"),
    Case("pixel-flood-gif", "flood.gif", lambda: gif_header(65_535, 65_535), "too_large", "pixels"),
    Case(
        "truncated-png",
        "cut.png",
        lambda: png_header(800, 600)[:40],
        "malformed_document",
        "could not be read",
    ),
    # PDFs
    Case(
        "truncated-pdf",
        "cut.pdf",
        lambda: text_pdf(["one", "two", "three"])[:300],
        "malformed_document",
        "damaged",
    ),
    Case(
        "pdf-over-page-limit",
        "long.pdf",
        lambda: text_pdf([f"page {n}" for n in range(6)]),
        "too_large",
        "the limit is 5",
    ),
    Case("pdf-xobject-bomb", "bomb.pdf", xobject_bomb_pdf, "parse_timeout", "longer than", True),
    # legacy Office (LibreOffice makes the originals here)
    Case("truncated-doc", "minutes.doc", truncated_doc, "malformed_document", "compound file is damaged"),
    Case(
        "doc-without-word-header",
        "minutes.doc",
        lambda: with_stream(word97("The board met."), "WordDocument", b"not a Word stream "),
        "malformed_document",
        "no Word header",
    ),
    Case(  # reaches LibreOffice, which reads nothing from it
        "doc-with-zeroed-body",
        "minutes.doc",
        lambda: with_stream(word97("The board met."), "WordDocument", b"\x00", keep=4),
        "empty_document",
        "no text",
    ),
    Case(
        "zip-renamed-doc", "minutes.doc", lambda: zip_of([("a.txt", b"a")]), "format_mismatch", "zip archive"
    ),
    # text
    Case("empty-file", "empty.txt", lambda: b"", "empty_document", "0 bytes"),
    Case("whitespace-only", "blank.txt", lambda: b" \n\t\r\n  \f ", "empty_document", "no text"),
    Case("binary-garbage-txt", "garbage.txt", lambda: os.urandom(50_000), "malformed_document", "binary"),
    Case("nul-heavy-txt", "nul.txt", lambda: b"hello\x00" * 10_000, "malformed_document", "binary"),
    Case("one-long-line", "line.txt", lambda: b"word " * 1_000_000 + b"needle", None, "needle"),
    Case("invalid-utf8-cp949", "minutes.txt", lambda: KOREAN_MINUTES.encode("cp949"), None, "예산 회의"),
    Case(
        "invalid-utf16",
        "broken.txt",
        lambda: (
            b"\xff\xfe"
            + "Valid text before ".encode("utf-16-le")
            + b"\x00\xd8"
            + " after".encode("utf-16-le")
        ),
        None,
        "Valid text before",
    ),
    Case(
        "utf16-without-bom",
        "plain.txt",
        lambda: "Plain text without a mark".encode("utf-16-le"),
        None,
        "Plain text without a mark",
    ),
    Case("deeply-nested-html", "deep.html", lambda: nested_html(100_000), "too_complex", "255 levels"),
    Case("eml-huge-attachment", "budget.eml", big_attachment_eml, None, "quarterly budget"),
    # names
    Case("no-extension", "README", lambda: b"plain words", "unsupported_format", "(no extension)"),
    Case("directory-like-name", "reports/", lambda: b"plain words", "unsupported_format", "(no extension)"),
    Case("traversal-file-name", "../../etc/passwd.txt", lambda: b"harmless words", None, "harmless words"),
    Case("over-size-limit", "big.txt", lambda: b"a" * (20 * MB + 1), "too_large", "the limit is 20 MB"),
    # the process itself
    Case("parser-hangs", "x.hang", lambda: b"x", "parse_timeout", "longer than 6 s", True),
    Case("parser-floods-memory", "x.hog", lambda: b"x", "too_complex", "memory", True),
    Case("parser-crashes", "x.crash", lambda: b"x", "parser_crashed", "SIGSEGV", True),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_file_has_the_expected_outcome(case: Case, parser: SandboxedParser, tmp_path: Path) -> None:
    stored = tmp_path / "blob"  # stored files are named by hash: the format comes from `filename`
    stored.write_bytes(case.build())
    parser.start()  # a process replaced by the previous case starts here, outside the time limit
    before = parser.pids()
    started = time.monotonic()
    try:
        parsed = parser.parse(stored, case.filename)
    except DocumentError as exc:
        assert case.code is not None, f"{case.id} should be indexed, got {exc.code}: {exc.message}"
        assert exc.code == case.code, f"{case.id}: {exc.code}: {exc.message}"
        assert case.says in exc.message, exc.message
    else:
        assert case.code is None, f"{case.id} should fail with {case.code}"
        assert case.says in "\n".join(e.text for e in parsed.elements)
    assert time.monotonic() - started < TIMEOUT_S + 5
    assert (parser.pids() != before) == case.replaces_process


def test_the_same_parser_still_reads_good_files(parser: SandboxedParser, tmp_path: Path) -> None:
    parser.start()  # the process the last case broke is replaced here
    for name, data, needle in (
        ("report.docx", good_docx("Revenue grew by 12 percent."), "Revenue grew"),
        ("memo.pdf", text_pdf(["Budget approved"]), "Budget approved"),
        ("notes.txt", "연차는 15일입니다.".encode(), "연차는 15일"),
        ("minutes.doc", word97("The board approved the budget."), "board approved"),
    ):
        stored = tmp_path / name
        stored.write_bytes(data)
        started = time.monotonic()
        parsed = parser.parse(stored, name)
        assert needle in "\n".join(e.text for e in parsed.elements)
        assert time.monotonic() - started < TIMEOUT_S


def soffice_processes() -> list[psutil.Process]:
    """Running processes of the converter (their command line names its private profile)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any("sillok-soffice-" in part for part in process.info["cmdline"] or []):
            found.append(process)
    return found


def test_a_doc_that_outlasts_the_converter_limit_fails_and_the_next_file_parses(tmp_path: Path) -> None:
    """A 1 MB document takes LibreOffice seconds; with a one-second limit its conversion is
    killed (the whole process group), its private directory removed, and the parser process,
    which did not hang, reads the next file."""
    slow = tmp_path / "slow"
    slow.write_bytes(large_word97())
    limits = replace(LIMITS, convert_timeout_s=1.0)
    workdirs = set(Path(tempfile.gettempdir()).glob("sillok-soffice-*"))
    with SandboxedParser(
        partial(ParserRegistry, limits.max_bytes, limits), timeout_s=60, memory_mb=2048
    ) as sandbox:
        sandbox.start()
        before = sandbox.pids()
        started = time.monotonic()
        with pytest.raises(DocumentError) as failure:
            sandbox.parse(slow, "minutes.doc")
        seconds = time.monotonic() - started
        assert failure.value.code == "parse_timeout"
        assert failure.value.message.startswith("converting the file with LibreOffice took longer than 1 s")
        assert 1.0 <= seconds < 6.0
        assert sandbox.pids() == before  # only the converter was stopped
        deadline = time.monotonic() + 5
        while soffice_processes() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not soffice_processes()
        assert set(Path(tempfile.gettempdir()).glob("sillok-soffice-*")) == workdirs
        following = tmp_path / "following"
        following.write_bytes(good_docx("Revenue grew by 12 percent."))
        assert "Revenue grew" in sandbox.parse(following, "report.docx").elements[0].text
