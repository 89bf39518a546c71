"""Open-task indexes: partial, on `status = 'open'` (issue 16).

bench/tasklist.py: open tasks are a few per cent of human_task (100,000 open beside
1,000,000 finished cases), yet the task-list indexes held every row; PostgreSQL estimated
~20 rows for a union's ~1,900-task queue and sorted them all. The partial indexes hold
the open tasks only (group, organisation, assignee, created_at | due_at, id), so they
stay small however long the history grows, and a page or a count is read from them alone;
the queue (unclaimed tasks) has its own pair, in the list's order, so a page is the first
rows of an index scan, never a sort.
On PostgreSQL, extended statistics tell the planner that the group and the organisation
go together (a grassroots union has level-1 tasks, a district level-2).

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

OPEN = sa.text("status = 'open'")
QUEUE = sa.text("status = 'open' AND assignee_id IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_human_task_open",
            ["candidate_group", "org_id", "assignee_id", "created_at", "id"],
            postgresql_where=OPEN,
            sqlite_where=OPEN,
        )
        batch_op.create_index(
            "ix_human_task_open_due",
            ["candidate_group", "org_id", "assignee_id", "due_at", "id"],
            postgresql_where=OPEN,
            sqlite_where=OPEN,
        )
        # The queue (unclaimed tasks): assignee_id IS NULL is no equality to PostgreSQL,
        # so past it the indexes above give no order; these do.
        batch_op.create_index(
            "ix_human_task_queue_open",
            ["candidate_group", "org_id", "created_at", "id"],
            postgresql_where=QUEUE,
            sqlite_where=QUEUE,
        )
        batch_op.create_index(
            "ix_human_task_queue_due",
            ["candidate_group", "org_id", "due_at", "id"],
            postgresql_where=QUEUE,
            sqlite_where=QUEUE,
        )
        batch_op.drop_index("ix_human_task_list")
        batch_op.drop_index("ix_human_task_list_due")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE STATISTICS IF NOT EXISTS st_human_task_group_org (dependencies, ndistinct) "
            "ON status, candidate_group, org_id FROM human_task"
        )
        op.execute("ANALYZE human_task")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS st_human_task_group_org")
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_human_task_list",
            ["status", "candidate_group", "org_id", "assignee_id", "created_at", "id"],
        )
        batch_op.create_index(
            "ix_human_task_list_due",
            ["status", "candidate_group", "org_id", "assignee_id", "due_at", "id"],
        )
        batch_op.drop_index("ix_human_task_queue_due")
        batch_op.drop_index("ix_human_task_queue_open")
        batch_op.drop_index("ix_human_task_open_due")
        batch_op.drop_index("ix_human_task_open")
