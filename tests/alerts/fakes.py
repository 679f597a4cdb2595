"""Local fake servers (127.0.0.1, real HTTP) for the notifier tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "123456789:AAHsecret-token-never-logged_xyz"
CHAT = "4242"


@dataclass
class FakeBot:
    """A fake Telegram Bot API: records sendMessage, serves queued getUpdates."""

    token: str = TOKEN
    messages: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    fail_429: int = 0  # answer this many sendMessage calls with 429 retry_after
    retry_after: int = 3
    fail_500: int = 0
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.paths.append(path)
            prefix = f"/bot{self.token}/"
            if not path.startswith(prefix):
                return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            method = path[len(prefix) :]
            if method == "sendMessage":
                if self.fail_429:
                    self.fail_429 -= 1
                    return 429, {
                        "ok": False,
                        "error_code": 429,
                        "description": "Too Many Requests",
                        "parameters": {"retry_after": self.retry_after},
                    }
                if self.fail_500:
                    self.fail_500 -= 1
                    return 500, {"ok": False, "error_code": 500}
                self.messages.append(body)
                return 200, {"ok": True, "result": {"message_id": len(self.messages)}}
            if method == "getUpdates":
                offset = body.get("offset", 0)
                out = [u for u in self.updates if u["update_id"] >= offset]
                return 200, {"ok": True, "result": out}
            return 404, {"ok": False, "error_code": 404}

    def update(self, text: str, chat: str = CHAT) -> None:
        with self.lock:
            uid = len(self.updates) + 1
            self.updates.append(
                {"update_id": uid, "message": {"chat": {"id": int(chat)}, "text": text}}
            )


@contextmanager
def serve(handle: Any) -> Iterator[str]:
    """Serve ``handle(path, headers, body_bytes) -> (status, json)`` on 127.0.0.1."""

    class H(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(n)
            status, obj = handle(self.path, dict(self.headers), raw)
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
        t.join()


@contextmanager
def fake_bot(bot: FakeBot | None = None) -> Iterator[FakeBot]:
    bot = bot or FakeBot()

    def handle(path: str, _h: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        return bot.answer(path, json.loads(raw or b"{}"))

    with serve(handle) as url:
        bot.url = url
        yield bot
