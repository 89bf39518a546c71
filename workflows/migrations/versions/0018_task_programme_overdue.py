"""已办 by programme, 督办 and 我发起的 read from an index each, not from the history (issue 16).

bench/tasklist.py with 1,000,000 and 3,000,000 finished cases:
- 已办 filtered by programme joined every completed task of the person to its case to
  read the programme: one random `case` page per task, up to the count cap (2,001), 100 ms
  at 1M and 250 ms at 3M. A task now carries its case's programme (a case never changes
  programme), and ix_human_task_done_programme puts it before the date: a page and the
  capped count are the first rows of one index scan.
- 督办 read every overdue open task of the city through ix_human_task_overdue (status,
  due date) and kept those of the supervisor's units. ix_human_task_open_unit_due holds
  the open tasks only (partial, as the task-list indexes of 0016), by acting unit and due
  date: the count and the page read the supervisor's units' ranges alone.
- 我发起的 keeps a person's cases still in their subtree: the capped count read 20,000
  cases of a caseworker's union to check each one's unit (170 ms at 1M, a bitmap scan
  PostgreSQL chose over the index). The started indexes now end with the unit, and the
  count reads the index alone (0.4 ms).

The backfill copies each task's case programme (one UPDATE; on a large PostgreSQL
database it rewrites human_task once, as adding any filled column would).

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

OPEN = sa.text("status = 'open'")
STARTED = {
    "ix_case_started": ["created_by_id", "created_at", "id"],
    "ix_case_started_status": ["created_by_id", "status", "created_at", "id"],
    "ix_case_started_programme": ["created_by_id", "programme", "created_at", "id"],
}


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.add_column("human_task", sa.Column("programme", sa.String(length=40), nullable=True))
    if postgres:
        op.execute(
            'UPDATE human_task SET programme = c.programme FROM "case" c '
            "WHERE c.id = human_task.case_id"
        )
    else:
        op.execute(
            'UPDATE human_task SET programme = (SELECT programme FROM "case" '
            'WHERE "case".id = human_task.case_id)'
        )
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.alter_column("programme", existing_type=sa.String(length=40), nullable=False)
        batch_op.create_index(
            "ix_human_task_done_programme",
            ["completed_by_id", "programme", "completed_at", "id"],
        )
        batch_op.create_index(
            "ix_human_task_open_unit_due",
            ["org_id", "due_at", "id"],
            postgresql_where=OPEN,
            sqlite_where=OPEN,
        )
        batch_op.drop_index("ix_human_task_overdue")
    with op.batch_alter_table("case", schema=None) as batch_op:
        for name, columns in STARTED.items():
            batch_op.drop_index(name)
            batch_op.create_index(name, [*columns, "org_id"])
    if postgres:
        op.execute("ANALYZE human_task")
        op.execute('ANALYZE "case"')


def downgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        for name, columns in STARTED.items():
            batch_op.drop_index(name)
            batch_op.create_index(name, columns)
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.create_index("ix_human_task_overdue", ["status", "due_at", "id"])
        batch_op.drop_index("ix_human_task_open_unit_due")
        batch_op.drop_index("ix_human_task_done_programme")
        batch_op.drop_column("programme")
