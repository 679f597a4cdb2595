"""``mtponte follow``: copy a master onto this account, as the copy server decides."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mtponte.cli._common import err_console, run_safely, setup_logging, stop_on_signals
from mtponte.errors import ConfigError

if TYPE_CHECKING:
    import httpx

    from mtponte.copy.follower.settings import FollowerSettings


def _client(cfg: FollowerSettings) -> httpx.Client:
    """The HTTP client to the copy server (tests replace it with an in-process one)."""
    import httpx

    return httpx.Client(base_url=cfg.server_url, timeout=cfg.http_timeout_s)


def follow(
    config: Annotated[Path, typer.Option("--config", help="Follower configuration (TOML).")],
    seconds: Annotated[
        float | None, typer.Option(min=0, help="Stop after this long (default: Ctrl-C).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Follow a master: hold exactly the target book the copy server's engine decides
    for this account (sized, symbol-mapped, filtered), touching only positions this
    follower opened (its magic and tag). Reports every execution and heartbeats the
    account facts. With the server unreachable the account is left as it is.
    MTPONTE_FOLLOW_* variables override the file (the token: MTPONTE_FOLLOW_TOKEN)."""

    def body() -> None:
        from mtponte.copy._config import make_broker
        from mtponte.copy.follower import Follower, HttpLink, Link, StreamLink
        from mtponte.copy.follower.settings import load_follower_settings

        if not config.is_file():
            raise ConfigError(f"config file {config} not found")
        cfg = load_follower_settings(config)
        if cfg.broker.kind == "bridge":
            # The bridge tags orders with its own command ids: a target's tag cannot
            # travel, and a follower that cannot find its copies would open them again.
            raise ConfigError(
                "broker.kind = 'bridge' cannot follow: the bridge protocol tags orders with "
                "its own command ids, not the follower's; use kind = 'mt5' or the MQL5 "
                "follower EA (docs/follower.md)"
            )
        setup_logging(verbose)
        broker = make_broker(cfg.broker, trading=True)
        client = _client(cfg)
        http = HttpLink(client, cfg.follower_id, cfg.master_id, cfg.token.get_secret_value())
        link: Link = StreamLink(http) if cfg.push else http
        name = f"{cfg.follower_id}-{cfg.master_id}"
        follower = Follower(broker, link, cfg.options(), name=name)
        err_console.print(
            f"follower {cfg.follower_id} copying master {cfg.master_id} from "
            f"{cfg.server_url} (state {cfg.state_dir}); Ctrl-C stops",
            highlight=False,
        )
        failure: list[BaseException] = []
        try:
            with stop_on_signals(seconds) as stop:

                def loop() -> None:
                    try:
                        follower.run(stop)
                    except BaseException as exc:  # handed to the main thread
                        failure.append(exc)
                        stop.set()

                # The loop runs in a thread so Ctrl-C is not held up by a long poll:
                # after a stop it gets a few seconds to finish an order in flight.
                worker = threading.Thread(target=loop, name="follower", daemon=True)
                worker.start()
                while not stop.wait(0.5):
                    pass
                worker.join(5.0)
            if failure:
                raise failure[0]
        finally:
            client.close()
        err_console.print("stopped; the account is left as it is", highlight=False)

    run_safely(body)
