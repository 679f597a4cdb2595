"""What an alert is, and how it reads in Portuguese and English.

An :class:`Alert` is a kind plus a few named values; the text is produced by
:func:`render` from a template per kind and language, so every notifier says the same
thing and a test can check a message per kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

Language = Literal["pt", "en"]


class AlertKind(StrEnum):
    """Every event the monitor, the supervisor or the status checks report."""

    SIGNAL = "signal"
    FILL = "fill"
    EXIT = "exit"
    REJECTION = "rejection"
    DAILY_LOSS = "daily_loss"
    KILL_SWITCH = "kill_switch"
    EA_STALE = "ea_stale"
    FEED_STALLED = "feed_stalled"
    EA_RESUMED = "ea_resumed"
    FEED_RESUMED = "feed_resumed"
    MONITOR_RESTARTED = "monitor_restarted"
    COMMAND_UNANSWERED = "command_unanswered"
    DIVERGENCE = "divergence"
    SUPERVISOR_GAVE_UP = "supervisor_gave_up"


# Severity decides the log level of the log notifier and the emoji of chat messages.
SEVERITY: dict[AlertKind, str] = {
    AlertKind.SIGNAL: "info",
    AlertKind.FILL: "info",
    AlertKind.EXIT: "info",
    AlertKind.REJECTION: "warning",
    AlertKind.DAILY_LOSS: "critical",
    AlertKind.KILL_SWITCH: "critical",
    AlertKind.EA_STALE: "critical",
    AlertKind.FEED_STALLED: "critical",
    AlertKind.EA_RESUMED: "info",
    AlertKind.FEED_RESUMED: "info",
    AlertKind.MONITOR_RESTARTED: "warning",
    AlertKind.COMMAND_UNANSWERED: "critical",
    AlertKind.DIVERGENCE: "warning",
    AlertKind.SUPERVISOR_GAVE_UP: "critical",
}

_ICON = {"info": "ℹ️", "warning": "⚠️", "critical": "🚨"}

TEMPLATES: dict[Language, dict[AlertKind, str]] = {
    "pt": {
        AlertKind.SIGNAL: "Sinal {side} {kind} em {symbol} (barra {bar_time})",
        AlertKind.FILL: "Execução: {side} {volume} {symbol} a {price} [{tag}]",
        AlertKind.EXIT: "Saída {symbol}: {reason} a {price}, resultado {pnl}",
        AlertKind.REJECTION: "Sinal {side} em {symbol} recusado pela regra {rule}: {reason}",
        AlertKind.DAILY_LOSS: "Limite de perda diária atingido em {symbol}: {reason}",
        AlertKind.KILL_SWITCH: "Kill switch {state} ({where})",
        AlertKind.EA_STALE: "EA sem heartbeat há {age_s} s ({where})",
        AlertKind.FEED_STALLED: "Feed de barras parado há {age_s} s ({where})",
        AlertKind.EA_RESUMED: "Heartbeat do EA de volta após {age_s} s ({where})",
        AlertKind.FEED_RESUMED: "Feed de barras de volta após {age_s} s ({where})",
        AlertKind.MONITOR_RESTARTED: "Monitor reiniciado ({reason}); reinício {count}",
        AlertKind.COMMAND_UNANSWERED: "Comando {command} sem resposta: {state} ({reason})",
        AlertKind.DIVERGENCE: "Divergência do backtest: {detail}",
        AlertKind.SUPERVISOR_GAVE_UP: "Supervisor desistiu após {count} reinícios em {window_s} s",
    },
    "en": {
        AlertKind.SIGNAL: "Signal {side} {kind} on {symbol} (bar {bar_time})",
        AlertKind.FILL: "Fill: {side} {volume} {symbol} at {price} [{tag}]",
        AlertKind.EXIT: "Exit {symbol}: {reason} at {price}, P&L {pnl}",
        AlertKind.REJECTION: "Signal {side} on {symbol} refused by rule {rule}: {reason}",
        AlertKind.DAILY_LOSS: "Daily loss limit hit on {symbol}: {reason}",
        AlertKind.KILL_SWITCH: "Kill switch {state} ({where})",
        AlertKind.EA_STALE: "EA heartbeat stale for {age_s} s ({where})",
        AlertKind.FEED_STALLED: "Bar feed stalled for {age_s} s ({where})",
        AlertKind.EA_RESUMED: "EA heartbeat back after {age_s} s ({where})",
        AlertKind.FEED_RESUMED: "Bar feed back after {age_s} s ({where})",
        AlertKind.MONITOR_RESTARTED: "Monitor restarted ({reason}); restart {count}",
        AlertKind.COMMAND_UNANSWERED: "Command {command} unanswered: {state} ({reason})",
        AlertKind.DIVERGENCE: "Divergence from the backtest: {detail}",
        AlertKind.SUPERVISOR_GAVE_UP: "Supervisor gave up after {count} restarts in {window_s} s",
    },
}


class _Missing(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "?"


@dataclass(frozen=True)
class Alert:
    """One event to report.

    Attributes
    ----------
    kind
        What happened.
    fields
        The template's values (missing ones show as ``?``).
    key
        De-duplication key: alerts of one kind with the same key within the manager's
        window are sent once (default: the rendered values).
    time
        When it happened (aware UTC).
    """

    kind: AlertKind
    fields: Mapping[str, object] = field(default_factory=dict)
    key: str | None = None
    time: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def severity(self) -> str:
        """``info``, ``warning`` or ``critical``."""
        return SEVERITY[self.kind]

    def dedup_key(self) -> str:
        """The kind and :attr:`key` (or every field), as one string."""
        if self.key is not None:
            return f"{self.kind}:{self.key}"
        return f"{self.kind}:" + "|".join(f"{k}={self.fields[k]}" for k in sorted(self.fields))


def render(alert: Alert, lang: Language = "pt", icon: bool = True) -> str:
    """The alert as one line of text.

    Parameters
    ----------
    alert
        The event.
    lang
        ``pt`` (Portuguese) or ``en``.
    icon
        Prefix the severity's emoji (chat messages); off for logs.

    Returns
    -------
    str
    """
    text = TEMPLATES[lang][alert.kind].format_map(_Missing(alert.fields))
    return f"{_ICON[alert.severity]} {text}" if icon else text
