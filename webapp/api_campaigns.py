"""JSON API for campaigns: routes on the api blueprint, documented in openapi_campaigns.py.

The same services as the pages (workflows/campaigns.py); money is integer fen.
"""

from typing import Any

from flask import g, jsonify

from webapp import jobs
from webapp.api import MAX_ID, body, bp, org_json, token_required
from webapp.campaigns import budget_totals, current_launch, launch_json, programme_label
from webapp.database import session
from workflows import campaigns
from workflows.errors import NotFound, ValidationFailed
from workflows.models import Campaign

# What a client may send to create or change a campaign (everything else is ignored).
WRITABLE = (
    "code",
    "name",
    "programme",
    "season",
    "year",
    "aid_kind",
    "goods_name",
    "notice_days",
    "city_approval_threshold_fen",
    "opens_on",
    "closes_on",
    "status",
    "standards",
)


def campaign_json(campaign: Campaign, totals: tuple[int, int] = (0, 0)) -> dict:
    return {
        "id": campaign.id,
        "code": campaign.code,
        "name": campaign.name,
        "programme": campaign.programme,
        "programme_label": programme_label(campaign.programme),
        "season": campaign.season,
        "season_label": campaigns.SEASONS.get(campaign.season, campaign.season),
        "year": campaign.year,
        "aid_kind": campaign.aid_kind,
        "goods_name": campaign.goods_name or "",
        "notice_days": campaign.notice_days,
        "city_approval_threshold_fen": campaign.city_approval_threshold_fen,
        "opens_on": campaign.opens_on.isoformat() if campaign.opens_on else None,
        "closes_on": campaign.closes_on.isoformat() if campaign.closes_on else None,
        "status": campaign.status,
        "launchable": campaigns.launchable(campaign),
        "lock_version": campaign.lock_version,
        "budget_total_fen": totals[0],
        "reserved_total_fen": totals[1],
    }


def _budget_json(row: campaigns.BudgetRow) -> dict:
    return {
        "organisation": org_json(row.org),
        "budget_fen": row.budget_fen,
        "reserved_fen": row.reserved_fen,
        "remaining_fen": row.remaining_fen,
    }


def _detail(db, campaign: Campaign) -> dict:
    rows = campaigns.budget_rows(db, campaign.id, viewer=g.api_user)
    totals = (sum(r.budget_fen or 0 for r in rows), sum(r.reserved_fen for r in rows))
    answer = campaign_json(campaign, totals)
    answer["categories"] = [
        {"value": key, "label": label}
        for key, label in campaigns.categories(db, campaign.programme)
    ]
    answer["standards"] = campaigns.standards(campaign)
    answer["budgets"] = [_budget_json(r) for r in rows]
    manager = g.api_user.has_role("manager")
    launch = current_launch(db, campaign.id) if manager else None
    answer["latest_launch"] = launch_json(launch) if launch else None
    return answer


def _data(payload: dict[str, Any]) -> dict[str, Any]:
    data = {key: payload[key] for key in WRITABLE if key in payload}
    if "standards" in data and not isinstance(data["standards"], dict):
        message = "standards 应为 JSON 对象（类别 → 分）"
        raise ValidationFailed(message, errors={"standards": message})
    return data


def _lock_version(payload: dict[str, Any]) -> int:
    value = payload.get("lock_version")
    if isinstance(value, bool) or not isinstance(value, int):
        message = "请提供读取时的 lock_version（整数）"
        raise ValidationFailed(message, errors={"lock_version": message})
    return value


@bp.get("/campaigns")
@token_required
def campaign_list():
    db = session()
    rows = campaigns.list_campaigns(db, g.api_user)
    totals = budget_totals(db)
    return jsonify(items=[campaign_json(c, totals.get(c.id, (0, 0))) for c in rows])


@bp.post("/campaigns")
@token_required
def campaign_create():
    db = session()
    campaign = campaigns.save_campaign(db, g.api_user, _data(body()))
    return jsonify(_detail(db, campaign)), 201


@bp.get("/campaigns/<int:campaign_id>")
@token_required
def campaign_detail(campaign_id: int):
    db = session()
    return jsonify(_detail(db, campaigns.get_campaign(db, g.api_user, campaign_id)))


@bp.put("/campaigns/<int:campaign_id>")
@token_required
def campaign_update(campaign_id: int):
    db = session()
    payload = body()
    lock_version = _lock_version(payload)
    campaign = campaigns.save_campaign(
        db, g.api_user, _data(payload), campaign_id=campaign_id, lock_version=lock_version
    )
    return jsonify(_detail(db, campaign))


@bp.put("/campaigns/<int:campaign_id>/budgets")
@token_required
def campaign_budgets(campaign_id: int):
    db = session()
    given = body().get("budgets")
    if not isinstance(given, dict):
        message = "budgets 应为 JSON 对象（单位 id → 分）"
        raise ValidationFailed(message, errors={"budgets": message})
    for key in given:  # an id past the database's integer range names no unit
        digits = key.strip().lstrip("+-").lstrip("0")
        if digits.isdigit() and (len(digits) > 10 or int(digits) > MAX_ID):
            raise ValidationFailed("预算有误，请按提示修改", errors={key: "未知的单位"})
    campaigns.set_budgets(db, g.api_user, campaign_id, given)
    return jsonify(_detail(db, campaigns.get_campaign(db, g.api_user, campaign_id)))


@bp.post("/campaigns/<int:campaign_id>/launches")
@token_required
def campaign_launch(campaign_id: int):
    db = session()
    launch = campaigns.start_launch(db, g.api_user, campaign_id)
    jobs.start("launch", campaigns.run_launch, launch.id)
    db.refresh(launch)  # the work has its own session (and, with JOBS_INLINE, is done)
    return jsonify(launch_json(launch)), 202


@bp.get("/campaigns/<int:campaign_id>/launches/<int:launch_id>")
@token_required
def campaign_launch_progress(campaign_id: int, launch_id: int):
    db = session()
    launch = campaigns.get_launch(db, g.api_user, launch_id)
    if launch.campaign_id != campaign_id:
        raise NotFound("发起记录不存在")
    if launch.status == "running":
        current_launch(db, campaign_id)
        db.refresh(launch)
    return jsonify(launch_json(launch))
