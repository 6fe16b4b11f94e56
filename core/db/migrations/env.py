"""Alembic environment: runs migrations on the connection handed over by `core.db.engine.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from core.db.models import Base

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # invoked from the alembic CLI: use the configured URL
    from core.settings import Settings

    with create_engine(Settings().sql_url).begin() as own_connection:
        context.configure(connection=own_connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
