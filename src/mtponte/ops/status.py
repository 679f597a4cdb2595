"""What ``mtponte status`` shows, read from what the monitor leaves behind.

Sources: the journal (last run, heartbeats, bars, fills, trades, signals), the
heartbeat file (``runner.heartbeat_file``), the bridge's ``state/`` snapshots (EA
heartbeat, terminal connection, positions, orders) when a bridge folder is configured,
the paper account file otherwise, the kill-switch file and the alert history. Nothing
is written. Every value is plain JSON (``--json``).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from mtponte.live.config import LiveConfig


def _age(t: datetime | None, now: float) -> float | None:
    if t is None:
        return None
    if t.tzinfo is None:  # SQLite hands times back naive (they are UTC)
        t = t.replace(tzinfo=UTC)
    return round(now - t.timestamp(), 1)


def _journal(cfg: LiveConfig, now: float, tz: str) -> dict[str, Any]:
    from mtponte.live.journal.models import BarSeen, FillRow, Heartbeat, Run, TradeRow
    from mtponte.live.journal.store import make_engine

    url = cfg.journal.url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return {"error": f"no journal at {url}"}
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            run = conn.execute(select(Run).order_by(Run.id.desc()).limit(1)).first()
            if run is None:
                return {"error": "the journal has no run yet"}
            hb = conn.execute(
                select(func.max(Heartbeat.time)).where(Heartbeat.run_id == run.id)
            ).scalar()
            last_bar = conn.execute(
                select(BarSeen.time, BarSeen.seen_at).order_by(BarSeen.id.desc()).limit(1)
            ).first()
            bars = conn.execute(
                select(func.count()).select_from(BarSeen).where(BarSeen.run_id == run.id)
            ).scalar_one()
            trades = conn.execute(select(TradeRow).order_by(TradeRow.id)).all()
            fills = conn.execute(select(FillRow.tag, FillRow.entry)).all()
    finally:
        engine.dispose()
    zone = ZoneInfo(tz)

    def day(t: datetime) -> str:
        return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(zone).date().isoformat()

    # "today": the exchange day of the last bar seen (a replay's last day)
    today = day(last_bar.time) if last_bar is not None else None
    todays = [t for t in trades if today is not None and day(t.exit_time) == today]
    entries_today = len({t.tag for t in todays})
    outs = {f.tag for f in fills if f.entry == "out"}
    open_tags = sorted({f.tag for f in fills if f.entry == "in"} - outs)
    return {
        "run": {
            "id": run.id,
            "started_at": run.started_at.isoformat(),
            "mode": run.mode,
            "broker": run.broker,
            "feed": run.feed,
            "symbol": run.symbol,
        },
        "heartbeat_age_s": _age(hb, now),
        "bars_this_run": bars,
        "last_bar": last_bar.time.isoformat() if last_bar is not None else None,
        "last_bar_seen_age_s": _age(last_bar.seen_at, now) if last_bar is not None else None,
        "day": today,
        "trades_today": len(todays),
        "entries_today": entries_today,
        "pnl_today": round(sum(t.pnl_money for t in todays), 2),
        "trades_total": len(trades),
        "pnl_total": round(sum(t.pnl_money for t in trades), 2),
        "open_tags": open_tags,
    }


def _bridge(folder: Path, now: float) -> dict[str, Any]:
    state = folder / "state"

    def read(name: str) -> Any:
        try:
            return json.loads((state / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    hb = read("heartbeat.json")
    out: dict[str, Any] = {"folder": str(folder)}
    if hb is None:
        out["error"] = f"no {state / 'heartbeat.json'}"
        return out
    out["ea_heartbeat_age_s"] = round(now - hb.get("time", 0) / 1000, 1)
    for k in ("executor", "ea_alive", "terminal_connected", "trade_allowed", "kill_switch"):
        out[k] = hb.get(k)
    pos, ords = read("positions.json"), read("orders.json")
    out["positions"] = (pos or {}).get("positions", [])
    out["orders"] = (ords or {}).get("orders", [])
    return out


def _paper(path: str, symbol: str) -> dict[str, Any]:
    if path == ":memory:" or not Path(path).is_file():
        return {}
    from mtponte.brokers.paper import PaperBroker

    broker = PaperBroker(path)
    try:
        acct = broker.account()
        return {
            "balance": acct.balance,
            "equity": acct.equity,
            "positions": [
                {
                    "ticket": p.ticket,
                    "symbol": p.symbol,
                    "side": p.side.name.lower(),
                    "volume": p.volume,
                    "open_price": p.open_price,
                    "sl": p.sl,
                    "tp": p.tp,
                    "comment": p.comment,
                }
                for p in broker.positions()
            ],
            "orders": [
                {
                    "ticket": o.ticket,
                    "symbol": o.symbol,
                    "side": o.side.name.lower(),
                    "type": o.order_type,
                    "price": o.price,
                    "comment": o.comment,
                }
                for o in broker.orders()
            ],
        }
    finally:
        broker.close()


def _limits(cfg: LiveConfig, j: dict[str, Any]) -> list[dict[str, Any]]:
    r = cfg.risk
    pnl, n = j.get("pnl_today", 0.0), j.get("entries_today", 0)
    out = []
    if r.daily_loss_limit is not None:
        used = max(0.0, -pnl) / r.daily_loss_limit
        out.append(
            {"limit": "daily_loss", "value": r.daily_loss_limit, "now": pnl, "used": round(used, 3)}
        )
    else:
        out.append({"limit": "daily_loss", "value": None, "now": pnl, "used": None})
    cap = r.max_trades_per_day
    out.append(
        {
            "limit": "max_trades_per_day",
            "value": cap,
            "now": n,
            "used": round(n / cap, 3) if cap else None,
        }
    )
    window = None
    if r.window_start is not None or r.window_end is not None:
        window = f"{r.window_start or ''}–{r.window_end or ''}"
    out.append({"limit": "window", "value": window, "now": None, "used": None})
    out.append(
        {"limit": "max_signal_age_s", "value": r.max_signal_age_s, "now": None, "used": None}
    )
    out.append({"limit": "max_sl_atr", "value": r.max_sl_atr, "now": None, "used": None})
    return out


def collect(cfg: LiveConfig, now: float | None = None, last_alerts: int = 10) -> dict[str, Any]:
    """Everything ``mtponte status`` shows, as plain JSON values.

    Parameters
    ----------
    cfg
        The monitor's configuration (paths already resolved).
    now
        Epoch seconds (default: the clock).
    last_alerts
        How many of the latest alerts to include.

    Returns
    -------
    dict
    """
    from mtponte.alerts.channels import read_history
    from mtponte.alerts.manager import history_path
    from mtponte.domain.symbols import get_symbol

    now = time.time() if now is None else now
    try:
        tz = cfg.timezone or get_symbol(cfg.symbol).timezone
    except Exception:  # an unknown preset: fall back to UTC days
        tz = "UTC"
    j = _journal(cfg, now, tz)
    hb_file = cfg.runner.heartbeat_file
    hb_age = None
    if hb_file is not None and hb_file.exists():
        hb_age = round(now - hb_file.stat().st_mtime, 1)
    bridge_dir = cfg.broker.bridge_dir or cfg.feed.bridge_dir
    kill = cfg.risk.kill_switch_file
    hist = history_path(cfg.alerts, cfg.journal.logs_dir)
    out: dict[str, Any] = {
        "time": datetime.fromtimestamp(now, UTC).isoformat(),
        "symbol": cfg.trade_symbol or cfg.symbol,
        "monitor": {
            "heartbeat_file": str(hb_file) if hb_file else None,
            "heartbeat_file_age_s": hb_age,
            "journal_heartbeat_age_s": j.get("heartbeat_age_s"),
            "last_bar": j.get("last_bar"),
            "feed_lag_s": j.get("last_bar_seen_age_s"),
            "run": j.get("run"),
        },
        "journal": j,
        "bridge": _bridge(bridge_dir, now) if bridge_dir is not None else None,
        "account": _paper(cfg.broker.paper_state, cfg.symbol) if cfg.broker.kind == "paper" else {},
        "limits": _limits(cfg, j),
        "kill_switch": {
            "file": str(kill) if kill else None,
            "active": bool(kill is not None and kill.exists()),
        },
        "alerts": read_history(hist, last_alerts) if hist is not None else [],
    }
    return out
