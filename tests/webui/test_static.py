"""The web UI's files without a browser: both message catalogs have the same keys and
placeholders, every key the code uses exists, and nothing inline or remote is referenced."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from webui import LANGUAGES, STATIC_DIR, catalog_path

pytestmark = pytest.mark.unit

PLACEHOLDER = re.compile(r"\{(\w+)\}")
UNSAFE_CALLS = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function(")
# Keys built at run time from a value: the families and every value they take.
DYNAMIC = {
    "docs.status.": ["queued", "processing", "indexed", "failed"],
    "docs.errorCode.": [
        "unsupported_format",
        "encrypted",
        "empty_document",
        "no_text_layer",
        "malformed_document",
        "too_large",
        "format_mismatch",
        "unsafe_content",
        "too_complex",
        "parse_timeout",
        "parser_crashed",
        "document_failed",
    ],
    "admin.service.": ["database", "vector_index", "broker"],
}


def catalog(language: str) -> dict[str, str]:
    data = json.loads(catalog_path(language).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return {str(k): str(v) for k, v in data.items()}


def scripts() -> list[Path]:
    return sorted((STATIC_DIR / "js").glob("*.js"))


def used_keys() -> set[str]:
    keys: set[str] = set()
    for path in scripts():
        source = path.read_text(encoding="utf-8")
        keys |= set(re.findall(r"\bt\(\s*'([\w.]+)'", source))
        keys |= set(re.findall(r"\?\s*'([a-z]+\.[\w.]+)'\s*:", source))  # t(cond ? 'a.b' : …)
        keys |= set(re.findall(r"'data-i18n(?:-[\w-]+)?':\s*'([\w.]+)'", source))
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    keys |= set(re.findall(r'data-i18n(?:-[\w-]+)?="([\w.]+)"', html))
    return keys


def test_both_catalogs_have_the_same_keys_and_placeholders() -> None:
    english, korean = catalog("en"), catalog("ko")
    assert set(LANGUAGES) == {"en", "ko"}
    assert sorted(english) == sorted(korean)
    for key, text in english.items():
        assert text.strip() and korean[key].strip(), key
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(korean[key])), key


def test_the_korean_catalog_is_korean() -> None:
    korean = catalog("ko")
    hangul = [k for k, v in korean.items() if re.search(r"[가-힣]", v)]
    same = {"docs.statusChanged"}  # placeholders only
    assert set(korean) - set(hangul) <= same


def test_every_key_the_ui_uses_exists() -> None:
    english = catalog("en")
    used = used_keys()
    assert len(used) > 150
    assert sorted(used - set(english)) == []
    for prefix, values in DYNAMIC.items():
        for value in values:
            assert prefix + value in english
    families = tuple(DYNAMIC)
    unused = {k for k in english if not k.startswith(families)} - used
    assert sorted(unused) == []


def test_no_inline_code_and_nothing_remote() -> None:
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []  # every script is a file
    assert "<style" not in html and " style=" not in html
    assert re.findall(r"\son[a-z]+\s*=", html) == []
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.suffix not in {".html", ".js", ".css", ".json", ".svg"}:
            continue
        text = path.read_text(encoding="utf-8")
        remote = re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s'\")]*", text)
        remote = [u for u in remote if "www.w3.org/2000/svg" not in u]
        assert remote == [], f"{path.name} refers to {remote}"
        for unsafe in UNSAFE_CALLS:
            assert unsafe not in text, f"{path.name} uses {unsafe}"
        if "localStorage" in text:  # the language preference, and nothing else, is stored
            assert path.name == "i18n.js"


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    """The WCAG 2 contrast ratio of two #rrggbb colours."""
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_text_colours_meet_wcag_aa_contrast() -> None:
    css = (STATIC_DIR / "app.css").read_text(encoding="utf-8")
    var = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})\s*;", css))
    white = "#ffffff"
    pairs = {
        "body text": (var["text"], var["bg"]),
        "text on cards": (var["text"], var["surface"]),
        "secondary text": (var["muted"], var["bg"]),
        "secondary text on cards": (var["muted"], var["surface-alt"]),
        "primary buttons": (white, var["primary"]),
        "links": (var["primary"], var["surface"]),
        "questions, selected items": (var["primary-text"], var["primary-soft"]),
        "danger buttons": (white, var["danger"]),
        "not-grounded notice": (var["warn-text"], var["warn-bg"]),
        "indexed": (var["ok-text"], var["ok-bg"]),
        "failed": (var["err-text"], var["err-bg"]),
        "queued": ("#374151", "#e5e7eb"),
        "private chip": ("#581c87", "#f3e8ff"),
        "user chip": ("#164e63", "#ecfeff"),
        "highlighted passage": (var["text"], var["mark"]),
    }
    low = {name: round(contrast(*colours), 2) for name, colours in pairs.items() if contrast(*colours) < 4.5}
    assert low == {}
    for name, (foreground, background) in pairs.items():
        assert foreground.lower() in css.lower() or foreground == white, name
        assert background.lower() in css.lower(), name
