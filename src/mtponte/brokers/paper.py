"""Paper broker: a simulated account that fills like the backtester.

Market orders fill at the quote (ask to buy, bid to sell) moved ``slippage_ticks``
against the trade; pending stop orders and SL/TP are checked on every bar with the
backtester's fill model (:mod:`mtponte.backtest.fill`), so paper and backtest agree.
State lives in SQLite (``:memory:`` by default, or a file that survives a crash of
the process using it); every request is one transaction.

``account_mode="hedging"`` (the default) opens one position per entry;
``"netting"`` keeps at most one position per symbol, as MT5 netting and exchange
accounts do (:mod:`mtponte.brokers._paper_book`). The bar-driven simulation
(:meth:`PaperBroker.on_bar`: pending orders triggered, SL/TP exits) is mixed in from
:mod:`mtponte.brokers._paper_sim`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from mtponte.backtest.fill import slipped
from mtponte.brokers._paper_book import (
    SCHEMA,
    check_order,
    close_at,
    dt_utc,
    identifier,
    ms,
    net_fill,
    open_new,
)
from mtponte.brokers._paper_sim import SimulationMixin
from mtponte.brokers.base import (
    DONE,
    INVALID_STOPS,
    PLACED,
    POSITION_CLOSED,
    PRICE_OFF,
    REQUOTE,
    Broker,
)
from mtponte.domain.bars import Bar
from mtponte.domain.orders import (
    AccountInfo,
    AccountMode,
    Deal,
    ExecutionReport,
    PendingOrder,
    Position,
)
from mtponte.domain.side import Side
from mtponte.domain.symbols import WIN, SymbolSpec
from mtponte.errors import ConfigError


class PaperBroker(SimulationMixin, Broker):
    """Simulated account.

    Parameters
    ----------
    path
        SQLite file for the account state, or ``":memory:"``.
    symbols
        Tradable symbols (default: WIN).
    balance
        Starting balance (only used when the state is new).
    slippage_ticks
        Ticks against the trade on every fill.
    clock
        Returns "now" (aware UTC); injectable for tests and replays.
    account_mode
        ``"hedging"`` (default) or ``"netting"``; stored with the state, so a state
        file cannot be reopened in the other mode.
    """

    def __init__(
        self,
        path: str | Path = ":memory:",
        symbols: list[SymbolSpec] | None = None,
        balance: float = 100_000.0,
        slippage_ticks: int = 0,
        currency: str = "BRL",
        clock: object = None,
        account_mode: AccountMode = "hedging",
    ) -> None:
        if account_mode not in ("hedging", "netting"):
            raise ConfigError(f"account_mode must be 'hedging' or 'netting', got {account_mode!r}")
        self.account_mode: AccountMode = account_mode
        self._specs = {s.name: s for s in (symbols or [WIN])}
        self.slippage_ticks = slippage_ticks
        self.currency = currency
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO meta VALUES ('balance', ?)", (repr(balance),))
            db.execute("INSERT OR IGNORE INTO meta VALUES ('next_id', '1000')")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('account_mode', ?)", (account_mode,))
            stored = db.execute("SELECT value FROM meta WHERE key='account_mode'").fetchone()[0]
        if stored != account_mode:
            self._db.close()
            raise ConfigError(f"paper account {path} is {stored}, not {account_mode}")

    # ----------------------------------------------------------------- plumbing
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _next_id(self, db: sqlite3.Connection) -> int:
        n = int(db.execute("SELECT value FROM meta WHERE key='next_id'").fetchone()[0])
        db.execute("UPDATE meta SET value=? WHERE key='next_id'", (str(n + 1),))
        return n

    def now(self) -> datetime:
        """The account's clock (aware UTC; the injected ``clock`` in tests and replays)."""
        t = self._clock()  # type: ignore[operator]
        assert isinstance(t, datetime)
        return t

    def close(self) -> None:
        self._db.close()

    def is_demo(self) -> bool:
        """A paper account is simulated money."""
        return True

    def position_identifier(self, ticket: str) -> str:
        """MT5's position identifier (differs from the ticket after a netting reversal)."""
        return str(identifier(self._db, int(ticket)))

    # ----------------------------------------------------------------- quotes
    def set_quote(self, symbol: str, bid: float, ask: float | None = None) -> None:
        """Set the current price of ``symbol`` (``ask`` defaults to ``bid``)."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO quotes VALUES (?,?,?,?)",
                (symbol, bid, bid if ask is None else ask, ms(self.now())),
            )

    def quote(self, symbol: str) -> tuple[float, float] | None:
        """The last price set with :meth:`set_quote` or fed by :meth:`on_bar`."""
        with self._lock:
            q = "SELECT bid, ask FROM quotes WHERE symbol=?"
            row = self._db.execute(q, (symbol,)).fetchone()
        return (float(row[0]), float(row[1])) if row else None

    # ----------------------------------------------------------------- reads
    def symbols(self) -> dict[str, SymbolSpec]:
        return dict(self._specs)

    def _profit(
        self, spec: SymbolSpec, side: int, open_price: float, price: float, volume: float
    ) -> float:
        return spec.money((price - open_price) * side, volume)

    def positions(self) -> list[Position]:
        with self._lock:  # one snapshot: a trading thread may be mid-transaction
            rows = self._db.execute(
                "SELECT ticket, symbol, side, volume, open_price, open_time, sl, tp, magic,"
                " comment FROM positions ORDER BY ticket"
            ).fetchall()
        out = []
        for r in rows:
            ticket, sym, side, vol, price, t, sl, tp, magic, comment = r
            q = self.quote(sym)
            mark = (q[0] if side > 0 else q[1]) if q else price
            pnl = self._profit(self._specs[sym], side, price, mark, vol)
            out.append(
                Position(
                    str(ticket), sym, Side(side), vol, price, dt_utc(t), sl, tp, magic, comment, pnl
                )
            )
        return out

    def orders(self) -> list[PendingOrder]:
        with self._lock:
            rows = self._db.execute(
                "SELECT ticket, symbol, side, order_type, volume, price, sl,"
                " tp, expiry, magic, comment FROM orders ORDER BY ticket"
            ).fetchall()
        out = []
        for ticket, sym, side, otype, vol, price, sl, tp, exp, magic, comment in rows:
            expiry = dt_utc(exp) if exp else None
            out.append(
                PendingOrder(
                    str(ticket), sym, Side(side), otype, vol, price, sl, tp, expiry, magic, comment
                )
            )
        return out

    def deals(self, comment: str | None = None) -> list[Deal]:
        sql = (
            "SELECT deal, order_ticket, position, symbol, side, volume, price, entry, time,"
            " magic, comment, profit FROM deals"
        )
        args: tuple[str, ...] = ()
        if comment is not None:
            # The deals of the positions this tag opened: an SL/TP exit carries the
            # server's comment ("[sl 119000]"), as on MT5, not the tag.
            sql += (
                " WHERE comment=? OR EXISTS (SELECT 1 FROM deals t WHERE t.comment=?"
                " AND t.entry IN ('in', 'inout') AND t.position = deals.position"
                " AND t.deal <= deals.deal)"
            )
            args = (comment, comment)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY deal", args).fetchall()
        out = []
        for (
            deal,
            order,
            pos,
            sym,
            side,
            vol,
            price,
            entry,
            t,
            magic,
            comment,
            profit,
        ) in rows:
            ids = (str(deal), str(order), str(pos))
            at = dt_utc(t)
            out.append(Deal(*ids, sym, Side(side), vol, price, entry, at, magic, comment, profit))
        return out

    def account(self) -> AccountInfo:
        day0 = ms(self.now().replace(hour=0, minute=0, second=0, microsecond=0))
        with self._lock:  # balance, positions and deals from one state (RLock: re-entered)
            balance = float(
                self._db.execute("SELECT value FROM meta WHERE key='balance'").fetchone()[0]
            )
            floating = sum(p.profit for p in self.positions())
            realized = self._db.execute(
                "SELECT COALESCE(SUM(profit), 0) FROM deals WHERE time>=?", (day0,)
            ).fetchone()[0]
        return AccountInfo(
            "paper",
            self.currency,
            balance,
            balance + floating,
            float(realized) + floating,
            self.account_mode,
        )

    # ----------------------------------------------------------------- trading
    def _fill_in(
        self,
        db: sqlite3.Connection,
        symbol: str,
        side: int,
        volume: float,
        price: float,
        sl: float | None,
        tp: float | None,
        magic: int,
        comment: str,
        order: int,
    ) -> ExecutionReport:
        now = ms(self.now())
        if self.account_mode == "netting":
            spec = self._specs[symbol]
            return net_fill(
                db, spec, side, volume, price, sl, tp, magic, comment, order, now, self._next_id
            )
        ticket = self._next_id(db)
        return open_new(
            db,
            ticket,
            symbol,
            side,
            volume,
            price,
            sl,
            tp,
            magic,
            comment,
            order,
            now,
            self._next_id,
        )

    def market_order(
        self,
        symbol: str,
        side: Side,
        volume: float,
        sl: float | None = None,
        tp: float | None = None,
        deviation_points: int = 10,
        magic: int = 0,
        comment: str = "",
        price: float | None = None,
    ) -> ExecutionReport:
        with self._tx() as db:
            q = self.quote(symbol)
            if q is None:
                return ExecutionReport(False, PRICE_OFF, f"no quote for {symbol}")
            raw = q[1] if side > 0 else q[0]
            bad = check_order(
                self._specs.get(symbol), symbol, side, volume, raw, sl, tp
            )  # also: unknown symbol
            if bad is not None:
                return bad
            spec = self._specs[symbol]
            fill = slipped(raw, int(side), True, float(self.slippage_ticks), spec.tick_size)
            point = 10.0**-spec.digits  # MT5's SYMBOL_POINT: deviation is in points, not ticks
            if price is not None and abs(fill - price) > deviation_points * point + 1e-9:
                return ExecutionReport(
                    False,
                    REQUOTE,
                    f"price moved to {fill}, beyond {deviation_points} points of {price}",
                )
            return self._fill_in(
                db, symbol, int(side), volume, fill, sl, tp, magic, comment, self._next_id(db)
            )

    def place_order(
        self,
        symbol: str,
        side: Side,
        order_type: str,
        volume: float,
        price: float,
        sl: float | None = None,
        tp: float | None = None,
        expiry: datetime | None = None,
        magic: int = 0,
        comment: str = "",
    ) -> ExecutionReport:
        bad = check_order(self._specs.get(symbol), symbol, side, volume, price, sl, tp)
        if bad is not None:
            return bad
        if order_type not in ("stop", "limit"):
            return ExecutionReport(False, 10013, f"order type {order_type!r}")
        with self._tx() as db:
            ticket = self._next_id(db)
            db.execute(
                "INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    ticket,
                    symbol,
                    int(side),
                    order_type,
                    volume,
                    price,
                    sl,
                    tp,
                    ms(expiry) if expiry else None,
                    magic,
                    comment,
                    ms(self.now()),
                ),
            )
        return ExecutionReport(
            True, PLACED, "placed", order=str(ticket), price=price, volume=volume
        )

    def cancel_order(self, ticket: str) -> ExecutionReport:
        with self._tx() as db:
            n = db.execute("DELETE FROM orders WHERE ticket=?", (int(ticket),)).rowcount
        if not n:
            return ExecutionReport(False, 10013, f"no order {ticket}")
        return ExecutionReport(True, DONE, "cancelled", order=ticket)

    def _close(
        self,
        db: sqlite3.Connection,
        ticket: int,
        volume: float | None,
        price: float | None,
        comment: str,
    ) -> ExecutionReport:
        row = db.execute("SELECT symbol, side FROM positions WHERE ticket=?", (ticket,)).fetchone()
        if row is None:
            return ExecutionReport(False, POSITION_CLOSED, f"no position {ticket}")
        symbol, side = row
        spec = self._specs[symbol]
        if price is None:
            q = self.quote(symbol)
            if q is None:
                return ExecutionReport(False, PRICE_OFF, f"no quote for {symbol}")
            price = slipped(
                q[0] if side > 0 else q[1], side, False, float(self.slippage_ticks), spec.tick_size
            )
        return close_at(db, spec, ticket, volume, price, comment, ms(self.now()), self._next_id)

    def close_position(
        self,
        ticket: str,
        volume: float | None = None,
        deviation_points: int = 10,
        comment: str = "",
    ) -> ExecutionReport:
        with self._tx() as db:
            return self._close(db, int(ticket), volume, None, comment)

    def modify_position(self, ticket: str, sl: float | None, tp: float | None) -> ExecutionReport:
        with self._tx() as db:
            row = db.execute(
                "SELECT symbol, side, sl, tp FROM positions WHERE ticket=?", (int(ticket),)
            ).fetchone()
            if row is None:
                return ExecutionReport(False, POSITION_CLOSED, f"no position {ticket}")
            q = self.quote(row[0])
            ref = (q[0] if row[1] > 0 else q[1]) if q else None
            # MT5's convention: None keeps a level, 0 removes it.
            new_sl = row[2] if sl is None else (sl or None)
            new_tp = row[3] if tp is None else (tp or None)
            if ref is not None and (
                (new_sl is not None and (new_sl - ref) * row[1] >= 0)
                or (new_tp is not None and (new_tp - ref) * row[1] <= 0)
            ):
                return ExecutionReport(False, INVALID_STOPS, "SL/TP on the wrong side of the price")
            db.execute(
                "UPDATE positions SET sl=?, tp=? WHERE ticket=?", (new_sl, new_tp, int(ticket))
            )
        return ExecutionReport(True, DONE, "modified", ticket)

    def bars(self, symbol: str, timeframe: str, count: int) -> list[Bar]:
        """The last ``count`` bars fed with :meth:`on_bar` (one timeframe: what was fed)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT time, open, high, low, close, tick_volume, real_volume, spread FROM bars"
                " WHERE symbol=? ORDER BY time DESC LIMIT ?",
                (symbol, count),
            ).fetchall()
        return [Bar(dt_utc(r[0]), *r[1:]) for r in reversed(rows)]
