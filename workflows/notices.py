"""公示: the public notice of a case, and objections (异议) raised against it.

The diagram posts the notice (`post_notice(days)` in a script task) and closes it
(`close_notice(result)`); while it waits on the objection message, anyone may object
without logging in. An objection interrupts the notice and opens an investigation.
"""

import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.camunda.specs.event_definitions import MessageEventDefinition
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from workflows import engine, privacy, scripting
from workflows.audit import record
from workflows.clock import CST, now
from workflows.errors import NotFound, ValidationFailed
from workflows.models import Case, Objection, Organisation, PublicNotice

OBJECTION_MESSAGE = "objection"
NOTICE_RESULTS = ("passed", "upheld")
# An objection's reference: YY, the year and 10 random characters without look-alikes
# (31^10 ≈ 8×10^14), so that nobody finds another person's objection by trying numbers.
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
REFERENCE = re.compile(r"^YY\d{4}-[A-Z2-9]{10}$")
OUTCOME_LABELS = {
    "": "调查核实中",
    "upheld": "异议成立，该公示对象已终止办理",
    "dismissed": "经调查核实异议不成立，已重新公示",
    "closed": "案件已终止办理，调查结束",
}


@scripting.register("post_notice", "发布公示，返回 n 个工作日后公示期满的时刻")
def post_notice(days: int) -> str:
    days = int(days)
    if not 1 <= days <= 30:
        raise scripting.ScriptRefused("公示期应为 1 至 30 个工作日")
    calendar = engine.calendar()
    start = now()
    ends = calendar.period_end(start, days)
    warning = calendar.warning(start.date(), ends.date())
    ctx = engine.current_run()
    if warning:
        ctx.warnings.append(warning)
    engine.ask("post_notice", ends_at=ends.isoformat(), warning=warning)
    return ends.isoformat()


@scripting.register("close_notice", "结束公示（passed 公示通过 / upheld 异议成立）")
def close_notice(result: str) -> str:
    if result not in NOTICE_RESULTS:
        raise scripting.ScriptRefused(f"公示结果应为 {' 或 '.join(NOTICE_RESULTS)}")
    engine.ask("close_notice", result=result)
    return result


@engine.effect_handler("post_notice")
def _post(session: Session, loaded: engine.Loaded, payload: dict) -> None:
    case = loaded.case
    notice = session.scalars(select(PublicNotice).where(PublicNotice.case_id == case.id)).first()
    ends_at = datetime.fromisoformat(payload["ends_at"])
    if notice is None:
        notice = PublicNotice(
            case_id=case.id,
            org_id=case.org_id,
            programme=case.programme,
            masked_name=privacy.mask_name(case.applicant_name),
            masked_id=case.subject_id_masked,
            amount_fen=case.amount_fen,
            ends_at=ends_at,
            round=1,
        )
        session.add(notice)
    else:
        # Posted again after an investigation found the objection(s) unfounded.
        _resolve(session, notice, "dismissed")
        notice.round += 1
    notice.posted_at = now()
    notice.ends_at = ends_at
    notice.status = "open"
    notice.calendar_warning = payload.get("warning", "")
    record(
        session,
        None,
        case.id,
        "notice.post",
        f"发布公示（第 {notice.round} 轮），公示期至 {last_day(ends_at).isoformat()}",
        ends_at=payload["ends_at"],
    )


@engine.effect_handler("close_notice")
def _close(session: Session, loaded: engine.Loaded, payload: dict) -> None:
    notice = session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == loaded.case.id)
    ).first()
    if notice is not None:
        notice.status = payload["result"]
        if payload["result"] == "upheld":
            _resolve(session, notice, "upheld")
        label = "公示期满无异议" if payload["result"] == "passed" else "异议成立，公示终止"
        record(session, None, loaded.case.id, "notice.close", label)


def last_day(ends_at: datetime) -> date:
    """The last day of a period that ends at 24:00 China time."""
    return (ends_at - timedelta(seconds=1)).astimezone(CST).date()


def _withdraw(session: Session, loaded: engine.Loaded) -> None:
    case_id = loaded.case.id

    def read() -> tuple[PublicNotice, bool] | None:
        notice = session.scalars(
            select(PublicNotice).where(PublicNotice.case_id == case_id)
        ).first()
        return (notice, True) if notice is not None else None

    found = engine.prefetched(session, "public_notice", case_id, read)
    if found is None:
        return
    notice, objected = found  # objected: it may have objections still open
    if notice.status in ("open", "objection"):
        notice.status = "withdrawn"
    if objected:
        _resolve(session, notice, "closed")


def _prefetch_notices(session: Session, case_ids: list[int]) -> None:
    notices = {
        n.case_id: n
        for n in session.scalars(select(PublicNotice).where(PublicNotice.case_id.in_(case_ids)))
    }
    open_ = set(
        session.scalars(
            select(Objection.notice_id).where(
                Objection.notice_id.in_([n.id for n in notices.values()]), Objection.outcome == ""
            )
        )
    )
    engine.keep_prefetched(
        session, "public_notice", {c: (n, n.id in open_) for c, n in notices.items()}
    )


def _resolve(session: Session, notice: PublicNotice, outcome: str) -> None:
    """The investigation of the notice's open objections ended with `outcome`."""
    session.execute(
        update(Objection)
        .where(Objection.notice_id == notice.id, Objection.outcome == "")
        .values(outcome=outcome, resolved_at=now())
        .execution_options(synchronize_session=False)
    )


engine.CLOSE_HOOKS.append(_withdraw)
engine.CLOSE_PREFETCH.append(_prefetch_notices)


def new_reference() -> str:
    year = now().astimezone(CST).year
    return f"YY{year}-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(10))


@dataclass(frozen=True)
class ObjectionStatus:
    """What anyone holding the reference may learn: nothing personal, only the progress."""

    reference: str
    received_on: date
    outcome: str
    outcome_label: str
    resolved_on: date | None
    programme: str


def objection_status(session: Session, reference: str) -> ObjectionStatus:
    """The progress of the objection with this reference (异议编号)."""
    wanted = (reference or "").strip().upper()
    if not REFERENCE.match(wanted):
        message = "异议编号格式不正确（如 YY2026-ABCDEFGH23）"
        raise ValidationFailed(message, errors={"reference": message})
    found = session.scalars(select(Objection).where(Objection.reference == wanted)).first()
    if found is None:
        raise NotFound("未找到该异议编号，请核对后重新输入")
    notice = session.get(PublicNotice, found.notice_id)
    return ObjectionStatus(
        found.reference,
        found.received_at.astimezone(CST).date(),
        found.outcome,
        OUTCOME_LABELS.get(found.outcome, found.outcome),
        found.resolved_at.astimezone(CST).date() if found.resolved_at else None,
        notice.programme if notice else "",
    )


def current_notices(session: Session, org_code: str | None = None) -> list[PublicNotice]:
    query = select(PublicNotice).where(PublicNotice.status == "open")
    if org_code:
        org = session.scalars(select(Organisation).where(Organisation.code == org_code)).first()
        if org is None:
            return []
        subtree = select(Organisation.id).where(Organisation.path.startswith(org.path))
        query = query.where(PublicNotice.org_id.in_(subtree))
    return list(session.scalars(query.order_by(PublicNotice.ends_at, PublicNotice.id)))


def raise_objection(session: Session, notice_id: int, contact: str, reason: str) -> Objection:
    """Anyone may object to an open notice; it interrupts the notice for investigation."""
    contact, reason = (contact or "").strip(), (reason or "").strip()
    errors = {}
    if not contact or len(contact) > 100:
        errors["contact"] = "请填写联系方式（100 字以内）"
    if len(reason) < 5 or len(reason) > 2000:
        errors["reason"] = "请填写异议理由（5 至 2000 字）"
    if errors:
        raise ValidationFailed("异议信息不完整", errors=errors)
    with engine.unit_of_work(session):
        # Locked and read fresh: two objections at once, or a timer firing meanwhile.
        notice = session.get(PublicNotice, notice_id, with_for_update=True, populate_existing=True)
        if notice is None:
            raise NotFound("公示不存在")
        if notice.status not in ("open", "objection"):
            raise ValidationFailed("该公示已结束，不再受理异议")
        objection = Objection(
            notice_id=notice.id,
            case_id=notice.case_id,
            contact=contact,
            reason=reason,
            round=notice.round,
            reference=new_reference(),
        )
        session.add(objection)
        if notice.status == "objection":
            # Already under investigation: the new objection joins it.
            record(
                session, None, notice.case_id, "notice.objection", "收到异议（并入正在进行的调查）"
            )
            return objection
        loaded = engine.load_case(session, notice.case_id)
        notice.status = "objection"
        # The investigation form shows it read-only as `objection_summary`.
        event = BpmnEvent(
            MessageEventDefinition(OBJECTION_MESSAGE),
            {
                "payload": f"{reason}（异议人联系方式：{contact}）",
                "result_var": "objection_summary",
            },
        )

        def deliver(wf):
            wf.send_event(event)

        record(
            session,
            None,
            notice.case_id,
            "notice.objection",
            "收到异议，公示暂停，转入调查",
            round=notice.round,
        )
        engine.advance(session, loaded, None, deliver)
    return objection


def case_of(session: Session, notice: PublicNotice) -> Case:
    return session.get(Case, notice.case_id)


# --- the public notice board -------------------------------------------------------------

PUBLIC_PAGE_SIZE = 50
ACCEPTS_OBJECTIONS = ("open", "objection")


@dataclass(frozen=True)
class NoticeBoard:
    """One page of open notices, each with its organisation, for the public board."""

    rows: list[tuple[PublicNotice, Organisation]]
    total: int
    page: int
    per_page: int
    org: Organisation | None  # the chosen subtree, if any
    org_unknown: bool = False

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def notice_board(
    session: Session,
    org_code: str | None = None,
    page: int = 1,
    per_page: int = PUBLIC_PAGE_SIZE,
) -> NoticeBoard:
    """Open notices (not those under investigation), grouped by organisation, paginated.

    `org_code` narrows to that organisation's subtree; an unknown code lists nothing.
    """
    org = None
    conditions = [PublicNotice.status == "open"]
    if org_code:
        org = session.scalars(select(Organisation).where(Organisation.code == org_code)).first()
        if org is None:
            return NoticeBoard([], 0, 1, per_page, None, org_unknown=True)
        subtree = select(Organisation.id).where(Organisation.path.startswith(org.path))
        conditions.append(PublicNotice.org_id.in_(subtree))
    total = session.scalar(select(func.count(PublicNotice.id)).where(*conditions)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    query = (
        select(PublicNotice, Organisation)
        .join(Organisation, Organisation.id == PublicNotice.org_id)
        .where(*conditions)
        .order_by(Organisation.path, PublicNotice.ends_at, PublicNotice.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    rows = [(notice, notice_org) for notice, notice_org in session.execute(query)]
    return NoticeBoard(rows, total, page, per_page, org)


def board_organisations(session: Session) -> list[Organisation]:
    """Organisations to filter the board by: the city and district federations always,
    grassroots unions only while they have an open notice (there may be thousands)."""
    with_notices = select(PublicNotice.org_id).where(PublicNotice.status == "open")
    query = (
        select(Organisation)
        .where(or_(Organisation.level <= 2, Organisation.id.in_(with_notices)))
        .order_by(Organisation.path)
    )
    return list(session.scalars(query))


def notice_for_objection(session: Session, notice_id: int) -> tuple[PublicNotice, Organisation]:
    """The notice an objection form is for; refused once the notice has ended."""
    notice = session.get(PublicNotice, notice_id)
    if notice is None:
        raise NotFound("公示不存在")
    if notice.status not in ACCEPTS_OBJECTIONS:
        raise ValidationFailed("该公示已结束，不再受理异议")
    return notice, session.get(Organisation, notice.org_id)
