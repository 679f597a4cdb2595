"""``mtponte server`` and ``mtponte admin``: run and administer the copy server."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from mtponte.cli._common import console, run_safely
from mtponte.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mtponte.copy.server.models import Account

admin_app = typer.Typer(help="Accounts, subscriptions, tokens and operators.", no_args_is_help=True)
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db", help="Database URL (default: $MTPONTE_DATABASE_URL or sqlite:///mtponte-copy.db)."
    ),
]


def server(
    db: DbOpt = None,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    access_log: Annotated[
        bool,
        typer.Option(
            help="One line per request (tokens masked); slave polls are summed up each minute."
        ),
    ] = True,
    allow_no_redis: Annotated[
        bool,
        typer.Option(
            help="Run several workers without MTPONTE_REDIS_URL: followers on another "
            "worker than their master's then see events only at their long-poll or "
            "keep-alive timeout (up to ~25 s)."
        ),
    ] = False,
) -> None:
    """Run the copy-trading server (uvicorn)."""

    def body() -> None:
        import copy

        import uvicorn
        from uvicorn.config import LOGGING_CONFIG

        from mtponte.copy.server.settings import load_settings

        if db:
            os.environ["MTPONTE_DATABASE_URL"] = db
        from mtponte.copy.server.db import open_database

        # A bad MTPONTE_* value or database: one clear line here, not a traceback from
        # every worker.
        cfg = load_settings()
        if workers > 1 and not cfg.redis_url and not allow_no_redis:
            raise ConfigError(
                f"--workers {workers} needs MTPONTE_REDIS_URL: without it an event reaches "
                "followers served by another worker only at their long-poll timeout. Set it, "
                "or pass --allow-no-redis to accept that delay."
            )
        open_database(cfg.database_url).dispose()
        log_config = copy.deepcopy(LOGGING_CONFIG)
        log_config["loggers"]["mtponte"] = {
            "handlers": ["default"],
            "level": "INFO" if access_log else "WARNING",
            "propagate": False,
        }
        uvicorn.run(
            "mtponte.copy.server.app:serve_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            log_config=log_config,
            access_log=False,  # ours (mtponte.access) is cheaper and masks tokens
            # X-Forwarded-* only from configured proxies (uvicorn trusts 127.0.0.1 by
            # default, which lets any local client pick its own address).
            proxy_headers=bool(cfg.trusted_proxies),
            forwarded_allow_ips=cfg.trusted_proxies or None,
        )

    run_safely(body)


def _session(db: str | None) -> Session:
    from mtponte.copy.server.db import open_database, session_factory
    from mtponte.copy.server.settings import load_settings

    return session_factory(open_database(db or load_settings().database_url))()


def _account(session: Session, account_id: int) -> Account:
    from mtponte.copy.server.models import Account

    acc = session.get(Account, account_id)
    if acc is None:
        raise ConfigError(f"no account {account_id}")
    return acc


@admin_app.command("account")
def account(
    role: Annotated[str, typer.Option(help="master or follower")],
    number: Annotated[str, typer.Option(help="Account number at the broker.")],
    broker: Annotated[str, typer.Option()] = "",
    email: Annotated[str, typer.Option()] = "",
    account_type: Annotated[str, typer.Option(help="standard or cent")] = "standard",
    currency: Annotated[str, typer.Option()] = "USD",
    db: DbOpt = None,
) -> None:
    """Create an account; prints its id."""

    def body() -> None:
        from mtponte.copy.server import admin

        with _session(db) as s:
            acc = admin.add_account(s, role, number, broker, email, account_type, currency)
            s.commit()
            console.print(acc.id)

    run_safely(body)


@admin_app.command("subscribe")
def subscribe(
    follower: Annotated[int, typer.Option(help="Follower account id.")],
    master: Annotated[int, typer.Option(help="Master account id.")],
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="A copy setting KEY=VALUE (repeatable; lists comma-separated), "
            "e.g. --set volumeMode=fixed --set volumeFixed=0.1 (docs/copy-engine.md).",
        ),
    ] = None,
    legacy_partial: Annotated[
        str,
        typer.Option(
            help="Legacy Sentra Slave EAs only: what a master's partial close does to the "
            "copy, keep (until the full close) or reopen (close, open at the smaller size).",
        ),
    ] = "keep",
    db: DbOpt = None,
) -> None:
    """Make FOLLOWER copy MASTER."""

    def body() -> None:
        from mtponte.copy.server import admin

        values = admin.parse_settings(set_ or [])
        with _session(db) as s:
            sub = admin.subscribe(
                s, _account(s, follower), _account(s, master), values, legacy_partial
            )
            s.commit()
            console.print(sub.id)

    run_safely(body)


@admin_app.command("reset-risk")
def reset_risk(
    follower: Annotated[int, typer.Option(help="Follower account id.")],
    master: Annotated[int, typer.Option(help="Master account id.")],
    db: DbOpt = None,
) -> None:
    """Clear a tripped daily-loss stop of FOLLOWER's copy of MASTER (new master
    positions are copied again; what was skipped meanwhile stays skipped)."""

    def body() -> None:
        from mtponte.copy.server import admin

        with _session(db) as s:
            admin.reset_risk(s, _account(s, follower), _account(s, master))
            s.commit()
            console.print(f"daily-loss stop of follower {follower} on master {master} reset")

    run_safely(body)


@admin_app.command("token")
def token(
    scope: Annotated[str, typer.Option(help="publish, follow or admin")],
    account: Annotated[int | None, typer.Option(help="Account id (publish/follow).")] = None,
    days: Annotated[int | None, typer.Option(help="Expires after this many days.")] = None,
    db: DbOpt = None,
) -> None:
    """Issue a token; the secret is printed once and only its hash is stored."""

    def body() -> None:
        from mtponte.copy.server import admin

        with _session(db) as s:
            acc = _account(s, account) if account is not None else None
            secret = admin.issue_token(s, scope, acc, days)
            s.commit()
            console.print(secret, highlight=False)

    run_safely(body)


@admin_app.command("revoke")
def revoke(
    token_id: Annotated[int, typer.Argument(help="Token id (see `mtponte admin tokens`).")],
    db: DbOpt = None,
) -> None:
    """Revoke a token; running servers refuse it within about a second."""

    def body() -> None:
        from mtponte.copy.server import admin

        with _session(db) as s:
            tok = admin.revoke_token(s, token_id)
            s.commit()
            console.print(f"revoked token {tok.id} ({tok.prefix}..., {tok.scope})")

    run_safely(body)


@admin_app.command("tokens")
def tokens(db: DbOpt = None) -> None:
    """List tokens (id, prefix, scope, account, state); secrets are never stored."""

    def body() -> None:
        from rich.table import Table
        from sqlalchemy import select

        from mtponte.copy.server.models import ApiToken

        table = Table("id", "prefix", "scope", "account", "expires", "state")
        with _session(db) as s:
            for t in s.scalars(select(ApiToken).order_by(ApiToken.id)):
                table.add_row(
                    str(t.id),
                    t.prefix + "...",
                    t.scope,
                    str(t.account_id or "-"),
                    t.expires_at.isoformat(timespec="minutes") if t.expires_at else "never",
                    "revoked" if t.revoked else "active",
                )
        console.print(table)

    run_safely(body)


@admin_app.command("logout")
def logout(email: Annotated[str, typer.Option()], db: DbOpt = None) -> None:
    """End every dashboard session of an operator."""

    def body() -> None:
        from mtponte.copy.server import admin

        with _session(db) as s:
            admin.logout_operator(s, email)
            s.commit()
            console.print(f"every session of {email} ended")

    run_safely(body)


@admin_app.command("remove-operator")
def remove_operator(email: Annotated[str, typer.Option()], db: DbOpt = None) -> None:
    """Delete a dashboard operator; their open sessions end at once."""

    def body() -> None:
        from mtponte.copy.server import admin

        with _session(db) as s:
            admin.remove_operator(s, email)
            s.commit()
            console.print(f"operator {email} removed")

    run_safely(body)


@admin_app.command("operator")
def operator(
    email: Annotated[str, typer.Option()],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    db: DbOpt = None,
) -> None:
    """Create a dashboard operator."""

    def body() -> None:
        from mtponte.copy.server import admin

        with _session(db) as s:
            admin.add_operator(s, email, password)
            s.commit()
            console.print(f"operator {email} created")

    run_safely(body)
