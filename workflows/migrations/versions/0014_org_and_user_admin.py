"""Organisations and users administered from the browser (单位管理, 用户管理).

`organisation.closed_at`: a closed (撤销) unit takes no new cases or users; its history
stays. `organisation.lock_version` and `app_user.lock_version` detect concurrent edits
by two managers. `app_user.must_change_password`: a one-time password (new user, reset)
must be replaced at the next sign-in. `app_user.phone`: the contact number a manager
keeps for a person.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

import workflows.db

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closed_at", workflows.db.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("lock_version", sa.Integer(), nullable=False, server_default="1")
        )
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(sa.Column("phone", sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column("lock_version", sa.Integer(), nullable=False, server_default="1")
        )


def downgrade() -> None:
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_column("lock_version")
        batch_op.drop_column("phone")
        batch_op.drop_column("must_change_password")
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.drop_column("lock_version")
        batch_op.drop_column("closed_at")
