"""Migration 0006 on a database written by the previous schema: names become immutable ids."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from core.db.engine import MIGRATIONS, make_engine, migrate

pytestmark = pytest.mark.integration


def _upgrade(engine: sa.Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_names_become_ids_and_sources_get_namespaces(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    _upgrade(engine, "0005")
    now = "2026-11-30 10:00:00"
    with engine.begin() as db:
        for name in ("alice", "bob"):
            db.execute(
                sa.text("INSERT INTO users (username, is_admin, created_at) VALUES (:n, false, :t)"),
                {"n": name, "t": now},
            )
        for doc_id, source, uploader, users in (
            ("d1", "upload:alice/plan.md", "alice", '["alice", "ghost"]'),
            ("d2", "file:///srv/share/menu.md", None, '["bob"]'),
        ):
            db.execute(
                sa.text(
                    "INSERT INTO documents (id, source, title, filename, acl_users, acl_groups, acl_public,"
                    " acl_revision, acl_applied, uploaded_by, current_version, latest_version, status,"
                    " chunk_count, created_at, updated_at) VALUES (:id, :s, 't', 'f', :u, '[\"hr\"]', false,"
                    " 3, 3, :up, 'v', 'v', 'indexed', 1, :t, :t)"
                ),
                {"id": doc_id, "s": source, "u": users, "up": uploader, "t": now},
            )
            db.execute(
                sa.text(
                    "INSERT INTO document_versions (document_id, sha256, size_bytes, stored_path, status,"
                    " chunk_count, chunks_done, attempts, created_at) VALUES (:id, 'v', 1, '/x', 'indexed',"
                    " 1, 1, 1, :t)"
                ),
                {"id": doc_id, "t": now},
            )
        db.execute(
            sa.text(
                "INSERT INTO conversations (id, username, title, created_at, updated_at)"
                " VALUES ('c1', 'ghost', 'old', :t, :t), ('c2', 'alice', 'mine', :t, :t)"
            ),
            {"t": now},
        )
    migrate(engine)
    with engine.connect() as db:
        uids = dict(db.execute(sa.text("SELECT username, uid FROM users")).tuples().all())
        docs = {
            row.id: row
            for row in db.execute(
                sa.text("SELECT id, namespace, uploaded_by, acl_users, acl_revision FROM documents")
            )
        }
        owners = dict(db.execute(sa.text("SELECT id, user_id FROM conversations")).tuples().all())
        version_acl = db.execute(sa.text("SELECT acl_users FROM document_versions WHERE document_id = 'd1'"))
        version_users = version_acl.scalar_one()
    assert len(set(uids.values())) == 2 and all(len(u) == 36 for u in uids.values())

    def users_of(value: object) -> list[str]:
        import json

        return value if isinstance(value, list) else json.loads(str(value))

    assert users_of(docs["d1"].acl_users) == [uids["alice"]]  # the name nobody has is dropped
    assert docs["d1"].acl_revision == 4  # the stored points get the new tokens
    assert (docs["d1"].namespace, docs["d1"].uploaded_by) == (f"user:{uids['alice']}", uids["alice"])
    assert (docs["d2"].namespace, users_of(docs["d2"].acl_users)) == ("connector", [uids["bob"]])
    assert users_of(version_users) == [uids["alice"]]
    assert owners == {"c1": None, "c2": uids["alice"]}
    with engine.begin() as db:  # the same source in another namespace is another document
        db.execute(
            sa.text(
                "INSERT INTO documents (id, namespace, source, title, filename, acl_users, acl_groups,"
                " acl_public, acl_revision, acl_applied, status, chunk_count, created_at, updated_at)"
                " VALUES ('d3', 'user:x', 'upload:alice/plan.md', 't', 'f', '[]', '[]', false, 0, 0,"
                " 'queued', 0, :t, :t)"
            ),
            {"t": now},
        )
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as db:
        db.execute(
            sa.text(
                "INSERT INTO documents (id, namespace, source, title, filename, acl_users, acl_groups,"
                " acl_public, acl_revision, acl_applied, status, chunk_count, created_at, updated_at)"
                " VALUES ('d4', 'user:x', 'upload:alice/plan.md', 't', 'f', '[]', '[]', false, 0, 0,"
                " 'queued', 0, :t, :t)"
            ),
            {"t": now},
        )
    engine.dispose()
