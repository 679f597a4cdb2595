"""Sizing a copy: the lot pipeline, every factor recorded.

Pipeline (:func:`size`), each step appended to the factors as ``(name, value)``:

1. ``master_lots``: the master position's volume.
2. ``cent``: ``0.01`` when the master is a cent account and the follower standard,
   ``100.0`` the other way round (not for ``fixed`` and ``risk_percent``, which do
   not start from the master's lots).
3. ``mode`` and its factors:

   - ``multiplier``: × ``volumeMultiplier``;
   - ``copy``: × 1;
   - ``fixed``: ``volumeFixed`` follower lots;
   - ``balance_ratio`` / ``equity_ratio``: × follower / master balance (equity), both
     in standard money (a cent account's balance ÷ 100, so a cent master and a
     standard follower with the same money copy the same standard lots); a missing
     or non-positive side refuses;
   - ``contract_size``: × master / follower contract size (the master's missing
     refuses);
   - ``risk_percent``: follower balance × ``riskPercent`` / 100 ÷ (SL distance in
     ticks × tick value), the SL being the follower's computed SL; no SL refuses.

   ``sized`` is the result.
4. ``maxVolume``: recorded when it caps.
5. ``lot_step`` / ``floored``: floor to the follower symbol's lot step (with a
   1e-9-step epsilon, so 0.3 / 0.1 is 3 steps).
6. Below ``lot_min``: refused (``belowMin`` ``skip``) or raised to it (``lot_min``
   recorded, ``belowMin`` ``min``).
7. ``lot_max``: recorded when it clamps.
8. ``volume``: the result.

A copy already held follows partial closes proportionally (:func:`resize`).
"""

from __future__ import annotations

import math
from typing import Any

from mtponte.copy.engine.model import FollowerFacts, MasterFacts
from mtponte.copy.engine.settings import CopySettings
from mtponte.domain.symbols import SymbolSpec

Factors = list[tuple[str, Any]]
_EPS = 1e-9


def floor_to_step(volume: float, step: float) -> float:
    """Floor ``volume`` to a multiple of ``step`` (0.3 with step 0.1 stays 0.3).

    Parameters
    ----------
    volume
        Lots.
    step
        The symbol's lot step (> 0).

    Returns
    -------
    float
        The largest multiple of ``step`` not above ``volume`` (within 1e-9 steps),
        rounded to 10 decimals.
    """
    steps = math.floor(volume / step + _EPS)
    return round(max(steps, 0) * step, 10)


def _money(value: float | None, cent: bool) -> float | None:
    if value is None:
        return None
    return value / 100.0 if cent else value


def size(
    master_lots: float,
    master_symbol: str,
    master: MasterFacts,
    facts: FollowerFacts,
    spec: SymbolSpec,
    settings: CopySettings,
    entry_price: float,
    sl: float | None,
) -> tuple[float | None, str, Factors]:
    """The follower's volume for a new copy.

    Parameters
    ----------
    master_lots
        The master position's volume.
    master_symbol
        The master's name of the symbol (for its contract size).
    master
        The master's account facts.
    facts
        The follower's account facts.
    spec
        The follower symbol's spec.
    settings
        The subscription's settings.
    entry_price
        The price the SL distance is measured from (the master's open price).
    sl
        The follower's SL (``risk_percent`` sizes on it).

    Returns
    -------
    tuple[float | None, str, list]
        The volume (``None`` when refused), the reason when refused (else ``""``) and
        the factors in the order applied.
    """
    f: Factors = [("master_lots", master_lots)]
    mode = settings.volumeMode
    lots = master_lots
    if mode not in ("fixed", "risk_percent"):
        if master.cent and not facts.cent:
            lots = lots / 100.0
            f.append(("cent", 0.01))
        elif facts.cent and not master.cent:
            lots = lots * 100.0
            f.append(("cent", 100.0))
    f.append(("mode", mode))
    if mode == "multiplier":
        lots *= settings.volumeMultiplier
        f.append(("volumeMultiplier", settings.volumeMultiplier))
    elif mode == "fixed":
        lots = settings.volumeFixed
        f.append(("volumeFixed", settings.volumeFixed))
    elif mode in ("balance_ratio", "equity_ratio"):
        what = "balance" if mode == "balance_ratio" else "equity"
        mine = _money(getattr(facts, what), facts.cent)
        theirs = _money(getattr(master, what), master.cent)
        if mine is None or theirs is None or mine <= 0 or theirs <= 0:
            return None, (f"{mode} needs the follower's and the master's {what} > 0"), f
        ratio = mine / theirs
        f += [(f"follower_{what}", mine), (f"master_{what}", theirs), (mode, ratio)]
        lots *= ratio
    elif mode == "contract_size":
        master_cs = master.contract_sizes.get(master_symbol)
        if master_cs is None or master_cs <= 0:
            return None, f"contract_size needs the master's contract size of {master_symbol}", f
        ratio = master_cs / spec.contract_size
        f += [
            ("master_contract_size", master_cs),
            ("follower_contract_size", spec.contract_size),
            ("contract_size_ratio", ratio),
        ]
        lots *= ratio
    elif mode == "risk_percent":
        if sl is None:
            return None, "risk_percent needs an SL to size on (the copy has none)", f
        balance = facts.balance
        if balance is None or balance <= 0:
            return None, "risk_percent needs the follower's balance > 0", f
        ticks = abs(entry_price - sl) / spec.tick_size
        if ticks <= _EPS:
            return None, "risk_percent: the SL is at the entry price", f
        money = balance * settings.riskPercent / 100.0
        lots = money / (ticks * spec.tick_value)
        f += [
            ("risk_money", money),
            ("sl_ticks", round(ticks, 6)),
            ("tick_value", spec.tick_value),
        ]
    f.append(("sized", lots))
    return _limits(lots, spec, settings, f)


def _limits(
    lots: float, spec: SymbolSpec, settings: CopySettings, f: Factors
) -> tuple[float | None, str, Factors]:
    if lots > settings.maxVolume:
        lots = settings.maxVolume
        f.append(("maxVolume", settings.maxVolume))
    floored = floor_to_step(lots, spec.lot_step)
    f += [("lot_step", spec.lot_step), ("floored", floored)]
    if floored + _EPS < spec.lot_min:
        if settings.belowMin == "skip":
            return (
                None,
                f"volume {lots:.10g} floors to {floored:.10g}, below the lot minimum "
                f"{spec.lot_min:g} of {spec.name} (belowMin skip)",
                f,
            )
        floored = spec.lot_min
        f.append(("lot_min", spec.lot_min))
    if floored > spec.lot_max:
        floored = spec.lot_max
        f.append(("lot_max", spec.lot_max))
    f.append(("volume", floored))
    return floored, "", f


def resize(
    volume: float,
    volume0: float,
    master_volume0: float,
    master_volume: float,
    spec: SymbolSpec,
    can_grow: bool,
) -> tuple[float, Factors, str]:
    """A held copy's volume after the master's volume changed.

    Parameters
    ----------
    volume
        The copy's current volume.
    volume0, master_volume0
        The copy's and the master's volumes when the copy was decided.
    master_volume
        The master's volume now (> 0: the position is still open).
    spec
        The follower symbol's spec.
    can_grow
        False under a close-only risk stop: the copy may shrink, never grow.

    Returns
    -------
    tuple[float, list, str]
        The new volume, the factors, and a note (``""`` or why the volume is not the
        plain proportion).
    """
    if master_volume0 <= 0:
        return volume, [], ""
    raw = volume0 * master_volume / master_volume0
    new = floor_to_step(raw, spec.lot_step)
    f: Factors = [
        ("volume0", volume0),
        ("master_volume0", master_volume0),
        ("master_volume", master_volume),
        ("proportional", raw),
        ("floored", new),
    ]
    note = ""
    if new + _EPS < spec.lot_min:
        new = spec.lot_min
        f.append(("lot_min", spec.lot_min))
        note = (
            f"proportional volume {raw:.10g} is below the lot minimum {spec.lot_min:g}: "
            "the lot minimum is kept while the master holds the position"
        )
    if new > spec.lot_max:
        new = spec.lot_max
        f.append(("lot_max", spec.lot_max))
    if not can_grow and new > volume:
        new = volume
        f.append(("close_only_no_increase", volume))
        note = "risk stop close_only: the copy is not increased"
    f.append(("volume", new))
    return new, f, note
