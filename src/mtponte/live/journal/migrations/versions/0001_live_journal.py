"""live journal: runs, bars, signals, risk decisions, commands, fills, trades,
heartbeats, config changes

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _run_fk() -> list[sa.Column[int] | sa.ForeignKeyConstraint]:
    return [
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["live_runs.id"]),
    ]


def upgrade() -> None:
    op.create_table(
        "live_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("broker", sa.String(length=20), nullable=False),
        sa.Column("feed", sa.String(length=20), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "live_bars",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        *_run_fk(),
        sa.Column("time", TZ, nullable=False),
        sa.Column("open", sa.Float(), nullable=False),
        sa.Column("high", sa.Float(), nullable=False),
        sa.Column("low", sa.Float(), nullable=False),
        sa.Column("close", sa.Float(), nullable=False),
        sa.Column("tick_volume", sa.Float(), nullable=False),
        sa.Column("real_volume", sa.Float(), nullable=False),
        sa.Column("seen_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "live_signals",
        sa.Column("id", sa.Integer(), nullable=False),
        *_run_fk(),
        sa.Column("bar_time", TZ, nullable=False),
        sa.Column("setup_time", TZ, nullable=False),
        sa.Column("side", sa.String(length=5), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("price", sa.Float(), nullable=True),
        sa.Column("sl", sa.Float(), nullable=True),
        sa.Column("tp", sa.Float(), nullable=True),
        sa.Column("sl_distance", sa.Float(), nullable=True),
        sa.Column("tp_distance", sa.Float(), nullable=True),
        sa.Column("atr", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "live_risk_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        *_run_fk(),
        sa.Column("signal_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["signal_id"], ["live_signals.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "live_commands",
        sa.Column("id", sa.String(length=36), nullable=False),
        *_run_fk(),
        sa.Column("tag", sa.String(length=31), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("side", sa.String(length=5), nullable=True),
        sa.Column("volume", sa.Float(), nullable=True),
        sa.Column("price", sa.Float(), nullable=True),
        sa.Column("sl", sa.Float(), nullable=True),
        sa.Column("tp", sa.Float(), nullable=True),
        sa.Column("target", sa.String(length=40), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("retcode", sa.Integer(), nullable=True),
        sa.Column("message", sa.String(length=300), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("done_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "live_fills",
        sa.Column("id", sa.Integer(), nullable=False),
        *_run_fk(),
        sa.Column("tag", sa.String(length=31), nullable=False),
        sa.Column("entry", sa.String(length=3), nullable=False),
        sa.Column("side", sa.String(length=5), nullable=False),
        sa.Column("volume", sa.Float(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("bar_time", TZ, nullable=False),
        sa.Column("ticket", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "live_trades",
        sa.Column("id", sa.Integer(), nullable=False),
        *_run_fk(),
        sa.Column("tag", sa.String(length=31), nullable=False),
        sa.Column("entry_time", TZ, nullable=False),
        sa.Column("exit_time", TZ, nullable=False),
        sa.Column("side", sa.String(length=5), nullable=False),
        sa.Column("volume", sa.Float(), nullable=False),
        sa.Column("entry_price", sa.Float(), nullable=False),
        sa.Column("exit_price", sa.Float(), nullable=False),
        sa.Column("sl", sa.Float(), nullable=False),
        sa.Column("tp", sa.Float(), nullable=False),
        sa.Column("pnl_points", sa.Float(), nullable=False),
        sa.Column("pnl_money", sa.Float(), nullable=False),
        sa.Column("exit_reason", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "live_heartbeats",
        sa.Column("id", sa.Integer(), nullable=False),
        *_run_fk(),
        sa.Column("time", TZ, nullable=False),
        sa.Column("bars_seen", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "live_config_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        *_run_fk(),
        sa.Column("time", TZ, nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    for table in (
        "live_bars",
        "live_signals",
        "live_risk_decisions",
        "live_commands",
        "live_fills",
        "live_trades",
        "live_heartbeats",
        "live_config_changes",
    ):
        op.create_index(f"ix_{table}_run_id", table, ["run_id"])
    op.create_index("ix_live_risk_decisions_signal_id", "live_risk_decisions", ["signal_id"])
    op.create_index("ix_live_commands_tag", "live_commands", ["tag"])
    op.create_index("ix_live_fills_tag", "live_fills", ["tag"])


def downgrade() -> None:
    for table in (
        "live_config_changes",
        "live_heartbeats",
        "live_trades",
        "live_fills",
        "live_commands",
        "live_risk_decisions",
        "live_signals",
        "live_bars",
        "live_runs",
    ):
        op.drop_table(table)
