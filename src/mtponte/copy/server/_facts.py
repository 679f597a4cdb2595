"""A follower's reported account facts, as the copy engine reads them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mtponte.copy.engine import FollowerFacts
from mtponte.copy.server.models import FollowerHeartbeat
from mtponte.domain.symbols import SymbolSpec


def follower_facts(hb: FollowerHeartbeat | None) -> FollowerFacts | None:
    """The facts of the follower's last heartbeat, or ``None`` before it sent any."""
    if hb is None:
        return None
    base = base_facts(hb.facts)
    return None if base is None else replace(base, balance=hb.balance, equity=hb.equity)


def base_facts(f: dict[str, Any] | None) -> FollowerFacts | None:
    """Reported facts without balance and equity (those move at every heartbeat)."""
    if not f or f.get("symbols") is None:
        return None
    specs = {
        s["name"]: SymbolSpec(
            name=s["name"],
            tick_size=s["tick_size"],
            tick_value=s["tick_value"],
            contract_size=s.get("contract_size", 1.0),
            digits=s.get("digits", 0),
            lot_min=s.get("lot_min", 0.01),
            lot_max=s.get("lot_max", 100.0),
            lot_step=s.get("lot_step", 0.01),
            currency=f.get("currency") or "USD",
        )
        for s in f["symbols"]
    }
    return FollowerFacts(
        symbols=specs,
        netting=bool(f.get("netting")),
        daily_pnl=float(f.get("daily_pnl") or 0.0),
        cent=bool(f.get("cent")),
    )
