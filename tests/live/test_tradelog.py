from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from mtponte.domain import Side
from mtponte.domain.side import ExitReason
from mtponte.live.tradelog import TradeLog, setup_file_log


def test_seed_trade_csv_shape(tmp_path: Path) -> None:
    log = TradeLog(tmp_path / "logs" / "mt5_trades.csv", "America/Sao_Paulo")
    t = datetime(2024, 3, 4, 13, 5, tzinfo=UTC)  # 10:05 in São Paulo
    log.entry(t, Side.SELL, 126435.0, 126900.0, 125700.0)
    log.exit(t, Side.SELL, 125700.0, ExitReason.TP, 126900.0, 125700.0)
    assert (tmp_path / "logs" / "mt5_trades.csv").read_text(encoding="utf-8").splitlines() == [
        "2024.03.04 10:05,SELL,126435.00,126900.00,125700.00",
        "2024.03.04 10:05,EXIT_TP,125700.00,126900.00,125700.00",
    ]


def test_rotating_log_format(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "monitor_live.log"
    handler = setup_file_log(path, max_bytes=10_000, backups=2)
    try:
        for i in range(400):
            logging.getLogger("mtponte.live").info("elefante detectado %d", i)
    finally:
        logging.getLogger("mtponte").removeHandler(handler)
        handler.close()
    line = path.read_text(encoding="utf-8").splitlines()[-1]
    stamp, level, message = line.split(" | ")
    assert level == "INFO" and message == "elefante detectado 399"
    datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f")
    assert (tmp_path / "logs" / "monitor_live.log.1").is_file()  # rotated
    assert not (tmp_path / "logs" / "monitor_live.log.3").exists()  # 2 backups kept
