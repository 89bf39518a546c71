"""活动管理 (managers): campaigns, standards, budgets, launch from the archive.

Rules live in workflows/campaigns.py; these are the pages for them. Finance and the
district and city approvers may look (read-only); only managers change anything.
Amounts are typed in 元 and reach the service as integer fen (Decimal, never float).
"""

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy import func, select

from webapp import jobs
from webapp.api import iso, scrub
from webapp.database import session
from webapp.forms import yuan_to_fen
from workflows import campaigns
from workflows.budgets import yuan
from workflows.cases import PROGRAMMES
from workflows.clock import local_now
from workflows.errors import Conflict, Forbidden, ValidationFailed
from workflows.models import Campaign, CampaignBudget, CampaignLaunch, User

bp = Blueprint("campaigns", __name__)

# The form's plain fields, named as the service names them.
FIELDS = (
    "code",
    "name",
    "programme",
    "season",
    "year",
    "aid_kind",
    "goods_name",
    "notice_days",
    "opens_on",
    "closes_on",
    "status",
)
# Typed in 元; the service's field is city_approval_threshold_fen.
THRESHOLD = "city_approval_threshold"
SERVICE_THRESHOLD = "city_approval_threshold_fen"
# Stands in for an amount that could not be read, so that the service refuses the whole
# form too (and reports its own findings on the other fields at the same time).
UNREADABLE = "unreadable"


def _user() -> User:
    return current_user._get_current_object()


def may_manage(user: User) -> bool:
    """Campaigns are set up by the city federation's managers (workflows/campaigns.py)."""
    return user.has_role("manager") and user.org.parent_id is None


def require_manager(user: User) -> None:
    """Refuse before a page reads anything (the services check again)."""
    if not may_manage(user):
        raise Forbidden("只有管理员可以管理活动")


def labels() -> dict:
    return {
        "programmes": {p: PROGRAMMES[p].label for p in campaigns.CAMPAIGN_PROGRAMMES},
        "seasons": campaigns.SEASONS,
        "aid_kinds": campaigns.AID_KINDS,
        "aid_kind_of": campaigns.aid_kind_label,
        "statuses": campaigns.STATUSES,
    }


def programme_label(programme: str) -> str:
    prog = PROGRAMMES.get(programme)
    return prog.label if prog else programme


def budget_totals(db) -> dict[int, tuple[int, int]]:
    """Campaign id → (sum of district budgets, sum reserved), in fen."""
    rows = db.execute(
        select(
            CampaignBudget.campaign_id,
            func.sum(CampaignBudget.budget_fen),
            func.sum(CampaignBudget.reserved_fen),
        ).group_by(CampaignBudget.campaign_id)
    )
    return {cid: (int(budget or 0), int(reserved or 0)) for cid, budget, reserved in rows}


def launch_status_label(status: str) -> str:
    return {
        "running": gettext("发起中"),
        "done": gettext("已完成"),
        "failed": gettext("已中断"),
    }.get(status, status)


def launch_json(row: CampaignLaunch) -> dict:
    """A launch's progress, for the page's poll and the API (no personal data in it)."""
    return {
        "id": row.id,
        "campaign_id": row.campaign_id,
        "status": row.status,
        "status_label": launch_status_label(row.status),
        "total": row.total,
        "created": row.created,
        "skipped": row.skipped,
        "failed": row.failed,
        "processed": row.created + row.skipped + row.failed,
        "message": scrub(row.message or ""),
        "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at),
    }


def current_launch(db, campaign_id: int) -> CampaignLaunch | None:
    """The newest launch; one whose thread stopped reporting is marked failed first (the
    service's own rule), so a page never waits for a launch that died with the server."""
    row = campaigns.latest_launch(db, campaign_id)
    if row is not None and row.status == "running":
        campaigns.running_launch(db, campaign_id)
        db.commit()
    return row


# --- the list ------------------------------------------------------------------------------


@bp.get("/campaigns")
@login_required
def index():
    db = session()
    rows = campaigns.list_campaigns(db, _user())
    return render_template(
        "campaigns/index.html",
        rows=rows,
        totals=budget_totals(db),
        may_manage=may_manage(_user()),
        labels=labels(),
        programme_label=programme_label,
    )


# --- creating and editing -------------------------------------------------------------------


def _amount(text: str, field: str, label: str, missing: str, errors: dict) -> int | str:
    """元 as typed → fen; a problem goes into `errors` and UNREADABLE is returned."""
    if not text.strip():
        errors[field] = missing
        return UNREADABLE
    try:
        fen = yuan_to_fen(text, label)
    except ValueError as err:
        errors[field] = str(err)
        return UNREADABLE
    if fen < 0:
        errors[field] = gettext("%(label)s不能为负数", label=label)
        return UNREADABLE
    return fen


def _values_of(campaign: Campaign) -> dict[str, str]:
    values = {
        "code": campaign.code,
        "name": campaign.name,
        "programme": campaign.programme,
        "season": campaign.season,
        "year": str(campaign.year),
        "aid_kind": campaign.aid_kind,
        "goods_name": campaign.goods_name or "",
        "notice_days": str(campaign.notice_days),
        "opens_on": campaign.opens_on.isoformat() if campaign.opens_on else "",
        "closes_on": campaign.closes_on.isoformat() if campaign.closes_on else "",
        "status": campaign.status,
        THRESHOLD: yuan(campaign.city_approval_threshold_fen),
    }
    for key, fen in campaigns.standards(campaign).items():
        values[f"standards.{key}"] = yuan(fen)
    return values


def _new_values(programme: str) -> dict[str, str]:
    return {
        "programme": programme,
        "year": str(local_now().year),
        "aid_kind": "cash",
        "notice_days": "5",
        "status": "open",
    }


def _read_form(db) -> tuple[dict[str, str], dict, dict[str, str]]:
    """(the values as typed, the data as the service takes it, conversion errors)."""
    values = {
        key: request.form.get(key, "").strip()
        for key in request.form
        if key not in ("csrf_token", "lock_version", "switch")
    }
    data: dict = {field: values.get(field, "") for field in FIELDS}
    errors: dict[str, str] = {}
    data[SERVICE_THRESHOLD] = _amount(
        values.get(THRESHOLD, ""),
        THRESHOLD,
        gettext("报市总审批金额"),
        gettext("请填写报市总审批金额（元）"),
        errors,
    )
    amounts: dict = {}
    if data["programme"] in campaigns.CAMPAIGN_PROGRAMMES:
        for key, label in campaigns.categories(db, data["programme"]):
            field = f"standards.{key}"
            amounts[key] = _amount(
                values.get(field, ""),
                field,
                gettext("“%(label)s”的标准", label=label),
                gettext("请填写“%(label)s”的标准（元）", label=label),
                errors,
            )
    data["standards"] = amounts
    return values, data, errors


def _form_page(
    db,
    campaign: Campaign | None,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    message: str = "",
    conflict: str = "",
    lock_version: int | None = None,
    status: int = 200,
):
    errors = errors or {}
    programme = values.get("programme") or ""
    if programme not in campaigns.CAMPAIGN_PROGRAMMES:
        programme = campaign.programme if campaign else campaigns.CAMPAIGN_PROGRAMMES[0]
    tables = [(p, programme_label(p), campaigns.categories(db, p)) for p in labels()["programmes"]]
    shown = {*FIELDS, THRESHOLD}
    shown.update(f"standards.{key}" for p, _, cats in tables if p == programme for key, _ in cats)
    general = [text for key, text in errors.items() if key not in shown]
    return render_template(
        "campaigns/form.html",
        campaign=campaign,
        values=values,
        errors=errors,
        general=general,
        message=message,
        conflict=conflict,
        lock_version=lock_version,
        programme=programme,
        tables=tables,
        labels=labels(),
        threshold=THRESHOLD,
    ), status


def _save(db, campaign: Campaign | None):
    values, data, local = _read_form(db)
    lock_version = None
    if campaign is not None:
        raw = request.form.get("lock_version", "")
        if not raw.isdigit():
            raise ValidationFailed("页面缺少版本信息，请刷新后再改")
        lock_version = int(raw)
    if request.form.get("switch"):  # "show the standards of the chosen programme", no JS
        return _form_page(db, campaign, values, lock_version=lock_version)
    try:
        saved = campaigns.save_campaign(
            db, _user(), data, campaign.id if campaign else None, lock_version
        )
    except ValidationFailed as err:
        errors = {
            (THRESHOLD if key == SERVICE_THRESHOLD else key): text
            for key, text in (err.errors or {}).items()
        }
        errors.update(local)  # the form's own reading of the amounts says it best
        return _form_page(
            db, campaign, values, errors, err.message, lock_version=lock_version, status=422
        )
    except Conflict as err:
        return _form_page(
            db, campaign, values, local, conflict=err.message, lock_version=lock_version, status=409
        )
    flash(gettext("活动“%(name)s”已保存", name=saved.name), "info")
    return redirect(url_for("campaigns.show", campaign_id=saved.id))


@bp.route("/campaigns/new", methods=["GET", "POST"])
@login_required
def new():
    require_manager(_user())
    db = session()
    if request.method == "POST":
        return _save(db, None)
    programme = request.args.get("programme") or campaigns.CAMPAIGN_PROGRAMMES[0]
    if programme not in campaigns.CAMPAIGN_PROGRAMMES:
        programme = campaigns.CAMPAIGN_PROGRAMMES[0]
    return _form_page(db, None, _new_values(programme))


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@login_required
def edit(campaign_id: int):
    require_manager(_user())
    db = session()
    campaign = campaigns.get_campaign(db, _user(), campaign_id)
    if request.method == "POST":
        return _save(db, campaign)
    values = _values_of(campaign)
    chosen = request.args.get("programme")
    if chosen in campaigns.CAMPAIGN_PROGRAMMES:
        values["programme"] = chosen
    return _form_page(db, campaign, values, lock_version=campaign.lock_version)


# --- one campaign: settings, budgets, launch --------------------------------------------------


def _show_page(
    campaign_id: int,
    budget_values: dict[str, str] | None = None,
    budget_errors: dict[str, str] | None = None,
    budget_message: str = "",
    launch_error: str = "",
    status: int = 200,
):
    db, user = session(), _user()
    campaign = campaigns.get_campaign(db, user, campaign_id)
    manager = may_manage(user)
    known = campaigns.standards(campaign)
    standard_rows = [
        (label, known.get(key)) for key, label in campaigns.categories(db, campaign.programme)
    ]
    launch = current_launch(db, campaign_id) if manager else None
    rows = campaigns.budget_rows(db, campaign_id, viewer=user)
    budget_errors = budget_errors or {}
    org_ids = {str(r.org.id) for r in rows}
    return render_template(
        "campaigns/show.html",
        campaign=campaign,
        programme_label=programme_label(campaign.programme),
        labels=labels(),
        standard_rows=standard_rows,
        rows=rows,
        budget_total=sum(r.budget_fen or 0 for r in rows),
        reserved_total=sum(r.reserved_fen for r in rows),
        budget_values=budget_values or {},
        budget_errors=budget_errors,
        budget_general=[t for k, t in budget_errors.items() if k not in org_ids],
        budget_message=budget_message,
        may_manage=manager,
        launchable=campaigns.launchable(campaign),
        launch=launch,
        launch_error=launch_error,
        launch_label=launch_status_label(launch.status) if launch else "",
        launch_message=scrub(launch.message or "") if launch else "",
    ), status


@bp.get("/campaigns/<int:campaign_id>")
@login_required
def show(campaign_id: int):
    return _show_page(campaign_id)


@bp.post("/campaigns/<int:campaign_id>/budgets")
@login_required
def budgets(campaign_id: int):
    user = _user()
    require_manager(user)
    db = session()
    campaign = campaigns.get_campaign(db, user, campaign_id)
    rows = campaigns.budget_rows(db, campaign.id)
    values = {str(r.org.id): request.form.get(str(r.org.id), "").strip() for r in rows}
    given: dict[int, int | str] = {}
    local: dict[str, str] = {}
    for row in rows:
        text = values[str(row.org.id)]
        if text:  # empty: unchanged
            label = gettext("%(org)s的预算", org=row.org.name)
            given[row.org.id] = _amount(text, str(row.org.id), label, "", local)
    if not given:
        flash(gettext("没有填写新的预算，未作修改"), "info")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    try:
        campaigns.set_budgets(db, user, campaign.id, given)
    except ValidationFailed as err:
        errors = dict(err.errors or {})
        errors.update(local)
        return _show_page(
            campaign.id,
            budget_values=values,
            budget_errors=errors,
            budget_message=err.message,
            status=422,
        )
    flash(gettext("预算已保存"), "info")
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))


@bp.post("/campaigns/<int:campaign_id>/launch")
@login_required
def launch(campaign_id: int):
    user = _user()
    require_manager(user)
    db = session()
    try:
        row = campaigns.start_launch(db, user, campaign_id)
    except ValidationFailed as err:
        return _show_page(campaign_id, launch_error=err.message, status=422)
    except Conflict as err:
        return _show_page(campaign_id, launch_error=err.message, status=409)
    jobs.start("launch", campaigns.run_launch, row.id)
    flash(gettext("已开始按档案发起：在档职工 %(total)s 人", total=row.total), "info")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id, _anchor="launch"))


@bp.get("/campaigns/<int:campaign_id>/launch.json")
@login_required
def launch_progress(campaign_id: int):
    user = _user()
    require_manager(user)
    db = session()
    campaigns.get_campaign(db, user, campaign_id)
    row = current_launch(db, campaign_id)
    return jsonify(launch=launch_json(row) if row else None)
