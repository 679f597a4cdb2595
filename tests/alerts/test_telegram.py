"""The Telegram notifier and commands against a fake Bot API on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import urllib.parse
from typing import Any

import pytest

from mtponte.alerts import Alert, AlertKind, AlertManager
from mtponte.alerts.config import TelegramConfig
from mtponte.alerts.events import TEMPLATES
from mtponte.alerts.telegram import CommandHandlers, TelegramCommands, TelegramNotifier
from mtponte.errors import AlertError
from tests.alerts.fakes import CHAT, TOKEN, FakeBot, fake_bot, serve

FIELDS: dict[str, object] = {
    "side": "buy",
    "kind": "stop",
    "symbol": "WIN",
    "bar_time": "2026-01-02T10:00",
    "volume": 1,
    "price": 120000,
    "tag": "mtp:abc",
    "reason": "sl",
    "pnl": -50.0,
    "rule": "window",
    "state": "on",
    "where": "KILL_SWITCH",
    "age_s": 45,
    "count": 3,
    "command": "stop",
    "detail": "trade 4 exit differs",
    "window_s": 600,
}


def cfg(url: str, **kw: Any) -> TelegramConfig:
    base = {"bot_token": TOKEN, "chat_id": CHAT, "base_url": url, "min_interval_s": 0.0}
    return TelegramConfig(**{**base, **kw})


def test_each_kind_one_message_in_each_language(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for lang in ("pt", "en"):
        with fake_bot() as bot:
            mgr = AlertManager([TelegramNotifier(cfg(bot.url))], language=lang)
            for kind in AlertKind:
                assert mgr.emit(Alert(kind, FIELDS))
            assert mgr.flush(10)
            mgr.close()
        texts = [m["text"] for m in bot.messages]
        assert len(texts) == len(AlertKind)
        for kind, text in zip(AlertKind, texts, strict=True):
            head = TEMPLATES[lang][kind].split("{")[0].strip()
            assert head in text and "?" not in text
        assert all(m["chat_id"] == CHAT for m in bot.messages)
        assert mgr.sent == len(AlertKind) and mgr.failed == 0
    assert TOKEN not in caplog.text
    assert "botREDACTED" in caplog.text  # httpx logged the request lines, redacted


def test_429_retry_after_is_honoured(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    waits: list[float] = []
    with fake_bot(FakeBot(fail_429=2, retry_after=7)) as bot:
        n = TelegramNotifier(cfg(bot.url, backoff_s=0.01), sleep=waits.append)
        n.send_text("olá")
        n.close()
    assert [m["text"] for m in bot.messages] == ["olá"]
    assert waits == [7.0, 7.0]  # retry_after, not the 0.01 s backoff
    assert TOKEN not in caplog.text


def test_retry_after_is_capped_and_gives_up_without_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    waits: list[float] = []
    with fake_bot(FakeBot(fail_429=10, retry_after=500)) as bot:
        n = TelegramNotifier(cfg(bot.url, attempts=3, backoff_cap_s=20), sleep=waits.append)
        with pytest.raises(AlertError) as err:
            n.send_text("x")
        n.close()
    assert waits == [20.0, 20.0]
    assert TOKEN not in str(err.value) and "429" in str(err.value)
    assert TOKEN not in caplog.text


def test_wrong_token_and_unreachable_server_errors_are_clean(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with fake_bot(FakeBot(token="other")) as bot:
        n = TelegramNotifier(cfg(bot.url))
        with pytest.raises(AlertError) as err:
            n.send_text("x")  # 401: not retried
        n.close()
    assert "401" in str(err.value) and TOKEN not in str(err.value)
    assert bot.paths and all(TOKEN in p for p in bot.paths)  # the real token went out
    n = TelegramNotifier(cfg("http://127.0.0.1:9", attempts=2), sleep=lambda _s: None)
    with pytest.raises(AlertError) as err:
        n.send_text("x")
    n.close()
    assert TOKEN not in str(err.value) and TOKEN not in repr(err.value)
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(cfg("x")) and TOKEN not in str(cfg("x").model_dump())


def test_5xx_is_retried_with_capped_backoff() -> None:
    waits: list[float] = []
    with fake_bot(FakeBot(fail_500=3)) as bot:
        n = TelegramNotifier(cfg(bot.url, backoff_s=1, backoff_cap_s=3), sleep=waits.append)
        n.send_text("x")
        n.close()
    assert waits == [1.0, 2.0, 3.0] and len(bot.messages) == 1


def test_duplicates_suppressed_within_window() -> None:
    now = [0.0]
    with fake_bot() as bot:
        mgr = AlertManager(
            [TelegramNotifier(cfg(bot.url))], dedup_window_s=60, clock=lambda: now[0]
        )
        a = Alert(AlertKind.EA_STALE, {"age_s": 30, "where": "bridge"})
        assert mgr.emit(a)
        assert not mgr.emit(Alert(AlertKind.EA_STALE, {"age_s": 30, "where": "bridge"}))
        now[0] = 61.0
        assert mgr.emit(a)
        assert mgr.emit(Alert(AlertKind.EA_STALE, {"age_s": 90, "where": "bridge"}))
        mgr.close()
    assert len(bot.messages) == 3 and mgr.suppressed == 1


def test_rate_limit_spaces_messages() -> None:
    waits: list[float] = []
    with fake_bot() as bot:
        n = TelegramNotifier(cfg(bot.url, min_interval_s=1.0), sleep=waits.append)
        for i in range(3):
            n.send_text(str(i))
        n.close()
    assert len(waits) == 2 and len(bot.messages) == 3


def test_rate_limiter_with_a_fake_clock() -> None:
    from mtponte.alerts.base import RateLimiter

    now, waits = [0.0], []

    def sleep(s: float) -> None:
        waits.append(s)
        now[0] += s

    lim = RateLimiter(1.0, clock=lambda: now[0], sleep=sleep)
    lim.wait()
    now[0] += 0.25
    lim.wait()
    now[0] += 5
    lim.wait()
    assert waits == [0.75]


class Calls:
    def __init__(self) -> None:
        self.log: list[str] = []

    def handlers(self) -> CommandHandlers:
        def make(name: str) -> Any:
            def f() -> str:
                self.log.append(name)
                return f"{name} ok"

            return f

        return CommandHandlers(make("status"), make("pause"), make("resume"), make("kill"))


def test_commands_only_from_the_configured_chat_and_kill_needs_confirmation() -> None:
    calls = Calls()
    now = [0.0]
    with fake_bot() as bot:
        n = TelegramNotifier(cfg(bot.url, confirm_s=30))
        cmds = TelegramCommands(n, calls.handlers(), language="en", clock=lambda: now[0])
        bot.update("/status")
        bot.update("/kill", chat="999")  # another chat: ignored
        bot.update("/confirm 000000", chat="999")
        bot.update("/pause@mtponte_bot")
        bot.update("/kill")
        assert cmds.poll_once(0) == 5
        assert calls.log == ["status", "pause"]  # no kill without confirmation
        assert cmds.ignored == 2
        code = bot.messages[-1]["text"].split("/confirm ")[1].split()[0]
        bot.update("/confirm 111")  # wrong code: refused, and the pending kill is gone
        bot.update(f"/confirm {code}")
        cmds.poll_once(0)
        assert "kill" not in calls.log
        bot.update("/kill")
        cmds.poll_once(0)
        code = bot.messages[-1]["text"].split("/confirm ")[1].split()[0]
        now[0] = 31.0  # too late
        bot.update(f"/confirm {code}")
        cmds.poll_once(0)
        assert "kill" not in calls.log
        bot.update("/kill")
        cmds.poll_once(0)
        code = bot.messages[-1]["text"].split("/confirm ")[1].split()[0]
        bot.update(f"/confirm {code}")
        bot.update("/resume")
        bot.update("/whatever")
        cmds.poll_once(0)
        n.close()
    assert calls.log == ["status", "pause", "kill", "resume"]
    assert bot.messages[-1]["text"].startswith("Commands:")
    assert all(m["chat_id"] == CHAT for m in bot.messages)


def test_commands_thread_starts_and_stops() -> None:
    calls = Calls()
    with fake_bot() as bot:
        n = TelegramNotifier(cfg(bot.url, poll_timeout_s=0))
        cmds = TelegramCommands(n, calls.handlers())
        bot.update("/status")
        cmds.start()
        import time

        deadline = time.monotonic() + 5
        while not calls.log and time.monotonic() < deadline:
            time.sleep(0.02)
        cmds.stop(5)
        n.close()
    assert calls.log[:1] == ["status"]


def test_the_system_proxy_is_used_and_no_proxy_bypasses_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A VPS that reaches the internet only through HTTPS_PROXY/HTTP_PROXY still alerts
    (the notifier's own transport made httpx skip the proxy settings)."""
    caplog.set_level(logging.DEBUG)
    bot = FakeBot()
    hosts: list[str] = []

    def proxy(path: str, _h: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        # A proxy gets the absolute URI: answer as the Bot API that host would be.
        parts = urllib.parse.urlsplit(path)
        hosts.append(parts.netloc)
        return bot.answer(parts.path, json.loads(raw or b"{}"))

    for var in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with serve(proxy) as proxy_url:
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        monkeypatch.setenv("http_proxy", proxy_url)
        n = TelegramNotifier(cfg("http://api.telegram.invalid"))
        n.send_text("via the proxy")
        n.client.close()
        assert hosts == ["api.telegram.invalid"]
        assert [m["text"] for m in bot.messages] == ["via the proxy"]

        monkeypatch.setenv("NO_PROXY", "api.telegram.invalid")
        monkeypatch.setenv("no_proxy", "api.telegram.invalid")
        n = TelegramNotifier(cfg("http://api.telegram.invalid", attempts=1))
        with pytest.raises(AlertError):
            n.send_text("direct")  # bypassed: straight to a host that does not resolve
        n.client.close()
        assert hosts == ["api.telegram.invalid"]
    assert TOKEN not in caplog.text
