"""worker heartbeat and change stamps

`worker_heartbeat`: when the timer worker last finished a round, and its last error (for
/healthz and the managers' start page). `change_stamp`: a version per shared setting (the
holiday calendar), so that every process sees a change at once.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

import workflows.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "change_stamp",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", workflows.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_change_stamp")),
    )
    op.create_table(
        "worker_heartbeat",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("last_ok_at", workflows.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error_at", workflows.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_worker_heartbeat")),
    )


def downgrade() -> None:
    op.drop_table("worker_heartbeat")
    op.drop_table("change_stamp")
