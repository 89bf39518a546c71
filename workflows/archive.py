"""困难职工档案: the record an approved archive case creates, and the yearly 回头看."""

from calendar import monthrange
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows import engine, scripting
from workflows.audit import record
from workflows.clock import CST, now
from workflows.models import HardshipRecord


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
    )
    return valid_until.isoformat()


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
    row.bank_card = payload.get("bank_card", "")
    row.account_name = payload.get("account_name", "")
    row.phone = payload.get("phone", "")


@engine.effect_handler("leave_archive")
def _leave(session: Session, loaded: engine.Loaded, payload: dict) -> None:
    row = session.scalars(
        select(HardshipRecord).where(HardshipRecord.case_id == loaded.case.id)
    ).first()
    if row is not None:
        row.status = "left"
        row.left_at = now()
        record(session, None, loaded.case.id, "archive.leave", "解困脱困，退出档案")


def _close_record(session: Session, loaded: engine.Loaded) -> None:
    """A case cancelled while archived must not leave the worker archived without re-checks."""
    row = session.scalars(
        select(HardshipRecord).where(HardshipRecord.case_id == loaded.case.id)
    ).first()
    if row is not None and row.status == "archived":
        row.status = "cancelled"
        row.left_at = now()
        record(session, None, loaded.case.id, "archive.cancel", "案件撤销，档案随之注销")


engine.CLOSE_HOOKS.append(_close_record)


def archived_workers(session: Session, org_ids: list[int] | None = None) -> list[HardshipRecord]:
    query = select(HardshipRecord).where(HardshipRecord.status == "archived")
    if org_ids is not None:
        query = query.where(HardshipRecord.org_id.in_(org_ids))
    return list(session.scalars(query))
