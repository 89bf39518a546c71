"""JSON API for reports: routes on the api blueprint, documented in openapi_reports.py.

The same service as the 统计报表 page (workflows/reports.py): money in integer fen, the
caller's scope enforced there (403 outside it)."""

from flask import g, jsonify, request

from webapp.api import _int_arg, bp, org_json, token_required
from webapp.database import session
from webapp.reports import file_answer
from workflows import reports
from workflows.models import Campaign


def campaign_ref(campaign: Campaign) -> dict:
    return {
        "id": campaign.id,
        "code": campaign.code,
        "name": campaign.name,
        "programme": campaign.programme,
        "season": campaign.season,
        "year": campaign.year,
        "aid_kind": campaign.aid_kind,
    }


def _report(campaign_id: int) -> reports.Report:
    org_id = _int_arg("org", 0, 1) or None
    return reports.campaign_report(session(), g.api_user, campaign_id, org_id)


@bp.get("/reports/campaigns/<int:campaign_id>")
@token_required
def report_campaign(campaign_id: int):
    report = _report(campaign_id)
    return jsonify(
        campaign=campaign_ref(report.campaign),
        org=org_json(report.org),
        grouped_by="union" if report.org.level >= 2 else "district",
        category_label=report.category_label,
        total=reports.figures_json(report.total),
        by_district=[reports.figures_json(f) for f in report.by_district],
        by_category=[reports.figures_json(f) for f in report.by_category],
    )


@bp.get("/reports/campaigns/<int:campaign_id>/export")
@token_required
def report_export(campaign_id: int):
    report = _report(campaign_id)
    return file_answer(*reports.export(report, request.args.get("format") or "csv"))
