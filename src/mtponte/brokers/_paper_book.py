"""Position-book operations of the paper broker, shared by its hedging and netting modes.

Every function runs inside the caller's transaction (``db``) and takes the next-id
allocator from it, so a request is one atomic unit.

Netting (MT5 retail netting and exchange accounts) keeps at most one position per
symbol:

- a deal on the position's side adds volume at the volume-weighted average price, and
  the order's SL/TP replace the position's (a missing level clears it, as MT5 does when
  an order carries zero);
- an opposite deal reduces the position (SL/TP kept), closes it at equal volume, or
  reverses it when larger (one ``inout`` deal of the full volume; the position takes
  the order's SL/TP);
- the position ticket is stable while it is increased or reduced. On a reversal MT5
  replaces the ticket with the reversing order's ticket and keeps the position
  *identifier*; deals record the identifier (``DEAL_POSITION_ID``), so the history of
  one position stays together. The identifier of a reversed position is kept in the
  ``position_ids`` table (no row: identifier = ticket).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

from mtponte.brokers.base import DONE, INVALID_STOPS, INVALID_VOLUME, POSITION_CLOSED
from mtponte.domain.orders import ExecutionReport
from mtponte.domain.symbols import SymbolSpec

_EPS = 1e-9

# The paper account's state (one SQLite file or database).
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS quotes (symbol TEXT PRIMARY KEY, bid REAL NOT NULL, ask REAL NOT NULL,
    time INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS positions (ticket INTEGER PRIMARY KEY, symbol TEXT, side INTEGER,
    volume REAL, open_price REAL, sl REAL, tp REAL, magic INTEGER, comment TEXT, open_time INTEGER);
CREATE TABLE IF NOT EXISTS orders (ticket INTEGER PRIMARY KEY, symbol TEXT, side INTEGER,
    order_type TEXT, volume REAL, price REAL, sl REAL, tp REAL, expiry INTEGER, magic INTEGER,
    comment TEXT, time INTEGER);
CREATE TABLE IF NOT EXISTS deals (deal INTEGER PRIMARY KEY, order_ticket INTEGER, position INTEGER,
    symbol TEXT, side INTEGER, volume REAL, price REAL, entry TEXT, magic INTEGER, comment TEXT,
    time INTEGER, profit REAL);
CREATE INDEX IF NOT EXISTS deals_comment ON deals (comment);
CREATE TABLE IF NOT EXISTS bars (symbol TEXT, time INTEGER, open REAL, high REAL, low REAL,
    close REAL, tick_volume REAL, real_volume REAL, spread REAL, PRIMARY KEY (symbol, time));
CREATE TABLE IF NOT EXISTS position_ids (ticket INTEGER PRIMARY KEY, identifier INTEGER NOT NULL);
"""


def ms(t: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return int(t.timestamp() * 1000)


def dt_utc(epoch_ms: int) -> datetime:
    """Aware UTC datetime of epoch milliseconds."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


NextId = Callable[[sqlite3.Connection], int]


def check_order(
    spec: SymbolSpec | None,
    symbol: str,
    side: int,
    volume: float,
    ref: float,
    sl: float | None,
    tp: float | None,
) -> ExecutionReport | None:
    """A refusal for an unknown symbol, an off-step volume or SL/TP on the wrong side of
    ``ref``; ``None`` when the order may go on."""
    if spec is None:
        return ExecutionReport(False, 10013, f"unknown symbol {symbol}")
    if spec.snap_volume(volume) != volume:
        return ExecutionReport(False, INVALID_VOLUME, f"volume {volume} not a lot-step multiple")
    if (sl is not None and (sl - ref) * side >= 0) or (tp is not None and (tp - ref) * side <= 0):
        return ExecutionReport(False, INVALID_STOPS, "SL/TP on the wrong side of the price")
    return None


def identifier(db: sqlite3.Connection, ticket: int) -> int:
    """Position identifier of ``ticket`` (the ticket itself unless it was reversed)."""
    row = db.execute("SELECT identifier FROM position_ids WHERE ticket=?", (ticket,)).fetchone()
    return int(row[0]) if row else ticket


def _credit(db: sqlite3.Connection, profit: float) -> None:
    db.execute(
        "UPDATE meta SET value=CAST(CAST(value AS REAL)+? AS TEXT) WHERE key='balance'",
        (profit,),
    )


def _deal(
    db: sqlite3.Connection,
    deal: int,
    order: int,
    position: int,
    symbol: str,
    side: int,
    volume: float,
    price: float,
    entry: str,
    magic: int,
    comment: str,
    now: int,
    profit: float,
) -> None:
    db.execute(
        "INSERT INTO deals VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (deal, order, position, symbol, side, volume, price, entry, magic, comment, now, profit),
    )


def close_at(
    db: sqlite3.Connection,
    spec: SymbolSpec,
    ticket: int,
    volume: float | None,
    price: float,
    comment: str,
    now: int,
    next_id: NextId,
) -> ExecutionReport:
    """Close ``volume`` (all when ``None``) of position ``ticket`` at ``price``.

    Returns
    -------
    ExecutionReport
        ``DONE`` with the exit deal, or a refusal (no such position, bad volume).
    """
    row = db.execute(
        "SELECT symbol, side, volume, open_price, magic, comment FROM positions WHERE ticket=?",
        (ticket,),
    ).fetchone()
    if row is None:
        return ExecutionReport(False, POSITION_CLOSED, f"no position {ticket}")
    symbol, side, open_vol, open_price, magic, open_comment = row
    vol = open_vol if volume is None else volume
    if vol <= 0 or vol > open_vol + _EPS or spec.snap_volume(vol) != vol:
        return ExecutionReport(False, INVALID_VOLUME, f"cannot close {vol} of {open_vol}")
    profit = spec.money((price - open_price) * side, vol)
    deal = next_id(db)
    ident = identifier(db, ticket)
    _deal(
        db,
        deal,
        deal,
        ident,
        symbol,
        -side,
        vol,
        price,
        "out",
        magic,
        comment or open_comment,
        now,
        profit,
    )
    if vol >= open_vol - _EPS:
        db.execute("DELETE FROM positions WHERE ticket=?", (ticket,))
        db.execute("DELETE FROM position_ids WHERE ticket=?", (ticket,))
    else:
        db.execute(
            "UPDATE positions SET volume=? WHERE ticket=?", (round(open_vol - vol, 10), ticket)
        )
    _credit(db, profit)
    return ExecutionReport(True, DONE, "closed", str(ticket), str(deal), str(deal), price, vol)


def open_new(
    db: sqlite3.Connection,
    ticket: int,
    symbol: str,
    side: int,
    volume: float,
    price: float,
    sl: float | None,
    tp: float | None,
    magic: int,
    comment: str,
    order: int,
    now: int,
    next_id: NextId,
) -> ExecutionReport:
    """Open a new position ``ticket`` with one ``in`` deal."""
    deal = next_id(db)
    db.execute(
        "INSERT INTO positions VALUES (?,?,?,?,?,?,?,?,?,?)",
        (ticket, symbol, side, volume, price, sl, tp, magic, comment, now),
    )
    _deal(db, deal, order, ticket, symbol, side, volume, price, "in", magic, comment, now, 0.0)
    return ExecutionReport(True, DONE, "done", str(ticket), str(order), str(deal), price, volume)


def net_fill(
    db: sqlite3.Connection,
    spec: SymbolSpec,
    side: int,
    volume: float,
    price: float,
    sl: float | None,
    tp: float | None,
    magic: int,
    comment: str,
    order: int,
    now: int,
    next_id: NextId,
) -> ExecutionReport:
    """Book a fill of ``order`` on a netting account (see the module docstring).

    Returns
    -------
    ExecutionReport
        ``DONE``; ``ticket`` is the symbol's position after the deal (the closed one
        when the deal flattened it).
    """
    symbol = spec.name
    row = db.execute(
        "SELECT ticket, side, volume, open_price FROM positions WHERE symbol=?", (symbol,)
    ).fetchone()
    if row is None:  # MT5: a new position takes the ticket of the order that opened it
        return open_new(
            db, order, symbol, side, volume, price, sl, tp, magic, comment, order, now, next_id
        )
    ticket, pside, pvol, popen = row
    ident = identifier(db, ticket)
    deal = next_id(db)
    if pside == side:
        total = round(pvol + volume, 10)
        avg = (popen * pvol + price * volume) / total
        db.execute(
            "UPDATE positions SET volume=?, open_price=?, sl=?, tp=? WHERE ticket=?",
            (total, avg, sl, tp, ticket),
        )
        _deal(db, deal, order, ident, symbol, side, volume, price, "in", magic, comment, now, 0.0)
        return ExecutionReport(
            True, DONE, "done", str(ticket), str(order), str(deal), price, volume
        )
    closed = min(volume, pvol)
    profit = spec.money((price - popen) * pside, closed)
    _credit(db, profit)
    if volume < pvol - _EPS:
        db.execute(
            "UPDATE positions SET volume=? WHERE ticket=?", (round(pvol - volume, 10), ticket)
        )
        entry = "out"
    elif volume <= pvol + _EPS:
        db.execute("DELETE FROM positions WHERE ticket=?", (ticket,))
        db.execute("DELETE FROM position_ids WHERE ticket=?", (ticket,))
        entry = "out"
    else:  # reversal: the position keeps its identifier and takes the order's ticket
        db.execute("DELETE FROM positions WHERE ticket=?", (ticket,))
        db.execute("DELETE FROM position_ids WHERE ticket=?", (ticket,))
        rest = round(volume - pvol, 10)
        db.execute(
            "INSERT INTO positions VALUES (?,?,?,?,?,?,?,?,?,?)",
            (order, symbol, side, rest, price, sl, tp, magic, comment, now),
        )
        if ident != order:
            db.execute("INSERT OR REPLACE INTO position_ids VALUES (?,?)", (order, ident))
        ticket = order
        entry = "inout"
    _deal(db, deal, order, ident, symbol, side, volume, price, entry, magic, comment, now, profit)
    return ExecutionReport(True, DONE, "done", str(ticket), str(order), str(deal), price, volume)
