"""Text from images with the Tesseract command-line program (one page at a time, time-boxed)."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from functools import cache

from PIL import Image

from core.errors import NoTextLayer, ParseTimeout
from core.types import Element
from ingest.parsers.limits import ParseLimits

NOT_AVAILABLE = "the file has no text layer and OCR is not available"


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_THREAD_LIMIT": "1"}  # one thread per page; pages run one by one


@cache
def _installed_languages(binary: str) -> frozenset[str]:
    try:
        listed = subprocess.run(  # noqa: S603 (a fixed argument list, no shell)
            [binary, "--list-langs"], capture_output=True, text=True, timeout=30, check=False, env=_env()
        )
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(line.strip() for line in listed.stdout.splitlines()[1:] if line.strip())


def unavailable_reason(limits: ParseLimits) -> str | None:
    """Why OCR cannot run under `limits` (disabled, no Tesseract, missing language data), or None."""
    if not limits.ocr:
        return "OCR is switched off"
    binary = shutil.which("tesseract")
    if binary is None:
        return "Tesseract is not installed"
    missing = set(limits.ocr_languages.split("+")) - _installed_languages(binary)
    if missing:
        return f"Tesseract lacks the language data {'+'.join(sorted(missing))}"
    return None


def require(limits: ParseLimits) -> None:
    """Raise `NoTextLayer` when OCR cannot run."""
    reason = unavailable_reason(limits)
    if reason is not None:
        raise NoTextLayer(f"{NOT_AVAILABLE} ({reason})")


def recognise(image: Image.Image, limits: ParseLimits) -> str:
    """The text Tesseract reads in `image`, in the configured languages."""
    binary = shutil.which("tesseract") or "tesseract"
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    command = [binary, "stdin", "stdout", "-l", limits.ocr_languages, "--psm", "3"]
    try:
        done = subprocess.run(  # noqa: S603 (a fixed argument list, no shell)
            command,
            input=buffer.getvalue(),
            capture_output=True,
            timeout=limits.ocr_page_timeout_s,
            check=False,
            env=_env(),
        )
    except subprocess.TimeoutExpired as exc:
        raise ParseTimeout(
            f"OCR of one page took longer than {limits.ocr_page_timeout_s:.0f} s; the page may be damaged"
        ) from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        raise NoTextLayer(
            f"{NOT_AVAILABLE} (Tesseract failed: {message[-1] if message else done.returncode})"
        )
    return done.stdout.decode("utf-8", errors="replace")


def page_elements(text: str, page: int) -> list[Element]:
    """Paragraphs of OCR output as elements of `page`; lines with no letter or digit are dropped."""
    elements: list[Element] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [" ".join(line.split()) for line in block.splitlines()]
        kept = [line for line in lines if any(ch.isalnum() for ch in line)]
        if kept:
            elements.append(Element("\n".join(kept), page=page))
    return elements
