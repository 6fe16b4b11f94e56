"""The folder connector on the real pipeline: first sync, idempotent re-sync, changes, deletions, ACLs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.acl import Acl
from core.documents import CONNECTOR_NAMESPACE, acl_of, document_id_for
from core.errors import NotFound
from core.settings import AclRule
from core.types import DocumentStatus
from ingest.connectors.folder import sync_folder
from tests.integration.pipeline_sink import Parts, PipelineSink, pipeline_parts

pytestmark = pytest.mark.integration


@pytest.fixture
def parts(tmp_path: Path, minilm):  # type: ignore[no-untyped-def]
    with pipeline_parts(tmp_path / "state", minilm) as built:
        yield built


@pytest.fixture
def root(tmp_path: Path) -> Path:
    files = {
        "hr/pay.txt": "Salaries are paid on the 25th of every month.",
        "hr/leave.md": "# Leave\n\nFull-time employees receive 15 days of annual leave.",
        "public/menu.txt": "The cafeteria serves bibimbap on Mondays.",
        "it/deep/vpn.txt": "The VPN address is vpn.hanbit.example.",
        ".git/config": "hidden folder",
        "hr/.~lock.pay.txt#": "hidden file",
    }
    base = tmp_path / "share"
    for name, text in files.items():
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text(text)
    outside = tmp_path / "outside.txt"
    outside.write_text("not under the root")
    (base / "public" / "escape.txt").symlink_to(outside)
    (base / "it" / "pay-link.txt").symlink_to(base / "hr" / "pay.txt")
    return base


def uri(path: Path) -> str:
    return path.resolve().as_uri()


def rules_for(root: Path) -> list[AclRule]:
    return [
        AclRule(prefix=str(root / "hr"), groups=["hr"]),
        AclRule(prefix=uri(root / "public") + "/", public=True),
        AclRule(prefix=str(root / "it"), users=["admin"], groups=["it"]),
    ]


def test_sync_registers_changes_and_removes(parts: Parts, root: Path) -> None:
    rules = rules_for(root)
    first = sync_folder(root, parts.sink, rules)
    expected = {uri(root / n) for n in ("hr/pay.txt", "hr/leave.md", "public/menu.txt", "it/deep/vpn.txt")}
    assert set(first.new) == expected and first.changed == [] and first.removed == []
    assert len(first.to_process) == 4 and first.errors == []
    assert [p.reason for p in first.skipped] == ["symbolic link out of the folder"]
    assert parts.process(first.to_process) == [DocumentStatus.INDEXED] * 4

    acl = {s: acl_of(parts.registry.get(document_id_for(CONNECTOR_NAMESPACE, s))) for s in expected}
    assert acl[uri(root / "hr/pay.txt")] == Acl.of(groups=["hr"])
    assert acl[uri(root / "public/menu.txt")] == Acl.of(public=True)
    assert acl[uri(root / "it/deep/vpn.txt")] == Acl.of(users=["admin"], groups=["it"])

    again = sync_folder(root, parts.sink, rules)
    assert (again.new, again.changed, again.removed, again.to_process) == ([], [], [], [])
    assert again.unchanged == 4

    menu = root / "public/menu.txt"
    old_version = parts.registry.get(document_id_for(CONNECTOR_NAMESPACE, uri(menu))).current_version
    menu.write_text("The cafeteria serves kimchi stew on Mondays.")
    changed = sync_folder(root, parts.sink, rules)
    assert changed.changed == [uri(menu)] and changed.unchanged == 3
    assert len(changed.to_process) == 1 and changed.to_process[0].version != old_version
    assert parts.process(changed.to_process) == [DocumentStatus.INDEXED]
    assert (
        parts.registry.get(document_id_for(CONNECTOR_NAMESPACE, uri(menu))).current_version
        == changed.to_process[0].version
    )

    leave = uri(root / "hr/leave.md")
    (root / "hr/leave.md").unlink()
    removed = sync_folder(root, parts.sink, rules)
    assert removed.removed == [leave] and removed.to_process == []
    with pytest.raises(NotFound):
        parts.registry.get(document_id_for(CONNECTOR_NAMESPACE, leave))
    assert parts.index.count(document_id_for(CONNECTOR_NAMESPACE, leave)) == 0
    assert parts.index.count(document_id_for(CONNECTOR_NAMESPACE, uri(menu))) > 0


def test_new_rules_update_the_acl_without_reprocessing(parts: Parts, root: Path) -> None:
    first = sync_folder(root, parts.sink, [])
    assert all(
        acl_of(parts.registry.get(r.document_id)) == Acl() for r in first.to_process
    )  # deny by default
    parts.process(first.to_process)
    second = sync_folder(root, parts.sink, rules_for(root))
    assert second.to_process == [] and len(second.acl_updated) == 4
    pay = parts.registry.get(document_id_for(CONNECTOR_NAMESPACE, uri(root / "hr/pay.txt")))
    assert acl_of(pay) == Acl.of(groups=["hr"])
    assert pay.id in parts.readable_documents("When are salaries paid?", {"group:hr"})
    assert pay.id not in parts.readable_documents("When are salaries paid?", {"public", "group:it"})


class FailingSink(PipelineSink):
    """Fails to read one file, as an unreadable file would."""

    def __init__(self, parts: Parts, unreadable: str) -> None:
        super().__init__(parts.sink.intake, parts.pipeline, parts.registry)
        self.unreadable = unreadable

    def submit(self, path: Path, **kwargs):  # type: ignore[no-untyped-def]
        if path.name == self.unreadable:
            raise PermissionError(13, "Permission denied", str(path))
        return super().submit(path, **kwargs)


def test_an_unreadable_file_is_reported_and_kept(parts: Parts, root: Path) -> None:
    sync_folder(root, parts.sink, [])
    report = sync_folder(root, FailingSink(parts, "pay.txt"), [])
    assert [(e.item, e.reason.split(":")[0]) for e in report.errors] == [
        (uri(root / "hr/pay.txt"), "PermissionError")
    ]
    assert report.unchanged == 3 and report.removed == []
    assert uri(root / "hr/pay.txt") in parts.sink.sources(uri(root))


def test_an_unlistable_folder_removes_nothing_below_it(
    parts: Parts, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_folder(root, parts.sink, [])
    scandir = os.scandir
    hr = str(root.resolve() / "hr")

    def failing_scandir(path: str) -> object:
        if str(path) == hr:
            raise PermissionError(13, "Permission denied", path)
        return scandir(path)

    monkeypatch.setattr(os, "scandir", failing_scandir)
    report = sync_folder(root, parts.sink, [])
    assert [e.reason for e in report.errors] == ["cannot list the folder: Permission denied"]
    assert report.removed == []


def test_a_missing_root_is_an_error_not_an_empty_folder(parts: Parts, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        sync_folder(tmp_path / "unmounted", parts.sink, [])
