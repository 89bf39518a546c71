"""The Flask app: an app factory and nothing but wiring (one blueprint per area)."""

import os
import secrets

from flask import Flask

from webapp import database, errors, main


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_hex(32),
        DATABASE_URL=os.environ.get("DATABASE_URL", "sqlite:///instance/warmflow.sqlite"),
        JSON_AS_ASCII=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    if test_config:
        app.config.update(test_config)
    app.json.ensure_ascii = False
    database.init_app(app)
    errors.init_app(app)
    app.register_blueprint(main.bp)
    return app
