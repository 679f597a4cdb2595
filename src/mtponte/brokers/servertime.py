"""Broker server time: MT5 stamps bars, ticks, deals and expirations with the server's
wall clock written as if it were UTC epoch seconds. Inside mtponte every time is UTC;
this is the one place that converts, with an explicit IANA zone for the server."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from mtponte.domain.bars import Bar
from mtponte.errors import ConfigError


class ServerClock:
    """Convert between aware UTC datetimes and MT5 server-epoch seconds.

    Parameters
    ----------
    timezone
        IANA zone of the broker's trade server (B3 brokers: ``America/Sao_Paulo``;
        many FX brokers: ``Europe/Athens`` or a fixed ``Etc/GMT-2``). A wall time that
        occurs twice (a daylight-saving fall-back) is read as the first occurrence.
    """

    def __init__(self, timezone: str) -> None:
        try:
            self.zone = ZoneInfo(timezone)
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"unknown server time zone {timezone!r}") from exc
        self.timezone = timezone

    def to_utc(self, server_seconds: float) -> datetime:
        """Aware UTC time of an MT5 server-epoch value (seconds)."""
        wall = datetime.fromtimestamp(server_seconds, tz=UTC).replace(tzinfo=None)
        return wall.replace(tzinfo=self.zone).astimezone(UTC)

    def to_utc_ms(self, server_ms: int) -> datetime:
        """Aware UTC time of an MT5 server-epoch value in milliseconds (``time_msc``)."""
        return self.to_utc(server_ms / 1000)

    def to_server(self, t: datetime) -> int:
        """MT5 server-epoch seconds of an aware time (e.g. an order expiration)."""
        if t.tzinfo is None:
            raise ValueError(f"{t} has no time zone")
        wall = t.astimezone(self.zone).replace(tzinfo=None)
        return int(wall.replace(tzinfo=UTC).timestamp())


def bars_from_rates(rates: Iterable[Any], clock: ServerClock) -> list[Bar]:
    """``copy_rates_*`` rows (server wall-clock times) as :class:`Bar` values in UTC."""
    return [
        Bar(
            clock.to_utc(int(r["time"])),
            float(r["open"]),
            float(r["high"]),
            float(r["low"]),
            float(r["close"]),
            float(r["tick_volume"]),
            float(r["real_volume"]),
            float(r["spread"]),
        )
        for r in rates
    ]
