"""Where a running case stands when it waits on no person: why, and until when.

"公示中，至 12月8日期满", "异议调查中", "待财务生成发放批次", "已发送银行，等待回盘": read
from the case's business rows (its notice, its payment and batch, its archive record,
the instance's next timer), for one case or a page of them in a few queries. Each answer
has a code the pages translate, the Chinese text the API gives, and the day it ends.
"""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.clock import CST, as_utc, now
from workflows.models import (
    Case,
    HardshipRecord,
    HumanTask,
    Payment,
    PaymentBatch,
    ProcessInstance,
    PublicNotice,
)
from workflows.notices import last_day

TEXTS = {
    "notice": "公示中，至 {day}期满",
    "objection": "异议调查中",
    "payable": "待财务生成发放批次",
    "in_batch": "已编入发放批次，待财务发送银行",
    "sent": "已发送银行，等待回盘",
    "bank_answered": "银行已回盘，系统处理中",
    "archived": "已建档，{day}回头看复核",
    "timer": "等待至 {day}",
    "system": "系统处理中",
}


@dataclass(frozen=True)
class Waiting:
    code: str
    until: date | None = None

    @property
    def text(self) -> str:
        return TEXTS[self.code].format(day=month_day(self.until) if self.until else "")


def month_day(day: date) -> str:
    """12月8日; with the year when it is not this year (2027年1月5日)."""
    if day.year != now().astimezone(CST).year:
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.month}月{day.day}日"


def waiting_for(session: Session, cases: list[Case]) -> dict[int, Waiting]:
    """For each running case of the list that no person has a task for (or whose notice
    is under investigation), why it waits. A few queries for the whole list."""
    running = [c.id for c in cases if c.status == "running"]
    if not running:
        return {}
    with_tasks = set(
        session.scalars(
            select(HumanTask.case_id)
            .where(HumanTask.case_id.in_(running), HumanTask.status == "open")
            .distinct()
        )
    )
    notices = {
        n.case_id: n
        for n in session.scalars(select(PublicNotice).where(PublicNotice.case_id.in_(running)))
    }
    payments = {}
    for payment, batch in session.execute(
        select(Payment, PaymentBatch)
        .outerjoin(PaymentBatch, PaymentBatch.id == Payment.batch_id)
        .where(Payment.case_id.in_(running))
        .order_by(Payment.id)
    ):
        payments[payment.case_id] = (payment, batch)
    timers = dict(
        session.execute(
            select(ProcessInstance.case_id, ProcessInstance.next_timer_at).where(
                ProcessInstance.case_id.in_(running)
            )
        )
        .tuples()
        .all()
    )
    archived = set(
        session.scalars(
            select(HardshipRecord.case_id).where(
                HardshipRecord.case_id.in_(running), HardshipRecord.status == "archived"
            )
        )
    )
    found: dict[int, Waiting] = {}
    for case_id in running:
        notice = notices.get(case_id)
        if notice is not None and notice.status == "objection":
            found[case_id] = Waiting("objection")
            continue
        if case_id in with_tasks:
            continue
        found[case_id] = _reason(
            notice, payments.get(case_id), timers.get(case_id), case_id in archived
        )
    return found


def _reason(notice, payment_row, timer, archived: bool) -> Waiting:
    if notice is not None and notice.status == "open":
        return Waiting("notice", last_day(notice.ends_at))
    if payment_row is not None:
        payment, batch = payment_row
        if payment.delivery == "pending" or payment.status in ("paid", "failed"):
            return Waiting("bank_answered")
        if payment.status == "payable":
            return Waiting("payable")
        if payment.status == "in_batch":
            return Waiting("sent" if batch is not None and batch.status != "draft" else "in_batch")
    if timer is not None:
        day = as_utc(timer).astimezone(CST).date()
        return Waiting("archived" if archived else "timer", day)
    return Waiting("system")


def waiting(session: Session, case: Case) -> Waiting | None:
    return waiting_for(session, [case]).get(case.id)
