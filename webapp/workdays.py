"""节假日安排: managers enter next year's official holidays and make-up working days.

Rules in workflows/workdays.py; this is the page for it.
"""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from webapp.database import session
from workflows import workdays
from workflows.clock import local_now
from workflows.errors import NotFound, ValidationFailed

bp = Blueprint("workdays", __name__)


@bp.route("/calendar", methods=["GET", "POST"])
@login_required
def index():
    workdays.require_manager(current_user)
    db = session()
    # Each November the State Council publishes next year's arrangement.
    year = request.values.get("year", type=int) or local_now().year + 1
    if not 2000 <= year <= 2100:
        raise NotFound("未找到该年份")
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            workdays.enter_year_as(
                db,
                current_user,
                year,
                request.form.get("holidays", ""),
                request.form.get("workdays", ""),
            )
        except ValidationFailed as err:
            errors, status = err.errors or {"": err.message}, 422
        else:
            flash(gettext("%(year)s 年节假日安排已保存", year=year), "info")
            return redirect(url_for("workdays.index", year=year))
    shown = workdays.arrangement(db, year)
    this_year = local_now().year
    last = max(year, this_year + 1)
    years = [workdays.arrangement(db, y) for y in range(this_year - 1, last + 1)]
    return render_template(
        "workdays/index.html", shown=shown, years=years, errors=errors, form=request.form
    ), status
