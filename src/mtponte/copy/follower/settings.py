"""The follower's configuration: one TOML file, typed sections, environment overrides.

Precedence (highest first): ``MTPONTE_FOLLOW_KEY`` / ``MTPONTE_FOLLOW_BROKER__KEY``
environment variables, the TOML file, the defaults below. Relative paths in the file
are taken from the file's folder.

Example::

    server_url = "https://copy.example.com"
    follower_id = 7
    master_id = 3
    token = "..."            # or MTPONTE_FOLLOW_TOKEN in the environment
    state_dir = "follower-state"
    [broker]
    kind = "mt5"
    server_timezone = "Europe/Athens"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from mtponte._settings import EnvFirstSettings
from mtponte.copy._config import (
    BrokerSection,
    read_toml,
    resolve_broker,
    validate,
)
from mtponte.copy.follower.follower import FollowerOptions


class FollowerSettings(EnvFirstSettings):
    """Everything ``mtponte follow`` needs.

    Attributes
    ----------
    server_url
        The copy server (``http://`` or ``https://``).
    follower_id, master_id
        The follower account's id on the server and the master it copies.
    token
        A ``follow`` token of that follower; never logged, never in an error message.
    state_dir
        Folder of the follower's ledger (what it opened; rebuilt from the broker's
        history when lost).
    magic
        The magic number on every order the follower sends; it touches nothing else.
    heartbeat_interval_s
        Seconds between two heartbeats (account facts, copies, lease).
    long_poll_s
        How long one read of the target book waits for a change.
    push
        Receive the book's changes on the server's push stream (SSE), falling back to
        the long poll while the stream is down. Off: long poll only.
    reopen_closed_by_hand
        Reopen a copy the user closed by hand (or its SL/TP closed) while the master
        still holds it. Off by default.
    cent
        The follower account is a cent account (its lots are 1/100 of a standard lot).
    deviation_points
        Maximum slippage of a market order, in points.
    broker
        The follower's account (``[broker]``: paper, bridge or mt5).
    """

    model_config = SettingsConfigDict(
        env_prefix="MTPONTE_FOLLOW_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    server_url: str = Field(pattern=r"^https?://\S+$")
    follower_id: int = Field(ge=1)
    master_id: int = Field(ge=1)
    token: SecretStr
    state_dir: Path = Path("follower-state")
    magic: int = Field(3_003_003, ge=0, le=2**63 - 1)
    heartbeat_interval_s: float = Field(5.0, gt=0, le=3600)
    long_poll_s: float = Field(20.0, ge=0, le=60)
    push: bool = True
    reopen_closed_by_hand: bool = False
    cent: bool = False
    deviation_points: int = Field(50, ge=0, le=1_000_000)
    http_timeout_s: float = Field(10.0, gt=0)
    broker: BrokerSection = BrokerSection()

    def options(self) -> FollowerOptions:
        """The follower's run options."""
        return FollowerOptions(
            magic=self.magic,
            state_dir=self.state_dir,
            heartbeat_interval_s=self.heartbeat_interval_s,
            long_poll_s=self.long_poll_s,
            reopen_closed_by_hand=self.reopen_closed_by_hand,
            cent=self.cent,
            deviation_points=self.deviation_points,
        )


def load_follower_settings(
    path: Path | None, data: dict[str, Any] | None = None
) -> FollowerSettings:
    """Read and validate the follower's configuration (one-line :class:`ConfigError`)."""
    if data is None:
        data = read_toml(path) if path is not None else {}
    cfg = validate(FollowerSettings, data, path)
    if path is None:
        return cfg
    base = path.parent
    state = cfg.state_dir if cfg.state_dir.is_absolute() else base / cfg.state_dir
    return cfg.model_copy(update={"state_dir": state, "broker": resolve_broker(cfg.broker, base)})
