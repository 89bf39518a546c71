"""困难职工档案 loaded from a federation's existing archive (issue 14).

`hardship_record` may now exist without a case (an imported worker has none until its
first 回头看) and keeps the worker's whole ID number encrypted, household, income, cause,
bank name and where it came from (`archive_import`, with the file's line). The archive
list gets its indexes; `archive_mapping` remembers an organisation's header names.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

import workflows.crypto
import workflows.db

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_import",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", workflows.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("mapping_json", sa.Text(), nullable=False),
        sa.Column("report_json", sa.Text(), nullable=False),
        sa.Column("skip_bad", sa.Boolean(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("bad", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("confirmed_by_id", sa.Integer(), nullable=True),
        sa.Column("confirmed_at", workflows.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", workflows.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", workflows.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lock_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["confirmed_by_id"], ["app_user.id"], name="fk_archive_import_confirmed_by_id_app_user"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["app_user.id"], name="fk_archive_import_created_by_id_app_user"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisation.id"], name="fk_archive_import_org_id_organisation"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_archive_import"),
    )
    with op.batch_alter_table("archive_import", schema=None) as batch_op:
        batch_op.create_index("ix_archive_import_org_id", ["org_id"], unique=False)
        batch_op.create_index("ix_archive_import_sha256", ["sha256"], unique=False)
        batch_op.create_index("ix_archive_import_status", ["status"], unique=False)
    op.create_table(
        "archive_mapping",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("mapping_json", sa.Text(), nullable=False),
        sa.Column("saved_by_id", sa.Integer(), nullable=True),
        sa.Column("saved_at", workflows.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisation.id"], name="fk_archive_mapping_org_id_organisation"
        ),
        sa.ForeignKeyConstraint(
            ["saved_by_id"], ["app_user.id"], name="fk_archive_mapping_saved_by_id_app_user"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_archive_mapping"),
        sa.UniqueConstraint("org_id", name="uq_archive_mapping_org_id"),
    )
    with op.batch_alter_table("hardship_record", schema=None) as batch_op:
        batch_op.alter_column("case_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(
            sa.Column(
                "id_number",
                workflows.crypto.EncryptedString(length=120),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(
            sa.Column("gender", sa.String(length=4), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("household_size", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("monthly_income_fen", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("cause", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("bank_name", sa.String(length=100), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("import_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("source_line", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_hardship_record_import_id_archive_import", "archive_import", ["import_id"], ["id"]
        )
        batch_op.create_unique_constraint(
            "uq_hardship_record_import_id", ["import_id", "source_line"]
        )
        batch_op.create_index("ix_hardship_record_import_id", ["import_id"], unique=False)
        batch_op.create_index("ix_hardship_record_list", ["org_id", "status", "id"], unique=False)
        batch_op.create_index(
            "ix_hardship_record_category", ["category", "org_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_hardship_record_valid", ["status", "valid_until", "id", "org_id"], unique=False
        )
        batch_op.create_index(
            "ix_hardship_record_name", ["worker_name", "id", "org_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("hardship_record", schema=None) as batch_op:
        batch_op.drop_index("ix_hardship_record_name")
        batch_op.drop_index("ix_hardship_record_category")
        batch_op.drop_index("ix_hardship_record_valid")
        batch_op.drop_index("ix_hardship_record_list")
        batch_op.drop_index("ix_hardship_record_import_id")
        batch_op.drop_constraint("uq_hardship_record_import_id", type_="unique")
        batch_op.drop_constraint("fk_hardship_record_import_id_archive_import", type_="foreignkey")
        for column in (
            "source_line",
            "import_id",
            "bank_name",
            "cause",
            "monthly_income_fen",
            "household_size",
            "gender",
            "id_number",
        ):
            batch_op.drop_column(column)
        batch_op.alter_column("case_id", existing_type=sa.Integer(), nullable=False)
    op.drop_table("archive_mapping")
    op.drop_index("ix_archive_import_status", table_name="archive_import")
    op.drop_index("ix_archive_import_sha256", table_name="archive_import")
    op.drop_index("ix_archive_import_org_id", table_name="archive_import")
    op.drop_table("archive_import")
