"""The publisher's configuration: one TOML file, typed sections, environment overrides.

Precedence (highest first): ``MTPONTE_PUBLISH_KEY`` / ``MTPONTE_PUBLISH_BROKER__KEY``
environment variables, the TOML file, the defaults below. Relative paths in the file
are taken from the file's folder.

Example::

    server_url = "https://copy.example.com"
    master_id = 12
    token = "..."            # or MTPONTE_PUBLISH_TOKEN in the environment
    state_dir = "publisher-state"
    magic = [7001]           # only these magic numbers (default: every position)
    [broker]
    kind = "mt5"
    server_timezone = "America/Sao_Paulo"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from mtponte._settings import EnvFirstSettings
from mtponte.copy._config import (
    BrokerSection,
    make_broker,
    read_toml,
    resolve_broker,
    validate,
)

__all__ = ["BrokerSection", "PublisherSettings", "load_settings", "make_broker"]


class PublisherSettings(EnvFirstSettings):
    """Everything ``mtponte publish`` needs (see the module docstring).

    Attributes
    ----------
    server_url
        The copy server (``http://`` or ``https://``).
    master_id
        The master account's id on the server.
    token
        A ``publish`` token of that master; never logged, never in an error message.
    state_dir
        Folder of the durable outbox (``publisher.sqlite``); one per master.
    poll_interval_s
        Seconds between two reads of the broker.
    snapshot_interval_s
        Seconds between two snapshots (the master's heartbeat).
    magic, symbols
        Publish only positions with one of these magic numbers / on one of these
        symbols (``None``: all).
    pending
        Publish the master's pending orders too (place / modify / cancel, fills linked
        to their order); followers copy them only where the subscription has
        ``copy_pending``.
    http_timeout_s
        Timeout of one HTTP request.
    backoff_initial_s, backoff_max_s
        Retry delay after a failed delivery: doubles each failure from the initial
        value up to the cap, each delay drawn uniformly in its upper half (jitter).
    broker
        The master account (:class:`BrokerSection`).
    """

    model_config = SettingsConfigDict(
        env_prefix="MTPONTE_PUBLISH_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    server_url: str = Field(pattern=r"^https?://\S+$")
    master_id: int = Field(ge=1)
    token: SecretStr
    state_dir: Path = Path("publisher-state")
    poll_interval_s: float = Field(0.2, gt=0, le=3600)
    snapshot_interval_s: float = Field(5.0, gt=0, le=3600)
    magic: list[int] | None = None
    symbols: list[str] | None = None
    pending: bool = True
    http_timeout_s: float = Field(10.0, gt=0)
    backoff_initial_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(30.0, gt=0)
    broker: BrokerSection = BrokerSection()


def load_settings(path: Path | None, data: dict[str, Any] | None = None) -> PublisherSettings:
    """Read and validate the publisher's configuration.

    Parameters
    ----------
    path
        TOML file (``None``: environment only); relative paths in it are taken from
        its folder.
    data
        Already-parsed contents (instead of reading ``path``).

    Returns
    -------
    PublisherSettings

    Raises
    ------
    ConfigError
        Every problem on one line (secret values are never echoed).
    """
    if data is None:
        data = read_toml(path) if path is not None else {}
    cfg = validate(PublisherSettings, data, path)
    return cfg if path is None else resolve_paths(cfg, path.parent)


def resolve_paths(cfg: PublisherSettings, base: Path) -> PublisherSettings:
    """``cfg`` with relative paths (state folder, paper account, bridge folder) taken
    from ``base``."""

    def rel(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else base / p

    broker = resolve_broker(cfg.broker, base)
    return cfg.model_copy(update={"state_dir": rel(cfg.state_dir), "broker": broker})
