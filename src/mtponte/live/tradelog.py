"""The seed's log files: ``logs/mt5_trades.csv`` and ``logs/monitor_live.log``.

``mt5_trades.csv`` keeps the shape of the seed's ``LogTrade`` (no header; one line per
event: ``time,signal,entry,sl,tp``, time as MT5's ``TimeToString`` writes it, prices
with two decimals). Entries write ``BUY``/``SELL`` and the fill price; exits write
``EXIT_SL``, ``EXIT_TP``, ``EXIT_FLAT`` or ``EXIT_END`` and the exit price.
"""

from __future__ import annotations

import csv
import logging
import logging.handlers
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from mtponte.domain.side import ExitReason, Side

LOG_FORMAT = "%(asctime)s | %(levelname)s | %(message)s"


class TradeLog:
    """Append the seed's trade lines to ``path`` (exchange-local times).

    Parameters
    ----------
    path
        The CSV file (created with its folder).
    timezone
        Zone the times are written in.
    """

    def __init__(self, path: Path, timezone: str) -> None:
        self.path = path
        self.tz = ZoneInfo(timezone)
        path.parent.mkdir(parents=True, exist_ok=True)

    def _write(self, t: datetime, what: str, price: float, sl: float, tp: float) -> None:
        stamp = t.astimezone(self.tz).strftime("%Y.%m.%d %H:%M")
        with self.path.open("a", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerow([stamp, what, f"{price:.2f}", f"{sl:.2f}", f"{tp:.2f}"])

    def entry(self, t: datetime, side: Side, price: float, sl: float, tp: float) -> None:
        """An entry fill."""
        self._write(t, "BUY" if side is Side.BUY else "SELL", price, sl, tp)

    def exit(
        self, t: datetime, side: Side, price: float, reason: ExitReason, sl: float, tp: float
    ) -> None:
        """An exit fill."""
        self._write(t, f"EXIT_{reason.value.upper()}", price, sl, tp)


def setup_file_log(
    path: Path, max_bytes: int = 5_000_000, backups: int = 5, level: int = logging.INFO
) -> logging.Handler:
    """Attach a rotating ``time | level | message`` file handler to the ``mtponte`` logger.

    Parameters
    ----------
    path
        Log file (``logs/monitor_live.log``); its folder is created.
    max_bytes, backups
        Rotation size and how many old files to keep.
    level
        Level of the ``mtponte`` logger.

    Returns
    -------
    logging.Handler
        The handler (remove it with ``logging.getLogger("mtponte").removeHandler``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger = logging.getLogger("mtponte")
    logger.setLevel(level)
    logger.addHandler(handler)
    return handler
