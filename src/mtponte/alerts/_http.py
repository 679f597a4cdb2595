"""POST with retries, capped backoff and ``429 retry_after``, for the HTTP notifiers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from mtponte.alerts.base import Backoff
from mtponte.errors import AlertError

log = logging.getLogger("mtponte.alerts")


def retry_after(resp: httpx.Response) -> float | None:
    """Seconds a 429 asks to wait: Telegram's ``parameters.retry_after`` or the
    ``Retry-After`` header (``None``: not said)."""
    try:
        body = resp.json()
        value = body.get("parameters", {}).get("retry_after")
        if value is not None:
            return float(value)
    except (ValueError, AttributeError):
        pass
    header = resp.headers.get("Retry-After")
    try:
        return float(header) if header is not None else None
    except ValueError:
        return None


def post(
    client: httpx.Client,
    url: str,
    what: str,
    backoff: Backoff,
    sleep: Callable[[float], None] = time.sleep,
    **kwargs: Any,
) -> httpx.Response:
    """POST until a 2xx answer, retrying network errors, 429 and 5xx.

    Parameters
    ----------
    client
        The HTTP client.
    url
        Where to (may be a redacted placeholder a transport fills in; never logged).
    what
        A secret-free name for logs and errors (``telegram sendMessage``).
    backoff
        Attempts and waits; a 429's ``retry_after`` replaces the wait (capped).
    sleep
        Injected for tests.
    **kwargs
        Passed to :meth:`httpx.Client.post`.

    Returns
    -------
    httpx.Response

    Raises
    ------
    AlertError
        Gave up, or a 4xx other than 429 (not worth retrying).
    """
    problem = ""
    for attempt in range(1, backoff.attempts + 1):
        wait = backoff.delay(attempt)
        try:
            resp = client.post(url, **kwargs)
        except httpx.HTTPError as exc:
            problem = f"{type(exc).__name__}"
        else:
            if resp.is_success:
                return resp
            problem = f"HTTP {resp.status_code}"
            if resp.status_code == 429:
                asked = retry_after(resp)
                if asked is not None:
                    wait = min(backoff.cap_s, asked)
                    problem += f" (retry after {asked:g} s)"
            elif resp.status_code < 500:
                raise AlertError(f"{what}: {problem}, not retried")
        if attempt < backoff.attempts:
            log.warning("%s: %s; retry %d in %.1f s", what, problem, attempt, wait)
            sleep(wait)
    raise AlertError(f"{what}: {problem} after {backoff.attempts} attempt(s)")
