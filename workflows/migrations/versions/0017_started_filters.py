"""我发起的 filtered by status or programme read from an index in the list's order (issue 16).

bench/tasklist.py with 3,000,000 finished cases: a caseworker who registered 30,000
cases over the years and filters 我发起的 by status walked all of them through
ix_case_started (one person's, in date order) to find the few still running, 190 ms.
These indexes put the filter before the date, so a page and the capped count
(worklists.COUNT_CAP) are the first rows of an index scan.
On PostgreSQL, extended statistics tell the planner that a case's registrar and its unit
go together (a caseworker registers for their own union): without them it expected ~1,000
of a caseworker's 60,000 cases in the union and read both indexes whole (250 ms for the
capped count); with them it reads ix_case_started in order and stops (4 ms).

Revision ID: 0017
Revises: 0016
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_started_status", ["created_by_id", "status", "created_at", "id"]
        )
        batch_op.create_index(
            "ix_case_started_programme", ["created_by_id", "programme", "created_at", "id"]
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE STATISTICS IF NOT EXISTS st_case_creator_org (dependencies) "
            'ON created_by_id, org_id FROM "case"'
        )
        op.execute('ANALYZE "case"')


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS st_case_creator_org")
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_index("ix_case_started_programme")
        batch_op.drop_index("ix_case_started_status")
