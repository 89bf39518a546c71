"""A session that only read ends with COMMIT when it closes (psycopg keeps its prepared
statements through a commit, not a rollback); anything that wrote is rolled back as
before, so closing a session never saves what nobody committed."""

import pytest
from sqlalchemy import event, select, text, update

from workflows import db, users
from workflows.models import Organisation


@pytest.fixture
def ends(engine):
    seen: list[str] = []
    listeners = [("commit", lambda conn: seen.append("commit"))]
    listeners.append(("rollback", lambda conn: seen.append("rollback")))
    for name, fn in listeners:
        event.listen(engine, name, fn)
    yield seen
    for name, fn in listeners:
        event.remove(engine, name, fn)


@pytest.fixture
def unit(factory):
    with factory() as s:
        org = users.add_organisation(s, "t1", "测试工会")
        s.commit()
        return org.id


def test_a_session_that_only_read_commits_at_close(factory, unit, ends):
    with factory() as s:
        assert s.get(Organisation, unit).name == "测试工会"
    assert ends == ["commit"]


def test_a_core_write_nobody_committed_is_rolled_back_at_close(factory, unit, ends):
    with factory() as s:
        s.execute(update(Organisation).where(Organisation.id == unit).values(name="改了"))
    assert ends == ["rollback"]
    with factory() as s:
        assert s.scalar(select(Organisation.name).where(Organisation.id == unit)) == "测试工会"


def test_a_pending_change_is_rolled_back_at_close(factory, unit, ends):
    with factory() as s:
        s.get(Organisation, unit).name = "改了"  # never flushed, never committed
    assert ends == ["rollback"]
    with factory() as s:
        assert s.get(Organisation, unit).name == "测试工会"


def test_a_write_then_an_error_is_rolled_back_at_close(factory, unit, ends):
    with factory() as s:
        s.execute(update(Organisation).where(Organisation.id == unit).values(name="改了"))
        with pytest.raises(Exception):  # noqa: B017,PT011 - any database error
            s.execute(text("SELECT no_such_column FROM organisation"))
    assert ends[-1] == "rollback"
    with factory() as s:
        assert s.get(Organisation, unit).name == "测试工会"


def test_prepared_statements_outlive_a_request_s_reads(engine, unit):
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: psycopg's prepared statements")
    # One connection, as a worker process's request after request.
    one = db.make_engine(engine.url.render_as_string(hide_password=False), pool_size=1)
    factory = db.make_session_factory(one)
    try:
        for _ in range(8):  # psycopg prepares a statement at its sixth run
            with factory() as s:
                s.scalar(select(Organisation.name).where(Organisation.id == unit))
        with factory() as s:
            prepared = s.scalars(
                text("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
            ).all()
    finally:
        one.dispose()
    assert any("FROM organisation" in statement for statement in prepared)
