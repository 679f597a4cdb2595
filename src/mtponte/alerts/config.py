"""The ``[alerts]`` configuration section (part of the monitor's TOML file).

Secrets are :class:`~pydantic.SecretStr` (never shown in a repr, a log line or an
error); set them in the environment rather than the file, for example::

    MTPONTE_LIVE__ALERTS__TELEGRAM__BOT_TOKEN=123456:ABC...
    MTPONTE_LIVE__ALERTS__TELEGRAM__CHAT_ID=-1001234567890

Example::

    [alerts]
    language = "pt"
    events = ["fill", "exit", "rejection", "daily_loss", "kill_switch"]
    [alerts.telegram]
    commands = true
    [alerts.webhook]
    url = "https://example.org/hooks/mtponte"
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict

from mtponte._settings import EnvFirstSettings
from mtponte.alerts.events import AlertKind, Language
from mtponte.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TelegramConfig(_Section):
    """Telegram Bot API notifier (and optional inbound commands).

    Attributes
    ----------
    bot_token, chat_id
        From @BotFather and the chat the bot writes to (only commands from this chat
        are obeyed).
    base_url
        The Bot API address (tests point it at a local fake server).
    timeout_s
        Per-request timeout.
    attempts, backoff_s, backoff_cap_s
        Retries with capped exponential backoff; a 429's ``retry_after`` is waited
        (capped by ``backoff_cap_s``).
    min_interval_s
        At most one message this often (Telegram allows about one per second per chat).
    commands
        Poll ``getUpdates`` for ``/status``, ``/pause``, ``/resume``, ``/kill``.
    poll_timeout_s
        Long-polling timeout of ``getUpdates``.
    confirm_s
        ``/kill`` must be confirmed within this long.
    """

    bot_token: SecretStr
    chat_id: SecretStr
    base_url: str = "https://api.telegram.org"
    timeout_s: float = Field(10.0, gt=0)
    attempts: int = Field(4, ge=1)
    backoff_s: float = Field(0.5, ge=0)
    backoff_cap_s: float = Field(30.0, ge=0)
    min_interval_s: float = Field(1.0, ge=0)
    commands: bool = False
    poll_timeout_s: int = Field(25, ge=0)
    confirm_s: float = Field(60.0, gt=0)


class WebhookConfig(_Section):
    """Generic JSON webhook: ``POST url`` with ``{"kind", "severity", "text", "time",
    "fields"}``; with ``secret`` set, header ``X-Mtponte-Signature: sha256=<hex>`` is the
    HMAC-SHA256 of the body."""

    url: str
    secret: SecretStr | None = None
    timeout_s: float = Field(10.0, gt=0)
    attempts: int = Field(3, ge=1)
    backoff_s: float = Field(0.5, ge=0)
    backoff_cap_s: float = Field(30.0, ge=0)


class EmailConfig(_Section):
    """E-mail through an SMTP server (stdlib :mod:`smtplib`)."""

    host: str
    port: int = Field(587, gt=0)
    sender: str
    to: list[str] = Field(min_length=1)
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = True
    ssl: bool = False
    timeout_s: float = Field(15.0, gt=0)
    subject_prefix: str = "[mtponte]"


class AlertsConfig(_Section):
    """Which notifiers are on and what they are told.

    Attributes
    ----------
    language
        ``pt`` or ``en`` message templates.
    events
        Kinds sent (default: all).
    log
        Also write every alert to the ``mtponte.alerts`` logger.
    dedup_window_s
        The same alert (kind and key) within this long is sent once.
    queue_size
        Alerts waiting per notifier; when full the oldest is dropped (and counted).
    ea_stale_s
        With a bridge folder configured, an EA heartbeat (``state/heartbeat.json``)
        older than this raises ``ea_stale`` (checked every ``watch_every_s``).
    feed_stall_s
        No new bar for this long raises ``feed_stalled`` (``None``: off; set it above
        the bar length plus the market's pauses you accept).
    watch_every_s
        How often the two checks above run (in a background thread).
    history_file
        Every alert is appended here as one JSON line (``mtponte status`` shows the
        last ones); relative: inside the monitor's ``journal.logs_dir``. Empty: off.
    """

    language: Language = "pt"
    events: list[AlertKind] | None = None
    log: bool = True
    dedup_window_s: float = Field(300.0, ge=0)
    queue_size: int = Field(1000, ge=1)
    history_file: Path | None = Path("alerts.jsonl")
    ea_stale_s: float = Field(30.0, gt=0)
    feed_stall_s: float | None = Field(None, gt=0)
    watch_every_s: float = Field(5.0, gt=0)
    telegram: TelegramConfig | None = None
    webhook: WebhookConfig | None = None
    email: EmailConfig | None = None


class _AlertsOnly(EnvFirstSettings):
    """The ``[alerts]`` table of any TOML file plus its ``MTPONTE_LIVE__ALERTS__*``
    environment overrides (the names the monitor's configuration uses)."""

    model_config = SettingsConfigDict(
        env_prefix="MTPONTE_LIVE__", env_nested_delimiter="__", extra="ignore", frozen=True
    )
    alerts: AlertsConfig = AlertsConfig()


def load_alerts_config(path: Path | None) -> AlertsConfig:
    """Read the ``[alerts]`` table of ``path`` (``None``: environment only).

    Parameters
    ----------
    path
        A TOML file (the monitor's configuration, or a file with only ``[alerts]``).

    Returns
    -------
    AlertsConfig

    Raises
    ------
    ConfigError
        Unreadable file or invalid values (one line, secrets not shown).
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    try:
        return _AlertsOnly(**{k: v for k, v in data.items() if k == "alerts"}).alerts
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{path or 'environment'}: {problems}") from None
