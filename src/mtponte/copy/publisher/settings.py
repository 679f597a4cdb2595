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

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from mtponte.errors import ConfigError

if TYPE_CHECKING:
    from mtponte.brokers.base import Broker

_SECRET_KEYS = ("token", "password")


class BrokerSection(BaseModel):
    """The master account the publisher watches.

    Attributes
    ----------
    kind
        ``paper``: a paper account (its state file ``paper_state``, ``paper_mode``
        hedging or netting, the preset ``symbols`` of :mod:`mtponte.domain.symbols`);
        ``bridge``: the bridge folder ``bridge_dir`` the MQL5 executor serves, read
        only (a monitor may trade through the same folder); ``mt5``: the
        ``MetaTrader5`` package (Windows, one terminal; needs ``server_timezone``;
        ``login``/``password``/``server``/``path`` optional, the terminal's own login
        otherwise).
    magic
        ``mt5``: the adapter reads only positions with this magic (``None``: all); the
        publisher's own ``magic`` filter works with every kind.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["paper", "bridge", "mt5"] = "paper"
    symbols: list[str] = Field(default_factory=lambda: ["WIN"])
    paper_state: str = ":memory:"
    paper_balance: float = Field(100_000.0, gt=0)
    paper_mode: Literal["hedging", "netting"] = "hedging"
    bridge_dir: Path | None = None
    bridge_timeout_s: float = Field(15.0, gt=0)
    server_timezone: str | None = None
    login: int | None = None
    password: SecretStr | None = None
    server: str | None = None
    path: Path | None = None
    magic: int | None = None

    @model_validator(mode="after")
    def _required(self) -> BrokerSection:
        if self.kind == "bridge" and self.bridge_dir is None:
            raise ValueError("bridge_dir is required when kind = 'bridge'")
        if self.kind == "mt5" and self.server_timezone is None:
            raise ValueError("server_timezone is required when kind = 'mt5'")
        return self


class PublisherSettings(BaseSettings):
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
    http_timeout_s: float = Field(10.0, gt=0)
    backoff_initial_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(30.0, gt=0)
    broker: BrokerSection = BrokerSection()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init arguments; the environment overrides them.
        return (env_settings, init_settings)


def _problem(err: Any) -> str:
    loc = ".".join(str(p) for p in err["loc"]) or "(file)"
    msg = str(err["msg"])
    secret = any(str(p) in _SECRET_KEYS for p in err["loc"])
    if (
        not secret
        and err["type"] != "missing"
        and "input" in err
        and not isinstance(err["input"], dict)
    ):
        msg += f" (got {err['input']!r})"
    return f"{loc}: {msg}"


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
    where = f"{path}: " if path is not None else ""
    if data is None:
        data = {}
        if path is not None:
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    try:
        cfg = PublisherSettings(**data)
    except ValidationError as exc:
        raise ConfigError(where + "; ".join(_problem(e) for e in exc.errors())) from None
    return cfg if path is None else resolve_paths(cfg, path.parent)


def resolve_paths(cfg: PublisherSettings, base: Path) -> PublisherSettings:
    """``cfg`` with relative paths (state folder, paper account, bridge folder) taken
    from ``base``."""

    def rel(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else base / p

    b = cfg.broker
    paper = b.paper_state
    if paper != ":memory:" and not Path(paper).is_absolute():
        paper = (base / paper).as_posix()
    broker = b.model_copy(update={"paper_state": paper, "bridge_dir": rel(b.bridge_dir)})
    return cfg.model_copy(update={"state_dir": rel(cfg.state_dir), "broker": broker})


def _bridge_reader(root: Path, timeout_s: float) -> Broker:
    """A :class:`~mtponte.brokers.bridge.BridgeBroker` that only reads ``state/``.

    The monitor trading through the same bridge folder owns its client journal
    (``journal/client.sqlite``): a second ``BridgeBroker`` there would recover, and so
    settle, the monitor's unfinished commands. This one keeps a journal of its own and
    never recovers; the publisher never sends a command.
    """
    from mtponte.bridge.client import BridgeClient
    from mtponte.brokers.bridge import BridgeBroker

    class _Reader(BridgeBroker):
        def __init__(self) -> None:
            self.client = BridgeClient(root, journal_path=root / "journal" / "publisher.sqlite")
            self.magic = None
            self.timeout_s = timeout_s

    return _Reader()


def make_broker(section: BrokerSection) -> Broker:
    """The :class:`~mtponte.brokers.base.Broker` a broker section describes (adapters
    are imported here, so the ``MetaTrader5`` package is needed only for ``mt5``).

    Parameters
    ----------
    section
        The ``[broker]`` section.

    Returns
    -------
    Broker
    """
    if section.kind == "paper":
        from mtponte.brokers.paper import PaperBroker
        from mtponte.domain.symbols import get_symbol

        specs = [get_symbol(s) for s in section.symbols]
        return PaperBroker(
            section.paper_state,
            symbols=specs,
            balance=section.paper_balance,
            currency=specs[0].currency if specs else "BRL",
            account_mode=section.paper_mode,
        )
    if section.kind == "bridge":
        assert section.bridge_dir is not None
        return _bridge_reader(section.bridge_dir, section.bridge_timeout_s)
    from mtponte.brokers.mt5 import Mt5Broker

    assert section.server_timezone is not None
    broker = Mt5Broker(
        server_timezone=section.server_timezone,
        symbols=section.symbols,
        path=section.path,
        login=section.login,
        password=None if section.password is None else section.password.get_secret_value(),
        server=section.server,
        magic=section.magic,
    )
    broker.connect()
    return broker
