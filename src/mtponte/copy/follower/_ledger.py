"""The follower's ledger and instance id on disk (replaced atomically; Windows-safe)."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from mtponte.copy.follower._plan import Ledger
from mtponte.errors import ConfigError


def load_ledger(path: Path) -> Ledger:
    """The ledger at ``path``, or an empty one when the file does not exist yet."""
    if not path.exists():
        return Ledger()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Ledger(
            opened=set(map(str, data["opened"])),
            tickets={str(k): set(map(str, v)) for k, v in data["tickets"].items()},
            fills=set(map(str, data.get("fills", []))),  # absent from older ledgers
            placed=set(map(str, data.get("placed", []))),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"follower ledger {path} is unreadable ({exc}); move it away to "
            "rebuild it from the broker's history"
        ) from None


def save_ledger(path: Path, ledger: Ledger) -> None:
    """Write the ledger atomically (a crash leaves the old or the new file, never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    body = {
        "opened": sorted(ledger.opened),
        "tickets": {k: sorted(v) for k, v in sorted(ledger.tickets.items())},
        "fills": sorted(ledger.fills),
        "placed": sorted(ledger.placed),
    }
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(body, f, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def instance_id(path: Path) -> str:
    """The follower's instance id kept at ``path`` (created on first use)."""
    try:
        value = path.read_text(encoding="ascii").strip()
        if value.isalnum() and 8 <= len(value) <= 64:
            return value
    except (OSError, UnicodeDecodeError):
        pass
    value = uuid.uuid4().hex
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(value, encoding="ascii")
    os.replace(tmp, path)
    return value
