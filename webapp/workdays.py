"""节假日安排: managers enter next year's official holidays and make-up working days.

Rules in workflows/workdays.py; this is the page for it.
"""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user, login_required

from webapp.database import session
from workflows import workdays
from workflows.clock import local_now
from workflows.errors import NotFound, ValidationFailed

bp = Blueprint("workdays", __name__)

WEEKDAYS = [
    lazy_gettext("周一"),
    lazy_gettext("周二"),
    lazy_gettext("周三"),
    lazy_gettext("周四"),
    lazy_gettext("周五"),
    lazy_gettext("周六"),
    lazy_gettext("周日"),
]


def weekday(day) -> str:
    return str(WEEKDAYS[day.weekday()])


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
    message = ""
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
            errors, message, status = err.errors or {"": err.message}, err.message, 422
        else:
            flash(gettext("%(year)s 年节假日安排已保存", year=year), "info")
            return redirect(url_for("workdays.index", year=year))
    shown = workdays.arrangement(db, year)
    this_year = local_now().year
    last = max(year, this_year + 1)
    years = [workdays.arrangement(db, y) for y in range(this_year - 1, last + 1)]
    return render_template(
        "workdays/index.html",
        shown=shown,
        years=years,
        errors=errors,
        message=message,
        form=request.form,
        weekday=weekday,
    ), status
