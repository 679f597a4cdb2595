"""The live journal (SQLAlchemy 2 + Alembic; SQLite by default, PostgreSQL accepted)."""

from mtponte.live.journal.store import Journal, open_journal

__all__ = ["Journal", "open_journal"]
