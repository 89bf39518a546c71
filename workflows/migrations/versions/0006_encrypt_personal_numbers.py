"""Encrypt personal numbers at rest: bank-card columns and workflow states.

Widens the bank-card columns for their encrypted form, then encrypts what an earlier
release stored in the clear (WARMFLOW_ENCRYPTION_KEY must be set as in production before
running it), in chunks so a large database is not held in memory.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from workflows import crypto

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CARD_TABLES = ("hardship_record", "payment", "payment_line")
CHUNK = 1000


def upgrade() -> None:
    for table in CARD_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "bank_card",
                existing_type=sa.VARCHAR(length=30),
                type_=sa.String(length=120),
                existing_nullable=False,
            )
    bind = op.get_bind()
    for table in CARD_TABLES:
        _encrypt_cards(bind, table)
    _encrypt_states(bind)


def _encrypt_cards(bind, table: str) -> None:
    rows = sa.table(table, sa.column("id", sa.Integer), sa.column("bank_card", sa.String))
    last = 0
    while True:
        chunk = bind.execute(
            sa.select(rows.c.id, rows.c.bank_card)
            .where(rows.c.id > last)
            .order_by(rows.c.id)
            .limit(CHUNK)
        ).all()
        if not chunk:
            return
        last = chunk[-1].id
        plain = [
            {"row_id": r.id, "card": crypto.encrypt_text(r.bank_card)}
            for r in chunk
            if r.bank_card and not r.bank_card.startswith(crypto.TEXT_PREFIX)
        ]
        if plain:
            bind.execute(
                rows.update()
                .where(rows.c.id == sa.bindparam("row_id"))
                .values(bank_card=sa.bindparam("card")),
                plain,
            )


def _encrypt_states(bind) -> None:
    rows = sa.table(
        "process_instance", sa.column("id", sa.Integer), sa.column("state", sa.LargeBinary)
    )
    last = 0
    while True:
        chunk = bind.execute(
            sa.select(rows.c.id, rows.c.state)
            .where(rows.c.id > last)
            .order_by(rows.c.id)
            .limit(CHUNK)
        ).all()
        if not chunk:
            return
        last = chunk[-1].id
        plain = [
            {"row_id": r.id, "blob": crypto.encrypt_bytes(bytes(r.state))}
            for r in chunk
            if r.state and not crypto.is_encrypted_blob(r.state)
        ]
        if plain:
            bind.execute(
                rows.update()
                .where(rows.c.id == sa.bindparam("row_id"))
                .values(state=sa.bindparam("blob")),
                plain,
            )


def downgrade() -> None:
    raise NotImplementedError("personal numbers stay encrypted; restore a backup to go back")
