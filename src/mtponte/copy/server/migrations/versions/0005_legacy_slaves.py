"""legacy Sentra EAs: the Master EA's state (newest heartbeat time, tickets dealt
while open), a subscription's partial-close rule for legacy slaves, and what each
legacy slave was told

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("sentra_state", sa.JSON(), nullable=True))
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(
            sa.Column("legacy_partial", sa.String(10), nullable=False, server_default="keep")
        )
    op.create_table(
        "legacy_slaves",
        sa.Column(
            "subscription_id", sa.Integer(), sa.ForeignKey("subscriptions.id"), primary_key=True
        ),
        sa.Column("held", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("legacy_slaves")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("legacy_partial")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("sentra_state")
