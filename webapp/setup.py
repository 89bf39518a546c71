"""首次设置 `/setup`: on a database without any user (no demo), the city federation and
its first manager. The page exists only while nobody exists; afterwards it is 404 for
good (workflows/first_run.py refuses as well)."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext

from webapp.database import session
from webapp.extensions import limiter
from workflows import first_run
from workflows.errors import Forbidden, ValidationFailed

bp = Blueprint("setup", __name__)


@bp.route("/setup", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def index():
    db = session()
    if not first_run.needed(db):
        abort(404)
    errors, message, status = {}, None, 200
    if request.method == "POST":
        form = request.form
        try:
            first_run.create_federation(
                db,
                form.get("code", ""),
                form.get("name", ""),
                form.get("username", ""),
                form.get("display_name", ""),
                form.get("password", ""),
                form.get("repeat", ""),
            )
        except ValidationFailed as err:
            errors, message, status = err.errors, err.message, 422
        except Forbidden:
            abort(404)  # someone finished the setup a moment ago
        else:
            flash(gettext("初始设置完成，请用刚才设置的管理员账号登录。"), "info")
            return redirect(url_for("auth.login"))
    form = request.form if request.method == "POST" else {}
    return render_template("setup/index.html", errors=errors, message=message, form=form), status
