"""LibreOffice headless as a converter: one file in, one file of a modern format out.

Each conversion runs `soffice --headless --convert-to` with the import filter forced (LibreOffice
never guesses another format, or falls back to reading the bytes as text), in a private working
directory with its own profile (both removed afterwards), in its own process group, with an
environment of its own (no proxy settings) and, where the kernel lets an unprivileged user make
one, in a network namespace with nothing but loopback (`unshare --net --map-root-user`). It
inherits the parser process's address-space limit. At its time limit the whole group is killed;
`timeout(1)` also bounds it, should the parser process itself be killed mid-conversion.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import structlog

from core.errors import MalformedDocument, ParseTimeout, UnsupportedFormat

log = structlog.get_logger(__name__)
_GRACE_S = 10.0  # timeout(1) fires this much later than our own limit: only when we are gone
_COULD_NOT_LOAD = "source file could not be loaded"
_PACKAGES = "libreoffice-core-nogui and libreoffice-writer-nogui, -calc-nogui, -impress-nogui"


def installed(soffice: str) -> bool:
    """True when the LibreOffice program `soffice` (a name on PATH or a path) can be run."""
    return shutil.which(soffice) is not None


def not_installed(soffice: str, what: str) -> UnsupportedFormat:
    """The error for a file that needs LibreOffice where it is not installed."""
    return UnsupportedFormat(
        f"LibreOffice is not installed ({soffice} was not found), and {what} files are read by "
        f"converting them with it; an administrator can install {_PACKAGES} (scripts/install does)"
    )


@cache
def network_isolation() -> tuple[str, ...]:
    """The command prefix that cuts a program off the network, or () where this system refuses it."""
    unshare = shutil.which("unshare")
    if unshare is None:
        log.warning("libreoffice_network_not_isolated", reason="unshare (util-linux) is not installed")
        return ()
    prefix = (unshare, "--net", "--map-root-user")
    try:
        probe = subprocess.run(  # noqa: S603 (a fixed argument list, no shell)
            [*prefix, "true"], capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("libreoffice_network_not_isolated", reason=str(exc))
        return ()
    if probe.returncode != 0:
        reason = probe.stderr.decode(errors="replace").strip() or f"exit status {probe.returncode}"
        log.warning("libreoffice_network_not_isolated", reason=reason)
        return ()
    return prefix


def _deadline(timeout_s: float) -> tuple[str, ...]:
    program = shutil.which("timeout")
    return (program, "--signal=KILL", f"{timeout_s + _GRACE_S:g}") if program else ()


def _environment(work: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(work),
        "TMPDIR": str(work),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def _run(command: list[str], work: Path, timeout_s: float) -> tuple[int, str]:
    process = subprocess.Popen(  # noqa: S603 (a fixed argument list, no shell)
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=work,
        env=_environment(work),
        process_group=0,
    )
    try:
        output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise ParseTimeout(
            f"converting the file with LibreOffice took longer than {timeout_s:g} s; "
            "it may be damaged or built to exhaust the converter"
        ) from None
    except BaseException:
        _kill_group(process)
        raise
    return process.returncode, output.decode("utf-8", errors="replace")


@contextlib.contextmanager
def converted(
    path: Path, *, source: str, infilter: str, target: str, what: str, soffice: str, timeout_s: float
) -> Iterator[Path]:
    """The file at `path` (of extension `source`, read with the import filter `infilter`) converted
    to `target` (".docx", ".pptx", ".xlsx"); the result is deleted when the block ends.

    Raises `UnsupportedFormat` without LibreOffice, `ParseTimeout` after `timeout_s` and
    `MalformedDocument` when LibreOffice cannot read the file; `what` names the format for people.
    """
    program = shutil.which(soffice)
    if program is None:
        raise not_installed(soffice, what)
    work = Path(tempfile.mkdtemp(prefix="sillok-soffice-"))
    try:
        original = work / f"original{source}"
        shutil.copyfile(path, original)
        out = work / "out"
        command = [
            *network_isolation(),
            *_deadline(timeout_s),
            program,
            "--headless",
            "--invisible",
            "--norestore",
            "--nologo",
            "--nodefault",
            "--nolockcheck",
            f"-env:UserInstallation={(work / 'profile').as_uri()}",
            f"--infilter={infilter}",
            "--convert-to",
            target.lstrip("."),
            "--outdir",
            str(out),
            str(original),
        ]
        started = time.monotonic()
        status, output = _run(command, work, timeout_s)
        results = sorted(out.glob(f"*{target}")) if out.is_dir() else []
        seconds = round(time.monotonic() - started, 2)
        if not results:
            log.info("libreoffice_failed", status=status, seconds=seconds, output=output[-2000:])
            if _COULD_NOT_LOAD in output:
                raise MalformedDocument(
                    f"LibreOffice could not open the file; it is damaged or not a real {what}"
                )
            raise MalformedDocument(
                f"LibreOffice could not convert the file (it ended with exit status {status})"
            )
        log.info("libreoffice_converted", source=source, target=target, seconds=seconds)
        yield results[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)
