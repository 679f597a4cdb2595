"""``mtponte publish``: publish a master account to the copy server."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mtponte.cli._common import err_console, run_safely, setup_logging, stop_on_signals
from mtponte.errors import ConfigError

if TYPE_CHECKING:
    import httpx

    from mtponte.copy.publisher import PublisherSettings


def _client(cfg: PublisherSettings) -> httpx.Client:
    """The HTTP client to the copy server (tests replace it with an in-process one)."""
    import httpx

    return httpx.Client(base_url=cfg.server_url, timeout=cfg.http_timeout_s)


def publish(
    config: Annotated[Path, typer.Option("--config", help="Publisher configuration (TOML).")],
    seconds: Annotated[
        float | None, typer.Option(min=0, help="Stop after this long (default: Ctrl-C).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Publish a master account: watch its positions through the configured broker and
    send every open, close, partial close and SL/TP change to the copy server, with a
    snapshot (the master's heartbeat) every few seconds. Events are queued on disk in
    state_dir first: a crash or a server outage loses nothing, a restart resends
    without duplicates. MTPONTE_PUBLISH_* variables override the file (the token:
    MTPONTE_PUBLISH_TOKEN). Ctrl-C stops after the current poll."""

    def body() -> None:
        from mtponte.copy.publisher import Publisher, load_settings, make_broker

        if not config.is_file():
            raise ConfigError(f"config file {config} not found")
        cfg = load_settings(config)
        setup_logging(verbose)
        broker = make_broker(cfg.broker)
        client = _client(cfg)
        pub = Publisher(broker, client, cfg.master_id, cfg.state_dir, cfg)
        err_console.print(
            f"publishing master {cfg.master_id} to {cfg.server_url} "
            f"(state {cfg.state_dir}); Ctrl-C stops",
            highlight=False,
        )
        try:
            with stop_on_signals(seconds) as stop:
                pub.run(stop)
        finally:
            pending = pub.outbox.pending_count()
            dead = len(pub.outbox.dead())
            pub.close()
            client.close()
        err_console.print(
            f"stopped: {pending} events waiting in the outbox, {dead} dead letters",
            highlight=False,
        )

    run_safely(body)
