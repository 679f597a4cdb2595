"""Alembic environment of the live journal: runs on the connection handed over by
``journal.upgrade``; its own version table, so it can share a database with the copy
server."""

from __future__ import annotations

from alembic import context

from mtponte.live.journal.models import Base

conn = context.config.attributes["connection"]
context.configure(
    connection=conn,
    target_metadata=Base.metadata,
    render_as_batch=True,
    version_table="live_alembic_version",
)
with context.begin_transaction():
    context.run_migrations()
