"""The Alembic migrations build exactly the schema the models describe, and upgrade a
database of an earlier release, on SQLite and on PostgreSQL."""

import json
import zlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from workflows import db, migrate, serialization
from workflows.db import Base
from workflows.models import Payment

OLD_SCHEMA = "upgrade_from_0004"


def test_migrated_database_matches_the_models(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


@pytest.fixture
def old_database(engine, tmp_path):
    """An empty database on the backend under test: a SQLite file, or on PostgreSQL a
    schema of its own in the test database (dropped afterwards)."""
    if engine.dialect.name == "sqlite":
        old = db.make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
        yield old
        old.dispose()
        return
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {OLD_SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {OLD_SCHEMA}"))
    old = db.make_engine(
        engine.url.render_as_string(hide_password=False),
        connect_args={"options": f"-csearch_path={OLD_SCHEMA}"},
    )
    try:
        yield old
    finally:
        old.dispose()
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {OLD_SCHEMA} CASCADE"))


def test_a_database_of_the_previous_release_upgrades_and_its_numbers_get_encrypted(old_database):
    """A database at 0004 (the release before campaigns and encryption) with a running
    case and a payment, both holding a card number in the clear, upgrades to head: the
    numbers are encrypted at rest and still read back the same. On SQLite, and on
    PostgreSQL when the tests run there."""
    card = "6222020200112233446"
    engine = old_database
    migrate.upgrade(engine, "0004")
    old_state = zlib.compress(json.dumps({"format": 1, "data": {"bank_card": card}}).encode())
    with engine.begin() as conn:
        # Only the rows the data migration reads; the process version they would point
        # to does not matter here, so foreign keys are not checked while they go in.
        if engine.dialect.name == "sqlite":
            conn.execute(text("PRAGMA foreign_keys=OFF"))
        else:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(
            text(
                "INSERT INTO organisation (id, code, name, level, path)"
                " VALUES (1, 'nj', '内江市总工会', 1, '/1/')"
            )
        )
        conn.execute(
            text(
                'INSERT INTO "case" (id, case_no, programme, org_id, applicant_name, subject_key,'
                " subject_id_masked, amount_fen, status, outcome, outcome_label, cancel_reason,"
                " created_at) VALUES (1, 'SJ2026000001', 'seasonal_aid', 1, '张三', 'k', 'x', 100,"
                " 'running', '', '', '', '2026-09-07 02:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO process_instance (id, case_id, version_id, subprocess_versions,"
                " state, status, error, calendar_warning, updated_at, lock_version)"
                " VALUES (1, 1, 1, '{}', :state, 'running', '', '', '2026-09-07 02:00:00', 1)"
            ),
            {"state": old_state},
        )
        conn.execute(
            text(
                "INSERT INTO payment (id, case_id, purpose, org_id, amount_fen, account_name,"
                " bank_card, status, attempts, last_failure_reason, created_at, lock_version)"
                " VALUES (1, 1, 'seasonal_aid', 1, 100, '张三', :card, 'payable', 0, '',"
                " '2026-09-07 02:00:00', 1)"
            ),
            {"card": card},
        )
    migrate.upgrade(engine)
    with engine.connect() as conn:
        raw_card = conn.execute(text("SELECT bank_card FROM payment")).scalar_one()
        raw_state = bytes(conn.execute(text("SELECT state FROM process_instance")).scalar_one())
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert card not in raw_card and raw_card.startswith("enc1:")
    assert raw_state.startswith(b"WFE1") and card.encode() not in raw_state
    assert serialization.unpack(raw_state)["data"]["bank_card"] == card
    assert version == migrate_head()
    with db.make_session_factory(engine)() as session:
        assert session.scalars(select(Payment.bank_card)).one() == card
    # And the upgraded schema is the models' schema.
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def migrate_head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
