"""统计报表 (supervisors and managers): campaign figures, charts, CSV/XLSX export.

Rules live in workflows/reports.py (who may report on what, and the figures); these are
the pages for them. The charts are drawn by webapp/static/reports.js with Chart.js served
from /static/vendor (built by `make vendor`); without it the page keeps its tables.
"""

from pathlib import Path

from flask import Blueprint, Response, current_app, render_template, request
from flask_login import current_user, login_required

from webapp.database import session
from webapp.filters import yuan
from workflows import access, campaigns, reports
from workflows.errors import Forbidden, ValidationFailed

bp = Blueprint("reports", __name__)

CHART_BUNDLE = "vendor/chartjs/chart.umd.min.js"


def _charts_installed() -> bool:
    return (Path(current_app.static_folder) / CHART_BUNDLE).is_file()


def _require_reporter() -> None:
    if not reports.may_report(current_user):
        raise Forbidden("无权查看统计报表")


def money(fen: int | None) -> str:
    """Integer fen as 元 text with thousands separators ("1,234.56"), as on every other
    page, or a dash where there is no figure (no budget)."""
    return "—" if fen is None else yuan(fen)


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def _arg_id(name: str) -> int | None:
    value = request.args.get(name, type=int)
    return value if value and value > 0 else None


def _chosen_campaign() -> int:
    campaign_id = _arg_id("campaign")
    if campaign_id is None:
        raise ValidationFailed("请选择活动", errors={"campaign": "请选择活动"})
    return campaign_id


def file_answer(filename: str, content: bytes, mimetype: str) -> Response:
    """A downloaded report: an attachment with its file name, never sniffed or cached."""
    answer = Response(content, content_type=mimetype)
    answer.headers.set("Content-Disposition", "attachment", filename=filename)
    answer.headers["X-Content-Type-Options"] = "nosniff"
    answer.headers["Cache-Control"] = "private, no-store"
    return answer


@bp.get("/reports")
@login_required
def index():
    _require_reporter()
    db = session()
    campaign_list = campaigns.list_campaigns(db, current_user)
    orgs = access.orgs_in_scope(db, current_user)
    campaign_id, org_id = _arg_id("campaign"), _arg_id("org")
    report = None
    if campaign_id is not None:
        report = reports.campaign_report(db, current_user, campaign_id, org_id)
    return render_template(
        "reports/index.html",
        campaigns=campaign_list,
        orgs=orgs,
        top_level=current_user.org.level,
        chosen_campaign=campaign_id,
        chosen_org=report.org.id if report else (org_id or current_user.org_id),
        report=report,
        by_union=report is not None and report.org.level >= 2,
        goods=report is not None and report.campaign.aid_kind == "goods",
        chart=reports.chart_data(report) if report else None,
        charts_installed=_charts_installed(),
        chart_bundle=CHART_BUNDLE,
        money=money,
        percent=percent,
        budget_use=reports.budget_use,
    )


@bp.get("/reports/export.<any(csv, xlsx):fmt>")
@login_required
def export(fmt: str):
    _require_reporter()
    report = reports.campaign_report(session(), current_user, _chosen_campaign(), _arg_id("org"))
    return file_answer(*reports.export(report, fmt))
