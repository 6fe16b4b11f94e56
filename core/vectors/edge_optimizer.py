"""Builds a Qdrant Edge shard's HNSW graph and int8 copies in a child process, on a copy.

The engine holds the GIL for the whole of `optimize()` (half a minute at 60,000 points, tens of
minutes at a million), which would stop every request of the process that serves searches. So
the index copies its flushed shard, `python -m core.vectors.edge_optimizer COPY` optimises the
copy at a lower CPU priority, and the index swaps the copy in and replays the writes made
meanwhile. A swap a crash cut short is undone by `recover` when the shard is next opened.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import qdrant_edge as qe

log = logging.getLogger(__name__)
_OPTIMIZED = "optimized"


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(f"{path.name}.{suffix}")


def copy_of(path: Path) -> Path:
    """Copy a flushed shard directory next to itself; the copy's path."""
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
    shutil.rmtree(old, ignore_errors=True)
    path.rename(old)
    copy.rename(path)
    shutil.rmtree(old, ignore_errors=True)


def discard(copy: Path) -> None:
    """Drop an optimised copy that is not swapped in."""
    shutil.rmtree(copy, ignore_errors=True)


def recover(path: Path) -> None:
    """Put back the shard a crash left renamed aside, and drop unfinished copies."""
    old = _sibling(path, "replaced")
    if not path.exists() and old.exists():
        old.rename(path)
    for leftover in (old, _sibling(path, "optimizing")):
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
