"""Alembic environment: runs on the connection handed over by ``db.upgrade``."""

from __future__ import annotations

from alembic import context

from mtponte.copy.server.models import Base

conn = context.config.attributes["connection"]
context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
