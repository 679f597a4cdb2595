"""Alerts: a :class:`Notifier` port, Telegram/webhook/e-mail/log adapters and a
non-blocking :class:`AlertManager` (see docs/deploy.md, "Alerts")."""

from mtponte.alerts.base import Notifier
from mtponte.alerts.config import AlertsConfig, load_alerts_config
from mtponte.alerts.events import Alert, AlertKind, render
from mtponte.alerts.manager import AlertManager, build_manager

__all__ = [
    "Alert",
    "AlertKind",
    "AlertManager",
    "AlertsConfig",
    "Notifier",
    "build_manager",
    "load_alerts_config",
    "render",
]
