"""Task-list indexes: (status, group, organisation, assignee, created_at | due_at, id).

bench/tasklist.py at 100,000 open and 1,000,000 finished cases: a grassroots approver's
group list (~1,900 open tasks) was read row by row through ix_human_task_queue, then
sorted; with these the counts and the first page come from the index. They start with
the old index's columns, which therefore goes.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_human_task_list",
            ["status", "candidate_group", "org_id", "assignee_id", "created_at", "id"],
        )
        batch_op.create_index(
            "ix_human_task_list_due",
            ["status", "candidate_group", "org_id", "assignee_id", "due_at", "id"],
        )
        batch_op.drop_index("ix_human_task_queue")


def downgrade() -> None:
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_human_task_queue", ["status", "candidate_group", "org_id"], unique=False
        )
        batch_op.drop_index("ix_human_task_list_due")
        batch_op.drop_index("ix_human_task_list")
