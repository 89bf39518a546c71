"""Cases: start one from an application, read it, cancel it.

Each programme names the process it runs, how its case numbers read, which fields name
and identify the applicant, and whether a subject may have only one case per year
(金秋助学: one grant per student per year).
"""

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from workflows import access, engine, forms, privacy
from workflows.audit import record
from workflows.clock import now
from workflows.errors import Forbidden, NotFound, ValidationFailed
from workflows.models import (
    AuditEvent,
    Campaign,
    Case,
    GrantClaim,
    HumanTask,
    ProcessInstance,
    StoredFile,
    User,
)
from workflows.payments import before_cancel
from workflows.processes import latest_version, loaded_version, pin_called_versions


@dataclass(frozen=True)
class Programme:
    process_id: str
    label: str
    case_prefix: str
    name_field: str
    id_field: str
    needs_campaign: bool
    # Field whose value picks the campaign's standard amount, if any.
    standard_by: str | None
    # Outcomes after which the subject keeps its claim for the year; any other end
    # (rejected, objection upheld, cancelled) frees it for a new application.
    claim_kept_on: frozenset[str]
    one_per_year: bool
    subject_label: str


PROGRAMMES: dict[str, Programme] = {
    "tuition_grant": Programme(
        "tuition_grant",
        "金秋助学",
        "JQ",
        "student_name",
        "student_id_number",
        True,
        "education_level",
        frozenset({"end_paid"}),
        True,
        "学生",
    ),
    "seasonal_aid": Programme(
        "seasonal_aid",
        "四季送",
        "SJ",
        "worker_name",
        "worker_id_number",
        True,
        "hardship_category",
        frozenset({"end_paid", "end_goods"}),
        True,
        "职工",
    ),
    "hardship_archive": Programme(
        "hardship_archive",
        "困难职工建档",
        "DA",
        "worker_name",
        "worker_id_number",
        False,
        None,
        frozenset(),
        False,
        "职工",
    ),
}
DEFAULT_NOTICE_DAYS = 5


def programme(process_id: str) -> Programme:
    if process_id not in PROGRAMMES:
        raise ValidationFailed(f"未知的业务类型“{process_id}”")
    return PROGRAMMES[process_id]


def _claim_scope(prog: Programme, campaign: Campaign | None) -> tuple[str, int]:
    if prog.process_id == "seasonal_aid" and campaign is not None:
        # One case per worker per campaign (冬送温暖 and 夏送清凉 of one year are separate).
        return f"seasonal_aid:{campaign.code}", campaign.year
    if prog.one_per_year and campaign is not None:
        return prog.process_id, campaign.year
    return prog.process_id, 0  # while running only: one open archive case per worker


def _existing_claim(session: Session, scope: tuple[str, int], key: str) -> GrantClaim | None:
    return session.scalars(
        select(GrantClaim).where(
            GrantClaim.programme == scope[0],
            GrantClaim.year == scope[1],
            GrantClaim.subject_key == key,
        )
    ).first()


def _refuse_duplicate(session: Session, prog: Programme, claim: GrantClaim, year: int) -> None:
    other = session.get(Case, claim.case_id)
    number = other.case_no if other else ""
    if prog.one_per_year:
        message = (
            f"该{prog.subject_label} {year} 年度已申请过{prog.label}（案件 {number}），"
            f"同一{prog.subject_label}每年只能资助一次"
        )
    else:
        message = f"该{prog.subject_label}已有正在办理的{prog.label}案件（{number}）"
    raise ValidationFailed(message, errors={prog.id_field: message})


def check_files(session: Session, user: User, file_ids: list[int], case: Case | None) -> None:
    for file_id in file_ids:
        stored = session.get(StoredFile, file_id)
        if (
            stored is None
            or stored.org_id != user.org_id
            or (stored.case_id is not None and (case is None or stored.case_id != case.id))
        ):
            raise ValidationFailed("上传的文件不存在或无权使用，请重新上传")


def attach_files(session: Session, file_ids: list[int], case: Case) -> None:
    for file_id in file_ids:
        session.get(StoredFile, file_id).case_id = case.id


def start_case(
    session: Session,
    user: User,
    process_id: str,
    data: dict[str, Any],
    campaign_id: int | None = None,
) -> Case:
    """Register an application and run it to its first wait. One transaction."""
    prog = programme(process_id)
    if not user.has_role("caseworker"):
        raise Forbidden("只有经办人可以登记申请")
    with engine.unit_of_work(session):
        campaign = None
        if prog.needs_campaign:
            campaign = session.get(Campaign, campaign_id) if campaign_id else None
            if campaign is None or campaign.programme != process_id:
                raise ValidationFailed(
                    f"请选择一个{prog.label}活动", errors={"campaign": "请选择活动"}
                )
            if campaign.status != "open":
                raise ValidationFailed(f"活动“{campaign.name}”已结束，不再受理申请")
        version = loaded_version(session, latest_version(session, process_id).id)
        fields = version.meta.get("start_form", [])
        clean, errors = forms.validate(fields, data)
        if errors:
            raise ValidationFailed("申请信息有误，请按提示修改", errors=errors)
        check_files(session, user, forms.file_ids(fields, clean), None)

        amount = 0
        if campaign is not None and prog.standard_by:
            standards = json.loads(campaign.standards_json or "{}")
            choice = clean.get(prog.standard_by)
            if choice not in standards:
                message = f"活动“{campaign.name}”未设置该类别的标准"
                raise ValidationFailed(message, errors={prog.standard_by: message})
            amount = int(standards[choice])

        id_number = clean[prog.id_field]
        key = privacy.subject_key(id_number)
        scope = _claim_scope(prog, campaign)
        claim = _existing_claim(session, scope, key)
        if claim is not None:
            _refuse_duplicate(session, prog, claim, scope[1])

        case = Case(
            programme=process_id,
            campaign_id=campaign.id if campaign else None,
            org_id=user.org_id,
            applicant_name=clean[prog.name_field],
            subject_key=key,
            subject_id_masked=privacy.mask_id(id_number),
            amount_fen=amount,
            created_by_id=user.id,
        )
        case.org = user.org
        session.add(case)
        session.flush()
        year = campaign.year if campaign else now().year
        case.case_no = f"{prog.case_prefix}{year}{case.id:06d}"
        session.add(GrantClaim(programme=scope[0], year=scope[1], subject_key=key, case_id=case.id))
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            claim = _existing_claim(session, scope, key)
            if claim is not None:
                _refuse_duplicate(session, prog, claim, scope[1])
            raise

        attach_files(session, forms.file_ids(fields, clean), case)
        called = {
            pid: loaded_version(session, vid)
            for pid, vid in pin_called_versions(session, version).items()
        }
        instance = ProcessInstance(
            case_id=case.id,
            version_id=version.id,
            subprocess_versions=json.dumps({pid: v.id for pid, v in called.items()}),
            state=b"",
        )
        instance.case = case
        session.add(instance)
        session.flush()

        start_data = dict(clean)
        start_data.update(
            programme=process_id,
            case_no=case.case_no,
            amount_fen=amount,
            campaign_id=campaign.id if campaign else None,
            campaign_year=year,
            aid_kind=campaign.aid_kind if campaign else "cash",
            city_approval_threshold_fen=campaign.city_approval_threshold_fen if campaign else 0,
            notice_days=campaign.notice_days if campaign else DEFAULT_NOTICE_DAYS,
        )
        workflow = engine.new_workflow(version, called)
        loaded = engine.Loaded(instance, case, version, called, workflow)

        def seed(wf):
            for task in wf.get_tasks(state=engine.TaskState.READY):
                task.data.update(start_data)

        record(
            session,
            user.id,
            case.id,
            "case.start",
            f"登记{prog.label}申请：{privacy.mask_name(case.applicant_name)}",
            programme=process_id,
            version=version.number,
        )
        engine.advance(session, loaded, user.id, seed)
    return case


def _release_claim(session: Session, loaded: "engine.Loaded") -> None:
    case = loaded.case
    prog = PROGRAMMES.get(case.programme)
    if prog is not None and case.outcome not in prog.claim_kept_on:
        session.execute(delete(GrantClaim).where(GrantClaim.case_id == case.id))


engine.CLOSE_HOOKS.append(_release_claim)


def cancel_case(session: Session, user: User, case_id: int, reason: str) -> Case:
    if not (user.has_role("caseworker") or user.has_role("manager")):
        raise Forbidden("只有经办人或管理员可以撤销案件")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("请填写撤销原因", errors={"reason": "请填写撤销原因"})
    with engine.unit_of_work(session):
        case = access.get_visible_case(session, user, case_id)
        loaded = engine.load_case(session, case.id)
        before_cancel(session, case)
        case.cancel_reason = reason[:500]
        engine.advance(session, loaded, user.id, lambda wf: wf.cancel())
        record(session, user.id, case.id, "case.cancel", f"撤销案件：{reason}")
    return case


def get_case(session: Session, user: User, case_id: int) -> Case:
    return access.get_visible_case(session, user, case_id)


def find_case(session: Session, user: User, case_no: str) -> Case:
    case = session.scalars(select(Case).where(Case.case_no == case_no)).first()
    if case is None:
        raise NotFound("案件不存在")
    return access.get_visible_case(session, user, case.id)


def history(session: Session, user: User, case_id: int) -> list[AuditEvent]:
    access.get_visible_case(session, user, case_id)
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.id)
        )
    )


def open_tasks(session: Session, case_id: int) -> list[HumanTask]:
    return list(
        session.scalars(
            select(HumanTask)
            .where(HumanTask.case_id == case_id, HumanTask.status == "open")
            .order_by(HumanTask.id)
        )
    )
