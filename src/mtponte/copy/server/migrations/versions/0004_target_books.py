"""target books: per-subscription engine state, targets and decisions; follower facts
and lease in heartbeats; execution report details

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "target_books",
        sa.Column(
            "subscription_id", sa.Integer(), sa.ForeignKey("subscriptions.id"), primary_key=True
        ),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("inputs", sa.String(200), nullable=False, server_default=""),
        sa.Column("master_time_ms", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "copy_decisions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column(
            "subscription_id", sa.Integer(), sa.ForeignKey("subscriptions.id"), nullable=False
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("master_ticket", sa.String(30), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("factors", sa.JSON(), nullable=False),
    )
    op.create_index("ix_copy_decisions_subscription_id", "copy_decisions", ["subscription_id"])
    with op.batch_alter_table("follower_heartbeats") as batch:
        batch.add_column(sa.Column("facts", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("instance", sa.String(64), nullable=False, server_default=""))
    with op.batch_alter_table("execution_reports") as batch:
        batch.add_column(sa.Column("target_id", sa.String(80), nullable=False, server_default=""))
        batch.add_column(sa.Column("action", sa.String(20), nullable=False, server_default=""))
        batch.add_column(sa.Column("details", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("execution_reports") as batch:
        batch.drop_column("details")
        batch.drop_column("action")
        batch.drop_column("target_id")
    with op.batch_alter_table("follower_heartbeats") as batch:
        batch.drop_column("instance")
        batch.drop_column("facts")
    op.drop_index("ix_copy_decisions_subscription_id", "copy_decisions")
    op.drop_table("copy_decisions")
    op.drop_table("target_books")
