"""The follower's link to the copy server over HTTP (httpx)."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from mtponte.copy.engine.model import Target
from mtponte.copy.follower.follower import LeaseHeld, LinkError, TargetBook
from mtponte.errors import ConfigError

_RETRY = {408, 425, 429, 500, 502, 503, 504}
# A report's own fault (malformed, too large, a field the server refuses): never retried.
_REPORT_REFUSED = {400, 413, 422}
_log = logging.getLogger("mtponte.copy.follower")


class HttpLink:
    """Talks to ``/api/v1/followers/{follower_id}/...`` with a ``follow`` token.

    Network errors and 5xx/429 raise :class:`LinkError` (the follower retries); a bad
    token, a missing subscription or a refused body raise :class:`ConfigError` (retrying
    cannot help); 409 on a heartbeat raises :class:`LeaseHeld`. The token never appears
    in an error message.
    """

    def __init__(self, client: httpx.Client, follower_id: int, master_id: int, token: str) -> None:
        self.client = client
        self.base = f"/api/v1/followers/{follower_id}"
        self.master_id = master_id
        self._headers = {"Authorization": f"Bearer {token}"}

    def _call(self, method: str, url: str, timeout: float = 10.0, **kw: Any) -> httpx.Response:
        try:
            r = self.client.request(method, url, headers=self._headers, timeout=timeout, **kw)
        except httpx.HTTPError as exc:
            raise LinkError(f"{method} {url}: {type(exc).__name__}") from None
        if r.status_code in _RETRY:
            raise LinkError(f"{method} {url}: HTTP {r.status_code}")
        return r

    @staticmethod
    def _fatal(r: httpx.Response, what: str) -> ConfigError:
        try:
            detail = r.json().get("detail", "")
        except ValueError:
            detail = r.text[:200]
        return ConfigError(f"{what}: HTTP {r.status_code} {detail}".strip())

    def targets(self, version: int | None, wait_s: float) -> TargetBook | None:
        params: dict[str, Any] = {}
        if version is not None:
            params = {"version": version, "wait": wait_s}
        url = f"{self.base}/masters/{self.master_id}/targets"
        r = self._call("GET", url, timeout=wait_s + 10.0, params=params)
        if r.status_code == 304:
            return None
        if r.status_code != 200:
            raise self._fatal(r, "reading the target book")
        d = r.json()
        return TargetBook(
            version=int(d["version"]),
            targets=tuple(Target.from_json(t) for t in d["targets"]),
            master_online=bool(d["master_online"]),
            master_time_ms=d.get("master_time_ms"),
            computed_at_ms=d.get("computed_at_ms"),
        )

    def heartbeat(self, facts: dict[str, Any]) -> None:
        body = {k: v for k, v in facts.items() if k != "positions"}
        body["positions"] = [
            {k: v for k, v in p.items() if v is not None} for p in facts.get("positions", [])
        ]
        r = self._call("POST", f"{self.base}/heartbeats", json=body)
        if r.status_code == 409:
            raise LeaseHeld(self._fatal(r, "heartbeat refused").args[0])
        if r.status_code != 204:
            raise self._fatal(r, "heartbeat refused")

    def report(self, reports: list[dict[str, Any]]) -> None:
        for rep in reports:
            body = {
                "master_id": self.master_id,
                "status": rep["status"],
                "reason": rep.get("reason", "")[:200],
                "target_id": rep.get("target_id", "")[:80],
                "action": rep.get("action", ""),
                "retcode": rep.get("retcode"),
                "slippage_points": rep.get("slippage_points"),
                "latency": rep.get("latency"),
            }
            if rep.get("report_id"):  # absent from reports kept by an older follower
                body["report_id"] = rep["report_id"]
            r = self._call("POST", f"{self.base}/reports", json=body)
            if r.status_code in _REPORT_REFUSED:
                # This report will be refused every time (e.g. a field an older server
                # does not know): logged and dropped, as the EA does. Kept, it would stop
                # every restart of the follower before it manages its copies.
                _log.error(
                    "%s; the report is dropped: %s",
                    self._fatal(r, "execution report refused"),
                    body,
                )
                continue
            if r.status_code != 204:
                raise self._fatal(r, "execution report refused")
