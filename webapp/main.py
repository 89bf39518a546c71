"""The start page (what waits for this person), the navigation, and the health check."""

from flask import Blueprint, g, jsonify, redirect, render_template, url_for
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import func, select, text

from webapp.database import session
from workflows import tasks
from workflows.cases import PROGRAMMES
from workflows.models import ProcessVersion
from workflows.processes import ROLES
from workflows.reports import REPORT_ROLES

bp = Blueprint("main", __name__)


def task_count(db, scope: str) -> int:
    """The signed-in user's unfiltered task count for a scope, counted once a request (the
    menu, the start page and the list page all show it)."""
    counts = g.setdefault("task_counts", {})
    if scope not in counts:
        counts[scope] = tasks.count_tasks(db, current_user, scope)
    return counts[scope]


@bp.app_context_processor
def navigation() -> dict:
    """Menu entries for the signed-in user, with task counts. An entry that needs a role
    is offered only to those who have it: nobody is shown a page that answers 403."""
    if not current_user.is_authenticated:
        return {"nav": [], "roles": ROLES}
    db = session()
    entries = [
        (gettext("我的任务"), "tasks.mine", task_count(db, "mine"), None),
        (gettext("待认领"), "tasks.group", task_count(db, "group"), None),
        (gettext("登记申请"), "tasks.new_case_choose", None, "caseworker"),
        (gettext("案件查询"), "cases.search", None, None),
        (gettext("流程管理"), "processes.index", None, "manager"),
        (gettext("节假日安排"), "workdays.index", None, "manager"),
        (gettext("活动管理"), "campaigns.index", None, "manager"),
        (gettext("银行发放"), "finance.index", None, "finance"),
        (gettext("统计报表"), "reports.index", None, REPORT_ROLES),
        (gettext("审计日志"), "audit.index", None, "manager"),
        (gettext("登录保护"), "logins.index", None, "manager"),
        (gettext("公示"), "notices.index", None, None),
    ]
    nav = [
        (label, endpoint, count)
        for label, endpoint, count, role in entries
        if role is None or any(current_user.has_role(r) for r in _roles(role))
    ]
    return {"nav": nav, "roles": ROLES}


def _roles(role: str | tuple[str, ...]) -> tuple[str, ...]:
    return (role,) if isinstance(role, str) else role


@bp.get("/healthz")
def healthz():
    session().execute(text("SELECT 1"))
    return jsonify(status="ok", database="ok")


@bp.get("/")
def index():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    db = session()
    counts = {
        "mine": task_count(db, "mine"),
        "group": task_count(db, "group"),
        "overdue": tasks.count_tasks(db, current_user, "all", tasks.TaskFilter(overdue=True)),
    }
    waiting = tasks.list_tasks(db, current_user, "all", limit=10)
    newest = (
        select(
            ProcessVersion.process_id,
            ProcessVersion.name,
            func.max(ProcessVersion.number).label("number"),
        )
        .group_by(ProcessVersion.process_id, ProcessVersion.name)
        .order_by(ProcessVersion.process_id)
    )
    versions = session().execute(newest).all()
    return render_template(
        "index.html", counts=counts, waiting=waiting, versions=versions, programmes=PROGRAMMES
    )
