"""困难职工档案: the record an approved archive case creates (or an import loads), the
yearly 回头看, and reading the archive: the list with its filters, a worker's page (一人一档)
with the whole aid history, and what a person already received this year.

Who sees what: caseworkers, approvers, managers and finance, each their organisation's
subtree (the same rule as cases). Numbers are shown masked; the whole ID number is kept
encrypted for prefilling a new application, and searched through its keyed hash only.
"""

import re
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Select, and_, exists, func, select
from sqlalchemy.orm import Session

from workflows import access, engine, forms, privacy, scripting
from workflows.audit import record
from workflows.clock import CST, local_now, now
from workflows.errors import Forbidden, NotFound, ValidationFailed
from workflows.models import (
    ArchiveImport,
    Campaign,
    Case,
    HardshipRecord,
    Organisation,
    Payment,
    StoredFile,
    User,
)


def add_months(moment: datetime, months: int) -> datetime:
    local = moment.astimezone(CST)
    month_index = local.month - 1 + months
    year, month = local.year + month_index // 12, month_index % 12 + 1
    day = min(local.day, monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day)


@scripting.register("archive_worker", "建档（或续档）n 个月，返回回头看复核的时刻")
def archive_worker(months: int) -> str:
    months = int(months)
    if not 1 <= months <= 36:
        raise scripting.ScriptRefused("档案有效期应为 1 至 36 个月")
    data = engine.current_data()
    valid_until = add_months(now(), months)
    engine.ask(
        "archive_worker",
        valid_until=valid_until.isoformat(),
        category=str(data.get("hardship_category") or ""),
        # What a campaign launch needs to open a case for this worker later.
        bank_card=str(data.get("bank_card") or ""),
        account_name=str(data.get("account_name") or ""),
        phone=str(data.get("phone") or ""),
        id_number=str(data.get("worker_id_number") or ""),
        household_size=_int_or_none(data.get("household_size")),
        household_income_fen=_int_or_none(data.get("household_income_fen")),
    )
    return valid_until.isoformat()


def _int_or_none(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@scripting.register("leave_archive", "退出档案（解困脱困）")
def leave_archive() -> None:
    engine.ask("leave_archive")


@engine.effect_handler("archive_worker")
def _archive(session: Session, loaded: engine.Loaded, payload: dict) -> None:
    case = loaded.case
    row = session.scalars(select(HardshipRecord).where(HardshipRecord.case_id == case.id)).first()
    valid_until = datetime.fromisoformat(payload["valid_until"])
    if row is None:
        row = HardshipRecord(
            case_id=case.id,
            org_id=case.org_id,
            subject_key=case.subject_key,
            worker_name=case.applicant_name,
            category=payload["category"],
        )
        session.add(row)
        record(
            session,
            None,
            case.id,
            "archive.create",
            f"建档，有效期至 {valid_until.date().isoformat()}",
        )
    else:
        record(
            session,
            None,
            case.id,
            "archive.renew",
            f"回头看后继续保留档案，有效期至 {valid_until.date().isoformat()}",
        )
    row.status = "archived"
    row.valid_until = valid_until
    row.category = payload["category"] or row.category
    row.subject_id_masked = case.subject_id_masked
    # A 回头看 of an imported worker carries no card or phone: keep what the record has.
    row.bank_card = payload.get("bank_card") or row.bank_card or ""
    row.account_name = payload.get("account_name") or row.account_name or ""
    row.phone = payload.get("phone") or row.phone or ""
    row.id_number = payload.get("id_number") or row.id_number or ""
    if payload.get("household_size"):
        row.household_size = int(payload["household_size"])
    if payload.get("household_income_fen") not in (None, ""):
        row.monthly_income_fen = int(payload["household_income_fen"]) // 12


@engine.effect_handler("leave_archive")
def _leave(session: Session, loaded: engine.Loaded, payload: dict) -> None:
    row = session.scalars(
        select(HardshipRecord).where(HardshipRecord.case_id == loaded.case.id)
    ).first()
    if row is not None:
        row.status = "left"
        row.left_at = now()
        record(session, None, loaded.case.id, "archive.leave", "解困脱困，退出档案")


def _record_of(session: Session, case_id: int) -> HardshipRecord | None:
    return session.scalars(select(HardshipRecord).where(HardshipRecord.case_id == case_id)).first()


def _prefetch_records(session: Session, case_ids: list[int]) -> None:
    rows: dict[int, HardshipRecord] = {}
    query = select(HardshipRecord).where(HardshipRecord.case_id.in_(case_ids))
    for row in session.scalars(query.order_by(HardshipRecord.id)):
        rows.setdefault(row.case_id, row)
    engine.keep_prefetched(session, "hardship_record", rows)


def _close_record(session: Session, loaded: engine.Loaded) -> None:
    """A case cancelled while archived must not leave the worker archived without re-checks.
    A case that ends at an end event keeps its record as the diagram left it: the shipped
    ones take the worker out of the archive (leave_archive) before they end, and one a
    federation drew to end once the worker is archived must not undo the archiving."""
    if loaded.case.status != "cancelled":
        return
    case_id = loaded.case.id
    row = engine.prefetched(
        session, "hardship_record", case_id, lambda: _record_of(session, case_id)
    )
    if row is not None and row.status == "archived":
        row.status = "cancelled"
        row.left_at = now()
        record(session, None, loaded.case.id, "archive.cancel", "案件撤销，档案随之注销")


engine.CLOSE_HOOKS.append(_close_record)
engine.CLOSE_PREFETCH.append(_prefetch_records)


def archived_workers(session: Session, org_ids: list[int] | None = None) -> list[HardshipRecord]:
    query = select(HardshipRecord).where(HardshipRecord.status == "archived")
    if org_ids is not None:
        query = query.where(HardshipRecord.org_id.in_(org_ids))
    return list(session.scalars(query))


# --- reading the archive ------------------------------------------------------------------

STATUS_LABELS = {
    "archived": "在档",
    "left": "已解困脱困退出",
    "cancelled": "已注销",
    "due": "待回头看",
}
DEFAULT_CATEGORIES = [
    ("living", "生活困难"),
    ("medical", "医疗（大病）"),
    ("schooling", "子女就学"),
    ("disaster", "灾害"),
    ("other", "其他"),
]
DUE_DAYS = 30  # 待回头看: valid-until within this many days, or passed
SORTS = {
    "newest": (HardshipRecord.id.desc(),),
    "name": (HardshipRecord.worker_name, HardshipRecord.id),
    "valid_until": (HardshipRecord.valid_until, HardshipRecord.id),
    "archived_at": (HardshipRecord.archived_at.desc(), HardshipRecord.id.desc()),
}
VIEW_ROLES = frozenset(access.GROUP_LEVEL)
SUBJECT_KEY = re.compile(r"^[0-9a-f]{64}$")
# Roles that see whole numbers in an export: the managers who keep the archive.
WHOLE_NUMBER_ROLES = frozenset({"manager"})


def category_options(session: Session) -> list[tuple[str, str]]:
    """(id, label) of the 困难类别, from the newest deployed 建档 diagram's start form."""
    from workflows.processes import newest_loaded

    try:
        version = newest_loaded(session, "hardship_archive")
    except NotFound:
        return list(DEFAULT_CATEGORIES)
    for spec in version.meta.get("start_form", []):
        if spec["id"] == "hardship_category" and spec.get("options"):
            return [(str(k), str(v)) for k, v in spec["options"]]
    return list(DEFAULT_CATEGORIES)


def may_view(user: User) -> bool:
    return user.is_active and bool(user.role_set & VIEW_ROLES)


def require_viewer(user: User) -> None:
    if not may_view(user):
        raise Forbidden("无权查看困难职工档案")


def whole_numbers(user: User) -> bool:
    return bool(user.role_set & WHOLE_NUMBER_ROLES)


@dataclass
class ArchiveCriteria:
    org_id: int | None = None
    category: str = ""
    status: str = ""  # archived | left | cancelled | due | "" (all)
    due_days: int = DUE_DAYS
    programme: str = ""  # received from this programme this year
    name: str = ""
    # Turned into its keyed hash here and never kept; a URL carries subject_key instead.
    id_number: str = ""
    subject_key: str = ""
    sort: str = "newest"


@dataclass
class ArchivePage:
    records: list[HardshipRecord]
    total: int
    limit: int
    offset: int
    orgs: dict[int, Organisation] = field(default_factory=dict)


def year_bounds(year: int) -> tuple[datetime, datetime]:
    start = datetime(year, 1, 1, tzinfo=CST)
    return start, datetime(year + 1, 1, 1, tzinfo=CST)


def _received(year: int):
    """Cases that count as aid received in a year: finally approved that year, not
    cancelled since."""
    start, end = year_bounds(year)
    return and_(
        Case.approved_at.is_not(None),
        Case.approved_at >= start,
        Case.approved_at < end,
        Case.status != "cancelled",
    )


def conditions(session: Session, user: User, criteria: ArchiveCriteria) -> list:
    require_viewer(user)
    subtree_of = user.org
    if criteria.org_id is not None:
        org = session.get(Organisation, criteria.org_id)
        if org is None or not access.in_subtree(user, org):
            raise Forbidden("无权查看该单位的档案")
        subtree_of = org
    where = []
    if not _whole_tree(session, subtree_of):
        where.append(
            HardshipRecord.org_id.in_(
                select(Organisation.id).where(Organisation.path.startswith(subtree_of.path))
            )
        )
    if criteria.category:
        where.append(HardshipRecord.category == criteria.category)
    status = criteria.status
    if status == "due":
        days = max(0, min(int(criteria.due_days), 366))
        where += [
            HardshipRecord.status == "archived",
            HardshipRecord.valid_until <= now() + timedelta(days=days),
        ]
    elif status:
        if status not in STATUS_LABELS:
            raise ValidationFailed("未知的档案状态", errors={"status": "未知的档案状态"})
        where.append(HardshipRecord.status == status)
    if criteria.name.strip():
        # The whole pattern as one value (not '%' || name || '%'): the planner sees it.
        escaped = re.sub(r"([/%_])", r"/\1", criteria.name.strip())
        where.append(HardshipRecord.worker_name.like(f"%{escaped}%", escape="/"))
    key = criteria.subject_key.strip().lower()
    if criteria.id_number.strip():
        try:
            key = privacy.subject_key(forms.normalise_id_number(criteria.id_number))
        except ValueError as err:
            raise ValidationFailed(str(err), errors={"id_number": str(err)}) from None
    if key:
        if not SUBJECT_KEY.match(key):
            raise ValidationFailed("查询条件无效，请重新输入身份证号")
        where.append(HardshipRecord.subject_key == key)
    if criteria.programme:
        from workflows.cases import programme

        programme(criteria.programme)
        where.append(
            exists().where(
                Case.subject_key == HardshipRecord.subject_key,
                Case.programme == criteria.programme,
                _received(local_now().year),
            )
        )
    return where


def _whole_tree(session: Session, org: Organisation) -> bool:
    """The city federation's subtree is every unit: no unit filter then, so that counting
    the whole archive reads one index and not the table."""
    if org.parent_id is not None:
        return False
    roots = session.scalar(
        select(func.count(Organisation.id)).where(Organisation.parent_id.is_(None))
    )
    return roots == 1


def _order(criteria: ArchiveCriteria) -> tuple:
    # 待回头看 is read soonest first unless another order is asked for.
    # A name searched for is listed by name: the name index then serves both the
    # search and the order.
    if criteria.status == "due" and criteria.sort == "newest":
        return SORTS["valid_until"]
    if criteria.name.strip() and criteria.sort == "newest":
        return SORTS["name"]
    return SORTS[criteria.sort]


def _query(session: Session, user: User, criteria: ArchiveCriteria) -> Select:
    if criteria.sort not in SORTS:
        raise ValidationFailed("未知的排序方式", errors={"sort": "未知的排序方式"})
    return select(HardshipRecord).where(*conditions(session, user, criteria))


def search(
    session: Session, user: User, criteria: ArchiveCriteria, limit: int = 20, offset: int = 0
) -> ArchivePage:
    """The archive within the user's scope matching every given criterion."""
    query = _query(session, user, criteria)
    limit = max(1, min(int(limit), 200))
    offset = max(0, int(offset))
    total = session.scalar(query.with_only_columns(func.count(HardshipRecord.id))) or 0
    # The page's ids first (read from an index alone), then those rows: skipping `offset`
    # rows costs index entries, not whole records.
    ids = list(
        session.scalars(
            query.with_only_columns(HardshipRecord.id)
            .order_by(*_order(criteria))
            .limit(limit)
            .offset(offset)
        )
    )
    found = {
        r.id: r for r in session.scalars(select(HardshipRecord).where(HardshipRecord.id.in_(ids)))
    }
    rows = [found[i] for i in ids if i in found]
    org_ids = {r.org_id for r in rows}
    orgs = {
        o.id: o for o in session.scalars(select(Organisation).where(Organisation.id.in_(org_ids)))
    }
    return ArchivePage(rows, total, limit, offset, orgs)


MAX_EXPORT = 100_000


def export_rows(session: Session, user: User, criteria: ArchiveCriteria) -> tuple[list, list]:
    """(columns, rows) of the filtered list for an XLSX; whole numbers only for the roles
    that keep the archive. The caller audits the export."""
    from workflows import tabular

    query = _query(session, user, criteria).order_by(*_order(criteria)).limit(MAX_EXPORT)
    whole = whole_numbers(user)
    labels = dict(category_options(session))
    orgs = {o.id: o for o in access.orgs_in_scope(session, user)}
    columns = [
        tabular.Column("姓名"),
        tabular.Column("身份证号"),
        tabular.Column("性别"),
        tabular.Column("单位代码"),
        tabular.Column("单位名称"),
        tabular.Column("困难类别"),
        tabular.Column("家庭人口", tabular.INTEGER),
        tabular.Column("家庭月收入（元）", tabular.MONEY),
        tabular.Column("致困原因"),
        tabular.Column("银行卡号"),
        tabular.Column("开户名"),
        tabular.Column("开户行"),
        tabular.Column("联系电话"),
        tabular.Column("建档日期", tabular.DATE),
        tabular.Column("有效期至", tabular.DATE),
        tabular.Column("状态"),
    ]
    rows = []
    for r in session.scalars(query):
        org = orgs.get(r.org_id)
        number = r.id_number if whole and r.id_number else r.subject_id_masked
        card = r.bank_card if whole else privacy.mask_card(r.bank_card or "")
        rows.append(
            [
                r.worker_name,
                number,
                r.gender,
                org.code if org else "",
                org.name if org else "",
                labels.get(r.category, r.category),
                r.household_size,
                r.monthly_income_fen,
                r.cause,
                card,
                r.account_name,
                r.bank_name,
                r.phone if whole else privacy.mask_card(r.phone or ""),
                local_date(r.archived_at),
                local_date(r.valid_until),
                STATUS_LABELS.get(r.status, r.status),
            ]
        )
    return columns, rows


def local_date(moment: datetime | None) -> date | None:
    return moment.astimezone(CST).date() if moment else None


def get_record(session: Session, user: User, record_id: int) -> HardshipRecord:
    require_viewer(user)
    row = session.get(HardshipRecord, record_id)
    if row is None:
        raise NotFound("档案不存在")
    if not access.in_subtree(user, session.get(Organisation, row.org_id)):
        raise Forbidden("无权查看该档案")
    return row


@dataclass
class AidEntry:
    case: Case
    campaign: Campaign | None
    amount_fen: int
    payment_status: str  # "" | payable | in_batch | paid | failed | cancelled
    received: bool  # counts in the year's total


@dataclass
class WorkerView:
    record: HardshipRecord
    org: Organisation
    category_label: str
    history: list[AidEntry]
    totals: list[tuple[int, int]]  # (year, fen received), newest first
    photos: list[StoredFile]
    provenance: ArchiveImport | None
    next_recheck: datetime | None
    # What the home visit of the 建档 case found (家庭情况核实), and when.
    visit_finding: str = ""
    visit_date: str = ""


def aid_history(session: Session, user: User, subject_key: str) -> list[AidEntry]:
    """Every case of the person (by ID hash) the user may see, newest first."""
    cases = list(
        session.scalars(
            select(Case)
            .where(Case.subject_key == subject_key, access.visible_cases(user))
            .order_by(Case.created_at.desc(), Case.id.desc())
        )
    )
    ids = [c.id for c in cases]
    campaign_ids = {c.campaign_id for c in cases if c.campaign_id}
    campaigns = {
        c.id: c for c in session.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids)))
    }
    payments: dict[int, str] = {}
    for case_id, status in session.execute(
        select(Payment.case_id, Payment.status).where(Payment.case_id.in_(ids))
    ):
        payments[case_id] = status
    entries = []
    for c in cases:
        received = c.approved_at is not None and c.status != "cancelled"
        amount = c.approved_fen if c.approved_fen is not None else c.amount_fen
        entries.append(
            AidEntry(
                c, campaigns.get(c.campaign_id), int(amount or 0), payments.get(c.id, ""), received
            )
        )
    return entries


def yearly_totals(entries: list[AidEntry]) -> list[tuple[int, int]]:
    totals: dict[int, int] = {}
    for e in entries:
        if e.received:
            year = e.case.approved_at.astimezone(CST).year
            totals[year] = totals.get(year, 0) + e.amount_fen
    return sorted(totals.items(), reverse=True)


def worker_view(session: Session, user: User, record_id: int) -> WorkerView:
    row = get_record(session, user, record_id)
    history = aid_history(session, user, row.subject_key)
    photos: list[StoredFile] = []
    case_ids = [e.case.id for e in history if e.case.programme == "hardship_archive"]
    if row.case_id:
        case_ids.append(row.case_id)
    if case_ids:
        photos = list(
            session.scalars(
                select(StoredFile)
                .where(
                    StoredFile.case_id.in_(case_ids), StoredFile.content_type.startswith("image/")
                )
                .order_by(StoredFile.id)
            )
        )
    labels = dict(category_options(session))
    finding, visited = "", ""
    archive_case = session.get(Case, row.case_id) if row.case_id else None
    if archive_case is not None and archive_case.programme == "hardship_archive":
        data = engine.case_data(session, archive_case)
        finding = str(data.get("household_situation") or "")
        visited = str(data.get("visit_date") or "")
    return WorkerView(
        visit_finding=finding,
        visit_date=visited,
        record=row,
        org=session.get(Organisation, row.org_id),
        category_label=labels.get(row.category, row.category),
        history=history,
        totals=yearly_totals(history),
        photos=photos,
        provenance=session.get(ArchiveImport, row.import_id) if row.import_id else None,
        next_recheck=row.valid_until if row.status == "archived" else None,
    )


@dataclass
class ReceivedLine:
    """What the same person already received this year, across programmes (shown to the
    approver before the final approval)."""

    year: int
    entries: list[AidEntry]
    total_fen: int


def received_this_year(session: Session, case: Case) -> ReceivedLine:
    """Cases of the same ID hash finally approved this year, the given case left out.
    Every programme and unit counts: the approver must see aid given elsewhere too, so
    this is not limited to the approver's subtree (only sums and programmes are shown)."""
    year = local_now().year
    cases = list(
        session.scalars(
            select(Case)
            .where(Case.subject_key == case.subject_key, Case.id != case.id, _received(year))
            .order_by(Case.approved_at)
        )
    )
    ids = [c.id for c in cases]
    payments = (
        dict(
            session.execute(
                select(Payment.case_id, Payment.status).where(Payment.case_id.in_(ids))
            ).all()
        )
        if ids
        else {}
    )
    campaign_ids = {c.campaign_id for c in cases if c.campaign_id}
    campaigns = {
        c.id: c for c in session.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids)))
    }
    entries = [
        AidEntry(
            c,
            campaigns.get(c.campaign_id),
            int(c.approved_fen if c.approved_fen is not None else c.amount_fen or 0),
            payments.get(c.id, ""),
            True,
        )
        for c in cases
    ]
    return ReceivedLine(year, entries, sum(e.amount_fen for e in entries))


def received_totals(session: Session, cases: list[Case]) -> dict[int, tuple[int, int]]:
    """Case id → (cases, fen) the same person already received this year, for a batch
    approval's list: one query for all of them."""
    if not cases:
        return {}
    keys = {c.subject_key for c in cases}
    rows = session.execute(
        select(Case.subject_key, func.count(Case.id), func.sum(Case.approved_fen))
        .where(
            Case.subject_key.in_(keys),
            Case.id.not_in([c.id for c in cases]),
            _received(local_now().year),
        )
        .group_by(Case.subject_key)
    )
    by_key = {key: (int(n), int(fen or 0)) for key, n, fen in rows}
    return {c.id: by_key.get(c.subject_key, (0, 0)) for c in cases}


def prefill(session: Session, user: User, record_id: int) -> dict:
    """The known fields of a new application for the worker (the caseworker's form)."""
    row = get_record(session, user, record_id)
    known = {
        "worker_name": row.worker_name,
        "worker_id_number": row.id_number,
        "phone": row.phone,
        "hardship_category": row.category,
        "bank_card": row.bank_card,
        "account_name": row.account_name,
        "household_size": row.household_size,
    }
    return {k: v for k, v in known.items() if v not in (None, "")}


# --- 回头看 of imported workers ---------------------------------------------------------

RECHECK_CHUNK = 200


def open_due_rechecks(factory, limit: int | None = None) -> int:
    """Open the 回头看 case of every imported worker (no case yet) whose valid-until date
    has come; what the timer worker runs each round. The record then belongs to that case:
    its outcome renews or ends the record as for an archive case. Each record in its own
    transaction; a record taken by another worker first is left alone."""
    from sqlalchemy.exc import IntegrityError

    from workflows.cases import PROGRAMMES, Opening

    opened = 0
    while limit is None or opened < limit:
        with factory() as session:
            ids = list(
                session.scalars(
                    select(HardshipRecord.id)
                    .where(
                        HardshipRecord.status == "archived",
                        HardshipRecord.case_id.is_(None),
                        HardshipRecord.valid_until <= now(),
                    )
                    .order_by(HardshipRecord.valid_until, HardshipRecord.id)
                    .limit(RECHECK_CHUNK)
                )
            )
            if not ids:
                return opened
            prog = PROGRAMMES["archive_recheck"]
            opening = Opening.latest(session, prog, None)
            session.commit()
            for record_id in ids:
                try:
                    if _open_recheck(session, record_id, opening):
                        opened += 1
                except IntegrityError:
                    session.rollback()  # opened by another worker meanwhile
                if limit is not None and opened >= limit:
                    return opened
    return opened


def _open_recheck(session: Session, record_id: int, opening) -> bool:
    from workflows.cases import open_case

    query = select(HardshipRecord).where(
        HardshipRecord.id == record_id, HardshipRecord.case_id.is_(None)
    )
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    row = session.scalars(query).first()
    if row is None or row.status != "archived":
        session.rollback()
        return False
    imported = session.get(ArchiveImport, row.import_id) if row.import_id else None
    actor_id = imported.confirmed_by_id if imported else None
    actor = session.get(User, actor_id) if actor_id else None
    if actor is None:
        actor = session.scalars(
            select(User).where(User.roles.contains("manager")).order_by(User.id)
        ).first()
    org = session.get(Organisation, row.org_id)
    data = {
        "worker_name": row.worker_name,
        "hardship_category": row.category,
        "archive_record_id": row.id,
        "valid_until": row.valid_until.isoformat() if row.valid_until else "",
    }
    with engine.unit_of_work(session):
        case = open_case(session, actor, org, opening, data, row.subject_key, row.subject_id_masked)
        row.case_id = case.id
        record(
            session,
            None,
            case.id,
            "archive.recheck_open",
            f"档案有效期届满，开始回头看：{privacy.mask_name(row.worker_name)}",
            record_id=row.id,
        )
    return True
