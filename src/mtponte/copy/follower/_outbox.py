"""The follower's unsent execution reports on disk (JSON, replaced atomically): a crash
after an execution and before the server took its report loses nothing, and each
report keeps its ``report_id``, so a resend is stored once by the server."""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

_log = logging.getLogger("mtponte.follower")


def new_report_id() -> str:
    """A client-generated report id (32 hex)."""
    return uuid.uuid4().hex


def load_unsent(path: Path) -> list[dict[str, Any]]:
    """The reports kept at ``path`` (oldest first); none when the file is absent.

    An unreadable file is moved aside (``.bad``) and logged: losing reports must not
    stop the follower from trading.
    """
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ValueError("not a list of reports")
        return data
    except (OSError, ValueError) as exc:
        _log.error("unsent reports %s unreadable (%s): moved aside", path, exc)
        os.replace(path, path.with_suffix(path.suffix + ".bad"))
        return []


def save_unsent(path: Path, reports: list[dict[str, Any]]) -> None:
    """Write ``reports`` atomically (old or new file after a crash, never half); the
    file is removed once none is left."""
    if not reports:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(reports, f, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
