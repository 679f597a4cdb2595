"""Text-file sniffing shared by the fast and the careful loaders (no pandas, no Arrow)."""

from __future__ import annotations

from mtponte.errors import DataError


def encoding(raw: bytes) -> str:
    """The text encoding of ``raw``: a BOM, else NUL bytes (UTF-16 LE), else UTF-8."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    if raw[:3] == b"\xef\xbb\xbf":
        return "utf-8-sig"
    if len(raw) > 3 and raw[1:2] == b"\x00" and raw[3:4] == b"\x00":
        return "utf-16-le"  # UTF-16 without a BOM
    return "utf-8"


def decode(raw: bytes, name: str) -> str:
    """Decode ``raw`` with ``\\n`` line ends.

    Raises
    ------
    DataError
        Naming the line of the first byte that is not valid in the detected encoding.
    """
    enc = encoding(raw)
    try:
        return raw.decode(enc).replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"not valid {enc} text (byte {exc.start})", name, line) from None


def looks_like_rates(text: str) -> bool:
    """``copy_rates`` layout: a ``time`` column of epoch seconds beside ``tick_volume``."""
    lines = text.lstrip().split("\n", 3)[:2]
    if len(lines) < 2:
        return False
    header = [h.strip().lower() for h in split_header(lines[0])]
    if "time" not in header or "tick_volume" not in header:
        return False
    values = split_header(lines[1])
    k = header.index("time")
    return k < len(values) and values[k].strip().isdigit()


def split_header(line: str) -> list[str]:
    """Split a header line on the first of tab, ``;`` or ``,`` it contains."""
    for sep in ("\t", ";", ","):
        if sep in line:
            return line.split(sep)
    return [line]


def separator(first: str) -> str:
    """The field separator the careful reader uses for a file whose first line is ``first``."""
    if "\t" in first:
        return "\t"
    return ";" if first.count(";") > first.count(",") else ","
