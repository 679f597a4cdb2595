"""The follower's SL and TP from the master's.

Which master level feeds which follower level: SL ← SL and TP ← TP, or with
``invert`` SL ← the master's TP and TP ← the master's SL. Then per ``slTpMode``, for
each level (the entry ``o`` is the master's open price, ``point`` = ``10**-digits``
of the follower symbol, every level rounded to the follower's tick grid):

- ``copy``: the master's level;
- ``multiplier``: ``o + (level − o) × slMultiplier`` (``tpMultiplier``): the master's
  distance scaled, on the same side of the entry as the master's level;
- ``fixed``: ``slFixedPips`` / ``tpFixedPips`` points from ``o`` on the follower's
  loss / profit side (0: no level);
- ``none``: no level.

With ``invert``, a TP that ends on the wrong side of the entry for the follower's
side (at or below it for a buy, at or above it for a sell: an inverted master's
locked-profit SL) is dropped, with a ``tp_dropped`` factor. Without ``invert`` every
level is kept: a master may set a TP beyond its entry on the loss side (to get out
near break-even), which is valid while the market is past it; validity against the
market is the follower's broker's to judge. An SL is kept wherever it is: an SL on the
profit side of the entry is a break-even or trailing stop, and dropping it would
remove the follower's protection (the broker checks it against the market).

**No SL at the master** (the level that feeds the follower's SL is absent),
``noSlAction``: ``copy`` → the copy has no SL (unless the mode sets one); ``skip`` →
a new copy is refused (a held copy just follows the master); ``default`` →
``defaultSlPoints`` points from ``o`` on the loss side when the mode gives no SL (a
new copy is refused when ``defaultSlPoints`` is 0).
"""

from __future__ import annotations

from typing import Any

from mtponte.copy.engine.model import MasterPosition, SideName
from mtponte.copy.engine.settings import CopySettings
from mtponte.domain.symbols import SymbolSpec

Factors = list[tuple[str, Any]]


def _sign(side: SideName, kind: str) -> float:
    """+1 when the level lies above the entry (buy TP, sell SL), else −1."""
    up = (side == "buy") == (kind == "tp")
    return 1.0 if up else -1.0


def _level(
    kind: str,
    source: float | None,
    entry: float,
    side: SideName,
    spec: SymbolSpec,
    settings: CopySettings,
) -> float | None:
    mode = settings.slTpMode
    if mode == "none":
        return None
    if mode == "fixed":
        pts = settings.slFixedPips if kind == "sl" else settings.tpFixedPips
        if pts <= 0:
            return None
        return spec.round_price(entry + _sign(side, kind) * pts * 10.0**-spec.digits)
    if source is None:
        return None
    if mode == "copy":
        return spec.round_price(source)
    mult = settings.slMultiplier if kind == "sl" else settings.tpMultiplier
    return spec.round_price(entry + (source - entry) * mult)


def levels(
    pos: MasterPosition,
    side: SideName,
    spec: SymbolSpec,
    settings: CopySettings,
    opening: bool,
) -> tuple[float | None, float | None, str, Factors]:
    """The follower's SL and TP for a copy of ``pos``.

    Parameters
    ----------
    pos
        The master position (its current SL/TP).
    side
        The follower's side (after ``invert``).
    spec
        The follower symbol's spec.
    settings
        The subscription's settings.
    opening
        True when deciding a new copy (``noSlAction`` may refuse it).

    Returns
    -------
    tuple[float | None, float | None, str, list]
        SL, TP, the reason the copy is refused (``""`` when it is not) and the
        factors (``sl``, ``tp`` and any note).
    """
    f: Factors = []
    src_sl, src_tp = (pos.tp, pos.sl) if settings.invert else (pos.sl, pos.tp)
    entry = pos.open_price
    sl = _level("sl", src_sl, entry, side, spec, settings)
    tp = _level("tp", src_tp, entry, side, spec, settings)
    if src_sl is None:
        which = "TP" if settings.invert else "SL"
        if settings.noSlAction == "skip" and opening:
            return None, None, f"master position has no {which} (noSlAction skip)", f
        if settings.noSlAction == "default" and sl is None:
            if settings.defaultSlPoints > 0:
                sl = spec.round_price(
                    entry + _sign(side, "sl") * settings.defaultSlPoints * 10.0**-spec.digits
                )
                f.append(("sl_default_points", settings.defaultSlPoints))
            elif opening:
                return (
                    None,
                    None,
                    "master position has no SL and noSlAction default has defaultSlPoints 0",
                    f,
                )
    if settings.invert and tp is not None and _sign(side, "tp") * (tp - entry) <= 0:
        f.append(("tp_dropped", f"TP {tp} is on the wrong side of entry {entry} for a {side}"))
        tp = None
    f += [("sl", sl), ("tp", tp)]
    return sl, tp, "", f
