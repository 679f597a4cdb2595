"""The monitor's configuration: one TOML file, typed sections, environment overrides.

Precedence (highest first): ``MTPONTE_LIVE__SECTION__KEY`` environment variables, the
TOML file, the defaults below. Defaults are safe: ``runner.mode = "log_only"`` (the
seed's "teste em vazio": decide and journal, send nothing) and a real (non-demo)
account is refused until ``runner.allow_real_account = true``.

Example::

    symbol = "WIN"
    [runner]
    mode = "trade"
    magic = 7001
    [strategy]
    entry_mode = "stop"
    [risk]
    daily_loss_limit = 500.0
    [feed]
    kind = "replay"
    path = "data/win_m5.csv"
    [broker]
    kind = "paper"
    [journal]
    url = "sqlite:///state/journal.sqlite"
"""

from __future__ import annotations

import time as _time
import tomllib
from datetime import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import SettingsConfigDict

from mtponte._settings import EnvFirstSettings
from mtponte.alerts.config import AlertsConfig
from mtponte.errors import ConfigError
from mtponte.live.session import SessionSection
from mtponte.risk.rules import RiskLimits
from mtponte.strategies.params import ElephantParams


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RunnerSection(_Section):
    """How the monitor acts.

    Attributes
    ----------
    mode
        ``log_only``: journal decisions, send no order; ``trade``: send orders.
    magic
        Magic number on every order; positions/orders with it are ours.
    on_existing
        At start, positions/orders of ours already on the account are ``adopt``-ed
        (supervised as if we had opened them; stale pending orders are cancelled) or
        make the start ``refuse``.
    allow_real_account
        Trade a real (non-demo) account. Off by default. A paper account and a
        MetaTrader5 demo account need no arming; the bridge cannot tell, so it needs it.
    heartbeat_every_bars
        Journal a heartbeat every this many bars (0: never).
    heartbeat_file
        Touched after every bar (``mtponte supervise --heartbeat``).
    trailing
        ``prev_bar``: after each bar the stop loss trails to that bar's low (long) /
        high (short), only tightening, modified on the broker and journaled (the
        backtests' ``trailing``).
    """

    mode: Literal["log_only", "trade"] = "log_only"
    magic: int = Field(7001, ge=0)
    on_existing: Literal["adopt", "refuse"] = "refuse"
    allow_real_account: bool = False
    heartbeat_every_bars: int = Field(12, ge=0)
    heartbeat_file: Path | None = None
    trailing: Literal["off", "prev_bar"] = "off"


class RiskSection(_Section):
    """Pre-trade limits (``None`` disables a limit); see :mod:`mtponte.risk.rules`."""

    max_signal_age_s: float | None = Field(60.0, gt=0)
    max_sl_atr: float | None = Field(5.0, gt=0)
    window_start: time | None = None
    window_end: time | None = None
    daily_loss_limit: float | None = Field(None, gt=0)
    max_trades_per_day: int | None = Field(None, ge=1)
    kill_switch_file: Path | None = Path("KILL_SWITCH")

    @model_validator(mode="after")
    def _window(self) -> RiskSection:
        if (
            self.window_start is not None
            and self.window_end is not None
            and self.window_end < self.window_start
        ):
            raise ValueError("window_end must not be before window_start")
        return self

    def limits(self) -> RiskLimits:
        """The pure rules' view of this section."""
        return RiskLimits(
            max_signal_age_s=self.max_signal_age_s,
            max_sl_atr=self.max_sl_atr,
            window_start=self.window_start,
            window_end=self.window_end,
            daily_loss_limit=self.daily_loss_limit,
            max_trades_per_day=self.max_trades_per_day,
        )


class FeedSection(_Section):
    """Where closed bars come from.

    Attributes
    ----------
    kind
        ``replay``: the bar file ``path`` (``speed``, ``format``, ``dayfirst``);
        ``mt5``: the ``MetaTrader5`` package's ``copy_rates_from_pos`` (needs
        ``timeframe`` and the top-level ``server_timezone``); ``bridge``: the bridge's
        ``state/bars-<SYMBOL>-<TF>.json`` in ``bridge_dir`` (needs ``timeframe``).
        ``csv_tail``: the bar file ``path`` that MT5 (or an exporter) keeps appending
        to, followed as it grows (needs ``timeframe``; :mod:`mtponte.live.csvtail`).
        See :mod:`mtponte.live.pollfeeds`.
    timeframe
        ``M5``, ``H1`` ... (polled feeds).
    poll_s
        Seconds between polls (polled feeds).
    count
        Bars read per ``mt5`` poll, the forming one included.
    backfill
        Polled feeds: also yield the bars already closed at the start (default: they
        only warm the strategy up).
    watch, force_polling
        ``csv_tail``: wake on file changes (``watchfiles``; its polling mode with
        ``force_polling``, for network drives); the file is read every ``poll_s``
        anyway.
    bridge_times
        ``bridge``: the snapshot's bar times are ``utc`` (the protocol, the Python
        executor) or ``server`` wall time (the MQL5 EA; needs ``server_timezone``).
    """

    kind: Literal["replay", "mt5", "bridge", "csv_tail"] = "replay"
    path: Path | None = None
    speed: float = Field(0.0, ge=0)
    format: Literal["auto", "mt5", "rates", "csv"] = "auto"
    dayfirst: bool = False
    timeframe: str | None = None
    poll_s: float = Field(1.0, ge=0)
    count: int = Field(64, ge=2)
    backfill: bool = False
    bridge_dir: Path | None = None
    bridge_times: Literal["utc", "server"] = "utc"
    watch: bool = True
    force_polling: bool = False

    @model_validator(mode="after")
    def _required(self) -> FeedSection:
        missing = []
        if self.kind in ("mt5", "bridge", "csv_tail") and self.timeframe is None:
            missing.append("timeframe")
        if self.kind == "csv_tail" and self.path is None:
            missing.append("path")
        if self.kind == "bridge" and self.bridge_dir is None:
            missing.append("bridge_dir")
        if missing:
            raise ValueError(f"{' and '.join(missing)} required when kind = {self.kind!r}")
        if self.timeframe is not None:
            from mtponte.live.pollfeeds import timeframe_seconds

            try:
                timeframe_seconds(self.timeframe)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return self


class BrokerSection(_Section):
    """Which account is traded.

    Attributes
    ----------
    kind
        ``paper`` (simulated account), ``bridge`` (the EA through ``bridge_dir``) or
        ``mt5`` (the ``MetaTrader5`` package; needs the top-level ``server_timezone``).
    mt5_path, mt5_login, mt5_server, mt5_timeout_ms
        ``mt5``: passed to ``initialize`` when given (``mt5_path``: the terminal
        executable). The password is never read from this file: it comes from the
        ``MTPONTE_MT5_PASSWORD`` environment variable (or a terminal already logged in).
    """

    kind: Literal["paper", "bridge", "mt5"] = "paper"
    paper_state: str = ":memory:"
    paper_balance: float = Field(100_000.0, gt=0)
    bridge_dir: Path | None = None
    bridge_timeout_s: float = Field(15.0, gt=0)
    mt5_path: Path | None = None
    mt5_login: int | None = None
    mt5_server: str | None = None
    mt5_timeout_ms: int = Field(60_000, gt=0)

    @model_validator(mode="after")
    def _bridge(self) -> BrokerSection:
        if self.kind == "bridge" and self.bridge_dir is None:
            raise ValueError("bridge_dir is required when kind = 'bridge'")
        return self


class JournalSection(_Section):
    """Journal database and log files."""

    url: str = "sqlite:///state/journal.sqlite"
    logs_dir: Path = Path("logs")
    log_max_bytes: int = Field(5_000_000, ge=10_000)
    log_backups: int = Field(5, ge=0)


class GuardSection(_Section):
    """The daily guard: live against the backtest of the bars seen, close-only on divergence.

    Attributes
    ----------
    enabled
        Check at all (off by default: risk limits that refuse entries the backtest
        takes are a deliberate divergence and would trip it; turn it on once the limits
        are set). Only runs in ``runner.mode = "trade"``.
    max_identity_divergence
        Trip when ``1 − identity`` (backtest trades not matched live) exceeds this.
    max_pnl_divergence
        Trip when ``|live − backtest| / max(|backtest net|, mean |backtest trade|)``
        exceeds this.
    min_trades
        Judge only once the backtest has this many trades since the start (or the reset).
    every_bars
        Also check every this many bars inside a session (0: only after each session).
    flag_file
        Written when the guard trips; while it exists the runner is close-only. A human
        removes it (``mtponte guard --reset``). ``None``: kept in memory (a restart resets).
    time_tol_s, price_tol_ticks
        Pairing tolerances (docs/compare.md).
    """

    enabled: bool = False
    max_identity_divergence: float = Field(0.10, ge=0, le=1)
    max_pnl_divergence: float = Field(0.10, ge=0)
    min_trades: int = Field(5, ge=1)
    every_bars: int = Field(0, ge=0)
    flag_file: Path | None = Path("GUARD_TRIPPED")
    time_tol_s: float = Field(60.0, ge=0)
    price_tol_ticks: float = Field(1.0, ge=0)


class LiveConfig(EnvFirstSettings):
    """The whole monitor configuration (see the module docstring)."""

    model_config = SettingsConfigDict(
        env_prefix="MTPONTE_LIVE__",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    symbol: str = "WIN"
    trade_symbol: str | None = None
    timezone: str | None = None
    server_timezone: str | None = None
    runner: RunnerSection = RunnerSection()
    strategy: ElephantParams = ElephantParams()
    risk: RiskSection = RiskSection()
    feed: FeedSection = FeedSection()
    broker: BrokerSection = BrokerSection()
    journal: JournalSection = JournalSection()
    guard: GuardSection = GuardSection()
    session: SessionSection = SessionSection()
    alerts: AlertsConfig = AlertsConfig()

    @model_validator(mode="after")
    def _server_clock(self) -> LiveConfig:
        f = self.feed
        if self.server_timezone is None and (
            f.kind == "mt5" or (f.kind == "bridge" and f.bridge_times == "server")
        ):
            what = "kind = 'mt5'" if f.kind == "mt5" else "bridge_times = 'server'"
            raise ValueError(f"server_timezone is required when feed.{what}")
        if self.server_timezone is None and self.broker.kind == "mt5":
            raise ValueError("server_timezone is required when broker.kind = 'mt5'")
        if self.session.roll != "off" and self.trade_symbol is not None:
            raise ValueError("trade_symbol and session.roll = 'rule' both name the traded symbol")
        return self


def _key(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(file)"


def config_problems(path: Path | None, data: dict[str, Any] | None = None) -> list[str]:
    """Every problem of the configuration at ``path`` as ``key: message`` lines.

    Parameters
    ----------
    path
        TOML file (``None``: defaults and environment only).
    data
        Already-parsed contents (instead of reading ``path``).

    Returns
    -------
    list of str
        Empty when the configuration is valid.
    """
    try:
        _load(path, data)
    except _Invalid as exc:
        return exc.problems
    return []


class _Invalid(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _load(path: Path | None, data: dict[str, Any] | None) -> LiveConfig:
    if data is None:
        data = {}
        if path is not None:
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise _Invalid([f"(file): cannot read {path}: {exc.strerror or exc}"]) from None
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise _Invalid([f"(file): {path} is not valid TOML: {exc}"]) from None
    try:
        return LiveConfig(**data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = err["msg"]
            if err["type"] != "missing" and "input" in err and not isinstance(err["input"], dict):
                msg += f" (got {err['input']!r})"
            lines.append(f"{_key(err['loc'])}: {msg}")
        raise _Invalid(lines) from None


def load_config(path: Path | None, data: dict[str, Any] | None = None) -> LiveConfig:
    """Load and validate; any problem raises one :class:`ConfigError` listing all of them.

    Parameters
    ----------
    path
        TOML file (``None``: defaults and environment only).
    data
        Already-parsed contents (instead of reading ``path``).

    Returns
    -------
    LiveConfig
    """
    try:
        return _load(path, data)
    except _Invalid as exc:
        where = f"{path}: " if path is not None else ""
        raise ConfigError(where + "; ".join(exc.problems)) from None


def resolve_paths(cfg: LiveConfig, base: Path) -> LiveConfig:
    """``cfg`` with relative paths (feed file, logs folder, kill-switch file, SQLite
    journal, paper account file) taken from ``base``, the configuration file's folder.

    Parameters
    ----------
    cfg
        Loaded configuration.
    base
        Folder relative paths are taken from.

    Returns
    -------
    LiveConfig
    """

    def rel(p: Path | None) -> Path | None:
        return None if p is None or p.is_absolute() else base / p

    url = cfg.journal.url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        db = Path(url.removeprefix("sqlite:///"))
        if not db.is_absolute():
            url = "sqlite:///" + (base / db).as_posix()
    paper = cfg.broker.paper_state
    if paper != ":memory:" and not Path(paper).is_absolute():
        paper = (base / paper).as_posix()
    hb = cfg.runner.heartbeat_file
    return cfg.model_copy(
        update={
            "runner": cfg.runner.model_copy(update={"heartbeat_file": rel(hb) or hb}),
            "broker": cfg.broker.model_copy(update={"paper_state": paper}),
            "feed": cfg.feed.model_copy(
                update={
                    "path": rel(cfg.feed.path) or cfg.feed.path,
                    "bridge_dir": rel(cfg.feed.bridge_dir) or cfg.feed.bridge_dir,
                }
            ),
            "journal": cfg.journal.model_copy(
                update={"url": url, "logs_dir": rel(cfg.journal.logs_dir) or cfg.journal.logs_dir}
            ),
            "risk": cfg.risk.model_copy(
                update={
                    "kill_switch_file": rel(cfg.risk.kill_switch_file) or cfg.risk.kill_switch_file
                }
            ),
            "guard": cfg.guard.model_copy(
                update={"flag_file": rel(cfg.guard.flag_file) or cfg.guard.flag_file}
            ),
        }
    )


def with_strategy_overrides(cfg: LiveConfig, overrides: dict[str, str]) -> LiveConfig:
    """``cfg`` with strategy parameters replaced (``--set name=value``, as in backtest)."""
    if not overrides:
        return cfg
    params = ElephantParams.from_overrides({**cfg.strategy.model_dump(), **overrides})
    return cfg.model_copy(update={"strategy": params})


# Keys that may change while running (applied from the next bar); any other change
# needs a restart (the strategy's lookbacks, the symbol, the broker and the feed).
HOT_KEYS = ("risk.", "runner.mode", "runner.heartbeat_every_bars", "journal.log_", "guard.")


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def config_diff(old: LiveConfig, new: LiveConfig) -> dict[str, tuple[Any, Any]]:
    """``{key: (old, new)}`` of every value that differs (dotted keys, JSON values)."""
    a, b = _flat(old.model_dump(mode="json")), _flat(new.model_dump(mode="json"))
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def needs_restart(diff: dict[str, tuple[Any, Any]]) -> list[str]:
    """Keys of ``diff`` that cannot change while running."""
    return [k for k in diff if not k.startswith(HOT_KEYS)]


class ConfigWatcher:
    """Re-read the configuration file when it changes ("ajustes em tempo real").

    Parameters
    ----------
    path
        The TOML file.
    base
        Folder relative paths are taken from (default: the file's).
    settle_s
        A change is read only once the file has stayed the same this long (an editor
        may still be writing it).
    """

    def __init__(self, path: Path, base: Path | None = None, settle_s: float = 0.05) -> None:
        self.path = path
        self.base = base or path.parent
        self.settle_s = settle_s
        self._stamp = self._mtime()

    def _mtime(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def poll(self) -> LiveConfig | list[str] | None:
        """``None`` when the file did not change (or is still changing); else the new
        configuration, or the list of its problems (``key: message`` lines)."""
        stamp = self._mtime()
        if stamp == self._stamp:
            return None
        _time.sleep(self.settle_s)
        if self._mtime() != stamp:
            return None  # still being written: look again at the next poll
        self._stamp = stamp
        try:
            data = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except OSError as exc:
            return [f"(file): cannot read {self.path}: {exc.strerror or exc}"]
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            return [f"(file): {self.path} is not valid TOML: {exc}"]
        problems = config_problems(None, data)
        if problems:
            return problems
        return resolve_paths(load_config(None, data), self.base)
