"""Pairing live trades with backtest trades, and the live bars with the data file's."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from mtponte.domain.bars import Bar, Bars
from mtponte.domain.orders import Trade


@dataclass(frozen=True, slots=True)
class Pair:
    """One row of the comparison: a backtest trade, a live trade, or both."""

    status: str  # matched | mismatched | missed | extra
    backtest: Trade | None
    live: Trade | None
    cause: str = ""


@dataclass(frozen=True, slots=True)
class BarDiff:
    """A bar the monitor saw differently from the data file."""

    time: datetime
    kind: str  # changed | missing | extra
    detail: str


def _ts(t: datetime) -> float:
    return (t if t.tzinfo is not None else t.replace(tzinfo=UTC)).timestamp()


def pair_trades(
    backtest: list[Trade],
    live: list[Trade],
    time_tol_s: float,
    price_tol: float,
) -> list[Pair]:
    """Pair trades by side and entry time (nearest within ``time_tol_s``).

    Parameters
    ----------
    backtest, live
        The two trade lists.
    time_tol_s
        Largest entry-time difference of a pair, seconds.
    price_tol
        Largest entry or exit price difference (price units) of a ``matched`` pair;
        beyond it, or with a different exit reason, the pair is ``mismatched``.

    Returns
    -------
    list of Pair
        Every trade of both lists once, in entry-time order.
    """
    used: set[int] = set()
    out: list[Pair] = []
    order = sorted(range(len(live)), key=lambda k: _ts(live[k].entry_time))
    lt = [_ts(live[k].entry_time) for k in order]
    for b in backtest:
        bt = _ts(b.entry_time)
        best, best_d = -1, time_tol_s
        for j in range(bisect_left(lt, bt - time_tol_s), bisect_right(lt, bt + time_tol_s)):
            k = order[j]
            d = abs(lt[j] - bt)
            if k not in used and live[k].side == b.side and d <= best_d:
                best, best_d = k, d
        if best < 0:
            out.append(Pair("missed", b, None))
            continue
        used.add(best)
        lv = live[best]
        why = []
        if lv.exit_reason != b.exit_reason:
            why.append(f"exit reason {lv.exit_reason.value} (backtest {b.exit_reason.value})")
        d_in = (lv.entry_price - b.entry_price) * int(b.side)
        d_out = (b.exit_price - lv.exit_price) * int(b.side)
        if abs(d_in) > price_tol:
            why.append(f"entry {d_in:+g} points worse than the backtest (slippage)")
        if abs(d_out) > price_tol:
            why.append(f"exit {d_out:+g} points worse than the backtest (slippage)")
        if (
            abs(_ts(lv.exit_time) - _ts(b.exit_time)) > time_tol_s
            and lv.exit_reason == b.exit_reason
        ):
            why.append(f"exit at {lv.exit_time.isoformat()} (backtest {b.exit_time.isoformat()})")
        out.append(Pair("mismatched" if why else "matched", b, lv, "; ".join(why)))
    out.extend(Pair("extra", None, t) for k, t in enumerate(live) if k not in used)
    out.sort(key=lambda p: _ts((p.backtest or p.live).entry_time))  # type: ignore[union-attr]
    return out


def bar_diffs(data: Bars, seen: list[Bar], price_tol: float = 1e-9) -> list[BarDiff]:
    """Bars of ``data`` between the first and last bar ``seen`` that the monitor did not
    see (``missing``: a feed gap) or saw with other prices (``changed``), and bars it saw
    that the file does not have (``extra``)."""
    if not seen:
        return []
    t_seen = np.array([int(_ts(b.time)) for b in seen], dtype=np.int64)
    lo, hi = int(t_seen.min()), int(t_seen.max())
    sel = (data.time >= lo) & (data.time <= hi)
    idx = {int(t): i for i, t in zip(np.nonzero(sel)[0], data.time[sel], strict=True)}
    out: list[BarDiff] = []
    got = set()
    for b, t in zip(seen, t_seen, strict=True):
        i = idx.get(int(t))
        when = datetime.fromtimestamp(int(t), tz=UTC)
        got.add(int(t))
        if i is None:
            out.append(BarDiff(when, "extra", "seen live, not in the data file"))
            continue
        fields = []
        for name in ("open", "high", "low", "close"):
            a, f = float(getattr(b, name)), float(getattr(data, name)[i])
            if abs(a - f) > price_tol:
                fields.append(f"{name} {a:g} (file {f:g})")
        if fields:
            out.append(BarDiff(when, "changed", ", ".join(fields)))
    for t in idx:
        if t not in got:
            when = datetime.fromtimestamp(t, tz=UTC)
            out.append(BarDiff(when, "missing", "in the data file, never seen live (feed gap)"))
    out.sort(key=lambda d: d.time)
    return out


def bars_of(seen: list[Bar], timezone: str) -> Bars:
    """The bars the monitor saw as :class:`Bars` (sorted, duplicates dropped)."""
    by_t = {int(_ts(b.time)): b for b in seen}
    ts = sorted(by_t)
    col = lambda name: np.array([float(getattr(by_t[t], name)) for t in ts])  # noqa: E731
    return Bars(
        time=np.array(ts, dtype=np.int64),
        open=col("open"),
        high=col("high"),
        low=col("low"),
        close=col("close"),
        tick_volume=col("tick_volume"),
        real_volume=col("real_volume"),
        timezone=timezone,
    )


def same_trade(a: Trade, b: Trade, price_tol: float) -> bool:
    """Same side, entry time, exit time and reason, prices within ``price_tol``."""
    return (
        a.side == b.side
        and _ts(a.entry_time) == _ts(b.entry_time)
        and _ts(a.exit_time) == _ts(b.exit_time)
        and a.exit_reason == b.exit_reason
        and abs(a.entry_price - b.entry_price) <= price_tol
        and abs(a.exit_price - b.exit_price) <= price_tol
    )
