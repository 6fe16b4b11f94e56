"""HWP 5 reading on record streams written here (tables, text boxes, pages), and the distribution
document cipher checked both ways: a section encrypted as the format specifies is read back."""

from __future__ import annotations

import random
import struct
import zlib

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from core.errors import DocumentTooLarge, MalformedDocument
from core.types import Element
from ingest.parsers import hwp5
from ingest.parsers.hwp5 import para_text, section_elements, section_stream
from ingest.parsers.hwp5_distribution import RECORD_SIZE, aes_key, msvc_rand, record_header, scramble
from ingest.parsers.hwp_pages import Pager

BUDGET = 10_000_000
TAG_SHAPE_COMPONENT = 0x10 + 60


def record(tag: int, level: int, data: bytes) -> bytes:
    return struct.pack("<I", tag | level << 10 | len(data) << 20) + data


def text_data(text: str) -> bytes:
    return (text + "\r").encode("utf-16-le")


def paragraph(level: int, text: str, *positions: int, kind: int = 0, controls: bytes = b"") -> bytes:
    """A paragraph at `level`: header (break `kind`), text, line layout, then its controls."""
    header = struct.pack("<IIHBB", len(text) + 1, 0, 0, 0, kind) + bytes(10)
    lines = b"".join(struct.pack("<Ii", 0, v) + bytes(28) for v in positions)
    body = record(hwp5.TAG_PARA_HEADER, level, header) + record(
        hwp5.TAG_PARA_TEXT, level + 1, text_data(text)
    )
    if positions:
        body += record(hwp5.TAG_PARA_LINE_SEG, level + 1, lines)
    return body + controls


def table(level: int, cells: list[tuple[int, int, bytes]], caption: bytes = b"") -> bytes:
    """A table control at `level`; `cells` are (row, col, paragraphs one level deeper)."""
    out = record(hwp5.TAG_CTRL_HEADER, level, b" lbt" + bytes(40)) + caption
    out += record(hwp5.TAG_TABLE, level + 1, struct.pack("<IHH", 0, 2, 2))
    for row, col, paragraphs in cells:
        out += record(hwp5.TAG_LIST_HEADER, level + 1, struct.pack("<hHIHHHH", 1, 0, 0, col, row, 1, 1))
        out += paragraphs
    return out


def text_box(level: int, text: str) -> bytes:
    """A drawing object holding a text box: `gso ` control, shape component, list, paragraph."""
    shape = record(hwp5.TAG_CTRL_HEADER, level, b" osg" + bytes(40))
    shape += record(TAG_SHAPE_COMPONENT, level + 1, bytes(200))
    shape += record(hwp5.TAG_LIST_HEADER, level + 2, struct.pack("<hHI", 1, 0, 0) + bytes(8))
    return shape + paragraph(level + 2, text, 0)


def read(stream: bytes) -> list[Element]:
    pager = Pager()
    return pager.finish(section_elements(stream, pager))


def test_control_characters_in_paragraph_text() -> None:
    tab = [9] + [0] * 6 + [9]
    table_anchor = [11] + [0] * 6 + [11]
    field = [3] + [0] * 6 + [3]
    units = [
        *map(ord, "앞"),
        *tab,
        *map(ord, "뒤"),
        *table_anchor,
        *map(ord, "표"),
        *field,
        *map(ord, "끝"),
        13,
    ]
    assert para_text(struct.pack(f"<{len(units)}H", *units)) == "앞 뒤 표끝"


def test_a_table_gives_one_element_of_rows_with_its_caption_before_it() -> None:
    cells = [
        (0, 0, paragraph(2, "제목", 0)),
        (0, 1, paragraph(2, "담당자", 0)),
        (1, 0, paragraph(2, "셀 편집", 0) + paragraph(2, "둘째 줄", 1600)),
    ]
    caption = record(hwp5.TAG_LIST_HEADER, 2, bytes(16)) + paragraph(2, "표 1 업무", 0)
    stream = paragraph(0, "본문", 0) + paragraph(0, "", 1600, controls=table(1, cells, caption))
    elements = read(stream)
    assert [(e.kind, e.text) for e in elements] == [
        ("text", "본문"),
        ("text", "표 1 업무"),
        ("table", "제목 | 담당자\n셀 편집 둘째 줄 | "),
    ]


def test_nested_tables_and_text_boxes_in_cells_are_read_once() -> None:
    inner = table(3, [(0, 0, paragraph(4, "안쪽", 0)), (0, 1, paragraph(4, "표", 0))])
    in_cell = paragraph(2, "바깥", 0, controls=inner + text_box(3, "칸 속 상자"))
    stream = paragraph(0, "", 0, controls=table(1, [(0, 0, in_cell), (0, 1, paragraph(2, "옆", 0))]))
    assert [(e.kind, e.text) for e in read(stream)] == [
        ("table", "바깥 칸 속 상자 | 옆"),
        ("table", "안쪽 | 표"),
    ]


def test_text_boxes_follow_the_paragraph_that_anchors_them() -> None:
    stream = paragraph(0, "본문 글", 0, controls=text_box(1, "글상자 안")) + paragraph(0, "다음", 1600)
    assert [e.text for e in read(stream)] == ["본문 글", "글상자 안", "다음"]


def test_pages_from_page_breaks_and_line_positions() -> None:
    stream = (
        paragraph(0, "하나", 0)
        + paragraph(0, "여전히 하나", 1600)
        + paragraph(0, "둘", 0)
        + paragraph(0, "쪽 나누기로 셋", 1600, kind=0x04)
        + paragraph(0, "셋에서 넷으로", 3200, 0)
        + paragraph(0, "넷", 1600)
    )
    assert [e.page for e in read(stream)] == [1, 1, 2, 3, 3, 4]


def test_without_line_layout_no_page_is_claimed() -> None:
    stream = paragraph(0, "배치 없음") + paragraph(0, "쪽 나누기", kind=0x04)
    assert [e.page for e in read(stream)] == [None, None]


def test_msvc_rand_matches_the_c_runtime() -> None:
    seed, values = 1, []
    for _ in range(5):
        seed, value = msvc_rand(seed)
        values.append(value)
    assert values == [41, 18467, 6334, 26500, 19169]  # srand(1); rand() x 5 with the MS C runtime


def distribution_stream(section: bytes, compress: bool = True) -> tuple[bytes, bytes]:
    """A `ViewText` stream holding `section`, built as the specification describes; and its key."""
    rng = random.Random(len(section))  # fixed bytes: the test reads the same way every run
    key = rng.randbytes(16)
    plain = bytearray(rng.randbytes(RECORD_SIZE))
    offset = 4 + (plain[0] & 0xF)
    plain[offset : offset + 16] = key
    stored = zlib.compress(section)[2:-4] if compress else section  # raw deflate, as HWP stores it
    padded = stored + bytes(-len(stored) % 16)
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    body = encryptor.update(padded) + encryptor.finalize()
    return record_header() + scramble(bytes(plain)) + body, key


def test_the_key_record_scrambles_and_unscrambles() -> None:
    plain = bytes(range(256))
    scrambled = scramble(plain)
    assert scrambled[:4] == plain[:4] and scrambled != plain
    assert scramble(scrambled) == plain


def test_a_distribution_section_is_decrypted_and_inflated() -> None:
    section = paragraph(0, "배포용 문서 본문", 0) + paragraph(
        0, "", 1600, controls=table(1, [(0, 0, paragraph(2, "칸", 0))])
    )
    stream, key = distribution_stream(section)
    assert aes_key(stream[4 : 4 + RECORD_SIZE]) == key
    decoded = section_stream(stream, hwp5.FLAG_COMPRESSED | hwp5.FLAG_DISTRIBUTION, BUDGET)
    assert decoded == section
    assert [e.text for e in read(decoded)] == ["배포용 문서 본문", "칸"]
    uncompressed, _ = distribution_stream(section, compress=False)
    assert section_stream(uncompressed, hwp5.FLAG_DISTRIBUTION, BUDGET).startswith(section)


def test_a_wrong_key_or_a_missing_key_record_fails_clearly() -> None:
    stream, _ = distribution_stream(paragraph(0, "본문", 0))
    damaged = stream[:4] + bytes(RECORD_SIZE) + stream[4 + RECORD_SIZE :]  # the key is gone
    with pytest.raises(MalformedDocument, match="damaged"):
        section_stream(damaged, hwp5.FLAG_COMPRESSED | hwp5.FLAG_DISTRIBUTION, BUDGET)
    with pytest.raises(MalformedDocument, match="key record"):
        section_stream(paragraph(0, "본문", 0) * 20, hwp5.FLAG_DISTRIBUTION, BUDGET)


def test_a_section_that_inflates_past_the_budget_is_refused() -> None:
    bomb = zlib.compress(bytes(5_000_000))[2:-4]
    with pytest.raises(DocumentTooLarge, match="decompression bomb"):
        section_stream(bomb, hwp5.FLAG_COMPRESSED, 1_000_000)
