"""Webhook (signed), e-mail, log notifiers; the manager's queue and configuration."""

from __future__ import annotations

import json
import logging
import smtplib
import threading
from pathlib import Path
from typing import Any

import pytest

from mtponte.alerts import Alert, AlertKind, AlertManager, build_manager, load_alerts_config
from mtponte.alerts.base import Notifier
from mtponte.alerts.channels import EmailNotifier, LogNotifier, WebhookNotifier, signature
from mtponte.alerts.config import AlertsConfig, EmailConfig, WebhookConfig
from mtponte.errors import AlertError, ConfigError
from tests.alerts.fakes import serve


def test_webhook_json_with_hmac_signature() -> None:
    got: list[tuple[dict[str, str], bytes]] = []

    def handle(path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        got.append((headers, raw))
        return 200, {}

    with serve(handle) as url:
        n = WebhookNotifier(WebhookConfig(url=url + "/hook", secret="s3cr3t"))
        n.send(Alert(AlertKind.FILL, {"side": "buy", "price": 1}), "Fill: buy")
        n.close()
    headers, raw = got[0]
    body = json.loads(raw)
    assert body["kind"] == "fill" and body["text"] == "Fill: buy"
    assert body["fields"] == {"side": "buy", "price": "1"}
    assert headers["X-Mtponte-Signature"] == signature("s3cr3t", raw)


def test_webhook_gives_up_cleanly() -> None:
    def handle(path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        return 503, {}

    waits: list[float] = []
    with serve(handle) as url:
        n = WebhookNotifier(WebhookConfig(url=url, attempts=3), sleep=waits.append)
        with pytest.raises(AlertError, match="HTTP 503 after 3"):
            n.send(Alert(AlertKind.FILL), "x")
        n.close()
    assert waits == [0.5, 1.0]


class FakeSMTP:
    sent: list[Any] = []  # noqa: RUF012

    def __init__(self, host: str, port: int, timeout: float = 0) -> None:
        self.host, self.port = host, port
        self.tls = False
        self.user: str | None = None

    def __enter__(self) -> FakeSMTP:
        return self

    def __exit__(self, *a: object) -> None:
        pass

    def starttls(self, context: Any = None) -> None:
        self.tls = True

    def login(self, user: str, password: str) -> None:
        if password != "pw":
            raise smtplib.SMTPAuthenticationError(535, b"bad password pw-wrong")
        self.user = user

    def send_message(self, msg: Any) -> None:
        FakeSMTP.sent.append((self, msg))


def test_email(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smtplib, "SMTP", FakeSMTP)
    c = EmailConfig(host="mail", sender="a@x", to=["b@x"], username="u", password="pw")
    EmailNotifier(c).send(Alert(AlertKind.KILL_SWITCH), "Kill switch on")
    smtp, msg = FakeSMTP.sent[-1]
    assert smtp.tls and smtp.user == "u"
    assert msg["Subject"] == "[mtponte] kill_switch" and "Kill switch on" in msg.get_content()
    bad = EmailConfig(**{**c.model_dump(), "password": "pw-wrong"})
    with pytest.raises(AlertError) as err:
        EmailNotifier(bad).send(Alert(AlertKind.KILL_SWITCH), "x")
    assert "pw-wrong" not in str(err.value)


def test_log_notifier(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "mtponte.alerts")
    LogNotifier().send(Alert(AlertKind.DAILY_LOSS, {"symbol": "WIN", "reason": "-500"}), "")
    rec = caplog.records[-1]
    assert rec.levelno == logging.CRITICAL and "daily_loss" in rec.getMessage()


class Blocking(Notifier):
    name = "blocking"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.got: list[Alert] = []

    def send(self, alert: Alert, text: str) -> None:
        self.started.set()
        self.gate.wait(5)
        self.got.append(alert)


def test_full_queue_drops_the_oldest_and_emit_never_blocks() -> None:
    n = Blocking()
    mgr = AlertManager([n], queue_size=3, dedup_window_s=0)
    alerts = [Alert(AlertKind.SIGNAL, {"i": i}) for i in range(10)]
    assert mgr.emit(alerts[0])
    assert n.started.wait(5)
    for a in alerts[1:]:
        assert mgr.emit(a)
    n.gate.set()
    mgr.close()
    # the first was being sent; of the 9 queued behind it, the 3 newest survived
    assert n.got == [alerts[0], *alerts[-3:]]
    assert mgr.dropped == 6


def test_failing_notifier_does_not_stop_others(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Notifier):
        name = "broken"

        def send(self, alert: Alert, text: str) -> None:
            raise AlertError("down")

    ok = Blocking()
    ok.gate.set()
    mgr = AlertManager([Broken(), ok], events=[AlertKind.FILL])
    assert not mgr.emit(Alert(AlertKind.SIGNAL))  # not an enabled kind
    mgr.emit(Alert(AlertKind.FILL))
    mgr.close()
    assert len(ok.got) == 1 and mgr.failed == 1
    assert "not sent by broken: down" in caplog.text


def test_config_from_file_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "m.toml"
    f.write_text(
        'symbol = "WIN"\n[alerts]\nlanguage = "en"\nevents = ["fill", "kill_switch"]\n'
        '[alerts.webhook]\nurl = "http://127.0.0.1:1/x"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("MTPONTE_LIVE__ALERTS__TELEGRAM__BOT_TOKEN", "9:tok")
    monkeypatch.setenv("MTPONTE_LIVE__ALERTS__TELEGRAM__CHAT_ID", "1")
    cfg = load_alerts_config(f)
    assert cfg.language == "en" and cfg.events == [AlertKind.FILL, AlertKind.KILL_SWITCH]
    assert cfg.telegram is not None and cfg.telegram.bot_token.get_secret_value() == "9:tok"
    mgr = build_manager(cfg)
    assert [n.name for n in mgr.notifiers] == ["log", "telegram", "webhook"]
    mgr.close()
    f.write_text('[alerts]\nlanguage = "fr"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"alerts\.language"):
        load_alerts_config(f)
    monkeypatch.delenv("MTPONTE_LIVE__ALERTS__TELEGRAM__CHAT_ID")
    f.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_alerts_config(f)
    assert "9:tok" not in str(err.value)
    assert AlertsConfig().telegram is None


def test_secrets_stay_out_of_the_journaled_config() -> None:
    from mtponte.live.config import load_config

    cfg = load_config(
        None,
        {
            "alerts": {
                "telegram": {"bot_token": "9:very-secret", "chat_id": "1"},
                "webhook": {"url": "http://127.0.0.1:1", "secret": "hmac-secret"},
            }
        },
    )
    dumped = json.dumps(cfg.model_dump(mode="json"))  # what Journal.start_run stores
    assert "very-secret" not in dumped and "hmac-secret" not in dumped
    assert "very-secret" not in repr(cfg)
