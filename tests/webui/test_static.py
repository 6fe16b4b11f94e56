"""The web UI's files without a browser: both message catalogs have the same keys and
placeholders, every key the code uses exists, nothing inline or remote is referenced, no
script parses HTML from a string, and the one vendored library is pinned, installed, ignored by
git and served by Sillok itself."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from serving.api.security import CONTENT_SECURITY_POLICY, SecurityHeaders
from serving.api.webui import mount
from tests.conftest import REPO
from webui import INSTALL_COMMAND, LANGUAGES, STATIC_DIR, VENDOR, WEBUI_DIR, catalog_path

pytestmark = pytest.mark.unit

PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Every way a script can turn a string into markup (or code) is forbidden in the UI's files.
UNSAFE_CALLS = (
    "innerHTML",
    "outerHTML",
    "insertAdjacentHTML",
    "document.write",
    "createContextualFragment",
    "DOMParser",
    "setHTMLUnsafe",
    "parseHTMLUnsafe",
    "srcdoc",
    "eval(",
    "Function(",
)
KEY_FAMILIES = r"(?:admin|app|auth|chat|cite|common|docs|error|lang|nav)"
# Keys built at run time from a value: the families and every value they take.
DYNAMIC = {
    "docs.status.": ["queued", "processing", "indexed", "failed"],
    "admin.scope.": ["search", "chat", "documents:read", "documents:write", "admin"],
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
        in_language = rf"\btFor\(\s*[\w.()]+\s*,\s*(?:[^'()]*\?\s*)?'({KEY_FAMILIES}\.[\w.]+)'"
        keys |= set(re.findall(in_language, source))
        keys |= set(re.findall(rf":\s*'({KEY_FAMILIES}\.[\w.]+)'\)", source))  # tFor(l, c ? 'a.b' : 'c.d')
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
        "refusal": (var["refusal-text"], var["refusal-bg"]),
        "verified": (var["ok-text"], var["ok-bg"]),
        "unsupported badge": (var["warn-text"], "#fde68a"),
    }
    low = {name: round(contrast(*colours), 2) for name, colours in pairs.items() if contrast(*colours) < 4.5}
    assert low == {}
    for name, (foreground, background) in pairs.items():
        assert foreground.lower() in css.lower() or foreground == white, name
        assert background.lower() in css.lower(), name


def test_markdown_is_built_from_tokens_never_from_rendered_html() -> None:
    source = (STATIC_DIR / "js" / "markdown.js").read_text(encoding="utf-8")
    assert "html: false" in source
    assert set(re.findall(r"\bparser\.(\w+)\(", source)) == {"parse", "disable"}  # never .render()
    importers = [p.name for p in scripts() if "vendor/" in p.read_text(encoding="utf-8")]
    assert importers == ["markdown.js"]
    assert re.findall(r"'\.\./vendor/([\w.-]+)'", source) == list(VENDOR)


def test_markdown_it_is_pinned_installed_and_ignored_by_git() -> None:
    package = json.loads((WEBUI_DIR / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((WEBUI_DIR / "package-lock.json").read_text(encoding="utf-8"))
    wanted = package["dependencies"]
    assert set(wanted) == {"markdown-it"} and not package.get("devDependencies")
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", version) for version in wanted.values()), wanted
    assert lock["packages"][""]["dependencies"] == wanted
    locked = lock["packages"]["node_modules/markdown-it"]
    assert locked["version"] == wanted["markdown-it"] and locked["integrity"].startswith("sha512-")
    for name, entry in lock["packages"].items():
        if name:  # every installed package is checked against its recorded hash
            assert entry["integrity"].startswith("sha512-"), name
    installed = json.loads((WEBUI_DIR / "node_modules" / "markdown-it" / "package.json").read_text())
    assert installed["version"] == wanted["markdown-it"], f"run {INSTALL_COMMAND}"
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "webui/node_modules/markdown-it/package.json"], cwd=REPO, check=False
    )
    assert ignored.returncode == 0, "webui/node_modules must not be committed"
    tracked = subprocess.run(
        ["git", "ls-files", "webui/node_modules"], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert tracked.stdout == ""


def test_the_vendor_file_is_served_by_sillok_under_the_csp() -> None:
    app = FastAPI()
    mount(app)
    app.add_middleware(SecurityHeaders)
    with TestClient(app) as client:
        for name, path in VENDOR.items():
            assert path.is_file(), f"{path} is missing: run {INSTALL_COMMAND}"
            reply = client.get(f"/ui/vendor/{name}")
            assert reply.status_code == 200
            assert reply.headers["content-type"].startswith("text/javascript")
            assert reply.content == path.read_bytes()
            assert reply.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert b"export" in reply.content and b"eval(" not in reply.content
        for other in ("markdown-it.min.js", "../node_modules/markdown-it/package.json", "x.mjs"):
            assert client.get(f"/ui/vendor/{other}").status_code == 404
        assert client.get("/ui/js/markdown.js").status_code == 200
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe" not in CONTENT_SECURITY_POLICY
