"""The limits every parse runs under, as one small picklable value."""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import IngestSettings

MB = 1_000_000


@dataclass(frozen=True)
class ParseLimits:
    """What a single file may cost before it is refused; defaults mirror `IngestSettings`."""

    max_bytes: int = 100 * MB
    max_unpacked_bytes: int = 500 * MB  # zip packages once inflated, nested packages included
    max_pages: int = 5000
    max_image_pixels: int = 100_000_000
    ocr: bool = True
    ocr_languages: str = "kor+eng"
    max_ocr_pages: int = 50  # scanned pages read by OCR per file
    ocr_dpi: int = 300
    ocr_page_timeout_s: float = 120.0
    max_zip_entries: int = 10_000
    max_zip_ratio: int = 200  # inflated/compressed size of one entry of at least 1 MiB
    max_nesting: int = 2  # a package inside a package inside the file, at most
    soffice: str = "soffice"  # LibreOffice, which converts legacy Office files and RTF
    convert_timeout_s: float = 120.0  # one LibreOffice conversion, then the file fails as too slow

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> ParseLimits:
        """The limits configured by `SILLOK_INGEST__*`."""
        return cls(
            max_bytes=settings.max_file_mb * MB,
            max_unpacked_bytes=settings.max_unpacked_mb * MB,
            max_pages=settings.max_pages,
            max_image_pixels=settings.max_image_pixels,
            ocr=settings.ocr,
            ocr_languages=settings.ocr_languages,
            # below the file's own limit, so a slow conversion fails with its reason, not a killed process
            convert_timeout_s=min(cls.convert_timeout_s, settings.parse_timeout_s / 2),
        )
