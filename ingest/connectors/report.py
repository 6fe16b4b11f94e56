"""What one connector run did, for logs, metrics and the scheduler."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.documents import Registration


@dataclass(frozen=True)
class Problem:
    """One item a run skipped, refused or failed on, and why."""

    item: str
    reason: str


@dataclass
class SyncReport:
    """Sources that are new, changed, unchanged or removed; failures; versions to process."""

    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    acl_updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)
    to_process: list[Registration] = field(default_factory=list)

    def record(self, source: str, registration: Registration, *, known: bool) -> None:
        """Count one submission; `known` says whether the source was registered before the run."""
        if registration.needs_processing:
            self.to_process.append(registration)
            (self.changed if known else self.new).append(source)
        else:
            self.unchanged += 1
        if registration.acl_changed:
            self.acl_updated.append(source)


@dataclass
class CrawlReport(SyncReport):
    """A sync report plus the crawler's own counts: requests made and refused."""

    fetched: int = 0
    rechecked: int = 0
    refused: list[Problem] = field(default_factory=list)
