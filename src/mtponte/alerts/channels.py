"""The log, webhook and e-mail notifiers."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

from mtponte.alerts.base import Backoff, Notifier
from mtponte.alerts.config import EmailConfig, WebhookConfig
from mtponte.alerts.events import Alert, Language, render
from mtponte.errors import AlertError

_LEVEL = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}


class LogNotifier(Notifier):
    """Write alerts to a logger (``mtponte.alerts`` by default) at their severity."""

    name = "log"

    def __init__(self, language: Language = "pt", logger: str = "mtponte.alerts") -> None:
        self.language: Language = language
        self.log = logging.getLogger(logger)

    def send(self, alert: Alert, text: str) -> None:
        """Log ``ALERT <kind>: <text>`` (without the emoji: consoles may not print it)."""
        shown = render(alert, self.language, icon=False)
        self.log.log(_LEVEL[alert.severity], "ALERT %s: %s", alert.kind.value, shown)


class HistoryNotifier(Notifier):
    """Append each alert to a JSON-lines file (what ``mtponte status`` shows)."""

    name = "history"

    def __init__(self, path: Path, language: Language = "pt") -> None:
        self.path = path
        self.language: Language = language

    def send(self, alert: Alert, text: str) -> None:
        """Append ``{"time", "kind", "severity", "text"}``."""
        line = json.dumps(
            {
                "time": alert.time.isoformat(),
                "kind": alert.kind.value,
                "severity": alert.severity,
                "text": render(alert, self.language, icon=False),
            },
            ensure_ascii=False,
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        except OSError as exc:
            raise AlertError(f"alert history {self.path}: {exc.strerror or exc}") from None


def read_history(path: Path, last: int = 10) -> list[dict[str, str]]:
    """The ``last`` alerts of a history file (oldest first; none when it is missing)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    out = []
    for raw in lines[-last:]:
        try:
            out.append(json.loads(raw))
        except ValueError:
            continue
    return out


def signature(secret: str, body: bytes) -> str:
    """The ``X-Mtponte-Signature`` value of ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookNotifier(Notifier):
    """POST each alert as JSON (optionally signed with HMAC-SHA256).

    Parameters
    ----------
    cfg
        The ``[alerts.webhook]`` section.
    sleep
        Injected for tests.
    """

    name = "webhook"

    def __init__(self, cfg: WebhookConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        import httpx

        self.cfg = cfg
        self._client = httpx.Client(timeout=cfg.timeout_s)
        self._backoff = Backoff(cfg.attempts, cfg.backoff_s, cfg.backoff_cap_s)
        self._sleep = sleep

    def send(self, alert: Alert, text: str) -> None:
        """POST ``{"kind", "severity", "text", "time", "fields"}``."""
        from mtponte.alerts._http import post

        body = json.dumps(
            {
                "kind": alert.kind.value,
                "severity": alert.severity,
                "text": text,
                "time": alert.time.isoformat(),
                "fields": {k: str(v) for k, v in alert.fields.items()},
            },
            ensure_ascii=False,
        ).encode()
        headers = {"Content-Type": "application/json"}
        if self.cfg.secret is not None:
            headers["X-Mtponte-Signature"] = signature(self.cfg.secret.get_secret_value(), body)
        post(
            self._client,
            self.cfg.url,
            "webhook",
            self._backoff,
            self._sleep,
            content=body,
            headers=headers,
        )

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


class EmailNotifier(Notifier):
    """One e-mail per alert through SMTP (STARTTLS or implicit TLS, optional log-in)."""

    name = "email"

    def __init__(self, cfg: EmailConfig) -> None:
        self.cfg = cfg

    def send(self, alert: Alert, text: str) -> None:
        """Send ``text`` with the subject ``<prefix> <kind>``."""
        c = self.cfg
        msg = EmailMessage()
        msg["Subject"] = f"{c.subject_prefix} {alert.kind.value}"
        msg["From"] = c.sender
        msg["To"] = ", ".join(c.to)
        msg.set_content(f"{text}\n\n{alert.time.isoformat()}\n")
        try:
            smtp: smtplib.SMTP
            if c.ssl:
                smtp = smtplib.SMTP_SSL(
                    c.host, c.port, timeout=c.timeout_s, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout_s)
            with smtp:
                if c.starttls and not c.ssl:
                    smtp.starttls(context=ssl.create_default_context())
                if c.username and c.password is not None:
                    smtp.login(c.username, c.password.get_secret_value())
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            # the class only: SMTP error texts may echo credentials
            raise AlertError(f"e-mail via {c.host}:{c.port}: {type(exc).__name__}") from None
