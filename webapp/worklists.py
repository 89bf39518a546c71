"""已办 and 我发起的 (see workflows/worklists.py): the personal lists beside 我的任务 and
待认领, with the same filters and paging."""

from flask import Blueprint, render_template, request, url_for
from flask_babel import lazy_gettext
from flask_login import current_user, login_required

from webapp.database import session
from workflows import access, cases, worklists
from workflows.cases import PROGRAMMES
from workflows.errors import Forbidden
from workflows.tasks import TaskFilter

bp = Blueprint("worklists", __name__)

PAGE_SIZE = 20
DONE_SORT_LABELS = {
    "-completed": lazy_gettext("办理时间（晚→早）"),
    "completed": lazy_gettext("办理时间（早→晚）"),
}
STARTED_SORT_LABELS = {
    "-created": lazy_gettext("登记时间（晚→早）"),
    "created": lazy_gettext("登记时间（早→晚）"),
}


def _org(values) -> int | None:
    org = values.get("org", "")
    return int(org) if org.isdigit() and len(org) < 10 else None


def task_filter(values) -> TaskFilter:
    return TaskFilter(
        programme=values.get("programme") if values.get("programme") in PROGRAMMES else None,
        element_id=values.get("step") or None,
        org_id=_org(values),
        overdue=values.get("overdue") == "1",
    )


def _paging(total: int, capped: bool = False) -> tuple[int, int]:
    """The page asked for and how many there are; a capped count (worklists.COUNT_CAP)
    pages as far as the cap."""
    if capped:
        total = min(total, worklists.COUNT_CAP)
    pages = max(1, -(-total // PAGE_SIZE))
    page = max(1, request.args.get("page", 1, type=int) or 1)
    return min(page, pages), pages


def _page_url(endpoint: str):
    args = request.args.to_dict()

    def page_url(**changes) -> str:
        merged = {**args, **changes}
        return url_for(endpoint, **{k: v for k, v in merged.items() if v not in ("", None)})

    return page_url


@bp.get("/tasks/done")
@login_required
def done():
    db, user = session(), current_user
    flt = task_filter(request.args)
    sort = request.args.get("sort", "-completed")
    sort = sort if sort in worklists.DONE_SORTS else "-completed"
    total = worklists.count_done(db, user, flt)
    page, pages = _paging(total, capped=True)
    rows = worklists.list_done(db, user, flt, PAGE_SIZE, (page - 1) * PAGE_SIZE, sort)
    return render_template(
        "worklists/done.html",
        rows=rows,
        more=total > worklists.COUNT_CAP,
        cap=worklists.COUNT_CAP,
        standing=worklists.standings(db, {r.case for r in rows}),
        total=total,
        page=page,
        pages=pages,
        page_url=_page_url("worklists.done"),
        flt=flt,
        sort=sort,
        sorts=DONE_SORT_LABELS,
        programmes=PROGRAMMES,
        steps=worklists.done_steps(db, user),
        orgs=access.orgs_in_scope(db, user),
    )


def may_start(user) -> bool:
    """我发起的 is for those who register applications."""
    return user.is_active and user.has_role("caseworker")


@bp.get("/cases/started")
@login_required
def started():
    db, user = session(), current_user
    if not may_start(user):
        raise Forbidden("只有经办人登记申请，没有“我发起的”案件")
    status, programme = request.args.get("status", ""), request.args.get("programme", "")
    flt = worklists.CaseFilter(
        programme=programme if programme in PROGRAMMES else None,
        status=status if status in cases.STATUS_LABELS else None,
        org_id=_org(request.args),
    )
    sort = request.args.get("sort", "-created")
    sort = sort if sort in worklists.STARTED_SORTS else "-created"
    total = worklists.count_started(db, user, flt)
    page, pages = _paging(total, capped=True)
    rows = worklists.list_started(db, user, flt, PAGE_SIZE, (page - 1) * PAGE_SIZE, sort)
    return render_template(
        "worklists/started.html",
        rows=rows,
        more=total > worklists.COUNT_CAP,
        cap=worklists.COUNT_CAP,
        standing=worklists.standings(db, rows),
        total=total,
        page=page,
        pages=pages,
        page_url=_page_url("worklists.started"),
        flt=flt,
        sort=sort,
        sorts=STARTED_SORT_LABELS,
        programmes=PROGRAMMES,
        statuses=cases.STATUS_LABELS,
        orgs=access.orgs_in_scope(db, user),
    )
