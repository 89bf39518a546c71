"""Login sessions on the server, login throttling, and the final approval on the case.

- login_session: the session cookie carries a login session's token; logging out,
  changing the password or deactivating a user deletes the row, so a copied cookie stops
  working. The session epoch, the per-user failure count and lock-out go: failures are
  counted in login_throttle per account name and per address (slowed down and
  challenged, never a lock-out anyone can cause for a named person).
- case.approval_levels / approvals / approved_at / approved_fen: money moves only after
  the final approval, for the amount approved then. Cases of an earlier release: the
  levels from their campaign's threshold; a case holding a payment or a budget
  reservation was approved (at its opening time, the only time known) for its amount; a
  case waiting at level 2 or 3 has the levels below approved.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

import workflows.db

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", workflows.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", workflows.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("address", sa.String(length=45), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_login_session_user_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_login_session_token_hash")),
    )
    with op.batch_alter_table("login_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_session_user_id"), ["user_id"], unique=False)
    op.create_table(
        "login_throttle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", workflows.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", workflows.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("wait_until", workflows.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_throttle")),
        sa.UniqueConstraint("kind", "key", name=op.f("uq_login_throttle_kind")),
    )
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_column("session_epoch")
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_logins")

    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("approval_levels", sa.Integer(), nullable=False, server_default="2")
        )
        batch_op.add_column(
            sa.Column("approvals", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("approved_at", workflows.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("approved_fen", sa.BigInteger(), nullable=True))
    op.execute(
        'UPDATE "case" SET approval_levels = 3 WHERE campaign_id IS NOT NULL AND amount_fen >'
        ' (SELECT city_approval_threshold_fen FROM campaign WHERE campaign.id = "case".campaign_id)'
    )
    for group, bits in (("approver_l2", 2), ("approver_l3", 6)):
        op.execute(
            f'UPDATE "case" SET approvals = {bits} WHERE id IN (SELECT case_id FROM human_task'  # noqa: S608
            f" WHERE status = 'open' AND candidate_group = '{group}')"
        )
    op.execute(
        'UPDATE "case" SET approved_at = created_at, approved_fen = amount_fen,'
        " approvals = CASE WHEN approval_levels = 3 THEN 14 ELSE 6 END"
        ' WHERE id IN (SELECT case_id FROM payment) OR id IN (SELECT case_id FROM budget_reservation)'
    )
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.alter_column("approval_levels", server_default=None)
        batch_op.alter_column("approvals", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_column("approved_fen")
        batch_op.drop_column("approved_at")
        batch_op.drop_column("approvals")
        batch_op.drop_column("approval_levels")
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("locked_until", workflows.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0")
        )
    op.drop_table("login_throttle")
    with op.batch_alter_table("login_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_session_user_id"))
    op.drop_table("login_session")
