"""Builders shared by the copy-engine tests."""

from __future__ import annotations

from typing import Any

from mtponte.copy.engine import (
    BookState,
    CopySettings,
    FollowerFacts,
    MasterFacts,
    MasterPosition,
    MasterView,
    StepResult,
    step,
)
from mtponte.domain.symbols import SymbolSpec

T0 = 1_780_000_000  # 2026-05-28 20:26:40 UTC, a Thursday


def fx(name: str = "EURUSD", **kw: Any) -> SymbolSpec:
    """A 5-digit FX symbol: tick 0.00001 worth 1 per lot, lots 0.01..100 by 0.01."""
    base: dict[str, Any] = dict(
        name=name,
        tick_size=0.00001,
        tick_value=1.0,
        contract_size=100_000.0,
        digits=5,
        lot_min=0.01,
        lot_max=100.0,
        lot_step=0.01,
        currency="USD",
    )
    base.update(kw)
    return SymbolSpec(**base)


def follower(*names: str, **kw: Any) -> FollowerFacts:
    """Follower facts listing 5-digit FX symbols ``names`` (EURUSD by default)."""
    return FollowerFacts(symbols={n: fx(n) for n in (names or ("EURUSD",))}, **kw)


def pos(ticket: str = "1", **kw: Any) -> MasterPosition:
    """A master buy of 1 lot EURUSD at 1.10000, no SL/TP."""
    base: dict[str, Any] = dict(
        ticket=ticket, symbol="EURUSD", side="buy", volume=1.0, open_price=1.1
    )
    base.update(kw)
    return MasterPosition(**base)


def view(*positions: MasterPosition, fresh: bool = True, **facts: Any) -> MasterView:
    """A master view holding ``positions``."""
    return MasterView(positions=tuple(positions), fresh=fresh, facts=MasterFacts(**facts))


def settings(**kw: Any) -> CopySettings:
    """Settings with the defaults overridden by ``kw``."""
    return CopySettings(**kw)


STARTED = BookState(prefix="s1", started=True)


def run(
    *steps: tuple[MasterView, CopySettings, FollowerFacts | None],
    state: BookState = STARTED,
    now: int = T0,
) -> list[StepResult]:
    """Run steps one after the other (each ``now`` one second later)."""
    out = []
    for i, (m, s, f) in enumerate(steps):
        r = step(state, m, s, f, now + i)
        out.append(r)
        state = r.state
    return out


def one(
    m: MasterView, s: CopySettings | None = None, f: FollowerFacts | None = None, **kw: Any
) -> StepResult:
    """One step from a started, empty book."""
    return step(
        kw.pop("state", STARTED),
        m,
        s or CopySettings(),
        f if f is not None else follower(),
        kw.pop("now", T0),
    )


def factor(decision_factors: tuple[tuple[str, Any], ...], name: str) -> Any:
    """The value of the factor ``name`` (KeyError when absent)."""
    for k, v in decision_factors:
        if k == name:
            return v
    raise KeyError(name)
