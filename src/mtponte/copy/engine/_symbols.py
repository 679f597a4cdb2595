"""Resolving a master's symbol name to the follower broker's name.

Rules, first that gives an answer wins:

1. **symbolMap** ``"MASTER=FOLLOWER"`` (exact, case-sensitive master name). A mapped
   name the follower's broker does not list is refused (no fallback: the user said
   which symbol to trade).
2. **Exact name** in the follower's symbol list.
3. **Suffix/prefix normalisation.** A name is upper-cased and a leading ``#`` or
   ``.`` is dropped; its *bases* are that name and the name with one known suffix
   removed (:data:`SUFFIXES`, case-insensitive). A suffix that is letters only
   (``c``, ``m``, ``pro``, ``ecn``, ``raw``, ``micro``) is removed only when at least
   :data:`MIN_BASE_BARE` characters remain (``BTCUSDc`` → ``BTCUSD``, but ``ETHBTC``
   keeps its ``C``); a suffix that starts with a separator (``.pro``, ``_i``, ``#``)
   when at least two remain (``US30.pro`` → ``US30``). A follower symbol is a
   candidate when its bases and the master's share one. One candidate → it. Several
   → those directly related to the master (one name is the other plus a suffix, e.g.
   master ``EURUSDc`` prefers ``EURUSD`` over ``EURUSDm``); one left → it.
4. **Contains-match**: the master's shortest base (at least three characters) found
   inside exactly one follower name (``US30`` → ``US30m``).

Anything else is refused with the candidates in the reason: ``WIN$`` is not matched
to ``WINZ26`` (a futures roll needs an explicit map).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache

SUFFIXES: tuple[str, ...] = (
    "c",
    "m",
    ".m",
    ".a",
    ".b",
    ".c",
    ".i",
    ".r",
    ".e",
    ".s",
    "_i",
    "pro",
    ".pro",
    "ecn",
    ".ecn",
    "-ecn",
    ".raw",
    "raw",
    ".lp",
    ".vip",
    ".std",
    "micro",
    ".micro",
    "#",
    "+",
)
MIN_BASE_BARE = 6  # characters left after removing a letters-only suffix
MIN_BASE_SEPARATED = 2  # characters left after removing a suffix like ".pro"
MIN_CONTAINS = 3  # shortest base used for a contains-match

_BY_LENGTH = tuple(sorted({s.upper() for s in SUFFIXES}, key=lambda s: (-len(s), s)))


def parse_map(entries: Iterable[str]) -> dict[str, str]:
    """``["EURUSD=EURUSD.pro"]`` → ``{"EURUSD": "EURUSD.pro"}`` (later entries win).

    Parameters
    ----------
    entries
        ``MASTER=FOLLOWER`` strings; whitespace around either name is ignored and an
        entry without ``=`` or with an empty side is ignored.

    Returns
    -------
    dict[str, str]
        Follower name by master name.
    """
    out: dict[str, str] = {}
    for entry in entries:
        master, sep, follower = entry.partition("=")
        master, follower = master.strip(), follower.strip()
        if sep and master and follower:
            out[master] = follower
    return out


def _norm(name: str) -> str:
    up = name.strip().upper()
    while len(up) > 1 and up[0] in "#.":
        up = up[1:]
    return up


@lru_cache(maxsize=65_536)
def bases(name: str) -> frozenset[str]:
    """The names ``name`` may stand for once a broker's suffix is removed.

    Parameters
    ----------
    name
        A broker's symbol name.

    Returns
    -------
    frozenset[str]
        The normalised name and each allowed one-suffix removal (upper case).
        Cached: brokers' symbol lists repeat across followers and steps.
    """
    up = _norm(name)
    out = {up}
    for suffix in _BY_LENGTH:
        if len(up) <= len(suffix) or not up.endswith(suffix):
            continue
        rest = up[: -len(suffix)]
        need = MIN_BASE_BARE if suffix.isalpha() else MIN_BASE_SEPARATED
        if len(rest) >= need:
            out.add(rest)
    return frozenset(out)


@lru_cache(maxsize=1024)
def _index(names: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """Follower names by each of their bases (cached per symbol list)."""
    out: dict[str, list[str]] = {}
    for n in names:
        for b in bases(n):
            out.setdefault(b, []).append(n)
    return {b: tuple(ns) for b, ns in out.items()}


def resolve(
    master_symbol: str, symbol_map: Mapping[str, str], follower_symbols: Iterable[str]
) -> tuple[str | None, str]:
    """The follower's name for ``master_symbol``.

    Parameters
    ----------
    master_symbol
        The symbol as the master's broker names it.
    symbol_map
        Explicit map (see :func:`parse_map`).
    follower_symbols
        The follower broker's symbol names.

    Returns
    -------
    tuple[str | None, str]
        The follower's name (``None`` when refused) and how it was found, or why not.
    """
    names = frozenset(follower_symbols)
    if master_symbol in symbol_map:
        mapped = symbol_map[master_symbol]
        if mapped in names:
            return mapped, f"symbolMap {master_symbol}={mapped}"
        return None, (
            f"symbolMap maps {master_symbol} to {mapped}, which the follower's broker does not list"
        )
    if master_symbol in names:
        return master_symbol, "same name"
    mine = bases(master_symbol)
    index = _index(names)
    cands = sorted({n for b in mine for n in index.get(b, ())})
    if len(cands) > 1:
        master_norm = _norm(master_symbol)
        cands = [n for n in cands if master_norm in bases(n) or _norm(n) in mine] or cands
    if len(cands) == 1:
        return cands[0], f"suffix/prefix rule {master_symbol}→{cands[0]}"
    if cands:
        return None, (
            f"symbol {master_symbol} is ambiguous at the follower's broker "
            f"(candidates: {', '.join(cands)}): add a symbolMap entry"
        )
    core = min(mine, key=lambda b: (len(b), b))
    contains = sorted(n for n in names if len(core) >= MIN_CONTAINS and core in _norm(n))
    if len(contains) == 1:
        return contains[0], f"unique name containing {core}: {contains[0]}"
    listed = f"candidates: {', '.join(contains)}" if contains else "no candidates"
    return None, (
        f"symbol {master_symbol} not found at the follower's broker ({listed}): "
        "add a symbolMap entry"
    )
