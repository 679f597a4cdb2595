"""Atomic file I/O for the bridge folders.

Every message is written to a temporary name in the *same* folder, then renamed over
its final name with :func:`os.replace` (atomic on NTFS and POSIX). Readers ignore
temporary names (``*.tmp``, leading ``.``/``~``), so they never see half a message.
Files are not fsynced by default: a process crash cannot lose them (the page cache
survives), and the SQLite journals are the durable record across a power cut (the
client rewrites a command whose file vanished, the executor republishes results from
its journal, and a file truncated by a power cut is rejected as invalid, never run).
On Windows a rename onto a file another process holds open
fails with ``PermissionError`` for a moment: it is retried briefly.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

FOLDERS = ("inbox", "outbox", "state", "journal")
KILL_SWITCH = "KILL_SWITCH"


@dataclass(frozen=True)
class BridgeDir:
    """The shared folder (e.g. ``<terminal>/MQL5/Files/mtponte``) and its parts."""

    root: Path

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def journal(self) -> Path:
        return self.root / "journal"

    @property
    def kill_switch(self) -> Path:
        return self.root / KILL_SWITCH

    def create(self) -> BridgeDir:
        for name in FOLDERS:
            (self.root / name).mkdir(parents=True, exist_ok=True)
        return self


def is_temp(name: str) -> bool:
    return name.endswith(".tmp") or name.startswith((".", "~"))


def atomic_write_bytes(path: Path, data: bytes, fsync: bool = False) -> None:
    """Write ``data`` to ``path`` so readers see either nothing or all of it."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    _replace(tmp, path)


def atomic_write_json(path: Path, obj: BaseModel | dict[str, Any], fsync: bool = False) -> None:
    if isinstance(obj, BaseModel):
        data = obj.model_dump_json(exclude_none=True).encode("utf-8")
    else:
        data = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    atomic_write_bytes(path, data, fsync=fsync)


def _replace(src: Path, dst: Path, attempts: int = 50) -> None:
    for k in range(attempts):
        try:
            os.replace(src, dst)
            return
        except PermissionError:  # Windows: the destination is open in another process
            if k == attempts - 1:
                raise
            time.sleep(0.002)


def move(src: Path, dst: Path) -> None:
    """Atomic move within one volume (used to archive processed commands)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    _replace(src, dst)


def list_messages(folder: Path) -> list[Path]:
    """Non-temporary ``*.json`` files, sorted by name (inbox: by seq)."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    return [folder / n for n in sorted(names) if n.endswith(".json") and not is_temp(n)]


def read_bytes(path: Path) -> bytes | None:
    """Contents, or ``None`` if the file vanished meanwhile."""
    for k in range(20):
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except PermissionError:  # Windows: being replaced right now
            if k == 19:
                raise
            time.sleep(0.002)
    return None


def read_json(path: Path) -> dict[str, Any] | None:
    data = read_bytes(path)
    if data is None:
        return None
    obj = json.loads(data.decode("utf-8"))
    return obj if isinstance(obj, dict) else None


def now_ms() -> int:
    return time.time_ns() // 1_000_000
