"""Campaigns: what a manager sets up (standards per category, budgets per district,
notice period, dates) and the launch that opens one case for every archived worker in
scope (依档帮扶).

A launch runs in the background: `start_launch` records it and `run_launch` works
through the archive in chunks, each chunk one transaction, each worker a savepoint, so
one bad record costs one case and a crash loses at most a chunk, which the next launch
redoes. The per-campaign claim (`grant_claim`) makes launching twice harmless: a worker
who has a case in the campaign is skipped.
"""

import json
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import false, func, insert, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from workflows import access, engine, privacy, serialization
from workflows.audit import record
from workflows.budgets import yuan
from workflows.cases import (
    PROGRAMMES,
    Opening,
    _claim_scope,
    approval_levels_needed,
    initial_data,
    open_case,
    refuse_closed,
    standard_amount,
)
from workflows.clock import now
from workflows.errors import Conflict, Forbidden, NotFound, ValidationFailed, WarmflowError
from workflows.forms import normalise_bank_card
from workflows.models import (
    AuditEvent,
    Campaign,
    CampaignBudget,
    CampaignLaunch,
    Case,
    GrantClaim,
    HardshipRecord,
    HumanTask,
    Organisation,
    ProcessInstance,
    User,
)
from workflows.processes import newest_loaded

log = logging.getLogger(__name__)

SEASONS = {"spring": "春送岗位", "summer": "夏送清凉", "autumn": "秋送助学", "winter": "冬送温暖"}
AID_KINDS = {"cash": "资金（银行卡发放）", "goods": "慰问物资（签收）"}
STATUSES = {"open": "受理中", "closed": "已结束"}
# Programmes a manager may run campaigns for, and which of them can be launched from the
# archive (a tuition grant needs the student's own application).
CAMPAIGN_PROGRAMMES = ("seasonal_aid", "tuition_grant")
LAUNCHABLE = ("seasonal_aid",)
LAUNCH_CHUNK = 200
# Cases opened after which a launch on PostgreSQL gathers the planner's statistics of the
# tables it grew (see `_analyze_grown`).
ANALYZE_AFTER = 1000
# A launch whose thread has not reported for this long is taken as dead (server restart).
STALE_AFTER = timedelta(minutes=2)
MAX_FEN = 100_000_000_00  # one hundred million yuan: a typo guard, not a policy


def _require_manager(user: User) -> None:
    # Campaigns, their standards and every district's budget are the city federation's:
    # a district manager sees them (read-only) like the district's approvers.
    if not (user.has_role("manager") and user.org.parent_id is None):
        raise Forbidden("只有市总工会的管理员可以管理活动")


def may_view(user: User) -> bool:
    return any(user.has_role(r) for r in ("manager", "finance", "approver_l2", "approver_l3"))


def list_campaigns(session: Session, user: User) -> list[Campaign]:
    if not may_view(user):
        raise Forbidden("无权查看活动")
    return list(session.scalars(select(Campaign).order_by(Campaign.year.desc(), Campaign.id)))


def get_campaign(session: Session, user: User, campaign_id: int) -> Campaign:
    if not may_view(user):
        raise Forbidden("无权查看活动")
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("活动不存在")
    return campaign


def categories(session: Session, programme: str) -> list[tuple[str, str]]:
    """(id, label) of the field that picks a campaign's standard amount, from the newest
    deployed version's start form (困难类别 for 四季送, 学历层次 for 金秋助学)."""
    prog = PROGRAMMES[programme]
    version = newest_loaded(session, programme)
    for spec in version.meta.get("start_form", []):
        if spec["id"] == prog.standard_by:
            return [(str(k), str(v)) for k, v in spec.get("options", [])]
    return []


def standards(campaign: Campaign) -> dict[str, int]:
    return {k: int(v) for k, v in json.loads(campaign.standards_json or "{}").items()}


# --- creating and editing -------------------------------------------------------------

_CODE = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")


def payment_kind(programme: str) -> str:
    """What the money of a programme is called: 金秋助学 pays 助学金, 四季送 慰问金."""
    return "助学金" if programme == "tuition_grant" else "慰问金"


def aid_kind_label(campaign: Campaign) -> str:
    """How a campaign gives its aid, in its own words (金秋助学: 助学金, not 慰问金)."""
    if campaign.aid_kind == "cash":
        return f"{payment_kind(campaign.programme)}（银行卡发放）"
    return AID_KINDS.get(campaign.aid_kind, campaign.aid_kind)


def payment_purpose(campaign: Campaign | None) -> str:
    """The 用途 of a payment in the bank file: 2026年金秋助学金, 2026年冬送温暖慰问金."""
    if campaign is None:
        return "帮扶资金"
    kind = payment_kind(campaign.programme)
    name = campaign.name
    return f"{name}金" if kind == "助学金" and name.endswith("助学") else f"{name}{kind}"


def _int(value: Any, field: str, label: str, errors: dict, low: int, high: int) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        errors[field] = f"{label}应为整数"
        return low
    if not low <= number <= high:
        errors[field] = f"{label}应在 {low} 至 {high} 之间"
    return number


def _fen(value: Any, field: str, label: str, errors: dict) -> int:
    """Amounts arrive in fen (an integer): the web form converts yuan with Decimal."""
    if isinstance(value, bool) or isinstance(value, float):
        errors[field] = f"{label}应为整数（分）"
        return 0
    return _int(value, field, label, errors, 0, MAX_FEN)


def _date(value: Any, field: str, label: str, errors: dict) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        errors[field] = f"{label}格式应为 YYYY-MM-DD"
        return None


def save_campaign(
    session: Session,
    user: User,
    data: dict[str, Any],
    campaign_id: int | None = None,
    lock_version: int | None = None,
) -> Campaign:
    """Create a campaign, or change one (`lock_version` as read: a stale edit is a
    Conflict). `standards` maps each category id to fen."""
    _require_manager(user)
    errors: dict[str, str] = {}
    with engine.unit_of_work(session):
        campaign = None
        if campaign_id is not None:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None:
                raise NotFound("活动不存在")
            if lock_version is not None and str(campaign.lock_version) != str(lock_version):
                raise Conflict("该活动已被他人修改，请刷新后再改")
        programme = str(data.get("programme") or (campaign.programme if campaign else ""))
        if programme not in CAMPAIGN_PROGRAMMES:
            errors["programme"] = "请选择业务类型"
        code = str(data.get("code") or (campaign.code if campaign else "")).strip().lower()
        if not _CODE.match(code):
            errors["code"] = "活动代码为 2 至 40 位小写字母、数字、下划线或连字符，以字母开头"
        else:
            other = session.scalars(select(Campaign).where(Campaign.code == code)).first()
            if other is not None and other is not campaign:
                errors["code"] = f"活动代码“{code}”已被“{other.name}”使用"
        name = str(data.get("name") or "").strip()
        if not name:
            errors["name"] = "请填写活动名称"
        elif len(name) > 100:
            errors["name"] = "活动名称不超过 100 字"
        season = str(data.get("season") or "")
        if season not in SEASONS:
            errors["season"] = "请选择季节"
        year = _int(data.get("year"), "year", "年度", errors, 2000, 2100)
        aid_kind = str(data.get("aid_kind") or "cash")
        if aid_kind not in AID_KINDS:
            errors["aid_kind"] = "请选择发放方式"
        elif aid_kind == "goods" and programme == "tuition_grant":
            errors["aid_kind"] = "金秋助学只能以助学金方式发放"
        goods_name = str(data.get("goods_name") or "").strip()[:100]
        if aid_kind == "goods" and not goods_name:
            errors["goods_name"] = "请填写发放的物资名称"
        notice_days = _int(data.get("notice_days", 5), "notice_days", "公示期", errors, 1, 30)
        threshold = _fen(
            data.get("city_approval_threshold_fen", 0),
            "city_approval_threshold_fen",
            "报市总审批的金额",
            errors,
        )
        opens_on = _date(data.get("opens_on"), "opens_on", "受理开始日期", errors)
        closes_on = _date(data.get("closes_on"), "closes_on", "受理截止日期", errors)
        if opens_on and closes_on and closes_on < opens_on:
            errors["closes_on"] = "截止日期不能早于开始日期"
        status = str(data.get("status") or "open")
        if status not in STATUSES:
            errors["status"] = "状态应为受理中或已结束"
        amounts: dict[str, int] = {}
        if programme in CAMPAIGN_PROGRAMMES:
            given = data.get("standards") or {}
            if not isinstance(given, dict):
                given = {}
            for key, label in categories(session, programme):
                value = given.get(key)
                if value in (None, ""):
                    errors[f"standards.{key}"] = f"请填写“{label}”的标准（分）"
                    continue
                amounts[key] = _fen(value, f"standards.{key}", f"“{label}”的标准", errors)
            unknown = sorted(set(given) - set(amounts) - {k.split(".", 1)[-1] for k in errors})
            if unknown:
                errors["standards"] = "未知的类别：" + "、".join(map(str, unknown))
        if errors:
            raise ValidationFailed("活动信息有误，请按提示修改", errors=errors)
        if campaign is None:
            campaign = Campaign(code=code, programme=programme, owner_org_id=user.org_id)
            session.add(campaign)
            action = "campaign.create"
        else:
            if programme != campaign.programme and _has_cases(session, campaign):
                raise ValidationFailed(
                    "活动已有案件，不能更改业务类型", errors={"programme": "已有案件"}
                )
            campaign.programme = programme
            action = "campaign.update"
        campaign.code = code
        campaign.name = name
        campaign.season = season
        campaign.year = year
        campaign.aid_kind = aid_kind
        campaign.goods_name = goods_name if aid_kind == "goods" else ""
        campaign.notice_days = notice_days
        campaign.city_approval_threshold_fen = threshold
        campaign.opens_on = opens_on
        campaign.closes_on = closes_on
        campaign.status = status
        campaign.standards_json = json.dumps(amounts, sort_keys=True)
        session.flush()
        record(session, user.id, None, action, f"活动“{name}”", campaign_id=campaign.id)
    return campaign


def _has_cases(session: Session, campaign: Campaign) -> bool:
    return session.scalar(select(func.count(Case.id)).where(Case.campaign_id == campaign.id)) > 0


# --- budgets --------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetRow:
    org: Organisation
    budget_fen: int | None
    reserved_fen: int
    lock_version: int

    @property
    def remaining_fen(self) -> int | None:
        return None if self.budget_fen is None else self.budget_fen - self.reserved_fen


def budget_rows(session: Session, campaign_id: int, viewer: User | None = None) -> list[BudgetRow]:
    """Every district federation, with its budget for the campaign (None if not set); for
    a `viewer` below the city federation, its own district's row only (its subtree)."""
    budgets = {
        b.org_id: b
        for b in session.scalars(
            select(CampaignBudget).where(CampaignBudget.campaign_id == campaign_id)
        )
    }
    rows = []
    districts = select(Organisation).where(Organisation.level == 2)
    if viewer is not None and viewer.org.parent_id is not None:
        districts = districts.where(Organisation.id == access.org_at_level(viewer.org, 2))
    for org in session.scalars(districts.order_by(Organisation.path)):
        b = budgets.get(org.id)
        rows.append(
            BudgetRow(
                org,
                b.budget_fen if b else None,
                b.reserved_fen if b else 0,
                b.lock_version if b else 0,
            )
        )
    return rows


def set_budgets(
    session: Session, user: User, campaign_id: int, budgets: dict[int, Any]
) -> list[BudgetRow]:
    """Set district budgets ({org id: fen}); a budget never goes below what approved
    cases already hold."""
    _require_manager(user)
    errors: dict[str, str] = {}
    with engine.unit_of_work(session):
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise NotFound("活动不存在")
        for raw_org, value in budgets.items():
            try:
                org_id = int(raw_org)
            except (TypeError, ValueError):
                errors[str(raw_org)] = "未知的单位"
                continue
            org = session.get(Organisation, org_id)
            if org is None or org.level != 2:
                errors[str(raw_org)] = "预算只能按县（区）总工会设置"
                continue
            if value in (None, ""):
                continue
            fen = _fen(value, str(org_id), f"{org.name}的预算", errors)
            if str(org_id) in errors:
                continue
            budget = session.scalars(
                select(CampaignBudget)
                .where(CampaignBudget.campaign_id == campaign_id, CampaignBudget.org_id == org_id)
                .with_for_update()
            ).first()
            if budget is None:
                session.add(CampaignBudget(campaign_id=campaign_id, org_id=org_id, budget_fen=fen))
            else:
                if fen < budget.reserved_fen:
                    errors[str(org_id)] = (
                        f"{org.name}已占用 {yuan(budget.reserved_fen)} 元，预算不能低于此数"
                    )
                    continue
                budget.budget_fen = fen
            record(
                session,
                user.id,
                None,
                "budget.set",
                f"{campaign.name} {org.name} 预算 {yuan(fen)} 元",
                campaign_id=campaign_id,
                org_id=org_id,
                budget_fen=fen,
            )
        if errors:
            raise ValidationFailed("预算有误，请按提示修改", errors=errors)
    return budget_rows(session, campaign_id)


# --- launching from the archive -------------------------------------------------------


def launchable(campaign: Campaign) -> bool:
    return campaign.programme in LAUNCHABLE


def _scope_orgs(session: Session, user: User) -> list[int]:
    return [o.id for o in access.orgs_in_scope(session, user)]


def _workers(session: Session, org_ids: list[int]):
    return (
        select(HardshipRecord)
        .where(HardshipRecord.status == "archived", HardshipRecord.org_id.in_(org_ids))
        .order_by(HardshipRecord.id)
    )


def running_launch(session: Session, campaign_id: int) -> CampaignLaunch | None:
    row = session.scalars(
        select(CampaignLaunch)
        .where(CampaignLaunch.campaign_id == campaign_id, CampaignLaunch.status == "running")
        .order_by(CampaignLaunch.id.desc())
    ).first()
    if row is not None and now() - row.heartbeat_at > STALE_AFTER:
        row.status = "failed"
        row.message = "发起中断（服务重启？），可再次发起，已建案件不会重复"
        row.finished_at = now()
        return None
    return row


def start_launch(session: Session, user: User, campaign_id: int) -> CampaignLaunch:
    """Record a launch for every archived worker in the manager's scope; `run_launch`
    does the work (in a background thread in the web app)."""
    _require_manager(user)
    with engine.unit_of_work(session):
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise NotFound("活动不存在")
        if not launchable(campaign):
            raise ValidationFailed(
                f"{PROGRAMMES[campaign.programme].label}需由本人申请，不能按档案批量发起"
            )
        refuse_closed(campaign)
        if running_launch(session, campaign_id) is not None:
            raise Conflict("该活动正在发起中，请等待完成")
        total = session.scalar(
            select(func.count()).select_from(
                _workers(session, _scope_orgs(session, user)).subquery()
            )
        )
        launch = CampaignLaunch(
            campaign_id=campaign_id, org_id=user.org_id, started_by_id=user.id, total=total
        )
        session.add(launch)
        session.flush()
        record(
            session,
            user.id,
            None,
            "campaign.launch",
            f"按档案发起“{campaign.name}”：在档职工 {total} 人",
            campaign_id=campaign_id,
            launch_id=launch.id,
        )
    return launch


def get_launch(session: Session, user: User, launch_id: int) -> CampaignLaunch:
    _require_manager(user)
    launch = session.get(CampaignLaunch, launch_id)
    if launch is None:
        raise NotFound("发起记录不存在")
    return launch


def latest_launch(session: Session, campaign_id: int) -> CampaignLaunch | None:
    return session.scalars(
        select(CampaignLaunch)
        .where(CampaignLaunch.campaign_id == campaign_id)
        .order_by(CampaignLaunch.id.desc())
    ).first()


def _application(worker: HardshipRecord, campaign: Campaign) -> dict[str, Any]:
    data = {
        "worker_name": worker.worker_name,
        "hardship_category": worker.category,
        "account_name": worker.account_name,
        "phone": worker.phone,
        "bank_card": worker.bank_card,
        "launched_from_archive": worker.id,
    }
    if campaign.aid_kind == "cash":
        if not worker.account_name:
            raise ValidationFailed("档案缺少开户名")
        try:
            data["bank_card"] = normalise_bank_card(worker.bank_card)
        except ValueError:
            raise ValidationFailed("档案中的银行卡号无效或缺失") from None
    return data


def run_launch(factory: sessionmaker, launch_id: int, chunk: int = LAUNCH_CHUNK) -> None:
    """Open the launch's cases, `chunk` workers per transaction, updating its progress.
    Never raises: a failure ends up in the launch row for the page to show."""
    with factory() as session:
        try:
            _run(session, session.get(CampaignLaunch, launch_id), chunk)
        except Exception as err:  # noqa: BLE001 - the page shows it; the log keeps the trace
            log.exception("campaign launch %s failed", launch_id)
            session.rollback()
            message = err.message if isinstance(err, WarmflowError) else "发起失败，请联系管理员"
            _mark_failed(factory, launch_id, f"{message}（已建案件保留，可再次发起）")


def _mark_failed(factory: sessionmaker, launch_id: int, message: str) -> None:
    """Leave no launch "running" after a failure; if even this cannot be written (the
    database is gone), the page calls the launch interrupted once its heartbeat is stale."""
    try:
        with factory() as session:
            launch = session.get(CampaignLaunch, launch_id)
            launch.status = "failed"
            launch.message = message[:500]
            launch.finished_at = now()
            session.commit()
    except Exception:  # noqa: BLE001 - logged; the stale heartbeat covers it
        log.exception("campaign launch %s: could not record its failure", launch_id)


def _run(session: Session, launch: CampaignLaunch, chunk: int) -> None:
    campaign = session.get(Campaign, launch.campaign_id)
    actor = session.get(User, launch.started_by_id)
    prog = PROGRAMMES[campaign.programme]
    opening = Opening.latest(session, prog, campaign)
    scope = _claim_scope(prog, campaign)
    org_ids = _scope_orgs(session, actor)
    orgs = {
        o.id: o for o in session.scalars(select(Organisation).where(Organisation.id.in_(org_ids)))
    }
    problems: dict[str, int] = {}
    templates: dict[str, _Template | None] = {}
    # The ids first, then the records a chunk at a time by id: a planner without fresh
    # statistics could otherwise scan the whole archive again for every chunk.
    ids = list(session.scalars(_workers(session, org_ids).with_only_columns(HardshipRecord.id)))
    for start in range(0, len(ids), chunk):
        # By primary key alone (the status is checked here): with the status in the
        # query, a planner without statistics of a freshly imported archive read every
        # archived record for each chunk.
        workers = [
            worker
            for worker in session.scalars(
                select(HardshipRecord)
                .where(HardshipRecord.id.in_(ids[start : start + chunk]))
                .order_by(HardshipRecord.id)
            )
            if worker.status == "archived"  # not left since the ids were read
        ]
        claimed = _claimed(session, scope, [w.subject_key for w in workers])
        fresh = []
        skipped = 0
        for worker in workers:
            if worker.subject_key in claimed:
                skipped += 1
            else:
                fresh.append(worker)
                claimed.add(worker.subject_key)
        created, failed = _open_chunk(
            session, actor, orgs, opening, campaign, fresh, templates, problems
        )
        launch.created += created
        launch.skipped += skipped
        launch.failed += failed
        launch.heartbeat_at = now()
        launch.message = _problem_text(problems)
        session.commit()
    launch.status = "done"
    launch.finished_at = now()
    if launch.created >= ANALYZE_AFTER:
        _analyze_grown(session)
    record(
        session,
        actor.id,
        None,
        "campaign.launched",
        f"“{campaign.name}”发起完成：新建 {launch.created}，已有 {launch.skipped}，"
        f"未能发起 {launch.failed}",
        campaign_id=campaign.id,
        launch_id=launch.id,
    )
    session.commit()


def _analyze_grown(session: Session) -> None:
    """The planner's statistics of the tables a launch just grew by thousands of rows that
    every later action leans on, on PostgreSQL (as its manual advises after a bulk load):
    the case and instance tables, which each audit row, task and payment checks its
    foreign key against, and the task table the lists read. Plans a pooled connection
    made while they were small stay in its cache until then: after a first launch the
    foreign-key check of every audit row scanned the whole case table, and the bank
    deliveries went at half speed. Autovacuum comes to it only later (a minute or so), and
    never for a launch that adds less than a tenth to a large table. About 0.6 s for
    20,000 cases here (grant_claim and audit_event, which nothing checks against, are left
    to autovacuum). SQLite is left as it is: it keeps no statistics unless asked, and its
    plans for these tables are the ones bench/tasklist.py measured without."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in (Case, ProcessInstance, HumanTask):
        session.execute(sql_text(f'ANALYZE "{table.__tablename__}"'))


# LATERAL with LIMIT: the lookup stays a probe of the unique index per key, whatever the
# planner believes of a grant_claim that the launch itself is filling.
_CLAIMED_PG = sql_text(
    "SELECT c.subject_key FROM unnest(CAST(:keys AS varchar[])) AS k(key) "
    "CROSS JOIN LATERAL (SELECT g.subject_key FROM grant_claim g "
    "WHERE g.programme = :programme AND g.year = :year AND g.subject_key = k.key "
    "LIMIT 1) AS c"
)


def _claimed(session: Session, scope: tuple[str, int], keys: list[str]) -> set[str]:
    """Which of `keys` already have a claim in `scope`. On PostgreSQL one probe of the
    unique index per key: the plain IN list, while the launch itself filled a grant_claim
    not yet analysed, was planned as a read of every claim of the year (a 100,000-case
    launch slowed to 640/s, each chunk reading all the claims made before it)."""
    if session.get_bind().dialect.name == "postgresql":
        found = session.execute(
            _CLAIMED_PG, {"keys": keys, "programme": scope[0], "year": scope[1]}
        )
        return {row[0] for row in found}
    query = select(GrantClaim.subject_key).where(
        GrantClaim.programme == scope[0],
        GrantClaim.year == scope[1],
        GrantClaim.subject_key.in_(keys),
    )
    return set(session.scalars(query))


def _problem_text(problems: dict[str, int]) -> str:
    text = "；".join(f"{message} {count} 人" for message, count in problems.items())
    return text[:500]


# --- opening many cases at once -------------------------------------------------------
#
# Cases launched together differ only in who they are for: the diagram runs the same way
# for every worker of a category up to its first wait (level-1 approval). So the engine
# runs once per category with placeholder values for the personal fields, and each case
# gets a copy of that state with its own values and fresh task ids, written in bulk.
# This is only done when no script, condition, timer or due date of the diagrams reads
# those fields, and nothing was asked of the services (no effects) before the first
# wait; otherwise each case runs through the engine on its own (`open_case`).

PERSONAL_FIELDS = (
    "worker_name",
    "account_name",
    "bank_card",
    "phone",
    "case_no",
    "launched_from_archive",
)
_UUID_SPLIT = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


def fresh_uuids(n: int) -> list[str]:
    """`n` random (version 4) UUIDs as text, drawn together: `str(uuid4())` one at a time
    cost a launch about a tenth of its time (some twenty per case)."""
    raw = bytearray(os.urandom(16 * n))
    raw[6::16] = bytes((b & 0x0F) | 0x40 for b in raw[6::16])  # version 4
    raw[8::16] = bytes((b & 0x3F) | 0x80 for b in raw[8::16])  # RFC 4122 variant
    h = raw.hex()
    return [
        "-".join(
            (
                h[i : i + 8],
                h[i + 8 : i + 12],
                h[i + 12 : i + 16],
                h[i + 16 : i + 20],
                h[i + 20 : i + 32],
            )
        )
        for i in range(0, 32 * n, 32)
    ]


def _placeholder(name: str) -> str:
    return f"\x00warmflow:{name}\x00"


@dataclass
class _Template:
    text: str  # the state as JSON text, placeholders in it
    tasks: list[dict]
    next_timer_at: Any
    warning: str
    amount: int
    # The text split at its task ids (odd items are ids; an id occurs many times), so a
    # copy only draws a fresh id per distinct one and joins.
    pieces: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pieces = _UUID_SPLIT.split(self.text)
        self.ids = sorted(set(self.pieces[1::2]))

    def copy_text(self) -> tuple[str, dict[str, str]]:
        fresh = dict(zip(self.ids, fresh_uuids(len(self.ids)), strict=True))
        pieces = list(self.pieces)
        pieces[1::2] = [fresh[old] for old in pieces[1::2]]
        return "".join(pieces), fresh


def _reads_personal_fields(opening: Opening) -> bool:
    import ast

    for source in engine.expression_sources([opening.version, *opening.called.values()]):
        try:
            tree = ast.parse(source.strip())
        except SyntaxError:
            return True
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        if names & set(PERSONAL_FIELDS):
            return True
    return False


def _make_template(
    session: Session, opening: Opening, campaign: Campaign, category: str, org: Organisation
) -> _Template | None:
    if _reads_personal_fields(opening):
        return None
    data = {name: _placeholder(name) for name in PERSONAL_FIELDS}
    data["hardship_category"] = category
    try:
        amount = standard_amount(campaign, opening.prog, data)
    except ValidationFailed:
        return None  # each case will be refused with the message, one by one
    stub = Case(case_no="launch-template", org_id=org.id, programme=opening.prog.process_id)
    stub.org = org
    loaded = engine.Loaded(
        None,
        stub,
        opening.version,
        opening.called,
        engine.new_workflow(opening.version, opening.called),
    )
    try:
        ran = engine.first_wait(
            session,
            loaded,
            initial_data(opening.prog, campaign, data, amount, _placeholder("case_no")),
        )
    except WarmflowError:
        return None
    if ran.effects or ran.workflow.is_completed() or not ran.tasks:
        return None
    text = serialization.state_text(ran.workflow)
    for name in PERSONAL_FIELDS:
        # Each placeholder must appear only as a whole value: a script that built another
        # value from it would be copied wrongly.
        quoted = json.dumps(_placeholder(name), ensure_ascii=False)
        if text.count(quoted[1:-1]) != text.count(quoted):
            return None
    return _Template(text, ran.tasks, ran.next_timer_at, (ran.warnings or [""])[-1][:300], amount)


def _open_chunk(session, actor, orgs, opening, campaign, workers, templates, problems):
    """Open cases for `workers` (none of whom has a claim yet). Returns (created, failed)."""
    created = failed = 0
    fast: list[tuple[HardshipRecord, dict, _Template]] = []
    slow: list[HardshipRecord] = []
    for worker in workers:
        unit = orgs[worker.org_id]
        if unit.closed_at is not None:  # 撤销: no new case, whichever path would open it
            message = f"{unit.name}已撤销，不能再登记新的申请"
            failed += 1
            problems[message] = problems.get(message, 0) + 1
            continue
        try:
            data = _application(worker, campaign)
        except ValidationFailed as err:
            failed += 1
            problems[err.message] = problems.get(err.message, 0) + 1
            continue
        if worker.category not in templates:
            templates[worker.category] = _make_template(
                session, opening, campaign, worker.category, orgs[worker.org_id]
            )
        template = templates[worker.category]
        if template is None:
            slow.append(worker)
        else:
            fast.append((worker, data, template))
    if fast:
        try:
            with session.begin_nested():
                _write_copies(session, actor, orgs, opening, campaign, fast)
            created += len(fast)
        except IntegrityError:
            # Someone applied for one of these workers meanwhile: go one by one.
            slow.extend(worker for worker, _data, _template in fast)
    for worker in slow:
        try:
            with session.begin_nested():
                open_case(
                    session,
                    actor,
                    orgs[worker.org_id],
                    opening,
                    _application(worker, campaign),
                    worker.subject_key,
                    worker.subject_id_masked,
                )
            created += 1
        except WarmflowError as err:
            failed += 1
            problems[err.message] = problems.get(err.message, 0) + 1
    return created, failed


class _Copier:
    """PostgreSQL's bulk path for a launch: ids drawn from the sequences in one query and
    rows sent by COPY through psycopg, in the session's transaction (and savepoint).
    COPY fills in no Python-side column defaults, so each row is completed with them."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.raw = session.connection().connection.driver_connection

    def ids(self, table, count: int) -> list[int]:
        sequence = sql_text(
            "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"
        )
        quoted = f'"{table.name}"'
        return sorted(self.session.scalars(sequence, {"t": quoted, "n": count}))

    def write(self, table, rows: list[dict]) -> None:
        if not rows:
            return
        given = set(rows[0])
        columns = [c for c in table.columns if c.name in given or c.default is not None]
        defaults = {
            c.name: c.default for c in columns if c.name not in given and c.default is not None
        }
        names = ", ".join(f'"{c.name}"' for c in columns)
        try:
            with self.raw.cursor() as cursor:
                with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
                    for row in rows:
                        copy.write_row(
                            [
                                row[c.name] if c.name in row else _default(defaults[c.name])
                                for c in columns
                            ]
                        )
        except self._integrity as err:  # a concurrent claim: the caller goes one by one
            raise IntegrityError(f"COPY {table.name}", None, err) from err

    @property
    def _integrity(self):
        import psycopg

        return psycopg.IntegrityError


def _default(default):
    if default.is_scalar:
        return default.arg
    return default.arg(None)  # SQLAlchemy wraps plain callables (now) to take a context


class _SqliteCopier:
    """SQLite's bulk path for a launch, as `_Copier` on PostgreSQL: ids counted on from
    the table's largest, under the database's write lock (taken first by a write that
    changes nothing: no other connection inserts until this transaction ends), so the
    rows go in with their ids and case numbers in one executemany each, with no
    RETURNING (which SQLite would answer one row at a time, in order)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def ids(self, table, count: int) -> list[int]:
        self.session.execute(update(table).where(false()).values({table.c.id: table.c.id}))
        top = self.session.scalar(select(func.max(table.c.id))) or 0
        return list(range(top + 1, top + 1 + count))

    def write(self, table, rows: list[dict]) -> None:
        if rows:
            self.session.execute(insert(table), rows)


def _copier(session: Session) -> "_Copier | _SqliteCopier":
    if session.get_bind().dialect.name == "postgresql":
        return _Copier(session)
    return _SqliteCopier(session)


def _write_copies(session, actor, orgs, opening, campaign, fast) -> None:
    """Write a chunk of template copies in bulk: executemany on SQLite, COPY on PostgreSQL
    (ids drawn first, so the case numbers go in with the rows)."""
    prog, version = opening.prog, opening.version
    scope = _claim_scope(prog, campaign)
    at = now()
    copier = _copier(session)
    case_rows = [
        dict(
            programme=prog.process_id,
            campaign_id=campaign.id,
            org_id=worker.org_id,
            applicant_name=worker.worker_name,
            subject_key=worker.subject_key,
            subject_id_masked=worker.subject_id_masked,
            amount_fen=template.amount,
            approval_levels=approval_levels_needed(campaign, template.amount),
            category=worker.category,
            created_by_id=actor.id,
            created_at=at,
        )
        for worker, _data, template in fast
    ]

    def number(case_id: int) -> str:
        return f"{prog.case_prefix}{campaign.year}{case_id:06d}"

    case_ids = copier.ids(Case.__table__, len(fast))
    for row, case_id in zip(case_rows, case_ids, strict=True):
        row.update(id=case_id, case_no=number(case_id))
    copier.write(Case.__table__, case_rows)
    numbers = [number(case_id) for case_id in case_ids]
    claim_rows = [
        dict(programme=scope[0], year=scope[1], subject_key=worker.subject_key, case_id=i)
        for (worker, _data, _template), i in zip(fast, case_ids, strict=True)
    ]
    copier.write(GrantClaim.__table__, claim_rows)
    pins = json.dumps({pid: v.id for pid, v in opening.called.items()})
    states, task_rows = [], []
    quoted = {name: serialization.dumps(_placeholder(name)) for name in PERSONAL_FIELDS}
    for (_worker, data, template), case_no in zip(fast, numbers, strict=True):
        text_, fresh = template.copy_text()
        values = dict(data, case_no=case_no)
        for name in PERSONAL_FIELDS:
            text_ = text_.replace(quoted[name], serialization.dumps(values.get(name, "")))
        states.append(serialization.compress(text_, level=1))
        task_rows.append(
            [dict(t, task_uuid=fresh.get(t["task_uuid"], t["task_uuid"])) for t in template.tasks]
        )
    instance_rows = [
        dict(
            case_id=case_id,
            version_id=version.id,
            subprocess_versions=pins,
            state=state,
            next_timer_at=template.next_timer_at,
            calendar_warning=template.warning,
            updated_at=at,
        )
        for (_w, _d, template), case_id, state in zip(fast, case_ids, states, strict=True)
    ]
    instance_ids = copier.ids(ProcessInstance.__table__, len(fast))
    for row, instance_id in zip(instance_rows, instance_ids, strict=True):
        row["id"] = instance_id
    copier.write(ProcessInstance.__table__, instance_rows)
    human_rows = [
        dict(
            instance_id=instance_id,
            case_id=case_id,
            task_uuid=t["task_uuid"],
            process_id=t["process_id"],
            programme=prog.process_id,
            element_id=t["element_id"],
            name=t["name"],
            candidate_group=t["candidate_group"],
            org_id=access.task_org_id(orgs[worker.org_id], t["candidate_group"]),
            due_at=t["due_at"],
            created_at=at,
        )
        for (worker, _d, _t), case_id, instance_id, rows in zip(
            fast, case_ids, instance_ids, task_rows, strict=True
        )
        for t in rows
    ]
    detail = json.dumps(
        {"programme": prog.process_id, "version": version.number, "launch": True},
        ensure_ascii=False,
    )
    audit_rows = [
        dict(
            actor_id=actor.id,
            case_id=case_id,
            action="case.start",
            summary=f"按档案发起{prog.label}：{privacy.mask_name(worker.worker_name)}",
            detail=detail,
            at=at,
        )
        for (worker, _d, _t), case_id in zip(fast, case_ids, strict=True)
    ]
    copier.write(HumanTask.__table__, human_rows)
    copier.write(AuditEvent.__table__, audit_rows)


# --- goods: the quantity signed for ---------------------------------------------------


def _goods_quantity(session: Session, loaded: engine.Loaded) -> None:
    case = loaded.case
    if case.outcome != "end_goods":
        return
    try:
        case.goods_quantity = int(engine.closing_data(loaded).get("goods_quantity") or 0)
    except (TypeError, ValueError):
        case.goods_quantity = 0


engine.CLOSE_HOOKS.append(_goods_quantity)
