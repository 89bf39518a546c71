"""Database wiring: engine, sessions and the declarative base (SQLAlchemy 2)."""

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.types import TypeDecorator

from workflows import paths
from workflows.clock import as_utc
from workflows.errors import Conflict

DEFAULT_URL = paths.DEFAULT_DATABASE_URL

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        value = as_utc(value)
        if value is not None and dialect.name == "sqlite":
            value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect):
        return as_utc(value)


def database_url() -> str:
    """This process's database, a SQLite file's path made absolute at start-up."""
    return paths.current().database_url


def make_engine(url: str | None = None, **kwargs) -> Engine:
    url = paths.absolute_database_url(url or database_url())
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        folder = os.path.dirname(url[len("sqlite:///") :])
        if folder:
            os.makedirs(folder, exist_ok=True)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "before_cursor_execute", _note_writes)
    for ended in ("commit", "rollback"):
        event.listen(engine, ended, _forget_writes)
    return engine


# Whether the connection's transaction wrote anything: one that only read ends with a
# COMMIT when its session closes (ReadsCommitSession), not a ROLLBACK. The two are the same
# to the data, but psycopg forgets every prepared statement at a ROLLBACK, so a server
# that ended each request's reads with one planned every statement anew (bench/engine.py).
_WROTE = "warmflow.wrote"


def _note_writes(conn, _cursor, statement: str, *_args) -> None:
    if not statement.lstrip()[:6].upper() == "SELECT":
        conn.info[_WROTE] = True


def _forget_writes(conn) -> None:
    if not conn.invalidated:  # a lost connection (killed backend) is discarded anyway
        conn.info.pop(_WROTE, None)


class ReadsCommitSession(Session):
    """A session whose close ends a transaction that only read with a COMMIT (see above);
    anything else (a write, pending changes, a failed or nested transaction) is rolled
    back as before."""

    def close(self) -> None:
        with suppress(Exception):  # anything unexpected: rolled back, as always
            if self._only_read():
                self.commit()
        super().close()

    def _only_read(self) -> bool:
        transaction = self.get_transaction()
        if (
            transaction is None
            or not transaction.is_active
            or self.get_nested_transaction() is not None
            or self.new
            or self.dirty
            or self.deleted
        ):
            return False
        # SessionTransaction keeps its connections here (SQLAlchemy 2.0, pinned); if it
        # ever does not, nothing is committed.
        connections = getattr(transaction, "_connections", None) or {}
        return bool(connections) and all(
            not conn.invalidated and not conn.info.get(_WROTE)
            for conn, *_rest in connections.values()
        )


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: a service may return rows it committed for the caller to show.
    return sessionmaker(
        bind=engine, class_=ReadsCommitSession, expire_on_commit=False, autoflush=False
    )


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    session = factory()
    try:
        yield session
    finally:
        session.close()


@contextmanager
def unit_of_work(session: Session) -> Iterator[None]:
    """One user action, one transaction: commit at the end, roll back on any error, and
    turn a moved version column into a clear conflict."""
    try:
        yield
        session.commit()
    except StaleDataError:
        session.rollback()
        raise Conflict("其他人已办理了此任务，请刷新后重试") from None
    except BaseException:
        session.rollback()
        raise
