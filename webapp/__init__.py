"""The Flask app: an app factory and nothing but wiring (one blueprint per area)."""

import os
import secrets

from flask import Flask, request, session
from flask_babel import get_locale

from webapp import (
    api,
    api_archive,  # noqa: F401
    api_audit,  # noqa: F401
    api_campaigns,  # noqa: F401 (adds routes to the api blueprint)
    api_casework,  # noqa: F401
    api_documents,  # noqa: F401
    api_finance,  # noqa: F401
    api_logins,  # noqa: F401
    api_org_admin,  # noqa: F401
    api_reports,  # noqa: F401
    api_worklists,  # noqa: F401
    app_text,
    archive,
    audit,
    auth,
    campaigns,
    cases,
    database,
    documents,
    editor,
    errors,
    filters,
    finance,
    forms,
    logins,
    main,
    notices,
    organisations,
    processes,
    reminders,
    reports,
    security,
    setup,
    tasks,
    user_admin,
    workdays,
    worklists,
)
from webapp.extensions import babel, csrf, limiter, login_manager
from workflows import paths, privacy, runtime
from workflows.errors import NotFound

LANGUAGES = ("zh_CN", "en")


def _locale() -> str:
    chosen = request.args.get("lang") or session.get("lang")
    return chosen if chosen in LANGUAGES else "zh_CN"


def create_app(test_config: dict | None = None) -> Flask:
    runtime.tune_gc()
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_hex(32),
        DATABASE_URL=os.environ.get("DATABASE_URL", paths.DEFAULT_DATABASE_URL),
        WARMFLOW_FILES_DIR=os.environ.get("WARMFLOW_FILES_DIR", paths.DEFAULT_FILES_DIR),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # The largest upload is a bank result file (20 MB, workflows/batches.py); an
        # attachment is held to 10 MB by workflows/files.py itself.
        MAX_CONTENT_LENGTH=21 * 1024 * 1024,
        BABEL_DEFAULT_LOCALE="zh_CN",
        RATELIMIT_STORAGE_URI=os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        WTF_CSRF_TIME_LIMIT=None,
    )
    if test_config:
        app.config.update(test_config)
    # Relative paths become absolute here, once, against the working directory.
    resolved = paths.configure(app.config["DATABASE_URL"], app.config["WARMFLOW_FILES_DIR"])
    app.config.update(DATABASE_URL=resolved.database_url, WARMFLOW_FILES_DIR=resolved.files_dir)
    app.json.ensure_ascii = False
    security.init_app(app, test_config)
    privacy.install_log_masking()
    database.init_app(app)
    errors.init_app(app)
    filters.init_app(app)
    app_text.init_app(app)
    app.before_request(forms.allow_form_uploads)  # before CSRF reads the form
    app.before_request(security.refuse_nul_characters)
    csrf.init_app(app)
    login_manager.init_app(app)
    babel.init_app(app, locale_selector=_locale)
    app_text.install_template_gettext(app)  # after Babel's own
    app.jinja_env.globals["get_locale"] = get_locale

    @app.url_value_preprocessor
    def ids_in_range(endpoint: str | None, values: dict | None) -> None:
        """Ids are 32-bit integers in PostgreSQL (64-bit in SQLite): a larger one in a
        path matches no row and must not reach the database, which would refuse it."""
        for value in (values or {}).values():
            if isinstance(value, int) and value > 2**31 - 1:
                raise NotFound("未找到该记录")

    @app.before_request
    def remember_language() -> None:
        if request.args.get("lang") in LANGUAGES:
            session["lang"] = request.args["lang"]

    limiter.init_app(app)
    app.register_blueprint(main.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(tasks.bp)
    app.register_blueprint(cases.bp)
    app.register_blueprint(notices.bp)
    app.register_blueprint(processes.bp)
    app.register_blueprint(editor.bp)
    app.register_blueprint(workdays.bp)
    app.register_blueprint(campaigns.bp)
    app.register_blueprint(archive.bp)
    app.register_blueprint(finance.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(documents.bp)
    app.register_blueprint(worklists.bp)
    app.register_blueprint(reminders.bp)
    app.register_blueprint(logins.bp)
    app.register_blueprint(organisations.bp)
    app.register_blueprint(user_admin.bp)
    app.register_blueprint(setup.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # the API authenticates each call with a bearer token
    return app
