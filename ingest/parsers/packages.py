"""Zip packages (DOCX, XLSX, PPTX, ODT, EPUB, HWPX) checked before any parser opens them.

The central directory is checked first (entry count, declared sizes, compression ratios, names,
links, encryption), then every entry is inflated once through `zipfile`, which stops at the
declared size and verifies the CRC, so a header that lies fails here. XML parts are scanned for
entity declarations (billion laughs, external entities) and packages inside the package are
checked the same way, against the same budget.
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from core.errors import DocumentTooLarge, EncryptedDocument, MalformedDocument, TooComplex, UnsafeDocument
from ingest.parsers.limits import MB, ParseLimits

_BLOCK = 1 << 20
_RATIO_FLOOR = 1 << 20  # entries smaller than this are never called bombs
_NESTED_MAX = 64 * MB  # an embedded package is inspected in memory up to this size
_ZIP_MAGIC = b"PK\x03\x04"
_XML_START = re.compile(rb"^(?:\xef\xbb\xbf|\xff\xfe|\xfe\xff)?[\s\x00]*<")
_MARKERS = ("<!ENTITY", "<!DOCTYPE")
_INTERNAL_SUBSET = re.compile(r"<!DOCTYPE[^>\[]*\[")


@dataclass
class _Budget:
    """Inflated bytes still allowed, shared by a package and the packages nested in it."""

    left: int
    limit: int

    def spend(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise DocumentTooLarge(
                f"the package would inflate to more than {self.limit / MB:.0f} MB once unpacked "
                "(the limit); it may be a zip bomb"
            )


def _unsafe_name(name: str) -> bool:
    parts = re.split(r"[/\\]", name)
    return (
        name.startswith(("/", "\\")) or bool(re.match(r"^[A-Za-z]:", name)) or "\x00" in name or ".." in parts
    )


def _check_directory(infos: list[zipfile.ZipInfo], size: int, limits: ParseLimits, budget: _Budget) -> None:
    if len(infos) > limits.max_zip_entries:
        raise TooComplex(f"the package holds {len(infos)} entries; the limit is {limits.max_zip_entries}")
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        if _unsafe_name(name):
            raise UnsafeDocument(f"the package contains an entry with an unsafe path ({name[:80]!r})")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UnsafeDocument(f"the package contains a symbolic link ({name[:80]!r})")
        if name in seen:
            raise UnsafeDocument(f"the package contains two entries named {name[:80]!r}")
        seen.add(name)
        if info.flag_bits & 0x1:
            raise EncryptedDocument("the package's entries are encrypted")
        if info.file_size >= _RATIO_FLOOR and info.file_size > limits.max_zip_ratio * max(
            info.compress_size, 1
        ):
            ratio = info.file_size // max(info.compress_size, 1)
            raise TooComplex(
                f"an entry of the package ({name[:80]!r}) inflates {ratio}:1; this is how zip bombs are built"
            )
        budget.spend(info.file_size)
    if sum(info.compress_size for info in infos) > size:
        raise TooComplex("the package's entries overlap one another; this is how zip bombs are built")


def _scan_xml(name: str, first: bytes, rest: IO[bytes], allow_doctype: bool) -> None:
    encoding = "utf-8"
    if first.startswith(b"\xfe\xff") or first.startswith(b"\x00"):
        encoding = "utf-16-be"
    elif first.startswith(b"\xff\xfe") or first[1:2] == b"\x00":
        encoding = "utf-16-le"
    tail = ""
    block = first
    while block:
        text = tail + block.decode(encoding, errors="ignore")
        for marker in _MARKERS:
            if marker in text and (
                marker == "<!ENTITY" or not allow_doctype or _INTERNAL_SUBSET.search(text)
            ):
                raise UnsafeDocument(
                    f"the package part {name[:80]!r} declares a DOCTYPE or entities; "
                    "real documents never do, XML bombs do"
                )
        tail = text[-512:]
        block = rest.read(_BLOCK)
        if encoding != "utf-8" and len(block) % 2:
            block += rest.read(1)


def _inspect(
    archive: zipfile.ZipFile, size: int, limits: ParseLimits, budget: _Budget, depth: int, ext: str
) -> None:
    infos = archive.infolist()
    _check_directory(infos, size, limits, budget)
    for info in infos:
        if info.is_dir():
            continue
        with archive.open(info) as entry:
            first = entry.read(_BLOCK)
            if first.startswith(_ZIP_MAGIC):
                _inspect_nested(info, first, entry, limits, budget, depth)
            elif _XML_START.match(first[:64]):
                _scan_xml(info.filename, first, entry, allow_doctype=ext == ".epub")
            else:
                while entry.read(_BLOCK):
                    pass


def _inspect_nested(
    info: zipfile.ZipInfo, first: bytes, entry: IO[bytes], limits: ParseLimits, budget: _Budget, depth: int
) -> None:
    if depth >= limits.max_nesting:
        raise TooComplex(f"the package nests archives more than {limits.max_nesting} levels deep")
    if info.file_size > _NESTED_MAX:
        raise TooComplex(
            f"the package embeds an archive of {info.file_size / MB:.0f} MB ({info.filename[:80]!r})"
        )
    data = first + entry.read()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as nested:
            _inspect(nested, len(data), limits, budget, depth + 1, "")
    except zipfile.BadZipFile:
        return  # not a package after all: an opaque embedded object


def inspect_package(path: Path, ext: str, limits: ParseLimits) -> None:
    """Raise a `DocumentError` when the zip package at `path` is unsafe or too costly to open."""
    budget = _Budget(limits.max_unpacked_bytes, limits.max_unpacked_bytes)
    try:
        with zipfile.ZipFile(path) as archive:
            _inspect(archive, path.stat().st_size, limits, budget, 1, ext)
    except zipfile.BadZipFile as exc:
        raise MalformedDocument(f"the {ext} package is damaged ({exc})") from exc
    except (NotImplementedError, EOFError, OSError, ValueError, RuntimeError) as exc:
        raise MalformedDocument(
            f"the {ext} package could not be unpacked ({type(exc).__name__}: {exc})"
        ) from exc
