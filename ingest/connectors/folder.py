"""Keep the registry in step with a folder: submit every file, remove documents whose file is gone.

Sources are `file://` URIs of resolved paths. Hidden files and folders (names starting with
`.`) are skipped, symbolic links to folders are not followed, a link to a file counts only when
the file lies inside the root, and only regular files are read (never a FIFO or a device).
Submitting is idempotent by content, so an unchanged file changes nothing and a changed one
becomes a new version. A file that cannot be read is reported and kept: its document is not
removed, and neither are the documents below a folder that could not be listed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from core.errors import SillokError
from core.settings import AclRule
from ingest.connectors.report import Problem, SyncReport
from ingest.connectors.rules import acl_for
from ingest.connectors.sink import DocumentSink


def folder_prefix(root: Path) -> str:
    """The prefix of every source below `root`, ending with `/`."""
    uri = root.resolve().as_uri()
    return uri if uri.endswith("/") else uri + "/"


def sync_folder(root: Path, sink: DocumentSink, rules: Sequence[AclRule]) -> SyncReport:
    """Submit every file below `root` and remove the documents of files that no longer exist.

    A missing root raises `FileNotFoundError` (or `NotADirectoryError`) instead of being taken
    for an empty folder, which would remove every document registered from it.
    """
    base = root.resolve(strict=True)
    if not base.is_dir():
        raise NotADirectoryError(f"{root} is not a folder")
    known = sink.sources(folder_prefix(base))
    report = SyncReport()
    present: set[str] = set()
    unlisted: list[str] = []
    for path in _files(base, report, unlisted):
        source = path.as_uri()
        if source in present:
            continue
        present.add(source)
        try:
            registration = sink.submit(path, source=source, acl=acl_for(source, rules), filename=path.name)
        except (OSError, SillokError) as exc:
            report.errors.append(Problem(source, f"{type(exc).__name__}: {exc}"))
            continue
        report.record(source, registration, known=source in known)
    for source in sorted(known - present):
        if not any(source.startswith(prefix) for prefix in unlisted):
            sink.remove(source)
            report.removed.append(source)
    return report


def _files(base: Path, report: SyncReport, unlisted: list[str]) -> Iterator[Path]:
    """Regular, non-hidden files below `base` (resolved), recording what is skipped or unlisted."""

    def unreadable(exc: OSError) -> None:
        folder = Path(str(exc.filename))
        report.errors.append(Problem(folder.as_uri(), f"cannot list the folder: {exc.strerror}"))
        unlisted.append(folder_prefix(folder))

    for dirpath, dirnames, filenames in os.walk(base, onerror=unreadable, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath, name)
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(base):
                    report.skipped.append(Problem(path.as_uri(), "symbolic link out of the folder"))
                    continue
                if any(part.startswith(".") for part in target.relative_to(base).parts):
                    continue
                path = target
            if not path.is_file():
                report.skipped.append(Problem(path.as_uri(), "not a regular file"))
                continue
            yield path
