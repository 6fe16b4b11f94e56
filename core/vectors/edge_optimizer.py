"""Builds a Qdrant Edge shard's HNSW graph and int8 copies in a child process, on a copy.

The engine holds the GIL for the whole of `optimize()` (half a minute at 60,000 points, tens of
minutes at a million), which would stop every request of the process that serves searches. So
the index copies its flushed shard, `python -m core.vectors.edge_optimizer COPY` optimises the
copy at a lower CPU priority, and the index swaps the copy in and replays the writes made
meanwhile. A swap a crash cut short is undone by `restore` when the shard is next opened, and
leftovers are removed only by the process that holds the shard (so never a running build's copy).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import qdrant_edge as qe

log = logging.getLogger(__name__)
_OPTIMIZED = "optimized"


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(f"{path.name}.{suffix}")


@contextmanager
def _renaming(path: Path) -> Iterator[None]:
    """Held by whoever renames the shard directory, across processes."""
    with _sibling(path, "lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def copy_of(path: Path) -> Path:
    """Copy a flushed shard directory next to itself; the copy's path. Refused (OSError) unless
    the disk keeps room for the build, which about doubles the copy, so writes never hit a full disk."""
    size = _size(path)
    if shutil.disk_usage(path.parent).free < 3 * size:
        raise OSError(f"{size * 3 // 2**20} MB free needed beside the shard for its graph build")
    copy = _sibling(path, "optimizing")
    shutil.rmtree(copy, ignore_errors=True)
    try:
        shutil.copytree(path, copy)
    except OSError:
        shutil.rmtree(copy, ignore_errors=True)  # a full disk leaves no half copy behind
        raise
    return copy


def optimize_in_child(copy: Path) -> bool:
    """Optimise the shard at `copy` in a child process; True when it built something (the copy
    is removed otherwise, and on failure, which is logged)."""
    result = subprocess.run(  # noqa: S603 (our interpreter and module, no shell)
        [sys.executable, "-m", __name__, str(copy)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        log.warning("vector index optimisation failed: %s", result.stderr.strip()[-2000:])
    if result.returncode != 0 or result.stdout.strip() != _OPTIMIZED:
        shutil.rmtree(copy, ignore_errors=True)
        return False
    return True


def swap_in(path: Path, copy: Path) -> None:
    """Replace the (closed) shard at `path` by the optimised `copy`."""
    old = _sibling(path, "replaced")
    with _renaming(path):
        shutil.rmtree(old, ignore_errors=True)
        path.rename(old)
        copy.rename(path)
    shutil.rmtree(old, ignore_errors=True)


def discard(copy: Path) -> None:
    """Drop an optimised copy that is not swapped in."""
    shutil.rmtree(copy, ignore_errors=True)


def restore(path: Path) -> None:
    """Put back the shard a crash left renamed aside (between the two renames of `swap_in`)."""
    old = _sibling(path, "replaced")
    if not old.exists():
        return
    with _renaming(path):
        if not path.exists() and old.exists():
            old.rename(path)


def remove_leftovers(path: Path) -> None:
    """Drop copies a crash left; only for the process holding the shard (no build is running)."""
    for leftover in (_sibling(path, "replaced"), _sibling(path, "optimizing")):
        shutil.rmtree(leftover, ignore_errors=True)


def main() -> None:
    """Optimise the shard directory named on the command line; print whether anything changed."""
    os.nice(10)  # searches in the parent come first
    shard = qe.EdgeShard.load(sys.argv[1])
    changed = shard.optimize()
    shard.close()
    print(_OPTIMIZED if changed else "unchanged")


if __name__ == "__main__":
    main()
