"""Server settings (environment variables ``MTPONTE_*``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from mtponte.errors import ConfigError


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
        Upper bound of ``wait`` on ``GET .../events`` and ``GET .../targets``.
    follower_lease_s
        A follower instance that heartbeated within this long holds its account: a
        heartbeat from another instance gets 409 (two followers never trade one
        account).
    retention_events
        Events kept per master; a follower whose cursor is older gets ``resync``.
    max_body_bytes
        Request size limit.
    auth_cache_s, revocation_check_s
        Each worker keeps the table of ``slave-signals`` authorizations in memory and
        re-reads it every ``auth_cache_s`` (this bounds how long a change made behind
        the server's back, in SQL by hand, goes unseen). It reads the authorization
        epoch every ``revocation_check_s``: a token revoked with ``mtponte admin
        revoke`` or the dashboard is refused on every worker within about that long.
    book_revalidate_s
        A cached ``slave-signals`` answer is re-checked against the database at least
        this often. Publishing empties it at once on the worker that took the post, and
        on every worker when ``redis_url`` is set; this bound matters only for several
        workers without Redis.
    rate_limit_per_s, rate_limit_burst
        Token bucket per API token and worker process (0 turns it off). A slave polls
        once a second; the large burst is for a master closing hundreds of positions at
        once, whose legacy EA would not retry a refused post.
    login_rate_per_min
        Dashboard log-in attempts per client address and minute (0: no limit).
    license_rate_per_min
        ``/api/ea-license/validate`` look-ups per client address and minute (0: no limit).
    max_streams_per_token
        SSE streams and waiting long polls one token may hold open at once, per worker;
        one more is answered 429.
    trusted_proxies
        Comma-separated addresses of reverse proxies whose ``X-Forwarded-For`` /
        ``X-Forwarded-Proto`` headers are believed (uvicorn's ``forwarded_allow_ips``).
        Empty (the default): the headers are ignored and the peer address counts, so a
        client cannot pick its own address to dodge the log-in limit. Behind a proxy,
        set it, or every client shares the proxy's log-in bucket.
    secret_key
        Signs dashboard session cookies. Set it (same value on every worker) in
        production; unset, a random key is drawn at start and sessions end on restart.
    https_only_cookies
        Served over HTTPS (directly or behind a TLS proxy): the session cookie gets
        ``Secure`` and responses carry ``Strict-Transport-Security``.
    session_max_age_s
        A dashboard session ends this long after log-in, however active it is.
    """

    model_config = SettingsConfigDict(env_prefix="MTPONTE_", extra="ignore")

    database_url: str = "sqlite:///mtponte-copy.db"
    redis_url: str | None = None
    master_stale_s: int = Field(300, gt=0)
    long_poll_max_s: float = Field(25.0, gt=0)
    follower_lease_s: float = Field(15.0, gt=0)
    retention_events: int = Field(10_000, gt=0)
    max_body_bytes: int = Field(256_000, gt=0)
    auth_cache_s: float = Field(60.0, ge=0)
    revocation_check_s: float = Field(1.0, gt=0)
    book_revalidate_s: float = Field(0.25, ge=0)
    rate_limit_per_s: float = Field(50.0, ge=0)
    rate_limit_burst: int = Field(1000, ge=1)
    login_rate_per_min: int = Field(10, ge=0)
    license_rate_per_min: int = Field(30, ge=0)
    max_streams_per_token: int = Field(8, ge=1)
    trusted_proxies: str = ""
    create_schema: bool = True  # run Alembic migrations on start
    secret_key: str | None = None  # signs dashboard sessions; random per start when unset
    https_only_cookies: bool = False  # set behind TLS
    session_max_age_s: int = Field(12 * 3600, ge=60)


def load_settings(**overrides: Any) -> ServerSettings:
    """:class:`ServerSettings` from the environment; a bad value is a one-line
    :class:`~mtponte.errors.ConfigError` naming the variable."""
    try:
        return ServerSettings(**overrides)
    except ValidationError as exc:
        e = exc.errors()[0]
        name = "MTPONTE_" + str(e["loc"][0]).upper() if e["loc"] else "settings"
        raise ConfigError(f"{name}: {e['msg']} (got {e.get('input')!r})") from None
