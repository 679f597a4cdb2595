"""The bar-driven simulation of the paper broker (a private part of :mod:`.paper`).

:class:`SimulationMixin` holds :meth:`~SimulationMixin.on_bar`: one closed bar expires or
triggers the symbol's pending orders, then checks the SL/TP of its positions, with the
backtester's fill model (:mod:`mtponte.backtest.fill`), and records the bar and its close
as the quote, all in one transaction. :class:`~mtponte.brokers.paper.PaperBroker` mixes
it in; its account state, transactions and fills stay in :mod:`.paper`.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from mtponte.backtest.fill import EXIT_NONE, EXIT_SL, exit_check, slipped, stop_fill
from mtponte.brokers._paper_book import ms
from mtponte.domain.bars import Bar
from mtponte.domain.orders import ExecutionReport
from mtponte.domain.symbols import SymbolSpec
from mtponte.strategies._rules import triggered


class SimulationMixin:
    """Advance the paper account bar by bar; the state lives on the :class:`PaperBroker`."""

    _specs: dict[str, SymbolSpec]
    slippage_ticks: int

    if TYPE_CHECKING:  # defined by PaperBroker

        def _tx(self) -> AbstractContextManager[sqlite3.Connection]: ...

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
        ) -> ExecutionReport: ...

        def _close(
            self,
            db: sqlite3.Connection,
            ticket: int,
            volume: float | None,
            price: float | None,
            comment: str,
        ) -> ExecutionReport: ...

    def on_bar(self, symbol: str, bar: Bar) -> list[ExecutionReport]:
        """Advance ``symbol`` by one closed bar: expire/trigger pending orders, then SL/TP.

        Uses the backtester's fill model: stop entries fill at ``max(O, stop)``; exits
        check SL before TP, gaps exit at the open, exits on the entry bar at the level.
        """
        spec = self._specs[symbol]
        slip = float(self.slippage_ticks)
        out: list[ExecutionReport] = []
        bar_ms = ms(bar.time)
        with self._tx() as db:
            entered: set[int] = set()
            for r in db.execute(
                "SELECT ticket, side, order_type, volume, price, sl, tp, expiry,"
                " magic, comment FROM orders WHERE symbol=? ORDER BY ticket",
                (symbol,),
            ).fetchall():
                ticket, side, otype, vol, price, sl, tp, expiry, magic, comment = r
                if expiry is not None and expiry <= bar_ms:
                    db.execute("DELETE FROM orders WHERE ticket=?", (ticket,))
                    continue
                hit = (
                    triggered(side, bar.high, bar.low, price)
                    if otype == "stop"
                    else triggered(-side, bar.high, bar.low, price)
                )
                if not hit:
                    continue
                fill = stop_fill(side, bar.open, price) if otype == "stop" else price
                fill = slipped(fill, side, True, slip, spec.tick_size)
                db.execute("DELETE FROM orders WHERE ticket=?", (ticket,))
                rep = self._fill_in(db, symbol, side, vol, fill, sl, tp, magic, comment, ticket)
                assert rep.ticket is not None
                entered.add(int(rep.ticket))
                out.append(rep)
            for r in db.execute(
                "SELECT ticket, side, sl, tp FROM positions WHERE symbol=?", (symbol,)
            ).fetchall():
                ticket, side, sl, tp = r
                code, px = exit_check(
                    side,
                    bar.open,
                    bar.high,
                    bar.low,
                    sl if sl is not None else (-1e300 if side > 0 else 1e300),
                    tp if tp is not None else (1e300 if side > 0 else -1e300),
                    ticket in entered,
                )
                if code != EXIT_NONE:
                    # MT5's server comments the deals it triggers "[sl 119000]" / "[tp …]".
                    level = sl if code == EXIT_SL else tp
                    why = f"[{'sl' if code == EXIT_SL else 'tp'} {level:.{spec.digits}f}]"
                    out.append(
                        self._close(
                            db, ticket, None, slipped(px, side, False, slip, spec.tick_size), why
                        )
                    )
            db.execute(
                "INSERT OR REPLACE INTO quotes VALUES (?,?,?,?)",
                (symbol, bar.close, bar.close, bar_ms),
            )
            db.execute(
                "INSERT OR REPLACE INTO bars VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    symbol,
                    bar_ms,
                    bar.open,
                    bar.high,
                    bar.low,
                    bar.close,
                    bar.tick_volume,
                    bar.real_volume,
                    bar.spread,
                ),
            )
        return out
