"""Server settings (environment variables ``MTPONTE_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServerSettings(BaseSettings):
    """Typed configuration of the copy server.

    Attributes
    ----------
    database_url
        SQLAlchemy URL; SQLite by default, ``postgresql+psycopg://...`` in production.
    redis_url
        When set, events wake followers on every worker through Redis pub/sub.
    master_stale_s
        A master without events or snapshots for this long is *stale*: followers are
        told so (never handed an empty position list).
    long_poll_max_s
        Upper bound of ``wait`` on ``GET .../events``.
    retention_events
        Events kept per master; a follower whose cursor is older gets ``resync``.
    max_body_bytes
        Request size limit.
    secret_key
        Signs dashboard session cookies. Set it (same value on every worker) in
        production; unset, a random key is drawn at start and sessions end on restart.
    """

    model_config = SettingsConfigDict(env_prefix="MTPONTE_", extra="ignore")

    database_url: str = "sqlite:///mtponte-copy.db"
    redis_url: str | None = None
    master_stale_s: int = Field(300, gt=0)
    long_poll_max_s: float = Field(25.0, gt=0)
    retention_events: int = Field(10_000, gt=0)
    max_body_bytes: int = Field(256_000, gt=0)
    auth_cache_s: float = Field(5.0, ge=0)  # hot-path authorization cache (revocation delay)
    create_schema: bool = True  # run Alembic migrations on start
    secret_key: str | None = None  # signs dashboard sessions; random per start when unset
    https_only_cookies: bool = False  # set behind TLS
