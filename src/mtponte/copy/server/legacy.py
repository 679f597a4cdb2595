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
- a ``close`` without a close price is never applied, nor one of a ticket that was
  reduced or dealt again while open (its close price may be a partial close's): the
  next heartbeat, a second later, shows whether the position is gone. A close with a
  price of a ticket never reduced is the position's exit: applied at once.
"""

from __future__ import annotations

from typing import Any

from mtponte.copy.server.models import Account
from mtponte.copy.server.schemas import SentraSignal

_EPS = 1e-9


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
    if hb_ts is not None and ts < hb_ts:
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
    if hb_ts is not None and sig.timestamp < hb_ts:
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
