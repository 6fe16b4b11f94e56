"""Connector runs: folders and intranet sites, taken in and queued like any other file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import structlog

from core.acl import Acl
from core.documents import CONNECTOR_NAMESPACE, DocumentRegistry, Registration
from core.errors import InvalidInput
from core.intake import Intake
from core.ports import WorkQueue
from core.settings import AclRule, ConnectorSettings
from core.users import UserDirectory
from ingest.connectors.folder import sync_folder
from ingest.connectors.report import SyncReport
from ingest.connectors.web import crawl

log = structlog.get_logger(__name__)


class QueueSink:
    """A `DocumentSink` that takes files in and queues what they need; remembers what it took.

    Every source it writes lives in the connector namespace: an upload naming the same path or
    URL is another user's document, and can neither replace nor delete these.

    Without a queue it only registers: the reconciler of the process that owns the queue finds
    the new versions and pending ACLs in the registry.
    """

    def __init__(self, intake: Intake, registry: DocumentRegistry, queue: WorkQueue | None) -> None:
        self._intake = intake
        self._registry = registry
        self._queue = queue
        self.taken: list[tuple[Path, Registration]] = []

    def submit(
        self,
        path: Path,
        *,
        source: str,
        acl: Acl,
        title: str | None = None,
        filename: str | None = None,
    ) -> Registration:
        """Take the file in; its processing and ACL update are queued when needed."""
        registration = self._intake.submit(
            path,
            namespace=CONNECTOR_NAMESPACE,
            source=source,
            acl=acl,
            title=title,
            filename=filename,
            queue=self._queue,
        )
        self.taken.append((path, registration))
        return registration

    def remove(self, source: str) -> None:
        """Delete the document of a source that disappeared; its points go next."""
        doc = self._registry.find(CONNECTOR_NAMESPACE, source)
        if doc is None:
            return
        self._registry.delete(doc.id)
        if self._queue is not None:
            self._queue.purge(doc.id)

    def sources(self, prefix: str) -> set[str]:
        """Registered sources under `prefix`."""
        return self._registry.sources(CONNECTOR_NAMESPACE, prefix)


def _log(kind: str, where: str, report: SyncReport) -> None:
    log.info(
        "connector_synced",
        connector=kind,
        where=where,
        new=len(report.new),
        changed=len(report.changed),
        unchanged=report.unchanged,
        removed=len(report.removed),
        errors=[f"{p.item}: {p.reason}" for p in report.errors][:20],
    )


def rules_with_ids(rules: Sequence[AclRule], users: UserDirectory) -> list[AclRule]:
    """The ACL rules with user names replaced by the users' ids, as they are at this sync; a
    name nobody has is left out and logged (deny by default)."""
    resolved: list[AclRule] = []
    for rule in rules:
        ids: list[str] = []
        for name in rule.users:
            try:
                ids.extend(users.ids_for([name]).values())
            except InvalidInput:
                log.warning("acl_rule_unknown_user", prefix=rule.prefix, user=name)
        resolved.append(rule.model_copy(update={"users": ids}))
    return resolved


def sync_all(
    settings: ConnectorSettings, sink: QueueSink, users: UserDirectory, max_bytes: int
) -> list[tuple[str, SyncReport]]:
    """Synchronise every configured folder and intranet site into `sink`; (where, report) for
    each. `max_bytes` bounds one downloaded page or file."""
    rules = rules_with_ids(settings.acl_rules, users)
    reports: list[tuple[str, SyncReport]] = []
    for folder in settings.folders:
        try:
            reports.append((str(folder), sync_folder(folder, sink, rules)))
        except OSError as exc:
            log.warning("connector_failed", connector="folder", where=str(folder), error=str(exc))
    if settings.web_seeds:
        report = crawl(
            settings.web_seeds,
            sink,
            rules,
            allowed_hosts=settings.web_allowed_hosts,
            trusted_hosts=settings.web_trusted_hosts,
            max_depth=settings.web_max_depth,
            max_pages=settings.web_max_pages,
            timeout_s=settings.web_timeout_s,
            max_bytes=max_bytes,
        )
        reports.append((", ".join(settings.web_seeds), report))
    for where, done in reports:
        _log("connector", where, done)
    return reports
