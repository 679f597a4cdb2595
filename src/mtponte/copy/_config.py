"""Configuration shared by the publisher and the follower: the ``[broker]`` section,
the broker it builds, and TOML loading with one-line errors (secrets never echoed)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from mtponte.errors import ConfigError

if TYPE_CHECKING:
    from mtponte.brokers.base import Broker

_SECRET_KEYS = ("token", "password")


S = TypeVar("S", bound=BaseModel)


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


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed TOML file (one-line :class:`ConfigError` when unreadable)."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def validate(cls: type[S], data: dict[str, Any], path: Path | None) -> S:
    """``cls(**data)``, every problem on one line of :class:`ConfigError`."""
    where = f"{path}: " if path is not None else ""
    try:
        return cls(**data)
    except ValidationError as exc:
        raise ConfigError(where + "; ".join(_problem(e) for e in exc.errors())) from None


def resolve_broker(b: BrokerSection, base: Path) -> BrokerSection:
    """``b`` with relative paths (paper account, bridge folder) taken from ``base``."""
    paper = b.paper_state
    if paper != ":memory:" and not Path(paper).is_absolute():
        paper = (base / paper).as_posix()
    bridge = b.bridge_dir
    if bridge is not None and not bridge.is_absolute():
        bridge = base / bridge
    return b.model_copy(update={"paper_state": paper, "bridge_dir": bridge})


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


def make_broker(section: BrokerSection, trading: bool = False) -> Broker:
    """The :class:`~mtponte.brokers.base.Broker` a broker section describes (adapters
    are imported here, so the ``MetaTrader5`` package is needed only for ``mt5``).

    Parameters
    ----------
    section
        The ``[broker]`` section.
    trading
        ``bridge``: a full :class:`~mtponte.brokers.bridge.BridgeBroker` that sends
        commands (the follower); otherwise a reader that never does (the publisher).

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
        if trading:
            from mtponte.brokers.bridge import BridgeBroker

            return BridgeBroker(section.bridge_dir, section.magic, section.bridge_timeout_s)
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
