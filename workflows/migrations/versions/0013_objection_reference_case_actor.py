"""Objection reference numbers and outcomes; who worked on a case (four eyes).

`objection.reference` is the number an objector is given to look up the outcome of the
investigation, `outcome`/`resolved_at` that outcome. `case_actor` lists who registered a
case or did one of its caseworker steps: they may not approve it. Both are filled for
what is already there: outcomes from the notices, actors from the audit trail
(registrations, not campaign launches) and the completed caseworker tasks.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

import workflows.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("objection", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reference", sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column("outcome", sa.String(length=20), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("resolved_at", workflows.db.UTCDateTime(), nullable=True))
        batch_op.create_unique_constraint("uq_objection_reference", ["reference"])
    op.create_table(
        "case_actor",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("what", sa.String(length=40), nullable=False),
        sa.Column("at", workflows.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("user_id", "case_id"),
    )
    op.execute(
        """
        UPDATE objection SET outcome = COALESCE((
            SELECT CASE
                WHEN n.round > objection.round THEN 'dismissed'
                WHEN n.status = 'upheld' THEN 'upheld'
                WHEN n.status = 'withdrawn' THEN 'closed'
                WHEN n.status = 'passed' THEN 'dismissed'
                ELSE '' END
            FROM public_notice n WHERE n.id = objection.notice_id), '')
        """
    )
    op.execute(
        """
        INSERT INTO case_actor (user_id, case_id, what, at)
        SELECT user_id, case_id, MIN(what), MIN(at) FROM (
            SELECT actor_id AS user_id, case_id, 'registered' AS what, at
            FROM audit_event
            WHERE action = 'case.start' AND actor_id IS NOT NULL AND case_id IS NOT NULL
              AND detail NOT LIKE '%"launch": true%'
            UNION ALL
            SELECT completed_by_id, case_id, element_id, COALESCE(completed_at, created_at)
            FROM human_task
            WHERE status = 'completed' AND candidate_group = 'caseworker'
              AND completed_by_id IS NOT NULL
        ) actors
        GROUP BY user_id, case_id
        """
    )


def downgrade() -> None:
    op.drop_table("case_actor")
    with op.batch_alter_table("objection", schema=None) as batch_op:
        batch_op.drop_constraint("uq_objection_reference", type_="unique")
        batch_op.drop_column("resolved_at")
        batch_op.drop_column("outcome")
        batch_op.drop_column("reference")
