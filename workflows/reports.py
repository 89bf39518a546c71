"""Campaign reports: people helped and money paid, pending and failed, by district and by
category, with need against budget. Figures come straight from `case` and `payment` (a
test holds them equal to the payments table), summed in the database.
"""

from dataclasses import dataclass, field, fields

from sqlalchemy import case as when
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflows import access, campaigns, tabular
from workflows.cases import PROGRAMMES
from workflows.errors import Forbidden, NotFound, ValidationFailed
from workflows.models import Campaign, CampaignBudget, Case, Organisation, Payment, User
from workflows.processes import newest_loaded

HELPED = ("end_paid", "end_goods")
REPORT_ROLES = ("manager", "finance", "approver_l2", "approver_l3")


def may_report(user: User) -> bool:
    return any(user.has_role(r) for r in REPORT_ROLES)


@dataclass
class Figures:
    key: str
    label: str
    cases: int = 0  # cases opened (cancelled ones left out)
    helped: int = 0  # paid or goods signed for
    paid_count: int = 0
    paid_fen: int = 0
    pending_count: int = 0  # payable or with the bank
    pending_fen: int = 0
    failed_count: int = 0  # failed, waiting for the card to be corrected
    failed_fen: int = 0
    goods_quantity: int = 0
    need_fen: int = 0  # the standard amounts of cases running or helped
    budget_fen: int | None = None
    reserved_fen: int | None = None

    def add(self, other: "Figures") -> None:
        for f in fields(self):
            if f.name in ("key", "label"):
                continue
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if theirs is None:
                continue
            setattr(self, f.name, (mine or 0) + theirs)


@dataclass
class Report:
    campaign: Campaign
    org: Organisation
    by_district: list[Figures] = field(default_factory=list)
    by_category: list[Figures] = field(default_factory=list)
    total: Figures | None = None
    # What the categories are: the label of the start form's field that picks the
    # standard amount (学历层次 for 金秋助学, 困难类别 for 四季送), as the diagram names it.
    category_label: str = "类别"


def category_label(session: Session, programme: str) -> str:
    prog = PROGRAMMES.get(programme)
    if prog is None or not prog.standard_by:
        return "类别"
    version = newest_loaded(session, programme)
    for spec in version.meta.get("start_form", []):
        if spec["id"] == prog.standard_by:
            return spec.get("label") or "类别"
    return "类别"


def budget_use(part: int, budget: int | None) -> float | None:
    """`part` as a percentage of `budget` (one decimal), or None without a budget."""
    if not budget:
        return None
    return round(part * 1000 / budget) / 10


def campaign_report(
    session: Session, user: User, campaign_id: int, org_id: int | None = None
) -> Report:
    """The report for a campaign over an organisation's subtree (the user's own by
    default; it must lie within the user's)."""
    if not may_report(user):
        raise Forbidden("无权查看统计报表")
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("活动不存在")
    org = session.get(Organisation, org_id) if org_id else user.org
    if org is None:
        raise NotFound("单位不存在")
    if not access.in_subtree(user, org):
        raise Forbidden("无权查看该单位的报表")
    orgs = {
        o.id: o
        for o in session.scalars(select(Organisation).where(Organisation.path.startswith(org.path)))
    }
    # Rows group by the district federation (level 2) or, inside one, by union (level 3).
    group_level = 2 if org.level < 2 else 3

    def group_of(org_id: int) -> Organisation:
        node = orgs[org_id]
        ids = node.ancestor_ids()
        return orgs.get(ids[min(group_level, len(ids)) - 1], node)

    budget = None
    labels = dict(campaigns.categories(session, campaign.programme))
    districts: dict[int, Figures] = {}
    categories: dict[str, Figures] = {}

    def rows_for(org_id: int, category: str) -> tuple[Figures, Figures]:
        group = group_of(org_id)
        d = districts.setdefault(group.id, Figures(str(group.id), group.name))
        c = categories.setdefault(
            category, Figures(category, labels.get(category, category or "—"))
        )
        return d, c

    in_scope = Case.org_id.in_(list(orgs))
    case_rows = session.execute(
        select(
            Case.org_id,
            Case.category,
            func.count(),
            func.sum(when((Case.outcome.in_(HELPED), 1), else_=0)),
            func.sum(Case.goods_quantity),
            func.sum(
                when(
                    (Case.status == "running", Case.amount_fen),
                    (Case.outcome.in_(HELPED), Case.amount_fen),
                    else_=0,
                )
            ),
        )
        .where(Case.campaign_id == campaign.id, in_scope, Case.status != "cancelled")
        .group_by(Case.org_id, Case.category)
    )
    for org_id, category, count, helped, goods, need in case_rows:
        for target in rows_for(org_id, category or ""):
            target.cases += count
            target.helped += int(helped or 0)
            target.goods_quantity += int(goods or 0)
            target.need_fen += int(need or 0)
    payment_rows = session.execute(
        select(
            Case.org_id, Case.category, Payment.status, func.count(), func.sum(Payment.amount_fen)
        )
        .join(Case, Case.id == Payment.case_id)
        .where(Payment.campaign_id == campaign.id, in_scope)
        .group_by(Case.org_id, Case.category, Payment.status)
    )
    for org_id, category, status, count, total in payment_rows:
        total = int(total or 0)
        for target in rows_for(org_id, category or ""):
            if status == "paid":
                target.paid_count += count
                target.paid_fen += total
            elif status in ("payable", "in_batch"):
                target.pending_count += count
                target.pending_fen += total
            elif status == "failed":
                target.failed_count += count
                target.failed_fen += total
    if group_level == 2:
        for budget in session.scalars(
            select(CampaignBudget).where(
                CampaignBudget.campaign_id == campaign.id, CampaignBudget.org_id.in_(list(orgs))
            )
        ):
            group = orgs[budget.org_id]
            d = districts.setdefault(group.id, Figures(str(group.id), group.name))
            d.budget_fen, d.reserved_fen = budget.budget_fen, budget.reserved_fen
    elif org.level == 2:
        budget = session.scalars(
            select(CampaignBudget).where(
                CampaignBudget.campaign_id == campaign.id, CampaignBudget.org_id == org.id
            )
        ).first()
    report = Report(campaign, org, category_label=category_label(session, campaign.programme))
    report.by_district = sorted(districts.values(), key=lambda f: orgs[int(f.key)].path)
    order = list(labels)
    report.by_category = sorted(
        categories.values(), key=lambda f: (order.index(f.key) if f.key in order else 99, f.key)
    )
    total = Figures("total", "合计")
    for row in report.by_district:
        total.add(row)
    if group_level == 3 and org.level == 2 and budget is not None:
        total.budget_fen, total.reserved_fen = budget.budget_fen, budget.reserved_fen
    report.total = total
    return report


_C, _N, _M = tabular.Column, tabular.INTEGER, tabular.MONEY
EXPORT_COLUMNS = [
    _C("分组"),
    _C("名称"),
    _C("案件数", _N),
    _C("受助人数", _N),
    _C("已发放笔数", _N),
    _C("已发放金额（元）", _M),
    _C("待发放笔数", _N),
    _C("待发放金额（元）", _M),
    _C("发放失败笔数", _N),
    _C("发放失败金额（元）", _M),
    _C("物资数量", _N),
    _C("需求金额（元）", _M),
    _C("预算（元）", _M),
    _C("已占用预算（元）", _M),
]
EXPORT_HEADER = [c.title for c in EXPORT_COLUMNS]


def export_values(report: Report) -> list[list]:
    """The export's rows as values (money in fen, None where there is no figure)."""

    def row(kind: str, f: Figures) -> list:
        return [
            kind,
            f.label,
            f.cases,
            f.helped,
            f.paid_count,
            f.paid_fen,
            f.pending_count,
            f.pending_fen,
            f.failed_count,
            f.failed_fen,
            f.goods_quantity,
            f.need_fen,
            f.budget_fen,
            f.reserved_fen,
        ]

    by_org = "按区县" if report.org.level < 2 else "按基层工会"
    rows = [row(by_org, f) for f in report.by_district]
    rows += [row(f"按{report.category_label}", f) for f in report.by_category]
    rows.append(row("合计", report.total))
    return rows


def export_rows(report: Report) -> list[list[str]]:
    """The export's rows as the CSV writes them (money in 元)."""
    return [
        [tabular.as_text(v, c.kind) for v, c in zip(row, EXPORT_COLUMNS, strict=True)]
        for row in export_values(report)
    ]


def export(report: Report, fmt: str) -> tuple[str, bytes, str]:
    """(file name, bytes, MIME type) of the report as CSV or XLSX. The file name carries
    the campaign code and organisation code only."""
    if fmt not in ("csv", "xlsx"):
        raise ValidationFailed("文件格式应为 csv 或 xlsx")
    name = f"report-{report.campaign.code}-{report.org.code}.{fmt}"
    content, mimetype = tabular.write(
        fmt, EXPORT_COLUMNS, export_values(report), sheet_name=report.campaign.code
    )
    return name, content, mimetype


def chart_data(report: Report) -> dict:
    """What the page's charts draw: money in fen (the script shows yuan on the axes), and
    the budget apart, as percentages used, so that a budget many times the payments does
    not flatten their bars."""
    rows = report.by_district
    return {
        "districts": [f.label for f in rows],
        "paid": [f.paid_fen for f in rows],
        "pending": [f.pending_fen for f in rows],
        "failed": [f.failed_fen for f in rows],
        "need": [f.need_fen for f in rows],
        "budget_use": {
            "paid": [budget_use(f.paid_fen, f.budget_fen) for f in rows],
            "reserved": [budget_use(f.reserved_fen or 0, f.budget_fen) for f in rows],
            "need": [budget_use(f.need_fen, f.budget_fen) for f in rows],
        },
        "categories": [f.label for f in report.by_category],
        "category_label": report.category_label,
        "helped": [f.helped for f in report.by_category],
    }


def figures_json(f: Figures) -> dict:
    return {x.name: getattr(f, x.name) for x in fields(f)}
