"""Legacy Office files made at test time with the installed LibreOffice, and ways to damage them."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import olefile
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "legacy"


def require_libreoffice() -> None:
    """Skip the calling test without LibreOffice (fail on CI, where scripts/install provides it)."""
    if shutil.which("soffice") is None:
        if os.environ.get("CI"):
            pytest.fail("LibreOffice (soffice) is not installed; scripts/install installs it")
        pytest.skip("LibreOffice (soffice) is not installed")


def docx_bytes(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    """A DOCX with these paragraphs and, optionally, one table."""
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=0, cols=len(table[0]))
        for values in table:  # row by row: `grid.cell(r, c)` takes time quadratic in the rows
            for cell, text in zip(grid.add_row().cells, values, strict=True):
                cell.text = text
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def saved_as(data: bytes, source: str, target: str) -> bytes:
    """`data` (a file of extension `source`) saved by LibreOffice in the format of `target`."""
    require_libreoffice()
    with tempfile.TemporaryDirectory(prefix="sillok-test-lo-") as folder:
        work = Path(folder)
        (work / f"in{source}").write_bytes(data)
        subprocess.run(
            [
                "soffice",
                "--headless",
                f"-env:UserInstallation={(work / 'profile').as_uri()}",
                "--convert-to",
                target.lstrip("."),
                "--outdir",
                str(work / "out"),
                str(work / f"in{source}"),
            ],
            capture_output=True,
            timeout=300,
            check=True,
            env={**os.environ, "HOME": folder},
        )
        return (work / "out" / f"in{target}").read_bytes()


@cache
def word97(text: str) -> bytes:
    """A real Word 97-2003 document holding one paragraph."""
    return saved_as(docx_bytes([text]), ".docx", ".doc")


@cache
def large_word97() -> bytes:
    """A 1 MB Word 97-2003 document (3,000 paragraphs and a 400-row table): LibreOffice takes
    seconds to convert it, far longer than a one-second limit."""
    paragraphs = [f"Paragraph {i}: the budget of department {i % 37} was approved." for i in range(3000)]
    table = [[f"r{r}c{c}" for c in range(6)] for r in range(400)]
    return saved_as(docx_bytes(paragraphs, table), ".docx", ".doc")


def with_stream(compound: bytes, name: str, fill: bytes, keep: int = 0) -> bytes:
    """A copy of the compound file `compound` whose stream `name`, after its first `keep` bytes,
    is overwritten by `fill`, repeated."""
    with tempfile.TemporaryDirectory(prefix="sillok-test-ole-") as folder:
        path = Path(folder) / "file"
        path.write_bytes(compound)
        with olefile.OleFileIO(str(path), write_mode=True) as ole:
            size = ole.get_size(name)
            head = ole.openstream(name).read(keep)
            ole.write_stream(name, (head + fill * (size // len(fill) + 1))[:size])
        return path.read_bytes()
