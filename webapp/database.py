"""One SQLAlchemy session per request, from `workflows`' own engine and models."""

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from workflows import db


def init_app(app: Flask) -> None:
    engine = db.make_engine(app.config["DATABASE_URL"])
    app.extensions["warmflow.sessions"] = db.make_session_factory(engine)
    app.teardown_appcontext(_close)


def session() -> Session:
    if "db_session" not in g:
        g.db_session = current_app.extensions["warmflow.sessions"]()
    return g.db_session


def _close(_exc: BaseException | None) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()
