"""Build the Teams app package (manifest.json, color.png, outline.png in one zip) to upload in
the Teams admin center or Developer Portal.

    .venv/bin/python deploy/teams/package.py --app-id <Azure Bot app id> \
        --domain sillok.example.com --out sillok-teams.zip

The app id replaces every placeholder GUID (app, bot and resource-specific consent); the
icons are drawn here (a 192x192 colour square and a 32x32 white outline on transparency, as
Teams requires), so the package carries no image from elsewhere.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import zipfile
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
PLACEHOLDER = "00000000-0000-0000-0000-000000000000"
ACCENT = (0x1F, 0x3A, 0x5F)
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


def color_icon() -> bytes:
    """192x192: the accent colour with a white page mark (a document with three lines)."""
    image = Image.new("RGB", (192, 192), ACCENT)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((56, 36, 136, 156), radius=8, outline="white", width=8)
    for y in (72, 96, 120):
        draw.line((76, y, 116, y), fill="white", width=8)
    return _png(image)


def outline_icon() -> bytes:
    """32x32: the same mark in white on a transparent background."""
    image = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rectangle((9, 5, 22, 26), outline=(255, 255, 255, 255), width=2)
    for y in (11, 15, 19):
        draw.line((12, y, 19, y), fill=(255, 255, 255, 255), width=1)
    return _png(image)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def manifest(app_id: str, domain: str) -> dict[str, object]:
    """The manifest with the app id and the web UI's domain filled in."""
    if not _GUID.match(app_id):
        raise SystemExit(f"--app-id must be the Azure Bot's application id (a GUID), got {app_id!r}")
    text = (HERE / "manifest.json").read_text().replace(PLACEHOLDER, app_id.lower())
    data: dict[str, object] = json.loads(text.replace("sillok.example.com", domain))
    return data


def build(app_id: str, domain: str, out: Path) -> Path:
    """Write the zip Teams accepts: the three files at its root."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest(app_id, domain), indent=2, ensure_ascii=False))
        package.writestr("color.png", color_icon())
        package.writestr("outline.png", outline_icon())
    return out


def main() -> None:
    """Command line: --app-id, --domain, --out."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app-id", required=True, help="the Azure Bot's Microsoft App ID")
    parser.add_argument("--domain", required=True, help="the web UI's host name (source links)")
    parser.add_argument("--out", type=Path, default=Path("sillok-teams.zip"))
    args = parser.parse_args()
    print(build(args.app_id, args.domain, args.out))


if __name__ == "__main__":
    main()
