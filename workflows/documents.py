"""打印文书: the papers an office files and posts. 公示表 for a notice round (posted on the
wall of the 帮扶站 and the enterprise), 审批表 per case (the paper file auditors ask for),
发放花名册 per payment batch (the finance file, signed by the leaders).

Each is assembled here from the same services the pages use, scoped through
workflows/access.py and masked as the reader's own pages are: a document never shows more
than its reader's page would. webapp/documents.py renders them as HTML for print.

A notice round (公示轮次) is what one unit puts on its wall at once: the notices of one
grassroots unit, for one campaign (or, outside campaigns, one programme), posted on one
day (China time). Notices posted the same day share their period; a notice posted again
after a dismissed objection belongs to the round of the day it was posted again.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflows import access, batches, cases, engine, privacy, workdays
from workflows.campaigns import payment_purpose
from workflows.clock import CST, now
from workflows.errors import Conflict, Forbidden, NotFound, ValidationFailed
from workflows.models import (
    Campaign,
    Case,
    Objection,
    Organisation,
    PaymentBatch,
    PaymentLine,
    ProcessInstance,
    PublicNotice,
    User,
)
from workflows.notices import last_day
from workflows.processes import loaded_version

HOTLINE = "12351"  # 职工服务热线
# Bounds on one document, so that no request holds the server: larger sets come in parts.
FORMS_PER_PART = 100
ROSTER_LINES_PER_PART = 2000
ROUNDS_LISTED = 100
ROUND_SCAN = 5000  # notices read to find the newest rounds

# Who a notice names, per programme (the 公示表's title).
NOTICE_SUBJECTS = {
    "tuition_grant": "拟资助对象",
    "seasonal_aid": "拟慰问对象",
    "hardship_archive": "拟纳入困难职工档案人员",
}
# The form field that gives a case's category (困难类别, 学历层次) on the 公示表.
CATEGORY_FIELDS = {
    "tuition_grant": "education_level",
    "seasonal_aid": "hardship_category",
    "hardship_archive": "hardship_category",
}
# On the public board (and so on paper for the public) only notices still running.
PUBLIC_STATUSES = ("open",)
STAFF_REMARKS = {
    "objection": "异议调查中",
    "upheld": "异议成立，已撤销公示",
    "withdrawn": "已撤下",
}


def _org_by_code(session: Session, code: str) -> Organisation:
    org = session.scalars(select(Organisation).where(Organisation.code == (code or ""))).first()
    if org is None:
        raise NotFound("单位不存在")
    return org


def _campaign_by_code(session: Session, code: str) -> Campaign:
    campaign = session.scalars(select(Campaign).where(Campaign.code == (code or ""))).first()
    if campaign is None:
        raise NotFound("活动不存在")
    return campaign


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0, 0), CST)
    return start, start + timedelta(days=1)


def parse_day(text: str | None, name: str = "posted") -> date:
    """A date from the query string (YYYY-MM-DD); a clear refusal otherwise."""
    try:
        day = date.fromisoformat((text or "").strip())
    except ValueError:
        message = "日期应为 2026-09-07 的格式"
        raise ValidationFailed(message, errors={name: message}) from None
    if not 2000 <= day.year <= 2100:
        message = "日期应在 2000 至 2100 年之间"
        raise ValidationFailed(message, errors={name: message})
    return day


def _category_labels(session: Session, version_id: int, field_id: str) -> dict[str, str]:
    meta = loaded_version(session, version_id).meta
    for spec in meta.get("start_form", []):
        if spec["id"] == field_id:
            return {str(o[0]): o[1] for o in spec.get("options") or []}
    return {}


def _versions_of(session: Session, case_ids: list[int]) -> dict[int, int]:
    if not case_ids:
        return {}
    rows = session.execute(
        select(ProcessInstance.case_id, ProcessInstance.version_id).where(
            ProcessInstance.case_id.in_(case_ids)
        )
    )
    return dict(rows.tuples().all())


def category_label(session: Session, case: Case, version_id: int | None) -> str:
    """The case's category as its form names it (本科, 生活困难); "" if it has none."""
    field_id = CATEGORY_FIELDS.get(case.programme)
    if not field_id or version_id is None:
        return ""
    value = case.category
    if not value:  # programmes without standard amounts keep it only in the form data
        try:
            value = engine.case_data(session, case).get(field_id) or ""
        except Conflict:
            value = ""
    if not value:
        return ""
    return _category_labels(session, version_id, field_id).get(str(value), str(value))


# --- 公示表 --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundKey:
    """What names a notice round in a URL: unit code, campaign code (or programme), day."""

    org: str
    posted: date
    campaign: str = ""
    programme: str = ""

    def params(self) -> dict[str, str]:
        answer = {"org": self.org, "posted": self.posted.isoformat()}
        if self.campaign:
            answer["campaign"] = self.campaign
        else:
            answer["programme"] = self.programme
        return answer


@dataclass(frozen=True)
class NoticeRound:
    key: RoundKey
    org: Organisation
    campaign: Campaign | None
    programme: str
    title: str
    count: int
    last_day: date


@dataclass(frozen=True)
class NoticeRow:
    masked_name: str
    masked_id: str
    category: str
    amount_fen: int
    remark: str = ""


@dataclass
class NoticeSheet:
    title: str
    subject: str
    org: Organisation
    campaign: Campaign | None
    programme: str
    programme_label: str
    posted_on: date
    first_day: date
    last_day: date
    working_days: int
    rows: list[NoticeRow]
    total_fen: int
    public: bool  # the public's version: only notices still running
    calendar_warning: str = ""
    hotline: str = HOTLINE
    key: RoundKey | None = None

    @property
    def shows_amount(self) -> bool:
        return any(r.amount_fen for r in self.rows)

    @property
    def has_remarks(self) -> bool:
        return any(r.remark for r in self.rows)


def notice_subject(campaign: Campaign | None, programme: str, year: int) -> str:
    """Who the round names, e.g. "2026年金秋助学拟资助对象"."""
    subject = NOTICE_SUBJECTS.get(programme, "拟帮扶对象")
    if campaign is not None:
        return f"{campaign.name}{subject}"
    return f"{year}年{subject}"


def notice_title(campaign: Campaign | None, programme: str, year: int) -> str:
    """e.g. "2026年金秋助学拟资助对象公示"."""
    return notice_subject(campaign, programme, year) + "公示"


def _programme_label(programme: str) -> str:
    prog = cases.PROGRAMMES.get(programme)
    return prog.label if prog else programme


def _round_scope(
    session: Session, key: RoundKey
) -> tuple[Organisation, Campaign | None, str, list]:
    org = _org_by_code(session, key.org)
    campaign = None
    if key.campaign:
        campaign = _campaign_by_code(session, key.campaign)
        programme = campaign.programme
    else:
        programme = key.programme
        cases.programme(programme)  # 422 for an unknown one
    start, end = _day_bounds(key.posted)
    where = [
        PublicNotice.org_id == org.id,
        PublicNotice.programme == programme,
        PublicNotice.posted_at >= start,
        PublicNotice.posted_at < end,
    ]
    where.append(
        Case.campaign_id == campaign.id if campaign is not None else Case.campaign_id.is_(None)
    )
    return org, campaign, programme, where


def notice_sheet(session: Session, reader: User | None, key: RoundKey) -> NoticeSheet:
    """The 公示表 of a round. Staff whose subtree holds the unit get every notice posted in
    the round (with a remark where one was interrupted or ended early); anyone else,
    signed in or not, gets what the public board shows: the notices still running."""
    org, campaign, programme, where = _round_scope(session, key)
    public = reader is None or not access.in_subtree(reader, org)
    if public:
        where.append(PublicNotice.status.in_(PUBLIC_STATUSES))
    found = session.execute(
        select(PublicNotice, Case)
        .join(Case, Case.id == PublicNotice.case_id)
        .where(*where)
        .order_by(Case.case_no, PublicNotice.id)
    ).all()
    if not found:
        raise NotFound("该轮公示不存在或已结束")
    versions = _versions_of(session, [c.id for _, c in found])
    rows = []
    for notice, case in found:
        remark = "" if public else STAFF_REMARKS.get(notice.status, "")
        if not public and notice.round > 1 and not remark:
            remark = f"第 {notice.round} 次公示"
        rows.append(
            NoticeRow(
                privacy.mask_name(notice.masked_name),
                privacy.mask_id(notice.masked_id),
                category_label(session, case, versions.get(case.id)),
                notice.amount_fen,
                remark,
            )
        )
    calendar = workdays.current(session)
    first = calendar.add_working_days(key.posted, 1)
    last = max(last_day(n.ends_at) for n, _ in found)
    count = sum(
        1 for n in range((last - first).days + 1) if calendar.is_workday(first + timedelta(n))
    )
    warning = next((n.calendar_warning for n, _ in found if n.calendar_warning), "")
    return NoticeSheet(
        title=notice_title(campaign, programme, key.posted.year),
        subject=notice_subject(campaign, programme, key.posted.year),
        org=org,
        campaign=campaign,
        programme=programme,
        programme_label=_programme_label(programme),
        posted_on=key.posted,
        first_day=first,
        last_day=last,
        working_days=count,
        rows=rows,
        total_fen=sum(r.amount_fen for r in rows),
        public=public,
        calendar_warning=warning,
        key=key,
    )


def _group_rounds(
    session: Session, found: Iterable[tuple], limit: int = ROUNDS_LISTED
) -> list[NoticeRound]:
    """(org id, programme, campaign id, posted_at, ends_at) rows → rounds, newest first."""
    groups: dict[tuple, list] = defaultdict(lambda: [0, None])
    for org_id, programme, campaign_id, posted_at, ends_at in found:
        key = (posted_at.astimezone(CST).date(), org_id, programme, campaign_id)
        entry = groups[key]
        entry[0] += 1
        entry[1] = max(entry[1] or last_day(ends_at), last_day(ends_at))
    keys = sorted(groups, key=lambda k: (k[0], k[1]), reverse=True)[:limit]
    orgs = {
        o.id: o
        for o in session.scalars(
            select(Organisation).where(Organisation.id.in_({k[1] for k in keys}))
        )
    }
    campaign_ids = {k[3] for k in keys if k[3] is not None}
    campaigns = {
        c.id: c for c in session.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids)))
    }
    answer = []
    for posted, org_id, programme, campaign_id in keys:
        org, campaign = orgs[org_id], campaigns.get(campaign_id)
        count, last = groups[(posted, org_id, programme, campaign_id)]
        key = RoundKey(
            org.code,
            posted,
            campaign.code if campaign else "",
            "" if campaign else programme,
        )
        title = notice_title(campaign, programme, posted.year)
        answer.append(NoticeRound(key, org, campaign, programme, title, count, last))
    return answer


def _round_columns():
    return select(
        PublicNotice.org_id,
        PublicNotice.programme,
        Case.campaign_id,
        PublicNotice.posted_at,
        PublicNotice.ends_at,
    ).join(Case, Case.id == PublicNotice.case_id)


def notice_rounds(
    session: Session, user: User, campaign_code: str | None = None
) -> list[NoticeRound]:
    """The newest notice rounds of the units in the user's subtree (caseworkers: their own
    unit; district approvers: their district), optionally of one campaign."""
    if not cases.may_search(user):
        raise Forbidden("无权查看公示表")
    query = _round_columns().where(access.visible_cases(user))
    if campaign_code:
        query = query.where(Case.campaign_id == _campaign_by_code(session, campaign_code).id)
    found = session.execute(query.order_by(PublicNotice.posted_at.desc()).limit(ROUND_SCAN))
    return _group_rounds(session, found.tuples())


def public_rounds(session: Session, notices: Iterable[PublicNotice]) -> dict[int, list]:
    """For the public board: the rounds the shown notices belong to, by organisation id."""
    ids = [n.id for n in notices]
    if not ids:
        return {}
    found = session.execute(
        _round_columns().where(PublicNotice.id.in_(ids), PublicNotice.status.in_(PUBLIC_STATUSES))
    )
    by_org: dict[int, list] = defaultdict(list)
    for found_round in _group_rounds(session, found.tuples(), limit=len(ids)):
        by_org[found_round.org.id].append(found_round)
    return dict(by_org)


# --- 审批表 --------------------------------------------------------------------------------


@dataclass
class StepSection:
    """The completed tasks of one process the case ran (入户核查, 公示, 逐级审批, ...)."""

    process_id: str
    title: str
    steps: list[cases.Step]


@dataclass(frozen=True)
class ObjectionShown:
    received_at: datetime
    round: int
    reason: str  # numbers masked; the objector's contact is left off paper


@dataclass(frozen=True)
class PaymentShown:
    amount_fen: int
    status: str
    payee: str  # masked, as on the case page
    card: str  # masked
    paid_at: datetime | None
    batch_reference: str
    failure: str


@dataclass
class ApprovalForm:
    title: str
    view: cases.CaseView
    sections: list[StepSection]
    notice_first_day: date | None
    notice_last_day: date | None
    objections: list[ObjectionShown]
    payments: list[PaymentShown]
    file_names: dict[int, str] = field(default_factory=dict)
    notice_status: str = ""

    @property
    def case(self) -> Case:
        return self.view.case

    @property
    def application_rows(self) -> list[list[cases.ShownField]]:
        return field_rows(self.view.application)


WIDE_VALUE = 30  # half-width characters: a longer value (a 困难情况 text) takes a row


def _width(text: str) -> int:
    return sum(1 if ord(ch) < 0x2E80 else 2 for ch in text)


def field_rows(fields: list[cases.ShownField]) -> list[list[cases.ShownField]]:
    """Form values two to a row, as paper forms set them; long values alone."""
    rows: list[list[cases.ShownField]] = []
    for shown in fields:
        wide = _width(shown.text) > WIDE_VALUE
        if wide or not rows or len(rows[-1]) == 2 or _width(rows[-1][0].text) > WIDE_VALUE:
            rows.append([shown])
        else:
            rows[-1].append(shown)
    return rows


def _form_title(view: cases.CaseView) -> str:
    if view.campaign is not None:
        return f"{view.campaign.name}审批表"
    return f"{view.programme_label}审批表"


def approval_form(session: Session, user: User, case_id: int) -> ApprovalForm:
    """One case's 审批表, from the same view as its case page (so masked the same way)."""
    view = cases.case_view(session, user, case_id)
    case = view.case
    order = [pid for pid, _ in view.processes]
    names = dict(view.processes)
    # Called processes in the order the case runs them; the case's own tasks (物资签收,
    # 回头看) close the record.
    grouped: dict[str, list[cases.Step]] = defaultdict(list)
    top = order[0] if order else case.programme
    for step in view.steps:
        grouped[step.process_id or top].append(step)
    sections = [
        StepSection(pid, names.get(pid, pid), grouped[pid])
        for pid in [*order[1:], top]
        if grouped.get(pid) or pid in ("public_notice", "bank_disbursement")
    ]
    if view.notice is None:
        sections = [s for s in sections if s.process_id != "public_notice" or s.steps]
    if not view.payments:
        sections = [s for s in sections if s.process_id != "bank_disbursement" or s.steps]

    first = None
    if view.notice is not None:
        calendar = workdays.current(session)
        first = calendar.add_working_days(view.notice.posted_at.astimezone(CST).date(), 1)
    objections = [
        ObjectionShown(o.received_at, o.round, privacy.mask_numbers(o.reason))
        for o in session.scalars(
            select(Objection).where(Objection.case_id == case.id).order_by(Objection.id)
        )
    ]
    lines = _latest_lines(session, [p.id for p in view.payments])
    payments = [
        PaymentShown(
            p.amount_fen,
            cases.PAYMENT_STATUS_LABELS.get(p.status, p.status),
            privacy.mask_name(p.account_name),
            privacy.mask_card(p.bank_card),
            p.paid_at,
            lines.get(p.id, ""),
            privacy.mask_numbers(p.last_failure_reason or ""),
        )
        for p in view.payments
    ]
    return ApprovalForm(
        title=_form_title(view),
        view=view,
        sections=sections,
        notice_first_day=first,
        notice_last_day=view.notice_last_day,
        objections=objections,
        payments=payments,
        file_names={f.id: f.filename for f in view.files},
        notice_status=cases.NOTICE_STATUS_LABELS.get(view.notice.status, view.notice.status)
        if view.notice
        else "",
    )


def _latest_lines(session: Session, payment_ids: list[int]) -> dict[int, str]:
    """Payment id → the reference of the batch that last carried it."""
    if not payment_ids:
        return {}
    rows = session.execute(
        select(PaymentLine.payment_id, PaymentBatch.reference)
        .join(PaymentBatch, PaymentBatch.id == PaymentLine.batch_id)
        .where(PaymentLine.payment_id.in_(payment_ids))
        .order_by(PaymentLine.id)
    )
    return dict(rows.tuples().all())


@dataclass
class ApprovalBatch:
    """Every case of a campaign (or a programme's year) in a unit's subtree, one form a
    page, in parts of FORMS_PER_PART."""

    title: str
    org: Organisation
    campaign: Campaign | None
    programme: str
    year: int | None
    forms: list[ApprovalForm]
    total: int
    part: int
    parts: int


def approval_forms(
    session: Session,
    user: User,
    org_code: str,
    campaign_code: str | None = None,
    programme: str | None = None,
    year: int | None = None,
    part: int = 1,
) -> ApprovalBatch:
    """The yearly file: the 审批表 of every case of a campaign at a unit and below (or of a
    programme without campaigns, by the year in its case numbers), ordered by case number."""
    if not cases.may_search(user):
        raise Forbidden("无权打印审批表")
    org = _org_by_code(session, org_code)
    if not access.in_subtree(user, org):
        raise Forbidden("无权打印该单位的审批表")
    subtree = select(Organisation.id).where(Organisation.path.startswith(org.path))
    where = [Case.org_id.in_(subtree)]
    campaign = None
    if campaign_code:
        campaign = _campaign_by_code(session, campaign_code)
        programme = campaign.programme
        where.append(Case.campaign_id == campaign.id)
        title = f"{campaign.name}审批表"
    else:
        prog = cases.programme(programme or "")
        if year is None or not 2000 <= year <= 2100:
            message = "请指定年份（2000 至 2100）"
            raise ValidationFailed(message, errors={"year": message})
        where += [
            Case.programme == prog.process_id,
            Case.campaign_id.is_(None),
            Case.case_no.startswith(f"{prog.case_prefix}{year}", autoescape=True),
        ]
        title = f"{year}年{prog.label}审批表"
    total = session.scalar(select(func.count(Case.id)).where(*where)) or 0
    parts = max(1, -(-total // FORMS_PER_PART))
    if not 1 <= part <= parts:
        raise NotFound(f"共 {parts} 部分，没有第 {part} 部分")
    ids = session.scalars(
        select(Case.id)
        .where(*where)
        .order_by(Case.case_no, Case.id)
        .offset((part - 1) * FORMS_PER_PART)
        .limit(FORMS_PER_PART)
    ).all()
    forms = [approval_form(session, user, case_id) for case_id in ids]
    return ApprovalBatch(title, org, campaign, programme or "", year, forms, total, part, parts)


def batch_choices(session: Session, user: User) -> tuple[list[Campaign], list[Organisation]]:
    """Campaigns and units (the user's subtree) to choose a yearly file from."""
    if not cases.may_search(user):
        raise Forbidden("无权打印审批表")
    campaigns = list(
        session.scalars(select(Campaign).order_by(Campaign.year.desc(), Campaign.id.desc()))
    )
    return campaigns, access.orgs_in_scope(session, user)


# --- 发放花名册 ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RosterRow:
    seq: int
    case_no: str
    applicant: str  # masked, as on the batch page
    payee: str  # masked
    card: str  # masked: the finance pages never show a whole card number
    amount_fen: int
    result: str
    reason: str


@dataclass
class Roster:
    batch: PaymentBatch
    campaign: Campaign | None
    org: Organisation | None
    purpose: str
    status_label: str
    rows: list[RosterRow]
    counts: batches.BatchCounts
    part: int
    parts: int
    printed_at: datetime

    @property
    def total_fen(self) -> int:
        return self.batch.total_fen

    @property
    def part_fen(self) -> int:
        return sum(r.amount_fen for r in self.rows)


def roster(session: Session, user: User, batch_id: int, part: int = 1) -> Roster:
    """A batch's 发放花名册: every line with its payee, masked card and amount, the total,
    for the finance officers of the batch's scope (as its batch page)."""
    batch = batches.get_batch(session, user, batch_id)
    parts = max(1, -(-batch.line_count // ROSTER_LINES_PER_PART))
    if not 1 <= part <= parts:
        raise NotFound(f"共 {parts} 部分，没有第 {part} 部分")
    lines, _ = batches.batch_lines(
        session,
        user,
        batch_id,
        offset=(part - 1) * ROSTER_LINES_PER_PART,
        limit=ROSTER_LINES_PER_PART,
    )
    rows = [
        RosterRow(
            line.seq,
            case.case_no or "",
            privacy.mask_name(case.applicant_name),
            privacy.mask_name(line.account_name),
            privacy.mask_card(line.bank_card),
            line.amount_fen,
            batches.LINE_RESULT_LABELS.get(line.result, line.result),
            privacy.mask_numbers(line.reason or ""),
        )
        for line, case in lines
    ]
    campaign = session.get(Campaign, batch.campaign_id) if batch.campaign_id else None
    return Roster(
        batch=batch,
        campaign=campaign,
        org=session.get(Organisation, batch.org_id) if batch.org_id else None,
        purpose=payment_purpose(campaign),
        status_label=batches.BATCH_STATUS_LABELS.get(batch.status, batch.status),
        rows=rows,
        counts=batches.batch_counts(session, batch),
        part=part,
        parts=parts,
        printed_at=now(),
    )


# --- 大写金额 ------------------------------------------------------------------------------

_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_GROUPS = ("", "万", "亿", "万亿")


def _four_digits(number: int) -> str:
    text, zero = "", False
    for place, unit in ((1000, "仟"), (100, "佰"), (10, "拾"), (1, "")):
        digit = number // place % 10
        if digit == 0:
            zero = zero or bool(text)
        else:
            text += ("零" if zero else "") + _DIGITS[digit] + unit
            zero = False
    return text


def _whole_yuan(number: int) -> str:
    groups = []
    while number:
        groups.append(number % 10000)
        number //= 10000
    text, zero = "", False
    for index in reversed(range(len(groups))):
        group = groups[index]
        if group == 0:
            zero = zero or bool(text)
            continue
        if text and (zero or group < 1000):
            text += "零"
        text += _four_digits(group) + _GROUPS[index]
        zero = False
    return text


def rmb_upper(fen: int) -> str:
    """An amount in 大写, as finance papers write it: 1234567 fen → 人民币壹万贰仟叁佰肆拾伍元
    陆角柒分 (written out so that nobody alters a figure)."""
    if fen < 0:
        raise ValueError("amount must not be negative")
    yuan_part, jiao, fen_digit = fen // 100, fen // 10 % 10, fen % 10
    text = _whole_yuan(yuan_part) + "元" if yuan_part else ""
    if jiao:
        text += _DIGITS[jiao] + "角"
    elif fen_digit and yuan_part:
        text += "零"
    if fen_digit:
        text += _DIGITS[fen_digit] + "分"
    if not fen_digit:
        text = (text or "零元") + "整"
    return "人民币" + text
