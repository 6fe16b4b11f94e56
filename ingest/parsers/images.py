"""Image files (PNG, JPEG, TIFF, ...) read by OCR, one page per frame.

`Image.open` reads only the header, so the pixel count is checked before anything is decoded:
a tiny file that declares 30000 × 30000 pixels is refused without allocating them.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from core.errors import DocumentTooLarge, EmptyDocument, MalformedDocument
from core.types import Element
from ingest.parsers import ocr
from ingest.parsers.limits import ParseLimits


def _register_heif() -> None:
    try:
        from pi_heif import register_heif_opener  # type: ignore[import-untyped]
    except ImportError:  # HEIC files then fail as unreadable images
        return
    register_heif_opener()


def check_pixels(width: int, height: int, limits: ParseLimits) -> None:
    """Raise `DocumentTooLarge` when an image of `width` × `height` exceeds the pixel limit."""
    if width * height > limits.max_image_pixels:
        raise DocumentTooLarge(
            f"the image is {width} × {height} pixels ({width * height / 1e6:.0f} megapixels); "
            f"the limit is {limits.max_image_pixels / 1e6:.0f} megapixels"
        )


def _frames(path: Path, limits: ParseLimits) -> Iterator[tuple[int, Image.Image]]:
    """Each frame as a greyscale image with its 1-based number, decoded only after its size is checked."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limit is checked here
            with Image.open(path) as image:
                check_pixels(*image.size, limits)
                frames = getattr(image, "n_frames", 1)
                if frames > limits.max_ocr_pages:
                    raise DocumentTooLarge(
                        f"the image has {frames} frames; OCR reads at most {limits.max_ocr_pages} per file"
                    )
                for number in range(1, frames + 1):
                    image.seek(number - 1)
                    check_pixels(*image.size, limits)
                    yield number, image.convert("L")
    except Image.DecompressionBombError as exc:
        raise DocumentTooLarge(f"the image has more pixels than allowed ({exc})") from exc
    except (UnidentifiedImageError, OSError, ValueError, EOFError, SyntaxError) as exc:
        raise MalformedDocument(f"the image could not be read ({type(exc).__name__}: {exc})") from exc


def parse_image(path: Path, limits: ParseLimits) -> list[Element]:
    """Text of an image file by OCR; oversized, unreadable and text-free images raise."""
    ocr.require(limits)
    _register_heif()
    elements: list[Element] = []
    for number, frame in _frames(path, limits):
        elements.extend(ocr.page_elements(ocr.recognise(frame, limits), page=number))
    if not elements:
        raise EmptyDocument(f"OCR ({limits.ocr_languages}) found no readable text in the image")
    return elements
