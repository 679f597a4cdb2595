"""Decode, parse and shape-check one command file (never raises for bad content)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mtponte.bridge.fileio import read_bytes
from mtponte.bridge.protocol import INBOX_NAME, PROTOCOL_VERSION, Command, Kind, Reason


@dataclass
class Parsed:
    """A command file: the command, or why it is refused (id/seq from the name)."""

    cmd: Command | None
    cid: str
    seq: int | None
    reason: Reason | None = None
    message: str = ""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for k, _ in pairs:
        if k in seen:
            raise ValueError(f"key {k!r} is given twice")
        seen.add(k)
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_command(path: Path) -> Parsed | None:
    """Decode, parse and shape-check one file; never raises for bad content."""
    m = INBOX_NAME.match(path.name)
    cid = m.group(2).lower() if m else path.stem
    seq = int(m.group(1)) if m else None
    data = read_bytes(path)
    if data is None:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Parsed(None, cid, seq, Reason.INVALID_UTF8, f"not UTF-8 at byte {exc.start}")
    try:
        # RFC 8259 as the EA reads it: no NaN/Infinity, no key given twice (json.loads
        # would take the last one silently)
        obj = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except ValueError as exc:
        return Parsed(None, cid, seq, Reason.INVALID_JSON, f"invalid JSON: {exc}")
    if not isinstance(obj, dict):
        return Parsed(None, cid, seq, Reason.INVALID_JSON, "not a JSON object")
    if type(obj.get("v")) is not int or obj.get("v") != PROTOCOL_VERSION:
        return Parsed(
            None,
            cid,
            seq,
            Reason.UNKNOWN_VERSION,
            f"protocol version {obj.get('v')!r}, expected {PROTOCOL_VERSION}",
        )
    if not isinstance(obj.get("kind"), str) or obj["kind"] not in {k.value for k in Kind}:
        return Parsed(None, cid, seq, Reason.UNKNOWN_KIND, f"unknown kind {obj.get('kind')!r}")
    try:
        # strict: JSON types as the schema says (no "1" for 1, no true for 1.0, no
        # 600000.0 for an integer), as the EA reads them
        cmd = Command.model_validate_json(text, strict=True)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "command"
        return Parsed(None, cid, seq, Reason.INVALID_FIELD, f"{where}: {err['msg']}")
    if m is None or cmd.id != cid or cmd.seq != seq:
        return Parsed(
            None,
            cid,
            seq,
            Reason.INVALID_NAME,
            f"file name {path.name!r} does not match seq {cmd.seq} and id {cmd.id}",
        )
    return Parsed(cmd, cmd.id, cmd.seq)
