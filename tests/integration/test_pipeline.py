"""The ingestion pipeline on real components: idempotent, versioned, ACL-aware, honest on failure."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.acl import Acl, Principal
from core.db.engine import make_engine, migrate, session_factory
from core.documents import CONNECTOR_NAMESPACE as NS
from core.documents import DocumentRegistry
from core.intake import Intake
from core.types import Chunk, DocumentStatus
from core.vectors.qdrant_edge import QdrantEdgeIndex
from ingest.chunking import Chunker
from ingest.parsers.registry import ParserRegistry
from ingest.pipeline import IngestionPipeline
from retrieval.retriever import Retriever

pytestmark = pytest.mark.integration
READER = Principal("reader", frozenset({"staff"}))


@pytest.fixture
def parts(tmp_path: Path, minilm):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    index = QdrantEdgeIndex(tmp_path / "qdrant")
    index.ensure_collection(minilm.dimension, minilm.name)
    registry = DocumentRegistry(session_factory(engine))
    pipeline = IngestionPipeline(
        registry,
        ParserRegistry(10_000_000),
        Chunker(minilm.count_tokens, 120, 20),
        minilm,
        index,
    )
    intake = Intake(registry, tmp_path / "files")
    yield intake, pipeline, registry, index, Retriever(minilm, index, registry.readable_versions)
    index.close()
    engine.dispose()


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_processing_twice_leaves_one_copy(parts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    intake, pipeline, _, index, _ = parts
    doc = write(tmp_path / "policy.txt", "Badges must be worn at all times.\n\n" * 30)
    reg = intake.submit(doc, namespace=NS, source="file:///policy.txt", acl=Acl.of(groups=["staff"]))
    first = pipeline.process(reg.document_id, reg.version)
    second = pipeline.process(reg.document_id, reg.version)  # duplicate delivery
    assert first.status == second.status == DocumentStatus.INDEXED
    assert index.count(reg.document_id) == first.chunks == second.chunks > 1
    assert len({p.point_id for p in index.points(reg.document_id)}) == first.chunks


def test_new_content_replaces_the_old_version(parts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    intake, pipeline, registry, _, retriever = parts
    doc = write(tmp_path / "menu.txt", "The cafeteria serves bibimbap on Mondays.")
    reg1 = intake.submit(doc, namespace=NS, source="file:///menu.txt", acl=Acl.of(public=True))
    pipeline.process(reg1.document_id, reg1.version)
    write(doc, "The cafeteria serves kimchi stew on Mondays.")
    reg2 = intake.submit(doc, namespace=NS, source="file:///menu.txt", acl=Acl.of(public=True))
    assert reg2.document_id == reg1.document_id and reg2.version != reg1.version
    pipeline.process(reg2.document_id, reg2.version)
    texts = [h.chunk.text for h in retriever.search(READER, "cafeteria Monday", 10)]
    assert texts == ["The cafeteria serves kimchi stew on Mondays."]
    assert registry.get(reg1.document_id).current_version == reg2.version


def test_a_failed_new_version_keeps_the_old_one_searchable(parts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    intake, pipeline, registry, _, retriever = parts
    doc = write(tmp_path / "faq.txt", "The VPN address is vpn.hanbit.example.")
    reg = intake.submit(doc, namespace=NS, source="file:///faq.txt", acl=Acl.of(public=True))
    pipeline.process(reg.document_id, reg.version)
    write(doc, "   \n\n  ")
    bad = intake.submit(doc, namespace=NS, source="file:///faq.txt", acl=Acl.of(public=True))
    outcome = pipeline.process(bad.document_id, bad.version)
    assert outcome.status == DocumentStatus.FAILED and outcome.error_code == "empty_document"
    assert registry.get(reg.document_id).error == "the file contains no text"
    assert [h.chunk.version for h in retriever.search(READER, "VPN address", 5)] == [reg.version]


def test_acl_change_and_deletion_apply_to_the_next_search(parts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    intake, pipeline, registry, index, retriever = parts
    doc = write(tmp_path / "plan.txt", "The 2027 hiring plan adds twelve robotics engineers.")
    reg = intake.submit(doc, namespace=NS, source="file:///plan.txt", acl=Acl.of(users=["ceo"]))
    pipeline.process(reg.document_id, reg.version)
    assert retriever.search(READER, "hiring plan", 5) == []
    registry.set_acl(reg.document_id, Acl.of(groups=["staff"]))
    assert retriever.search(READER, "hiring plan", 5) == []  # a grant needs the points updated
    pipeline.apply_acl(reg.document_id)
    assert len(retriever.search(READER, "hiring plan", 5)) == 1
    again = intake.submit(doc, namespace=NS, source="file:///plan.txt", acl=Acl.of(users=["ceo"]))  # new ACL
    assert again.acl_changed and not again.needs_processing
    assert retriever.search(READER, "hiring plan", 5) == []  # a revocation applies at once
    pipeline.apply_acl(reg.document_id)
    registry.delete(reg.document_id)
    pipeline.purge(reg.document_id)
    assert index.count(reg.document_id) == 0


def test_a_version_replaced_before_it_ran_never_becomes_current(parts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    intake, pipeline, _, index, retriever = parts
    doc = write(tmp_path / "memo.txt", "Draft one: the offsite is in Busan.")
    old = intake.submit(doc, namespace=NS, source="file:///memo.txt", acl=Acl.of(public=True))
    write(doc, "Final: the offsite is in Jeju.")
    new = intake.submit(doc, namespace=NS, source="file:///memo.txt", acl=Acl.of(public=True))
    assert pipeline.process(new.document_id, new.version).status == DocumentStatus.INDEXED
    assert pipeline.process(old.document_id, old.version).status == DocumentStatus.SUPERSEDED
    assert {p.version for p in index.points(new.document_id)} == {new.version}
    assert [h.chunk.text for h in retriever.search(READER, "offsite", 5)] == [
        "Final: the offsite is in Jeju."
    ]


def test_a_document_deleted_before_or_while_it_is_processed_leaves_nothing(parts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    intake, pipeline, registry, index, _ = parts
    doc = write(tmp_path / "gone.txt", "The canteen closes at nine on Fridays.\n\n" * 20)
    early = intake.submit(doc, namespace=NS, source="file:///gone.txt", acl=Acl.of(public=True))
    registry.delete(early.document_id)  # before its task ran: the task is done, not an error
    assert pipeline.process(early.document_id, early.version).status == DocumentStatus.DELETED
    late = intake.submit(doc, namespace=NS, source="file:///gone.txt", acl=Acl.of(public=True))

    progress = registry.progress

    def delete_midway(document_id: str, version: str, done: int, total: int) -> None:
        progress(document_id, version, done, total)
        registry.delete(document_id)  # while its passages are being stored

    registry.progress = delete_midway  # type: ignore[method-assign]
    outcome = pipeline.process(late.document_id, late.version)
    assert outcome.status in (DocumentStatus.DELETED, DocumentStatus.SUPERSEDED)
    assert index.count(late.document_id) == 0  # points stored before the deletion are gone


def test_interrupted_work_is_retried_then_failed_and_orphans_are_removed(parts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    intake, pipeline, registry, index, _ = parts
    doc = write(tmp_path / "crash.txt", "A file whose worker keeps dying.")
    reg = intake.submit(doc, namespace=NS, source="file:///crash.txt", acl=Acl.of(public=True))
    assert registry.pending(timedelta(hours=1), timedelta(hours=1)) == [(reg.document_id, reg.version)]
    registry.mark_enqueued(reg.document_id, reg.version)
    assert registry.pending(timedelta(hours=1), timedelta(hours=1)) == []
    for _ in range(3):  # a worker takes it and dies each time
        assert registry.start(reg.document_id, reg.version, timedelta(0))
    assert registry.pending(timedelta(hours=1), timedelta(0)) == [(reg.document_id, reg.version)]
    assert pipeline.process(reg.document_id, reg.version, timedelta(0)).status == DocumentStatus.FAILED
    assert "interrupted 3 times" in (registry.get(reg.document_id).error or "")
    index.upsert([Chunk("gone", "v1", 0, "stray", "t", frozenset({"public"}))], [[0.1] * 384])
    assert pipeline.remove_orphans() == 1 and index.count("gone") == 0
