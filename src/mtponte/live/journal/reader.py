"""Reading a run back from the journal (or a ``trades.csv``) for reports."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from mtponte.domain.bars import Bar
from mtponte.domain.orders import Trade
from mtponte.domain.side import ExitReason, Side
from mtponte.errors import ConfigError, DataError
from mtponte.live.journal.models import (
    BarSeen,
    CommandRow,
    FillRow,
    Heartbeat,
    RiskDecisionRow,
    Run,
    SignalRow,
    TradeRow,
)
from mtponte.live.journal.store import make_engine
from mtponte.reports.records import CommandRec, FillRec, LiveRecord, SignalRec


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _maybe(t: datetime | None) -> datetime | None:
    return None if t is None else _utc(t)


def read_journal(url: str, run_id: int | None = None) -> LiveRecord:
    """One run of the journal at ``url`` (default: the latest).

    Raises
    ------
    ConfigError
        No such database, run, or not a journal.
    """
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rid = run_id or conn.execute(select(Run.id).order_by(Run.id.desc())).scalar()
            if rid is None:
                raise ConfigError(f"journal {url}: no run recorded")
            run = conn.execute(select(Run).where(Run.id == rid)).first()
            if run is None:
                raise ConfigError(f"journal {url}: no run {rid}")

            def rows(model: Any) -> list[Any]:
                q: Any = select(model).where(model.run_id == rid).order_by(model.id)
                return list(conn.execute(q).all())

            bars = rows(BarSeen)
            refusals: dict[int, str] = {}
            for d in rows(RiskDecisionRow):
                if not d.allowed and d.signal_id not in refusals:
                    refusals[d.signal_id] = d.reason
            signals = [
                SignalRec(
                    _utc(s.bar_time),
                    s.side,
                    s.kind,
                    s.outcome,
                    _utc(s.created_at),
                    refusals.get(s.id, ""),
                )
                for s in rows(SignalRow)
            ]
            commands = [
                CommandRec(
                    c.tag,
                    c.kind,
                    c.side,
                    c.state,
                    c.retcode,
                    c.message,
                    _utc(c.created_at),
                    _maybe(c.done_at),
                )
                for c in conn.execute(
                    select(CommandRow)
                    .where(CommandRow.run_id == rid)
                    .order_by(CommandRow.created_at)
                ).all()
            ]
            fills = [FillRec(f.tag, f.entry, f.price, _utc(f.bar_time)) for f in rows(FillRow)]
            trades = [
                Trade(
                    _utc(t.entry_time),
                    _utc(t.exit_time),
                    Side.BUY if t.side == "buy" else Side.SELL,
                    t.volume,
                    t.entry_price,
                    t.exit_price,
                    t.sl,
                    t.tp,
                    t.pnl_points,
                    t.pnl_money,
                    ExitReason(t.exit_reason),
                )
                for t in rows(TradeRow)
            ]
            beats = [_utc(h.time) for h in rows(Heartbeat)]
            config = json.loads(run.config or "{}")
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ConfigError(f"cannot read journal {url}: {reason}") from None
    finally:
        engine.dispose()
    return LiveRecord(
        trades=trades,
        bars=[
            Bar(_utc(b.time), b.open, b.high, b.low, b.close, b.tick_volume, b.real_volume)
            for b in bars
        ],
        seen_at=[_utc(b.seen_at) for b in bars],
        signals=signals,
        commands=commands,
        fills=fills,
        heartbeats=beats,
        config=config,
        source=f"{url} (run {rid})",
    )


def read_trades_csv(path: Path) -> LiveRecord:
    """The trades of a ``trades.csv`` (the backtest's and the replay's format).

    Raises
    ------
    DataError
        A row that is not a trade.
    """
    trades: list[Trade] = []
    with path.open(newline="", encoding="utf-8") as fh:
        for line, r in enumerate(csv.DictReader(fh), start=2):
            try:
                trades.append(
                    Trade(
                        _utc(datetime.fromisoformat(r["entry_time"])).astimezone(UTC),
                        _utc(datetime.fromisoformat(r["exit_time"])).astimezone(UTC),
                        Side.BUY if r["side"].lower() == "buy" else Side.SELL,
                        float(r["volume"]),
                        float(r["entry_price"]),
                        float(r["exit_price"]),
                        float(r["sl"]),
                        float(r["tp"]),
                        float(r["pnl_points"]),
                        float(r["pnl_money"]),
                        ExitReason(r["exit_reason"]),
                    )
                )
            except (KeyError, ValueError, TypeError) as exc:
                raise DataError(f"not a trade row ({exc})", str(path), line) from None
    return LiveRecord(trades=trades, source=str(path))


def read_live(where: str | Path, run_id: int | None = None) -> LiveRecord:
    """A journal URL, a journal file, a ``trades.csv``, or a folder holding
    ``journal.sqlite`` (preferred) or ``trades.csv``.

    Raises
    ------
    ConfigError
        Nothing readable there.
    """
    s = str(where)
    if "://" in s:
        return read_journal(s, run_id)
    p = Path(where)
    if p.is_dir():
        if (p / "journal.sqlite").is_file():
            return read_journal(f"sqlite:///{(p / 'journal.sqlite').as_posix()}", run_id)
        if (p / "trades.csv").is_file():
            return read_trades_csv(p / "trades.csv")
        raise ConfigError(f"{p}: no journal.sqlite or trades.csv in this folder")
    if not p.is_file():
        raise ConfigError(f"{p}: no such file or folder")
    if p.suffix.lower() == ".csv":
        return read_trades_csv(p)
    return read_journal(f"sqlite:///{p.as_posix()}", run_id)
