"""users get an immutable uid; documents are named inside their writer's namespace

Revision ID: 0006
Revises: 0005

ACL entries, uploaders, conversations, feedback and audit rows referred to users by name, so
deleting a user and creating the name again handed the new account the old one's documents and
history. They now refer to `users.uid`. Existing rows are converted; a name that no longer
belongs to anybody is dropped from ACLs (deny by default), and rows of such names keep no owner.
Every document with user entries gets a new ACL revision, so the reconciler rewrites the tokens
stored with its points. A document's source was unique on its own, so anyone could register a
version of anyone's document by naming its source; it is now unique within a namespace.
"""

import json
import uuid

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_UQ = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
# Tables that named users, and the column that now holds the user's uid.
_ID_COLUMNS = (
    ("conversations", "user_id"),
    ("feedback", "user_id"),
    ("audit_events", "actor_id"),
    ("audit_views", "actor_id"),
)


def _names_to_uids(bind: sa.engine.Connection) -> dict[str, str]:
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("username"), sa.column("uid"))
    uids: dict[str, str] = {}
    for row_id, name in bind.execute(sa.select(users.c.id, users.c.username)).all():
        uid = str(uuid.uuid4())
        bind.execute(sa.update(users).where(users.c.id == row_id).values(uid=uid))
        uids[name] = uid
    return uids


def _namespace(source: str, uploader_uid: str | None) -> str:
    if uploader_uid is not None:
        return f"user:{uploader_uid}"
    return "connector"


def _convert_documents(bind: sa.engine.Connection, uids: dict[str, str]) -> None:
    docs = sa.table(
        "documents",
        sa.column("id"),
        sa.column("source"),
        sa.column("namespace"),
        sa.column("uploaded_by"),
        sa.column("acl_users", sa.JSON),
        sa.column("acl_revision", sa.Integer),
    )
    rows = bind.execute(
        sa.select(docs.c.id, docs.c.source, docs.c.uploaded_by, docs.c.acl_users, docs.c.acl_revision)
    ).all()
    for doc_id, source, uploaded_by, acl_users, revision in rows:
        names = acl_users if isinstance(acl_users, list) else json.loads(acl_users or "[]")
        uploader = uids.get(uploaded_by) if uploaded_by else None
        bind.execute(
            sa.update(docs)
            .where(docs.c.id == doc_id)
            .values(
                namespace=_namespace(source, uploader),
                uploaded_by=uploader,
                acl_users=sorted(uids[n] for n in names if n in uids),
                acl_revision=revision + 1 if names else revision,
            )
        )


def _convert_owned_rows(bind: sa.engine.Connection, uids: dict[str, str]) -> None:
    for table, name_column, id_column in (
        ("conversations", "username", "user_id"),
        ("feedback", "username", "user_id"),
        ("audit_events", "actor", "actor_id"),
        ("audit_views", "actor", "actor_id"),
    ):
        t = sa.table(table, sa.column(name_column), sa.column(id_column))
        for name, uid in uids.items():
            bind.execute(sa.update(t).where(t.c[name_column] == name).values({id_column: uid}))


def _copy_acl_to_versions(bind: sa.engine.Connection) -> None:
    """Every existing version was registered with its document's ACL."""
    acl = ("acl_users", "acl_groups", "acl_public")
    types = {"acl_users": sa.JSON, "acl_groups": sa.JSON, "acl_public": sa.Boolean}
    docs = sa.table("documents", sa.column("id"), *(sa.column(c, types[c]) for c in acl))
    versions = sa.table("document_versions", sa.column("document_id"), *(sa.column(c, types[c]) for c in acl))
    for doc_id, users, groups, public in bind.execute(sa.select(docs.c.id, *(docs.c[c] for c in acl))):
        bind.execute(
            sa.update(versions)
            .where(versions.c.document_id == doc_id)
            .values(acl_users=users, acl_groups=groups, acl_public=public)
        )


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("uid", sa.String(length=36), nullable=True))
    for table, column in _ID_COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column(column, sa.String(length=36), nullable=True))
            if table != "feedback":
                batch.create_index(f"ix_{table}_{column}", [column])
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("namespace", sa.String(length=64), nullable=True))
    with op.batch_alter_table("document_versions") as batch:
        batch.add_column(sa.Column("acl_users", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("acl_groups", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("acl_public", sa.Boolean(), nullable=True))

    uids = _names_to_uids(bind)
    _convert_documents(bind, uids)
    _convert_owned_rows(bind, uids)
    _copy_acl_to_versions(bind)

    with op.batch_alter_table("users") as batch:
        batch.alter_column("uid", existing_type=sa.String(length=36), nullable=False)
        batch.create_index("ix_users_uid", ["uid"], unique=True)
    source_unique = "documents_source_key" if bind.dialect.name == "postgresql" else "uq_documents_source"
    with op.batch_alter_table("documents", naming_convention=_UQ) as batch:
        batch.drop_constraint(source_unique, type_="unique")
        batch.alter_column("namespace", existing_type=sa.String(length=64), nullable=False)
        batch.create_index("ix_documents_namespace", ["namespace"])
        batch.create_unique_constraint("uq_documents_namespace_source", ["namespace", "source"])
    with op.batch_alter_table("document_versions") as batch:
        batch.alter_column("acl_users", existing_type=sa.JSON(), nullable=False)
        batch.alter_column("acl_groups", existing_type=sa.JSON(), nullable=False)
        batch.alter_column("acl_public", existing_type=sa.Boolean(), nullable=False)


def downgrade() -> None:
    bind = op.get_bind()
    users = sa.table("users", sa.column("username"), sa.column("uid"))
    names = dict(bind.execute(sa.select(users.c.uid, users.c.username)).all())
    docs = sa.table("documents", sa.column("id"), sa.column("uploaded_by"), sa.column("acl_users", sa.JSON))
    for doc_id, uploader, acl_users in bind.execute(sa.select(docs.c.id, docs.c.uploaded_by, docs.c.acl_users)):
        ids = acl_users if isinstance(acl_users, list) else json.loads(acl_users or "[]")
        bind.execute(
            sa.update(docs)
            .where(docs.c.id == doc_id)
            .values(uploaded_by=names.get(uploader), acl_users=sorted(names[i] for i in ids if i in names))
        )
    with op.batch_alter_table("document_versions") as batch:
        for column in ("acl_users", "acl_groups", "acl_public"):
            batch.drop_column(column)
    with op.batch_alter_table("documents", naming_convention=_UQ) as batch:
        batch.drop_constraint("uq_documents_namespace_source", type_="unique")
        batch.drop_index("ix_documents_namespace")
        batch.drop_column("namespace")
        batch.create_unique_constraint("uq_documents_source", ["source"])
    for table, column in _ID_COLUMNS:
        with op.batch_alter_table(table) as batch:
            if table != "feedback":
                batch.drop_index(f"ix_{table}_{column}")
            batch.drop_column(column)
    with op.batch_alter_table("users") as batch:
        batch.drop_index("ix_users_uid")
        batch.drop_column("uid")
