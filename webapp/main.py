"""The start page (what waits for this person), the navigation, and the health check."""

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, url_for
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import func, select, text

from webapp.database import session
from workflows import first_run, reminders, tasks, timers
from workflows.access import SUPERVISOR_ROLES
from workflows.cases import PROGRAMMES, SEARCH_ROLES
from workflows.clock import CST
from workflows.models import ProcessVersion
from workflows.processes import ROLES
from workflows.reports import REPORT_ROLES

bp = Blueprint("main", __name__)
# 流程管理 and 节假日安排 serve the whole federation: the city federation's managers only.
CITY_MANAGER = "city_manager"


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
        (gettext("已办"), "worklists.done", None, None),
        (gettext("我发起的"), "worklists.started", None, "caseworker"),
        (gettext("督办"), "reminders.overdue", None, SUPERVISOR_ROLES),
        (gettext("登记申请"), "tasks.new_case_choose", None, "caseworker"),
        (gettext("案件查询"), "cases.search", None, None),
        (gettext("困难职工档案"), "archive.index", None, tuple(SEARCH_ROLES)),
        (gettext("单位管理"), "organisations.index", None, "manager"),
        (gettext("用户管理"), "user_admin.index", None, "manager"),
        (gettext("流程管理"), "processes.index", None, CITY_MANAGER),
        (gettext("节假日安排"), "workdays.index", None, CITY_MANAGER),
        (gettext("活动管理"), "campaigns.index", None, "manager"),
        (gettext("银行发放"), "finance.index", None, "finance"),
        (gettext("统计报表"), "reports.index", None, REPORT_ROLES),
        (gettext("审计日志"), "audit.index", None, "manager"),
        (gettext("打印文书"), "documents.index", None, tuple(SEARCH_ROLES)),
        (gettext("登录保护"), "logins.index", None, "manager"),
        (gettext("公示"), "notices.index", None, None),
    ]
    city = current_user.org.parent_id is None
    nav = [
        (label, endpoint, count)
        for label, endpoint, count, role in entries
        if role is None
        or (role == CITY_MANAGER and city and current_user.has_role("manager"))
        or (role != CITY_MANAGER and any(current_user.has_role(r) for r in _roles(role)))
    ]
    return {"nav": nav, "roles": ROLES}


def _roles(role: str | tuple[str, ...]) -> tuple[str, ...]:
    return (role,) if isinstance(role, str) else role


@bp.get("/favicon.ico")
def favicon():
    """Where browsers look for the icon when a page (a PDF, an error) names none."""
    return current_app.send_static_file("favicon.ico")


def _iso(moment) -> str | None:
    return moment.astimezone(CST).isoformat() if moment else None  # as in the API


@bp.get("/healthz")
def healthz():
    """Liveness for a load balancer (200 while the database answers) and, for whoever
    watches, when the timer worker last ran: notices stop closing without it."""
    db = session()
    db.execute(text("SELECT 1"))
    health = timers.health(db)
    return jsonify(
        status="ok",
        database="ok",
        timers={
            "state": health.state,
            "last_ok_at": _iso(health.last_ok_at),
            "minutes_since_last_ok": health.minutes_since,
            "failing": health.failing,
            "last_error_at": _iso(health.last_error_at),
            "last_error": health.last_error,
            "interval_seconds": health.interval_seconds,
        },
    )


@bp.get("/")
def index():
    if not current_user.is_authenticated:
        if first_run.needed(session()):  # a new federation: nobody to sign in yet
            return redirect(url_for("setup.index"))
        return redirect(url_for("auth.login"))
    db = session()
    counts = {
        "mine": task_count(db, "mine"),
        "group": task_count(db, "group"),
        "overdue": tasks.count_tasks(db, current_user, "all", tasks.TaskFilter(overdue=True)),
    }
    waiting = tasks.list_tasks(db, current_user, "all", limit=10)
    # The deployed processes concern those who change them, nobody else.
    city_manager = current_user.has_role("manager") and current_user.org.parent_id is None
    versions = _deployed_versions(db) if city_manager else []
    return render_template(
        "index.html",
        counts=counts,
        waiting=waiting,
        versions=versions,
        programmes=PROGRAMMES,
        my_reminders=reminders.for_user(db, current_user, limit=10),
        # Managers are told when the timer worker stopped (notices would stay open).
        worker=timers.health(db) if current_user.has_role("manager") else None,
    )


def _deployed_versions(db) -> list:
    newest = (
        select(
            ProcessVersion.process_id,
            ProcessVersion.name,
            func.max(ProcessVersion.number).label("number"),
        )
        .group_by(ProcessVersion.process_id, ProcessVersion.name)
        .order_by(ProcessVersion.process_id)
    )
    return db.execute(newest).all()
