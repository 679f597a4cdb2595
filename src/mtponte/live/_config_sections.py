"""The sections of the monitor's configuration (a private part of :mod:`.config`).

One frozen pydantic model per TOML table: ``[runner]``, ``[risk]``, ``[feed]``,
``[broker]``, ``[journal]`` and ``[guard]``, with their defaults and the checks that
involve one section only (a window that ends before it starts, a feed kind without the
settings it needs). :class:`~mtponte.live.config.LiveConfig` assembles them; import them
from :mod:`mtponte.live.config`.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mtponte.errors import ConfigError
from mtponte.risk.rules import RiskLimits


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
