"""督办 and 催办 (see workflows/reminders.py): the overdue list of a supervisor's subtree
with a reminder button, and what the reminded person sees (start page, task page)."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from webapp.database import session
from webapp.worklists import PAGE_SIZE, _page_url, _paging, task_filter
from workflows import access, reminders
from workflows.cases import PROGRAMMES
from workflows.errors import WarmflowError
from workflows.models import HumanTask, User
from workflows.processes import ROLES

bp = Blueprint("reminders", __name__)


@bp.get("/tasks/overdue")
@login_required
def overdue():
    db, user = session(), current_user
    reminders.require_supervisor(user)
    flt = task_filter(request.args)
    flt.overdue = False  # every task here is overdue
    total = reminders.count_overdue(db, user, flt)
    page, pages = _paging(total)
    rows = reminders.list_overdue(db, user, flt, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    ids = [r.id for r in rows]
    assignees = {r.assignee_id for r in rows if r.assignee_id}
    names = {u.id: u.display_name for u in db.query(User).filter(User.id.in_(assignees))}
    return render_template(
        "reminders/overdue.html",
        rows=rows,
        names=names,
        today=reminders.reminded_today(db, ids),
        last=reminders.last_reminders(db, ids),
        total=total,
        page=page,
        pages=pages,
        page_url=_page_url("reminders.overdue"),
        flt=flt,
        programmes=PROGRAMMES,
        steps=reminders.overdue_steps(db, user),
        orgs=access.orgs_in_scope(db, user),
        roles=ROLES,
        max_message=reminders.MAX_MESSAGE,
    )


def _back() -> str:
    target = request.form.get("next") or ""
    if target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("reminders.overdue")


@bp.post("/tasks/<int:task_id>/remind")
@login_required
def remind(task_id: int):
    db = session()
    try:
        reminder = reminders.remind(db, current_user, task_id, request.form.get("message", ""))
    except WarmflowError as err:
        if err.code in ("not_found", "forbidden"):
            raise
        flash(gettext(err.message), "error")
    else:
        task = db.get(HumanTask, reminder.task_id)
        flash(
            gettext("已催办：%(case_no)s %(step)s", case_no=task.case.case_no, step=task.name),
            "info",
        )
    return redirect(_back())
