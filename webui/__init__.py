"""Sillok's browser interface: static ES modules, styles and message catalogs served by the API.

`STATIC_DIR` is the folder the API serves at `/ui/` (and `index.html` at `/`). There is no
build step: the files under it are what the browser loads. The one library the UI uses,
markdown-it, is a pinned npm dependency (`package.json`, `package-lock.json`) installed into
`node_modules` by `npm ci`; `VENDOR` names the single file of it the API serves, under
`/ui/vendor/`, so nothing is ever loaded from another server.
"""

from __future__ import annotations

from pathlib import Path

WEBUI_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEBUI_DIR / "static"
NODE_MODULES = WEBUI_DIR / "node_modules"
LANGUAGES = ("en", "ko")
# URL name under /ui/vendor/ -> the installed file it serves (markdown-it's browser ES module).
VENDOR = {"markdown-it.mjs": NODE_MODULES / "markdown-it" / "dist" / "browser" / "markdown-it.esm.min.mjs"}
INSTALL_COMMAND = "npm ci --prefix webui --omit=dev --ignore-scripts"


def catalog_path(language: str) -> Path:
    """The message catalog of one of `LANGUAGES`."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    return STATIC_DIR / "i18n" / f"{language}.json"
