"""execution reports carry an optional client-generated id, unique per follower (a
report sent again after a lost answer or a crash is stored once)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("execution_reports") as batch:
        batch.add_column(sa.Column("report_id", sa.String(64), nullable=True))
    # NULLs never collide (both databases): reports without an id keep working.
    op.create_index(
        "ux_execution_reports_follower_report",
        "execution_reports",
        ["follower_id", "report_id"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ux_execution_reports_follower_report", table_name="execution_reports")
    with op.batch_alter_table("execution_reports") as batch:
        batch.drop_column("report_id")
