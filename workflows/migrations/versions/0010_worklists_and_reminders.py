"""已办, 我发起的 and 催办: indexes for the done and started lists and the overdue (督办)
list, and the reminder table.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

import workflows.db

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.create_index("ix_human_task_done", ["completed_by_id", "completed_at", "id"])
        batch_op.create_index("ix_human_task_overdue", ["status", "due_at", "id"])
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.create_index("ix_case_started", ["created_by_id", "created_at", "id"])
    op.create_table(
        "task_reminder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("sent_by_id", sa.Integer(), nullable=False),
        sa.Column("to_user_id", sa.Integer(), nullable=True),
        sa.Column("to_group", sa.String(length=40), nullable=False),
        sa.Column("message", sa.String(length=200), nullable=False),
        sa.Column("sent_at", workflows.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_task_reminder_case_id_case")
        ),
        sa.ForeignKeyConstraint(
            ["sent_by_id"], ["app_user.id"], name=op.f("fk_task_reminder_sent_by_id_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["human_task.id"], name=op.f("fk_task_reminder_task_id_human_task")
        ),
        sa.ForeignKeyConstraint(
            ["to_user_id"], ["app_user.id"], name=op.f("fk_task_reminder_to_user_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_reminder")),
        sa.UniqueConstraint("task_id", "sent_on", name=op.f("uq_task_reminder_task_id")),
    )
    with op.batch_alter_table("task_reminder", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_reminder_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_task_reminder_task", ["task_id", "sent_at"], unique=False)


def downgrade() -> None:
    op.drop_table("task_reminder")
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_index("ix_case_started")
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.drop_index("ix_human_task_overdue")
        batch_op.drop_index("ix_human_task_done")
