"""Telegram Bot API: alerts out (``sendMessage``), commands in (``getUpdates``).

The bot token is part of every Bot API URL, and httpx logs request URLs. So requests
are built with the placeholder path ``/botREDACTED/...`` and a transport puts the real
token in only on the way to the socket: log lines, exceptions and ``response.request``
all carry the placeholder. Errors name the method and the status, nothing else.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from mtponte.alerts._http import post
from mtponte.alerts.base import Backoff, Notifier, RateLimiter
from mtponte.alerts.config import TelegramConfig
from mtponte.alerts.events import Alert, Language
from mtponte.errors import AlertError

log = logging.getLogger("mtponte.alerts")

_PLACEHOLDER = b"/botREDACTED/"


class _TokenTransport(httpx.BaseTransport):
    """Swap the placeholder for the token in the request that goes on the wire."""

    def __init__(self, token: SecretStr, inner: httpx.BaseTransport) -> None:
        self._token = token
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path
        if _PLACEHOLDER in path:
            real = b"/bot" + self._token.get_secret_value().encode() + b"/"
            request = httpx.Request(
                request.method,
                request.url.copy_with(raw_path=path.replace(_PLACEHOLDER, real, 1)),
                headers=request.headers,
                stream=request.stream,
                extensions=request.extensions,
            )
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def _proxy_for(url: str) -> str | None:
    """The proxy the system sets for ``url``, or ``None``.

    A client given its own transport ignores httpx's ``trust_env`` proxy lookup, so the
    lookup is done here with the standard library, which reads ``HTTPS_PROXY`` /
    ``HTTP_PROXY`` / ``NO_PROXY`` and, on Windows, the system (registry) settings a VPS
    behind a corporate proxy uses.
    """
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


class TelegramNotifier(Notifier):
    """Send alerts to one chat through the Bot API.

    Parameters
    ----------
    cfg
        The ``[alerts.telegram]`` section.
    sleep
        Injected for tests (retries and the rate limit wait with it).
    """

    name = "telegram"

    def __init__(self, cfg: TelegramConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.cfg = cfg
        self._sleep = sleep
        self._backoff = Backoff(cfg.attempts, cfg.backoff_s, cfg.backoff_cap_s)
        self._limiter = RateLimiter(cfg.min_interval_s, sleep=sleep)
        self._lock = threading.Lock()  # alerts and command replies share the limiter
        self.client = httpx.Client(
            timeout=httpx.Timeout(cfg.timeout_s, read=cfg.timeout_s + cfg.poll_timeout_s),
            transport=_TokenTransport(
                cfg.bot_token, httpx.HTTPTransport(proxy=_proxy_for(cfg.base_url))
            ),
        )

    def url(self, method: str) -> str:
        """The placeholder URL of a Bot API method (safe to log)."""
        return f"{self.cfg.base_url.rstrip('/')}/botREDACTED/{method}"

    def send(self, alert: Alert, text: str) -> None:
        """``sendMessage`` to the configured chat."""
        self.send_text(text)

    def send_text(self, text: str) -> None:
        """``sendMessage`` ``text`` to the configured chat (rate limited, retried).

        Raises
        ------
        AlertError
            Gave up (the message names the method and the status only).
        """
        payload = {"chat_id": self.cfg.chat_id.get_secret_value(), "text": text}
        with self._lock:
            self._limiter.wait()
            resp = post(
                self.client,
                self.url("sendMessage"),
                "telegram sendMessage",
                self._backoff,
                self._sleep,
                json=payload,
            )
        if not _ok(resp):
            raise AlertError("telegram sendMessage: answer without ok=true")

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()


def _ok(resp: httpx.Response) -> bool:
    try:
        return bool(resp.json().get("ok"))
    except (ValueError, AttributeError):
        return False


@dataclass(frozen=True)
class CommandHandlers:
    """What the bot's commands do; each returns the reply text.

    Attributes
    ----------
    status
        ``/status``: a short summary of the monitor.
    pause, resume
        ``/pause``, ``/resume``: stop and restart taking new entries.
    kill
        ``/kill`` once confirmed: pull the kill switch.
    """

    status: Callable[[], str]
    pause: Callable[[], str]
    resume: Callable[[], str]
    kill: Callable[[], str]


_REPLY: dict[Language, dict[str, str]] = {
    "pt": {
        "confirm": "Confirme o kill switch com /confirm {code} em até {s:.0f} s.",
        "no_kill": "Nenhum /kill pendente (ou expirou, ou o código está errado).",
        "help": "Comandos: /status, /pause, /resume, /kill",
        "failed": "Comando {cmd} falhou: {err}",
    },
    "en": {
        "confirm": "Confirm the kill switch with /confirm {code} within {s:.0f} s.",
        "no_kill": "No /kill pending (or it expired, or the code is wrong).",
        "help": "Commands: /status, /pause, /resume, /kill",
        "failed": "Command {cmd} failed: {err}",
    },
}


class TelegramCommands:
    """Obey ``/status``, ``/pause``, ``/resume`` and ``/kill`` from the configured chat.

    Long-polls ``getUpdates`` (in a daemon thread with :meth:`start`, or one round at a
    time with :meth:`poll_once`); messages from any other chat are ignored and logged
    without their text. ``/kill`` answers with a one-time code; ``/confirm <code>``
    within ``confirm_s`` pulls the kill switch.

    Parameters
    ----------
    notifier
        Sends the replies (and holds the HTTP client).
    handlers
        The callbacks.
    language
        Reply language.
    clock
        Monotonic seconds (tests).
    """

    def __init__(
        self,
        notifier: TelegramNotifier,
        handlers: CommandHandlers,
        language: Language = "pt",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.notifier = notifier
        self.cfg = notifier.cfg
        self.handlers = handlers
        self.text = _REPLY[language]
        self._clock = clock
        self._offset: int | None = None
        self._pending_kill: tuple[str, float] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ignored = 0

    def poll_once(self, timeout_s: int | None = None) -> int:
        """One ``getUpdates`` round; handle every update; return how many were read.

        Raises
        ------
        AlertError
            The Bot API could not be reached or refused.
        """
        params: dict[str, Any] = {
            "timeout": self.cfg.poll_timeout_s if timeout_s is None else timeout_s,
            "allowed_updates": ["message"],
        }
        if self._offset is not None:
            params["offset"] = self._offset
        resp = post(
            self.notifier.client,
            self.notifier.url("getUpdates"),
            "telegram getUpdates",
            Backoff(1),
            json=params,
        )
        if not _ok(resp):
            raise AlertError("telegram getUpdates: answer without ok=true")
        updates = resp.json().get("result") or []
        for upd in updates:
            self._offset = int(upd.get("update_id", 0)) + 1
            reply = self.handle(upd)
            if reply is not None:
                self.notifier.send_text(reply)
        return len(updates)

    def handle(self, update: dict[str, Any]) -> str | None:
        """The reply to one update (``None``: ignored)."""
        msg = update.get("message") or {}
        chat = str((msg.get("chat") or {}).get("id", ""))
        if chat != self.cfg.chat_id.get_secret_value():
            self.ignored += 1
            log.warning("telegram: ignored a message from another chat")
            return None
        words = str(msg.get("text", "")).strip().split()
        if not words or not words[0].startswith("/"):
            return None
        cmd = words[0].split("@", 1)[0].lower()
        log.info("telegram command %s", cmd)
        try:
            if cmd == "/status":
                return self.handlers.status()
            if cmd == "/pause":
                return self.handlers.pause()
            if cmd == "/resume":
                return self.handlers.resume()
            if cmd == "/kill":
                code = f"{secrets.randbelow(10**6):06d}"
                self._pending_kill = (code, self._clock() + self.cfg.confirm_s)
                return self.text["confirm"].format(code=code, s=self.cfg.confirm_s)
            if cmd == "/confirm":
                pending, self._pending_kill = self._pending_kill, None
                if (
                    pending is None
                    or len(words) < 2
                    or words[1] != pending[0]
                    or self._clock() > pending[1]
                ):
                    return self.text["no_kill"]
                return self.handlers.kill()
        except Exception as exc:  # a callback failing must not stop the bot
            log.error("telegram command %s failed: %s", cmd, type(exc).__name__)
            return self.text["failed"].format(cmd=cmd, err=type(exc).__name__)
        return self.text["help"]

    def start(self) -> None:
        """Poll in a daemon thread until :meth:`stop`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="telegram-commands", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self.poll_once()
                failures = 0
            except AlertError as exc:
                failures += 1
                log.warning("telegram commands: %s", exc)
                self._stop.wait(min(60.0, 2.0**failures))

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop polling (waits for the running ``getUpdates`` to end)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s if timeout_s is not None else self.cfg.poll_timeout_s + 5)
