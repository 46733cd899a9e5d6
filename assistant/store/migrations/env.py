"""Alembic environment: runs on the connection ``Database.migrate`` hands over."""

from __future__ import annotations

from alembic import context

from assistant.store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - migrations only run through Database.migrate
    raise RuntimeError("run migrations with assistant.store.Database(url).migrate()")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
