"""What a file really is, from its first bytes, and whether that matches the name it came with.

Readers pick the format from the user's file name; this check runs first so that no third-party
parser is handed bytes of another type (a zip named `.pdf`, a program named `.docx`).
"""

from __future__ import annotations

import re
import struct

from core.errors import FormatMismatch

HEAD_BYTES = 4096

PDF = "a PDF document"
ZIP = "a zip archive"
OLE = "a legacy Office, HWP or Outlook file (OLE compound file)"
EXE = "a Windows program"
ELF = "a Linux program"
MACHO = "a macOS program"
PNG = "a PNG image"
JPEG = "a JPEG image"
GIF = "a GIF image"
TIFF = "a TIFF image"
BMP = "a BMP image"
WEBP = "a WebP image"
HEIF = "a HEIF image"
GZIP = "a gzip archive"
SEVEN_ZIP = "a 7-Zip archive"
RAR = "a RAR archive"
TAR = "a tar archive"
HTML = "an HTML page"

IMAGES = frozenset({PNG, JPEG, GIF, TIFF, BMP, WEBP, HEIF})
BINARY = frozenset({PDF, ZIP, OLE, EXE, ELF, MACHO, GZIP, SEVEN_ZIP, RAR, TAR}) | IMAGES

_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", ZIP),
    (b"PK\x05\x06", ZIP),
    (b"PK\x07\x08", ZIP),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", OLE),
    (b"\x7fELF", ELF),
    (b"\xcf\xfa\xed\xfe", MACHO),
    (b"\xce\xfa\xed\xfe", MACHO),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"GIF87a", GIF),
    (b"GIF89a", GIF),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
    (b"\x1f\x8b", GZIP),
    (b"7z\xbc\xaf\x27\x1c", SEVEN_ZIP),
    (b"Rar!\x1a\x07", RAR),
)
_HTML = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif"}


def _is_windows_program(head: bytes) -> bool:
    if not head.startswith(b"MZ") or len(head) < 64:
        return False
    (offset,) = struct.unpack_from("<I", head, 0x3C)
    return head[offset : offset + 4] == b"PE\x00\x00" or b"This program cannot be run in DOS" in head


def _is_bmp(head: bytes) -> bool:
    if not head.startswith(b"BM") or len(head) < 18:
        return False
    (reserved,) = struct.unpack_from("<I", head, 6)
    (header_size,) = struct.unpack_from("<I", head, 14)
    return reserved == 0 and header_size in (12, 40, 52, 56, 64, 108, 124)


def detect(head: bytes) -> str | None:
    """A short description of the content type of `head` (a file's first bytes), or None."""
    if head.startswith(b"%PDF-"):
        return PDF
    for prefix, kind in _PREFIXES:
        if head.startswith(prefix):
            return kind
    if _is_windows_program(head):
        return EXE
    if _is_bmp(head):
        return BMP
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return HEIF
    if head[257:262] == b"ustar":
        return TAR
    if _HTML.match(head):
        return HTML
    return None


def expected(ext: str) -> frozenset[str] | None:
    """The content types a file named `*ext` may have; None: any text (binary types are refused)."""
    if ext == ".pdf":
        return frozenset({PDF})
    if ext in (".docx", ".pptx", ".xlsx", ".odt", ".epub", ".hwpx"):
        return frozenset({ZIP})
    if ext in (".hwp", ".msg", ".doc", ".ppt", ".xls"):
        return frozenset({OLE})
    if ext in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".webp"):
        return IMAGES
    return None


def check(head: bytes, ext: str) -> None:
    """Raise `FormatMismatch` when the content of a file named `*ext` is of another type."""
    kind = detect(head)
    allowed = expected(ext)
    if allowed is None:
        if kind in BINARY:
            raise FormatMismatch(f"the file's content is {kind} but its name says {ext}")
        return
    if kind in allowed or (kind is None and PDF in allowed and b"%PDF-" in head[:1024]):
        return
    if kind is None:
        wanted = " or ".join(sorted(allowed)) if len(allowed) <= 2 else "an image"
        raise FormatMismatch(f"the file's content is not {wanted} though its name says {ext}")
    raise FormatMismatch(f"the file's content is {kind} but its name says {ext}")
