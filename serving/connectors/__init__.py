"""Connector runs: the configured folders and intranet sites, fed into the ingestion queue."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from serving.bootstrap import Container


def sync_all(container: Container) -> None:
    """Synchronise every configured folder and site (filled in with the connectors)."""
    raise NotImplementedError
