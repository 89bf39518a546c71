"""Pages for the tasks area (see workflows/tasks.py for the rules): the two task lists,
the task page with its form, claim / unclaim / hand over, batch approval, and the
application pages (登记申请) that start a case."""

from datetime import datetime

from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext, lazy_gettext
from flask_login import current_user, login_required
from wtforms import SelectField

from webapp import forms
from webapp.database import session
from webapp.main import task_count
from workflows import access, approvals, archive, cases, reminders, tasks
from workflows.cases import PROGRAMMES
from workflows.clock import CST, as_utc, now
from workflows.errors import Forbidden, NotFound, ValidationFailed
from workflows.models import User
from workflows.processes import newest_loaded, newest_version_ids

bp = Blueprint("tasks", __name__)

PAGE_SIZE = 20
LISTS = {
    "mine": ("tasks.mine", lazy_gettext("我的任务")),
    "group": ("tasks.group", lazy_gettext("待认领")),
}
SORT_LABELS = {
    "created": lazy_gettext("到达时间（早→晚）"),
    "-created": lazy_gettext("到达时间（晚→早）"),
    "due": lazy_gettext("办理期限（近→远）"),
    "-due": lazy_gettext("办理期限（远→近）"),
}


def _user() -> User:
    return current_user._get_current_object()


def _safe_next(default: str) -> str:
    target = request.form.get("next") or ""
    if target.startswith("/") and not target.startswith("//"):
        return target
    return default


@bp.app_template_filter("waited")
def waited(since: datetime | None) -> str:
    """How long a task has waited: 3 天 / 5 小时 / 12 分钟."""
    if since is None:
        return "—"
    seconds = max(0, int((now() - as_utc(since)).total_seconds()))
    if seconds >= 86400:
        return gettext("%(n)s 天", n=seconds // 86400)
    if seconds >= 3600:
        return gettext("%(n)s 小时", n=seconds // 3600)
    return gettext("%(n)s 分钟", n=max(1, seconds // 60))


# --- the task lists ----------------------------------------------------------------------


def _filter_from(values) -> tasks.TaskFilter:
    org = values.get("org", "")
    return tasks.TaskFilter(
        programme=values.get("programme") or None,
        element_id=values.get("step") or None,
        org_id=int(org) if org.isdigit() else None,
        overdue=values.get("overdue") == "1",
    )


def _task_list(scope: str):
    db, user = session(), _user()
    flt = _filter_from(request.args)
    sort = request.args.get("sort", "created")
    sort = sort if sort in tasks.SORTS else "created"
    page = max(1, request.args.get("page", 1, type=int) or 1)
    unfiltered = flt == tasks.TaskFilter() and scope in ("mine", "group")
    total = task_count(db, scope) if unfiltered else tasks.count_tasks(db, user, scope, flt)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    rows = tasks.list_tasks(db, user, scope, flt, PAGE_SIZE, (page - 1) * PAGE_SIZE, sort)
    approvals = tasks.approval_task_ids(db, rows) if rows else set()
    endpoint, title = LISTS[scope]
    args = request.args.to_dict()

    def page_url(**changes) -> str:
        merged = {**args, **changes}
        return url_for(endpoint, **{k: v for k, v in merged.items() if v not in ("", None)})

    return render_template(
        "tasks/list.html",
        scope=scope,
        endpoint=endpoint,
        title=title,
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        page_url=page_url,
        flt=flt,
        sort=sort,
        sorts=SORT_LABELS,
        args=args,
        programmes=PROGRAMMES,
        steps=tasks.step_choices(db, user, scope),
        orgs=access.orgs_in_scope(db, user),
        approvals=approvals,
        # "All N matching" is offered once the list is narrowed to one approval step.
        all_matching=bool(flt.element_id and approvals),
        is_overdue=tasks.is_overdue,
    )


@bp.get("/tasks/mine")
@login_required
def mine():
    return _task_list("mine")


@bp.get("/tasks/group")
@login_required
def group():
    return _task_list("group")


# --- claim, unclaim, hand over -----------------------------------------------------------


@bp.post("/tasks/<int:task_id>/claim")
@login_required
def claim(task_id: int):
    row = tasks.claim(session(), _user(), task_id)
    flash(
        gettext(
            "已认领任务“%(name)s”（%(case_no)s），可在“我的任务”中办理",
            name=row.name,
            case_no=row.case.case_no,
        ),
        "info",
    )
    return redirect(_safe_next(url_for("tasks.show", task_id=task_id)))


@bp.post("/tasks/<int:task_id>/unclaim")
@login_required
def unclaim(task_id: int):
    row = tasks.unclaim(session(), _user(), task_id)
    flash(gettext("已放弃认领任务“%(name)s”，任务退回待认领", name=row.name), "info")
    return redirect(_safe_next(url_for("tasks.mine")))


@bp.post("/tasks/<int:task_id>/handover")
@login_required
def handover(task_id: int):
    db = session()
    to_username = (request.form.get("to_username") or "").strip()
    if not to_username:
        raise ValidationFailed(
            gettext("请选择要转交的同事"), errors={"to_username": gettext("请选择同事")}
        )
    row = tasks.hand_over(db, _user(), task_id, to_username)
    target = db.get(User, row.assignee_id)
    flash(
        gettext("已将任务“%(name)s”转交给%(person)s", name=row.name, person=target.display_name),
        "info",
    )
    return redirect(_safe_next(url_for("tasks.mine")))


# --- the task page -----------------------------------------------------------------------


@bp.route("/tasks/<int:task_id>", methods=["GET", "POST"])
@login_required
def show(task_id: int):
    db, user = session(), _user()
    view = tasks.get_task(db, user, task_id, for_form=request.method == "POST")
    context = tasks.form_context(view.case)
    # A rework shows the application too, prefilled with what the case holds now.
    form_fields = view.application + view.fields
    form = forms.form_for(
        form_fields, values=view.current or None, context=context, session=db, case=view.case
    )
    general: dict[str, str] = {}
    message = ""
    status = 200
    if request.method == "POST":
        tasks.ensure_open(db, user, task_id)
        try:
            data = forms.collect(
                form,
                form_fields,
                db,
                user,
                case=view.case,
                context=context,
                blank_keeps={
                    f["id"] for f in view.application if f["type"] in ("id_number", "bank_card")
                },
            )
            tasks.complete(db, user, task_id, data)
        except ValidationFailed as err:
            message = err.message
            general = forms.show_errors(form, err.errors)
            status = 422
        else:
            flash(
                gettext(
                    "已提交：%(name)s（%(case_no)s）",
                    name=view.task.name,
                    case_no=view.case.case_no,
                ),
                "info",
            )
            return redirect(url_for("tasks.mine"))
        view = tasks.get_task(db, user, task_id)  # the failed attempt was rolled back
    is_open = view.task.status == "open"
    approval = tasks.is_approval_form(view.fields)
    earlier = tasks.earlier_data(db, view) if is_open else []
    outcomes = (
        approvals.outcomes(db, view.task, ["approve", "return", "reject"])
        if approval and is_open
        else {}
    )
    final = outcomes.get("approve")
    page = render_template(
        "tasks/show.html",
        view=view,
        form=form,
        message=message,
        general=general,
        approval=approval,
        earlier=[item for item in earlier if item.type != "file"],
        evidence=[item for item in earlier if item.type == "file"],
        outcomes=outcomes,
        # Before the final approval: what the same person already received this year.
        received=archive.received_this_year(db, view.case) if final and final.final else None,
        payment_labels=cases.PAYMENT_STATUS_LABELS,
        programme_labels={k: p.label for k, p in PROGRAMMES.items()},
        colleagues=tasks.colleagues(db, user, task_id) if is_open else [],
        programme=PROGRAMMES.get(view.case.programme),
        assignee=db.get(User, view.task.assignee_id) if view.task.assignee_id else None,
        completed_by=db.get(User, view.task.completed_by_id) if view.task.completed_by_id else None,
        is_open=is_open,
        task_reminders=reminders.for_task(db, view.task),
    )
    return page, status


# --- batch approval ----------------------------------------------------------------------


def _batch_ids() -> list[int]:
    """The ticked tasks, or every task the posted list filter matches."""
    if request.form.get("all") == "1":
        scope = request.form.get("scope", "group")
        if scope not in LISTS:
            raise ValidationFailed(gettext("未知的任务列表"))
        flt = _filter_from(request.form)
        return tasks.matching_task_ids(session(), _user(), scope, flt)
    return [int(v) for v in request.form.getlist("task_ids") if v.isdigit()]


@bp.post("/tasks/batch/confirm")
@login_required
def batch_confirm():
    back = _safe_next(url_for("tasks.group"))
    try:
        plan = tasks.plan_batch_approval(session(), _user(), _batch_ids())
    except ValidationFailed as err:
        flash(err.message, "error")
        return redirect(back)
    received = archive.received_totals(session(), [t.case for t in plan.tasks])
    return render_template("tasks/batch_confirm.html", plan=plan, back=back, received=received)


@bp.post("/tasks/batch/approve")
@login_required
def batch_approve():
    ids = [int(v) for v in request.form.getlist("task_ids") if v.isdigit()]
    results = tasks.approve_many(session(), _user(), ids, request.form.get("comment") or "")
    done = [r for r in results if r.ok]
    failed = [r for r in results if not r.ok]
    return render_template("tasks/batch_result.html", done=done, failed=failed)


# --- application pages (登记申请) ----------------------------------------------------------


def _require_caseworker(user: User) -> None:
    if not user.has_role("caseworker"):
        raise Forbidden(gettext("只有经办人可以登记申请"))


@bp.get("/apply")
@login_required
def new_case_choose():
    _require_caseworker(_user())
    db = session()
    offers = []
    deployed = newest_version_ids(db)
    for prog in PROGRAMMES.values():
        if not prog.registerable or prog.process_id not in deployed:
            continue  # not deployed here
        campaigns = cases.open_campaigns(db, prog.process_id) if prog.needs_campaign else []
        offers.append((prog, campaigns))
    return render_template("tasks/apply_choose.html", offers=offers)


@bp.route("/apply/<process_id>", methods=["GET", "POST"])
@login_required
def new_case(process_id: str):
    db, user = session(), _user()
    _require_caseworker(user)
    if process_id not in PROGRAMMES or not PROGRAMMES[process_id].registerable:
        raise NotFound(gettext("没有这项业务"))
    prog = PROGRAMMES[process_id]
    fields = newest_loaded(db, process_id).meta.get("start_form", [])
    extra = {}
    campaigns = cases.open_campaigns(session(), process_id) if prog.needs_campaign else []
    if prog.needs_campaign:
        chosen = request.args.get("campaign", "")
        extra["campaign"] = SelectField(
            lazy_gettext("活动"),
            choices=forms.choices(((c.id, c.name) for c in campaigns), gettext("请选择活动")),
            default=chosen,
            validate_choice=False,
            render_kw={"required": True},
        )
    context = forms.rules.today_context(now().astimezone(CST).date())
    # From a worker's page (一人一档): the archive's known fields; ID and card numbers are
    # never written into the page, left empty they are taken from the archive.
    known: dict = {}
    from_archive = request.args.get("from_archive", "")
    if from_archive.isdigit() and int(from_archive) < 2**31:
        known = archive.prefill(db, user, int(from_archive))
    numbers = {f["id"] for f in fields if f["type"] in ("id_number", "bank_card")}
    kept = {fid for fid in numbers if known.get(fid)}
    form = forms.form_for(fields, extra, values=known or None, context=context)
    general: dict[str, str] = {}
    message = ""
    status = 200
    if request.method == "POST":
        raw = form.campaign.data if prog.needs_campaign else ""
        campaign_id = int(raw) if raw and str(raw).isdigit() else None
        try:
            data = forms.collect(form, fields, db, user, context=context, blank_keeps=kept)
            for fid in kept:
                if not data.get(fid):
                    data[fid] = known[fid]
            case = cases.start_case(db, user, process_id, data, campaign_id)
        except ValidationFailed as err:
            message = err.message
            general = forms.show_errors(form, err.errors)
            status = 422
        else:
            flash(gettext("申请已登记，案件编号 %(case_no)s", case_no=case.case_no), "info")
            return redirect(url_for("cases.show", case_id=case.id))
    page = render_template(
        "cases/new.html",
        prog=prog,
        fields=fields,
        form=form,
        message=message,
        general=general,
        campaigns=campaigns,
        current={fid: known[fid] for fid in kept},
    )
    return page, status
