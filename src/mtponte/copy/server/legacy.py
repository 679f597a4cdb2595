"""The legacy Sentra EAs as they really behave (v4.00), and what the server does about it.

**Master EA.** It posts an ``open`` on every deal of a position that still exists
after the deal (so a partial close, or an addition on a netting account, re-sends an
``open`` of the ticket with its new volume), a ``close`` each time one of the
position's orders moves to history (so one right after *every* open and partial close
too: MT5 moves every executed market order to history), with the price of the newest
exit deal it finds (none, 0, when the order reached history before its deal or the
position has no exit yet), and a ``heartbeat`` with its full position list every
second. SL/TP changes of a position reach it as ``TRADE_TRANSACTION_POSITION``, which
it ignores: they arrive with the heartbeat. A failed post is queued and re-sent after
2 s (3 tries), with its original ``timestamp``, after newer posts. So:

- a heartbeat older (by ``timestamp``) than the newest stored is ignored;
- an event older than the newest stored heartbeat is ignored (that heartbeat already
  shows the master after it);
- (older by more than ``CLOCK_BACK_S`` is no retry but the master's clock moved back:
  taken as the new time, so a clock change never stops copying);
- a ``close`` without a close price is never applied, nor one of a ticket that was
  reduced or dealt again while open (its close price may be a partial close's): the
  next heartbeat, a second later, shows whether the position is gone. A close with a
  price of a ticket never reduced is the position's exit: applied at once.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from mtponte.copy.server._facts import follower_facts
from mtponte.copy.server.copy_settings import CopySettings
from mtponte.copy.server.models import Account, FollowerHeartbeat, LegacySlave, Subscription
from mtponte.copy.server.schemas import SentraSignal
from mtponte.copy.server.targets import refresh_book

_EPS = 1e-9
# A re-sent post is at most a few seconds old (2 s between tries, 3 tries by default);
# a post older than the newest heartbeat by more than this is the master's clock moved
# back (another broker server, the EA moved), not a retry: taken as the new time.
CLOCK_BACK_S = 120.0


def _state(master: Account) -> tuple[float | None, dict[str, float]]:
    st = master.sentra_state or {}
    hb = st.get("hb_ts")
    dealt = st.get("dealt") or {}
    return (float(hb) if hb is not None else None), {str(k): float(v) for k, v in dealt.items()}


def heartbeat_is_newest(
    master: Account, ts: float, before: list[dict[str, Any]], positions: list[dict[str, Any]]
) -> bool:
    """Whether a Master heartbeat at ``ts`` is at least as new as every one stored
    (call under the master's lock). If so, record it: its time, and each listed ticket
    whose volume went down since ``before`` (the book it replaces) as dealt."""
    hb_ts, dealt = _state(master)
    if hb_ts is not None and hb_ts - CLOCK_BACK_S <= ts < hb_ts:
        return False
    had = {str(p["ticket"]): float(p["volume"]) for p in before}
    listed = {str(p["ticket"]) for p in positions}
    for p in positions:
        t = str(p["ticket"])
        if t in had and float(p["volume"]) < had[t] - _EPS:
            dealt[t] = ts
    dealt = {t: v for t, v in dealt.items() if t in listed}
    master.sentra_state = {"hb_ts": ts, "dealt": dealt}
    return True


def master_event_ignored(master: Account, sig: SentraSignal, book: list[dict[str, Any]]) -> str:
    """Why a Master ``open``/``close``/``modify`` post must not become an event (``""``:
    it may, :func:`~mtponte.copy.server.service.sentra_seen` then dedupes it). Call
    under the master's lock; an ``open`` of a held ticket with another volume marks
    the ticket dealt."""
    hb_ts, dealt = _state(master)
    if hb_ts is not None and hb_ts - CLOCK_BACK_S <= sig.timestamp < hb_ts:
        return "older than the last heartbeat, which already shows its effect"
    ticket = str(sig.ticket)
    held = {str(p["ticket"]): p for p in book}
    if (
        sig.action == "open"
        and ticket in held
        and sig.lots is not None
        and abs(float(held[ticket]["volume"]) - sig.lots) > _EPS
    ):
        dealt[ticket] = sig.timestamp
        master.sentra_state = {"hb_ts": hb_ts, "dealt": dealt}
    if sig.action == "close":
        if sig.close_price <= 0:
            return "no close price (an order moved to history): the next heartbeat decides"
        if ticket in dealt:
            return "ticket reduced or dealt again while open: the next heartbeat decides"
    return ""


# --- Slave EA ----------------------------------------------------------------------
#
# Each poll the Slave EA handles one answer, routed by its ``action``: ``heartbeat``
# closes the copies of tickets the list lacks and opens the listed tickets it does not
# hold, at the listed lots adjusted only for its MasterIsCent/SlaveIsCent inputs (no
# multiplier, no max volume), floored to the lot step, with the listed SL/TP; it never
# changes a copy it holds. ``modify`` sets the SL/TP of one ticket's copy. Its map of
# copies lives in memory. So the server serves each slave its own list, sized for it
# (the EA's inputs must not size again), and each SL/TP change once as a ``modify``,
# remembering per subscription what it told the slave (:class:`LegacySlave`).

LOT_STEP = 0.01  # a legacy slave reports no symbol specs: the common lot step
EA_LOT_EPS = 1e-9  # the EA floors lots/step: 0.29/0.01 is 28.999999999999996 in binary


@dataclass(frozen=True, slots=True)
class Want:
    """What a legacy slave should hold for one master ticket."""

    ticket: str
    symbol: str
    type: int  # 0 buy, 1 sell
    volume: float
    sl: float  # 0: none
    tp: float
    open_price: float
    open_time: int

    def levels(self) -> list[float]:
        return [self.sl, self.tp]


def floor_to_step(volume: float, step: float) -> float:
    """``volume`` floored to a multiple of ``step`` (within 1e-9 steps: 0.3 stays 0.3)."""
    return round(max(math.floor(volume / step + 1e-9), 0) * step, 10)


def cent_factor(master_cent: bool, follower_cent: bool) -> float:
    if master_cent and not follower_cent:
        return 0.01
    if follower_cent and not master_cent:
        return 100.0
    return 1.0


def legacy_volume(lots: float, s: CopySettings, factor: float) -> float:
    """A master position's lots sized for a legacy slave: the modes the Slave EA knows
    (``fixed``; ``copy``; ``multiplier``, which every mode that needs the follower's
    symbol specs falls back to), capped at ``maxVolume``, floored to 0.01, at least
    0.01 (the EA raises a smaller volume to the lot minimum anyway)."""
    if s.volumeMode == "fixed":
        v = s.volumeFixed
    else:
        v = lots * factor * (1.0 if s.volumeMode == "copy" else s.volumeMultiplier)
    v = min(v, s.maxVolume)
    return max(floor_to_step(v, LOT_STEP), LOT_STEP)


def legacy_levels(p: dict[str, Any], s: CopySettings) -> tuple[float, float]:
    """SL/TP for a legacy copy: the master's (``copy``), none (``none``), or the master's
    distances from the open price times ``slMultiplier``/``tpMultiplier``
    (``multiplier``). ``fixed`` needs the follower symbol's point: the master's."""
    sl, tp = float(p.get("stop_loss") or 0), float(p.get("take_profit") or 0)
    if s.slTpMode == "none":
        return 0.0, 0.0
    if s.slTpMode == "multiplier":
        op = float(p["open_price"])
        sl = round(op + (sl - op) * s.slMultiplier, 10) if sl else 0.0
        tp = round(op + (tp - op) * s.tpMultiplier, 10) if tp else 0.0
    return max(sl, 0.0), max(tp, 0.0)


def _passes_filters(p: dict[str, Any], s: CopySettings) -> bool:
    """The Slave EA's own filters, as it applies them (a symbol passes when an allowed
    name is part of it): a new ticket they refuse is not listed."""
    if not s.isActive:
        return False
    if s.enableSymbolFilter and not any(a and a in p["symbol"] for a in s.allowedSymbols):
        return False
    side = "BUY" if int(p["type"]) == 0 else "SELL"
    return not (s.enableDirectionFilter and side not in s.allowedDirections)


def wanted_by_settings(
    positions: list[dict[str, Any]],
    s: CopySettings,
    factor: float,
    held: dict[str, Any],
) -> dict[str, Want]:
    """What a legacy slave with no symbol specs should hold: every master position,
    sized and with SL/TP by the subscription's settings; a new one only if the
    settings' filters let it through (a held copy is never closed by a filter)."""
    out: dict[str, Want] = {}
    for p in positions:
        t = str(p["ticket"])
        if t not in held and not _passes_filters(p, s):
            continue
        sl, tp = legacy_levels(p, s)
        out[t] = Want(
            t,
            str(p["symbol"]),
            int(p["type"]),
            legacy_volume(float(p["lots"]), s, factor),
            sl,
            tp,
            float(p["open_price"]),
            int(p.get("open_time") or 0),
        )
    return out


def wanted_by_targets(
    targets: list[dict[str, Any]], positions: list[dict[str, Any]]
) -> dict[str, Want]:
    """What a legacy slave should hold from its target book (a follower that also
    reports its symbol specs): one target per master ticket (hedging)."""
    by_ticket = {str(p["ticket"]): p for p in positions}
    out: dict[str, Want] = {}
    for x in targets:
        if x.get("order_type"):
            continue  # a pending order target: the Slave EA knows positions only
        tickets = x.get("master_tickets") or []
        if len(tickets) != 1:
            continue  # a netting target: the Slave EA copies per ticket
        t = str(tickets[0])
        p = by_ticket.get(t, {})
        out[t] = Want(
            t,
            str(x["symbol"]),
            0 if x["side"] == "buy" else 1,
            float(x["volume"]),
            float(x.get("sl") or 0),
            float(x.get("tp") or 0),
            float(p.get("open_price") or x.get("price") or 0),
            int(p.get("open_time") or 0),
        )
    return out


def _compact(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


def render_list(want: dict[str, Want], seq: int) -> bytes:
    """A ``heartbeat`` answer listing ``want`` (keys in the EA's order, ``ticket``
    first and unquoted; lots nudged up by 1e-9 so the EA's floor keeps them)."""
    rows = [
        {
            "ticket": int(w.ticket),
            "symbol": w.symbol,
            "type": w.type,
            "lots": round(w.volume + EA_LOT_EPS, 10),
            "open_price": w.open_price,
            "stop_loss": w.sl or 0,
            "take_profit": w.tp or 0,
            "open_time": w.open_time,
        }
        for w in sorted(want.values(), key=lambda w: int(w.ticket))
    ]
    return _compact(
        {
            "success": True,
            "action": "heartbeat",
            "positions": rows,
            "positions_count": len(rows),
            "seq": seq,
        }
    )


def render_modify(w: Want) -> bytes:
    return _compact(
        {
            "success": True,
            "action": "modify",
            "ticket": int(w.ticket),
            "stop_loss": w.sl or 0,
            "take_profit": w.tp or 0,
        }
    )


def next_answer(
    want: dict[str, Want], held: dict[str, Any], partial: str, seq: int
) -> tuple[bytes, dict[str, Any], bool]:
    """The answer for this poll, what the slave holds once it acted on it, and whether
    nothing was left to deliver (the answer may then be served again as is).

    In order: a copy to reopen smaller (``partial`` ``reopen`` and the wanted volume
    below the copy's) is left out of the list, so the EA closes it (the next poll
    lists it again: the EA opens it at the new size); a list with new or gone tickets
    (opens and closes come before SL/TP changes); one SL/TP change as a ``modify``;
    else the list again."""
    if partial == "reopen":
        smaller = {
            t
            for t, w in want.items()
            if t in held and w.volume < float(held[t]["volume"]) - EA_LOT_EPS
        }
        if smaller:
            rest = {t: w for t, w in want.items() if t not in smaller}
            return render_list(rest, seq), {t: held[t] for t in rest if t in held}, False
    if set(want) != set(held):
        now = {
            t: held[t] if t in held else {"volume": w.volume, "levels": w.levels()}
            for t, w in want.items()
        }
        return render_list(want, seq), now, False
    for t in sorted(want, key=int):
        w = want[t]
        if list(held[t].get("levels") or []) != w.levels():
            now = dict(held)
            now[t] = {"volume": held[t]["volume"], "levels": w.levels()}
            return render_modify(w), now, False
    return render_list(want, seq), held, True


class SlaveAnswers:
    """Per worker: each legacy slave's last answer that had nothing left to deliver,
    served again from memory while its master's answer (the input) is the same and
    for at most ``ttl_s`` (settings changes show within it)."""

    def __init__(self, ttl_s: float = 5.0) -> None:
        self.ttl_s = ttl_s
        self._by_sub: dict[int, tuple[bytes, bytes, float]] = {}

    def get(self, sub_id: int, master_body: bytes) -> bytes | None:
        hit = self._by_sub.get(sub_id)
        if hit is None or time.monotonic() >= hit[2]:
            return None
        if hit[0] is not master_body and hit[0] != master_body:
            return None
        return hit[1]

    def put(self, sub_id: int, master_body: bytes, body: bytes) -> None:
        if len(self._by_sub) > 1_000_000:
            self._by_sub.clear()
        self._by_sub[sub_id] = (master_body, body, time.monotonic() + self.ttl_s)

    def forget(self, sub_id: int) -> None:
        self._by_sub.pop(sub_id, None)


def slave_answer(
    session: Session, sub_id: int, master_body: bytes, stale_s: int
) -> tuple[bytes, bool]:
    """This poll's answer for a legacy slave (subscription ``sub_id``) given its
    master's current positions (``master_body``, the rendered master answer), and
    whether it may be served again from memory. What the slave is told is recorded
    first, under a lock on the subscription row (committed)."""
    body, now, steady, held = _decide(session, sub_id, master_body, stale_s)
    if steady:
        session.commit()  # ends the read transaction (refresh_book may have written)
        return body, True
    session.execute(
        update(Subscription).where(Subscription.id == sub_id).values(version=Subscription.version)
    )
    body, now, steady, held = _decide(session, sub_id, master_body, stale_s)
    if now != held:
        row = session.get(LegacySlave, sub_id)
        if row is None:
            session.add(LegacySlave(subscription_id=sub_id, held=now))
        else:
            row.held, row.updated_at = now, datetime.now(UTC)
    session.commit()
    return body, steady


def _decide(
    session: Session, sub_id: int, master_body: bytes, stale_s: int
) -> tuple[bytes, dict[str, Any], bool, dict[str, Any]]:
    sub = session.get(Subscription, sub_id, populate_existing=True)
    assert sub is not None
    master = session.get(Account, sub.master_id)
    follower = session.get(Account, sub.follower_id)
    assert master is not None and follower is not None
    book = json.loads(master_body)
    positions, seq = list(book.get("positions") or []), int(book.get("seq") or 0)
    row = session.get(LegacySlave, sub_id, populate_existing=True)
    held = dict(row.held) if row is not None else {}
    hb = session.get(FollowerHeartbeat, follower.id, populate_existing=True)
    if follower_facts(hb) is not None:
        want = wanted_by_targets(refresh_book(session, sub, stale_s).targets, positions)
    else:
        factor = cent_factor(master.account_type == "cent", follower.account_type == "cent")
        settings = CopySettings.model_validate(sub.settings or {})
        want = wanted_by_settings(positions, settings, factor, held)
    body, now, steady = next_answer(want, held, sub.legacy_partial, seq)
    return body, now, steady, held
