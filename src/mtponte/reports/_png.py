"""A tiny PNG writer for the equity overlay (numpy raster + zlib; no imaging library)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

import numpy as np

RGB = {"backtest": (31, 119, 180), "live": (214, 39, 40)}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def encode_png(img: np.ndarray) -> bytes:
    """An ``(h, w, 3)`` uint8 array as PNG bytes."""
    h, w, _ = img.shape
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))
    head = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", head)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


def _line(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, c: tuple[int, ...]) -> None:
    n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
    xs = np.clip(np.rint(np.linspace(x0, x1, n)).astype(int), 0, img.shape[1] - 1)
    ys = np.clip(np.rint(np.linspace(y0, y1, n)).astype(int), 0, img.shape[0] - 1)
    for dy in (0, 1):
        img[np.clip(ys + dy, 0, img.shape[0] - 1), xs] = c


def equity_png(
    curves: dict[str, Sequence[tuple[float, float]]], width: int = 900, height: int = 300
) -> bytes:
    """The equity curves (step lines over a zero line) as a PNG, white background."""
    img = np.full((height, width, 3), 255, dtype=np.uint8)
    pts = [p for c in curves.values() for p in c]
    if pts:
        x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
        ys = [p[1] for p in pts] + [0.0]
        y0, y1 = min(ys), max(ys)
        sx = (width - 20) / ((x1 - x0) or 1.0)
        sy = (height - 20) / ((y1 - y0) or 1.0)
        px = lambda t: 10 + (t - x0) * sx  # noqa: E731
        py = lambda v: height - 10 - (v - y0) * sy  # noqa: E731
        zy = min(max(round(py(0.0)), 0), height - 1)
        img[zy, ::4] = (150, 150, 150)
        for name, c in curves.items():
            col = RGB.get(name, (80, 80, 80))
            prev_x, prev_v = px(x0), 0.0
            for t, v in c:
                _line(img, prev_x, py(prev_v), px(t), py(prev_v), col)
                _line(img, px(t), py(prev_v), px(t), py(v), col)
                prev_x, prev_v = px(t), v
    return encode_png(img)
