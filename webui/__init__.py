"""Sillok's browser interface: static ES modules, styles and message catalogs served by the API.

`STATIC_DIR` is the folder the API serves at `/ui/` (and `index.html` at `/`). There is no
build step: the files under it are what the browser loads.
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
LANGUAGES = ("en", "ko")


def catalog_path(language: str) -> Path:
    """The message catalog of one of `LANGUAGES`."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    return STATIC_DIR / "i18n" / f"{language}.json"
