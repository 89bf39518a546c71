"""登录保护 (managers): accounts asked for a challenge and addresses slowed down after
repeated failed sign-ins, and clearing them. The rules are in workflows/logins.py; the
list is a partial (logins/_throttled.html) that a user-management page can include."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from webapp.database import session
from workflows import logins

bp = Blueprint("logins", __name__)


@bp.get("/logins")
@login_required
def index():
    rows = logins.list_throttled(session(), current_user)
    return render_template("logins/index.html", throttled=rows, limits=logins)


@bp.post("/logins/<int:throttle_id>/clear")
@login_required
def clear(throttle_id: int):
    logins.clear(session(), current_user, throttle_id)
    flash(gettext("已解除登录限制"), "info")
    return redirect(url_for("logins.index"))
