"""numba JIT with an on-disk cache that can never serve stale machine code.

numba's own cache checks only the timestamp of the file that defines a function,
not of the files whose functions it inlines: after editing ``_rules.py``, a kernel
in ``elephant.py`` would silently keep the old rule. We therefore put the cache in
a directory named after a hash of every mtponte source file, so any change to any
source compiles afresh. ``NUMBA_CACHE_DIR``, when the user sets it, wins.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numba
from numba.core import config

F = TypeVar("F", bound=Callable[..., Any])
_configured = False


def _source_fingerprint() -> str:
    root = Path(__file__).resolve().parent
    h = hashlib.sha256(numba.__version__.encode())
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _cache_root() -> Path:
    if os.environ.get("MTPONTE_CACHE_DIR"):
        return Path(os.environ["MTPONTE_CACHE_DIR"])
    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "mtponte"


def _configure() -> None:
    global _configured
    if _configured:
        return
    _configured = True
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    config.CACHE_DIR = str(  # type: ignore[attr-defined]
        _cache_root() / "numba" / _source_fingerprint()
    )


def njit(fn: F | None = None, **kwargs: Any) -> Any:
    """``numba.njit(cache=True, ...)`` with the fingerprinted cache directory."""
    _configure()
    kwargs.setdefault("cache", True)
    if fn is None:
        return numba.njit(**kwargs)
    return numba.njit(**kwargs)(fn)
