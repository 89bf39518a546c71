"""Cases: start one from an application, read it, cancel it.

Each programme names the process it runs, how its case numbers read, which fields name
and identify the applicant, and whether a subject may have only one case per year
(金秋助学: one grant per student per year).
"""

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from workflows import access, engine, forms, privacy, progress
from workflows.audit import record
from workflows.clock import CST, now
from workflows.errors import Conflict, Forbidden, NotFound, ValidationFailed
from workflows.models import (
    AuditEvent,
    BudgetReservation,
    Campaign,
    Case,
    GrantClaim,
    HumanTask,
    Organisation,
    Payment,
    ProcessInstance,
    ProcessVersion,
    PublicNotice,
    StoredFile,
    User,
)
from workflows.notices import last_day
from workflows.payments import before_cancel
from workflows.processes import ROLES, loaded_version, newest_with_called


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
    # A caseworker registers applications for it (not so a case the system opens).
    registerable: bool = True


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
    # The 回头看 of a worker loaded from an existing archive: opened by the timer worker
    # on the record's valid-until date (archive.open_due_rechecks), never registered.
    "archive_recheck": Programme(
        "archive_recheck",
        "回头看复核",
        "HK",
        "worker_name",
        "worker_id_number",
        False,
        None,
        frozenset(),
        False,
        "职工",
        registerable=False,
    ),
}
DEFAULT_NOTICE_DAYS = 5


def programme(process_id: str) -> Programme:
    if process_id not in PROGRAMMES:
        raise ValidationFailed(f"未知的业务类型“{process_id}”")
    return PROGRAMMES[process_id]


def open_campaigns(session: Session, process_id: str) -> list[Campaign]:
    """Campaigns of a programme that accept applications now, newest year first."""
    today = now().astimezone(CST).date()
    return [
        c
        for c in session.scalars(
            select(Campaign)
            .where(Campaign.programme == process_id, Campaign.status == "open")
            .order_by(Campaign.year.desc(), Campaign.id)
        )
        if (c.opens_on is None or c.opens_on <= today)
        and (c.closes_on is None or today <= c.closes_on)
    ]


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


def _claim(session: Session, prog: Programme, scope: tuple[str, int], key: str, case_id: int):
    """Claim the subject's grant for the case. A claim already there, even one a
    concurrent application has just written, refuses this one: the insert does nothing on
    the unique key (the database waits for the other transaction to end), with no
    savepoint to undo, and the caller's transaction (or a launch's chunk) rolls back the
    case."""
    table = GrantClaim.__table__
    insert = (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(
        table
    )
    claimed = session.execute(
        insert.values(programme=scope[0], year=scope[1], subject_key=key, case_id=case_id)
        .on_conflict_do_nothing(index_elements=["programme", "year", "subject_key"])
        .returning(table.c.id)
    ).scalar()
    if claimed is not None:
        return
    claim = _existing_claim(session, scope, key)
    if claim is not None:
        _refuse_duplicate(session, prog, claim, scope[1])
    raise Conflict("同一对象的申请正由他人同时登记，请稍后重试")


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
    if not prog.registerable:
        raise ValidationFailed(f"{prog.label}由系统按档案有效期发起，不能登记申请")
    with engine.unit_of_work(session):
        campaign = None
        if prog.needs_campaign:
            campaign = session.get(Campaign, campaign_id) if campaign_id else None
            if campaign is None or campaign.programme != process_id:
                raise ValidationFailed(
                    f"请选择一个{prog.label}活动", errors={"campaign": "请选择活动"}
                )
            refuse_closed(campaign)
        version, called = newest_with_called(session, process_id)
        fields = version.meta.get("start_form", [])
        today = now().astimezone(CST).date()
        clean, errors = forms.validate(fields, data, forms.FormContext(today, today))
        if errors:
            raise ValidationFailed("申请信息有误，请按提示修改", errors=errors)
        check_files(session, user, forms.file_ids(fields, clean), None)

        id_number = clean[prog.id_field]
        key = privacy.subject_key(id_number)
        case = open_case(
            session,
            user,
            user.org,
            Opening(prog, campaign, version, called),
            clean,
            key,
            privacy.mask_id(id_number),
        )
        attach_files(session, forms.file_ids(fields, clean), case)
        access.worked_on(session, user, case.id, "registered", new_case=True)
    return case


def refuse_closed(campaign: Campaign) -> None:
    """A campaign takes applications while open and within its dates."""
    if campaign.status != "open":
        raise ValidationFailed(f"活动“{campaign.name}”已结束，不再受理申请")
    today = now().astimezone(CST).date()
    if campaign.opens_on and today < campaign.opens_on:
        raise ValidationFailed(
            f"活动“{campaign.name}”自 {campaign.opens_on.isoformat()} 起受理申请"
        )
    if campaign.closes_on and today > campaign.closes_on:
        raise ValidationFailed(
            f"活动“{campaign.name}”已于 {campaign.closes_on.isoformat()} 截止受理"
        )


@dataclass(frozen=True)
class Opening:
    """What every case opened in one go shares: programme, campaign and the versions it
    pins (a campaign launch resolves them once for thousands of cases)."""

    prog: Programme
    campaign: Campaign | None
    version: Any
    called: dict

    @classmethod
    def latest(cls, session: Session, prog: Programme, campaign: Campaign | None) -> "Opening":
        return cls(prog, campaign, *newest_with_called(session, prog.process_id))


def standard_amount(campaign: Campaign | None, prog: Programme, clean: dict) -> int:
    if campaign is None or not prog.standard_by:
        return 0
    standards = json.loads(campaign.standards_json or "{}")
    choice = clean.get(prog.standard_by)
    if choice not in standards:
        message = f"活动“{campaign.name}”未设置该类别的标准"
        raise ValidationFailed(message, errors={prog.standard_by: message})
    return int(standards[choice])


def initial_data(
    prog: Programme, campaign: Campaign | None, clean: dict, amount: int, case_no: str
) -> dict[str, Any]:
    """What a new case's workflow starts with: the application and the campaign's terms."""
    data = dict(clean)
    data.update(
        programme=prog.process_id,
        case_no=case_no,
        amount_fen=amount,
        campaign_id=campaign.id if campaign else None,
        campaign_year=campaign.year if campaign else now().year,
        aid_kind=campaign.aid_kind if campaign else "cash",
        city_approval_threshold_fen=campaign.city_approval_threshold_fen if campaign else 0,
        notice_days=campaign.notice_days if campaign else DEFAULT_NOTICE_DAYS,
    )
    return data


CASE_NO_PLACEHOLDER = "\x00warmflow:case_no\x00"


def approval_levels_needed(campaign: Campaign | None, amount_fen: int) -> int:
    """The approval levels the programme's rules require: the district federation's, and
    the city federation's too above the campaign's threshold. A diagram may ask for more,
    never fewer: money moves only after the approval at this level (see tasks.complete)."""
    if campaign is not None and amount_fen > campaign.city_approval_threshold_fen:
        return 3
    return 2


def open_case(
    session: Session,
    actor: User,
    org: Organisation,
    opening: Opening,
    clean: dict[str, Any],
    key: str,
    id_masked: str,
) -> Case:
    """Open a case for already validated data at `org` and run it to its first wait, in
    the caller's transaction. Refuses a second claim for the same subject."""
    prog, campaign, version = opening.prog, opening.campaign, opening.version
    if org.closed_at is not None:  # 撤销: the unit's history stays, no new case
        raise ValidationFailed(f"{org.name}已撤销，不能再登记新的申请")
    amount = standard_amount(campaign, prog, clean)
    scope = _claim_scope(prog, campaign)
    claim = _existing_claim(session, scope, key)
    if claim is not None:
        _refuse_duplicate(session, prog, claim, scope[1])

    case = Case(
        programme=prog.process_id,
        campaign_id=campaign.id if campaign else None,
        org_id=org.id,
        applicant_name=clean[prog.name_field],
        subject_key=key,
        subject_id_masked=id_masked,
        amount_fen=amount,
        approval_levels=approval_levels_needed(campaign, amount),
        category=str(clean.get(prog.standard_by) or "") if prog.standard_by else "",
        created_by_id=actor.id,
    )
    case.org = org
    instance = ProcessInstance(
        version_id=version.id,
        subprocess_versions=json.dumps({pid: v.id for pid, v in opening.called.items()}),
        state=b"",
    )
    instance.case = case

    # The engine runs before anything is written (the case number is filled in after),
    # so a diagram that runs away holds no database lock while it is cut off.
    start_data = initial_data(prog, campaign, clean, amount, CASE_NO_PLACEHOLDER)

    def seed(wf):
        for task in wf.get_tasks(state=engine.TaskState.READY):
            task.data.update(start_data)

    workflow = engine.new_workflow(version, opening.called)
    # A new instance has no task rows to settle: none is read.
    loaded = engine.Loaded(instance, case, version, opening.called, workflow, open_rows=[])
    ctx = engine.run(session, loaded, seed)

    session.add(case)
    session.flush()
    _claim(session, prog, scope, key, case.id)
    session.add(instance)
    session.flush()
    # The number goes out with the instance's state, in the statement that writes it.
    year = campaign.year if campaign else now().year
    case.case_no = f"{prog.case_prefix}{year}{case.id:06d}"
    if not engine.fill_in(loaded, ctx, CASE_NO_PLACEHOLDER, case.case_no):
        # A script built something from the case number: run again with the real one.
        start_data["case_no"] = case.case_no
        loaded.workflow = engine.new_workflow(version, opening.called)
        ctx = engine.run(session, loaded, seed)

    record(
        session,
        actor.id,
        case.id,
        "case.start",
        f"登记{prog.label}申请：{privacy.mask_name(case.applicant_name)}",
        programme=prog.process_id,
        version=version.number,
    )
    engine.commit_run(session, loaded, actor.id, ctx)
    return case


def _release_claim(session: Session, loaded: "engine.Loaded") -> None:
    case = loaded.case
    prog = PROGRAMMES.get(case.programme)
    if prog is not None and case.outcome not in prog.claim_kept_on:
        session.execute(delete(GrantClaim).where(GrantClaim.case_id == case.id))


engine.CLOSE_HOOKS.append(_release_claim)


def withdraw_refusal(
    session: Session, user: User, case: Case, data: dict[str, Any] | None = None
) -> str:
    """Why `user` may not withdraw (撤销) `case` now; "" when they may.

    A caseworker of the case's union withdraws it until the final approval (a notice
    running or an objection under investigation ends with it). After the final approval
    the money is reserved or on its way: only a manager may cancel then, and nobody once
    the payment is with the bank or paid."""
    if not user.is_active or not (user.has_role("caseworker") or user.has_role("manager")):
        return "只有经办人或管理员可以撤销案件"
    if not access.in_subtree(user, case.org):
        return "无权撤销该案件"
    if case.status != "running":
        return "案件已结束，不能撤销"
    payment = session.scalars(select(Payment).where(Payment.case_id == case.id)).first()
    if payment is not None and payment.status in ("in_batch", "paid"):
        return "该案件的付款已提交银行或已发放，不能撤销"
    if user.has_role("manager"):
        return ""
    if data is None:
        data = engine.case_data(session, case)
    approved = (
        data.get("approval_result") == "approved"
        or payment is not None
        or session.scalars(
            select(BudgetReservation.id).where(BudgetReservation.case_id == case.id)
        ).first()
        is not None
    )
    if approved:
        return "案件已终审通过，经办人不能再撤销；如确需终止，请联系管理员"
    return ""


def cancel_case(session: Session, user: User, case_id: int, reason: str) -> Case:
    """撤销: withdraw a case with a reason (see withdraw_refusal for who may, and when)."""
    if not (user.has_role("caseworker") or user.has_role("manager")):
        raise Forbidden("只有经办人或管理员可以撤销案件")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("请填写撤销原因", errors={"reason": "请填写撤销原因"})
    if len(reason) > 500:
        raise ValidationFailed(
            "撤销原因不能超过 500 字", errors={"reason": "撤销原因不能超过 500 字"}
        )
    with engine.unit_of_work(session):
        case = access.get_visible_case(session, user, case_id)
        loaded = engine.load_case(session, case.id)
        refusal = withdraw_refusal(session, user, case, engine.case_data(session, case))
        if refusal:
            raise Conflict(refusal)
        before_cancel(session, case)
        case.cancel_reason = reason
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


# --- reading a whole case: the case page -------------------------------------------------

STATUS_LABELS = {"running": "办理中", "completed": "已结案", "cancelled": "已撤销"}
PAYMENT_STATUS_LABELS = {
    "payable": "待发放",
    "in_batch": "已提交银行",
    "paid": "已发放",
    "failed": "发放失败",
    "cancelled": "已取消",
}
NOTICE_STATUS_LABELS = {
    "open": "公示中",
    "objection": "异议调查中",
    "passed": "公示期满无异议",
    "upheld": "异议成立",
    "withdrawn": "已撤下",
}
SYSTEM_ACTOR = "系统"


@dataclass
class ShownField:
    """One form value as a person may see it: labelled, personal numbers masked."""

    label: str
    text: str
    file_id: int | None = None
    # Money (fen) and yes/no as they are, for pages that show them in another language
    # (`text` is the Chinese).
    kind: str = ""
    raw: Any = None


@dataclass
class Step:
    """A completed task and what was entered in it (from the audit trail, already masked)."""

    name: str
    actor: str
    at: datetime
    fields: list[ShownField]
    # Which diagram element (and process) the task was: printed documents group by them.
    element: str = ""
    process_id: str = ""


@dataclass
class OpenTask:
    task: HumanTask
    group_label: str
    assignee: str
    overdue: bool
    actionable: bool  # the viewer may open and complete it


@dataclass
class HistoryEntry:
    at: datetime
    actor: str
    action: str
    summary: str


@dataclass
class CaseView:
    case: Case
    programme_label: str
    status_label: str
    campaign: Campaign | None
    created_by: str
    application: list[ShownField]
    steps: list[Step]
    tasks: list[OpenTask]
    payments: list[Payment]
    notice: PublicNotice | None
    notice_last_day: date | None
    files: list[StoredFile]
    history: list[HistoryEntry]
    # (process id, name) of the case's diagrams: its own process first, then the ones it calls.
    processes: list[tuple[str, str]] = field(default_factory=list)
    # Why a running case waits on no person (公示中，至 12月8日期满, ...), if it does.
    waiting: "progress.Waiting | None" = None
    # Whether the viewer may withdraw (撤销) it now, and if not, why not.
    withdrawable: bool = False
    withdraw_refusal: str = ""


def status_label(case: Case) -> str:
    if case.status == "completed" and case.outcome_label:
        return f"已结案（{case.outcome_label}）"
    return STATUS_LABELS.get(case.status, case.status)


def shown_value(spec: dict, value: Any) -> ShownField:
    """A form field's value for display. ID and bank-card numbers only ever masked."""
    kind = spec.get("type", "string")
    label = spec.get("label") or spec.get("id", "")
    if value is None or value == "":
        return ShownField(label, "—")
    if kind == "id_number":
        return ShownField(label, privacy.mask_id(str(value)))
    if kind == "bank_card":
        return ShownField(label, privacy.mask_card(str(value)))
    if kind == "enum":
        options = {str(o[0]): o[1] for o in spec.get("options", [])}
        return ShownField(label, options.get(str(value), str(value)))
    if kind == "money" and isinstance(value, int) and not isinstance(value, bool):
        return ShownField(label, f"{value / 100:,.2f} 元", kind="money", raw=value)
    if kind == "boolean":
        return ShownField(label, "是" if value else "否", kind="boolean", raw=bool(value))
    if kind == "file" and isinstance(value, int) and not isinstance(value, bool):
        return ShownField(label, f"文件 {value}", file_id=value)
    # Free text may quote an ID or card number, however it was typed.
    return ShownField(label, privacy.mask_numbers(str(value)))


def _case_versions(session: Session, case: Case) -> tuple[ProcessInstance, list]:
    instance = session.scalars(
        select(ProcessInstance).where(ProcessInstance.case_id == case.id)
    ).one()
    top = loaded_version(session, instance.version_id)
    pins = json.loads(instance.subprocess_versions or "{}")
    called = {pid: loaded_version(session, vid) for pid, vid in pins.items()}
    # In the order the diagrams call them (入户核查 → 公示 → 审批 → 发放), not by name.
    ordered, pending = [top], [top]
    while pending:
        for spec in pending.pop(0).spec.task_specs.values():
            pid = getattr(spec, "spec", None)
            if isinstance(spec, CallActivity) and pid in called and called[pid] not in ordered:
                ordered.append(called[pid])
                pending.append(called[pid])
    ordered += sorted((v for v in called.values() if v not in ordered), key=lambda v: v.process_id)
    return instance, ordered


def _names(session: Session, user_ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    return dict(rows.tuples().all())


def case_view(session: Session, user: User, case_id: int) -> CaseView:
    """Everything the case page shows, for a user whose organisation subtree holds the case."""
    case = access.get_visible_case(session, user, case_id)
    _, versions = _case_versions(session, case)
    top = versions[0]

    data = engine.case_data(session, case)
    application = [shown_value(f, data.get(f["id"])) for f in top.meta.get("start_form", [])]
    prog = PROGRAMMES.get(case.programme)
    for spec, shown in zip(top.meta.get("start_form", []), application, strict=True):
        if prog is not None and spec["id"] == prog.name_field and shown.text != "—":
            shown.text = privacy.mask_name(shown.text)  # the applicant: 王*明, as everywhere

    events = list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.id)
        )
    )
    open_rows = open_tasks(session, case.id)
    names = _names(
        session,
        {e.actor_id for e in events} | {t.assignee_id for t in open_rows} | {case.created_by_id},
    )

    user_tasks: dict[str, dict] = {}
    owners: dict[str, str] = {}
    for version in reversed(versions):  # the case's own process wins a clash of ids
        user_tasks.update(version.meta.get("user_tasks", {}))
        owners.update(dict.fromkeys(version.meta.get("user_tasks", {}), version.process_id))
    steps = []
    for event in events:
        if event.action != "task.complete":
            continue
        detail = json.loads(event.detail or "{}")
        meta = user_tasks.get(detail.get("element", ""), {})
        entered = detail.get("data") or {}
        shown = [
            shown_value(f, entered[f["id"]]) for f in meta.get("fields", []) if f["id"] in entered
        ]
        name = meta.get("name") or event.summary.split("：", 1)[0]
        element = detail.get("element", "")
        actor = names.get(event.actor_id, SYSTEM_ACTOR)
        steps.append(Step(name, actor, event.at, shown, element, owners.get(element, "")))

    moment = now()
    tasks = [
        OpenTask(
            row,
            ROLES.get(row.candidate_group, row.candidate_group),
            names.get(row.assignee_id, "") if row.assignee_id else "",
            bool(row.due_at and row.due_at < moment),
            access.can_act_on_task(user, row),
        )
        for row in open_rows
    ]
    notice = session.scalars(select(PublicNotice).where(PublicNotice.case_id == case.id)).first()
    refusal = withdraw_refusal(session, user, case, data)
    return CaseView(
        case=case,
        programme_label=PROGRAMMES[case.programme].label
        if case.programme in PROGRAMMES
        else case.programme,
        status_label=status_label(case),
        campaign=session.get(Campaign, case.campaign_id) if case.campaign_id else None,
        created_by=names.get(case.created_by_id, SYSTEM_ACTOR) if case.created_by_id else "",
        application=application,
        steps=steps,
        tasks=tasks,
        payments=list(
            session.scalars(select(Payment).where(Payment.case_id == case.id).order_by(Payment.id))
        ),
        notice=notice,
        notice_last_day=last_day(notice.ends_at) if notice else None,
        files=list(
            session.scalars(
                select(StoredFile).where(StoredFile.case_id == case.id).order_by(StoredFile.id)
            )
        ),
        history=[
            HistoryEntry(
                e.at,
                names.get(e.actor_id, SYSTEM_ACTOR) if e.actor_id else SYSTEM_ACTOR,
                e.action,
                privacy.mask_numbers(e.summary or ""),
            )
            for e in events
        ],
        processes=[(v.process_id, _process_name(v)) for v in versions],
        waiting=progress.waiting(session, case),
        withdrawable=not refusal,
        withdraw_refusal=refusal,
    )


def _process_name(version) -> str:
    return version.meta.get("name") or version.process_id


def case_diagrams(session: Session, user: User, case_id: int) -> dict[str, dict]:
    """The BPMN of the case's process and of every process it calls (the versions it is
    pinned to), each with the elements passed ("done") and the current step(s)."""
    case = access.get_visible_case(session, user, case_id)
    _, versions = _case_versions(session, case)
    marks = engine.diagram_marks(session, case)
    xml = dict(
        session.execute(
            select(ProcessVersion.id, ProcessVersion.bpmn_xml).where(
                ProcessVersion.id.in_([v.id for v in versions])
            )
        )
        .tuples()
        .all()
    )
    answer = {}
    for version in versions:
        mark = marks.get(version.process_id, {})
        answer[version.process_id] = {
            "name": _process_name(version),
            "version": version.number,
            "xml": xml[version.id],
            "done": mark.get("done", []),
            "current": mark.get("current", []),
        }
    return answer


# --- search -----------------------------------------------------------------------------

# Supervisors, managers and finance search within their organisation's subtree;
# caseworkers and level-1 approvers within their own union.
SEARCH_ROLES = frozenset(access.GROUP_LEVEL)
SUBJECT_KEY = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class CaseCriteria:
    case_no: str = ""
    name: str = ""
    # An ID number is turned into its keyed hash here and never kept; callers that must
    # not carry the number around (a URL) pass the hash as subject_key instead.
    id_number: str = ""
    subject_key: str = ""
    status: str = ""
    programme: str = ""
    org_id: int | None = None


@dataclass
class CasePage:
    cases: list[Case]
    total: int
    limit: int
    offset: int


def may_search(user: User) -> bool:
    return user.is_active and bool(user.role_set & SEARCH_ROLES)


def id_search_key(id_number: str) -> str:
    """The keyed hash an exact ID-number search looks for; a bad number is refused."""
    try:
        number = forms.normalise_id_number(id_number)
    except ValueError as err:
        raise ValidationFailed(str(err), errors={"id_number": str(err)}) from None
    return privacy.subject_key(number)


def search(
    session: Session, user: User, criteria: CaseCriteria, limit: int = 20, offset: int = 0
) -> CasePage:
    """Cases within the user's scope matching every given criterion, newest first."""
    if not may_search(user):
        raise Forbidden("无权查询案件")
    conditions = [access.visible_cases(user)]
    if criteria.case_no.strip():
        conditions.append(
            Case.case_no.startswith(criteria.case_no.strip().upper(), autoescape=True)
        )
    if criteria.name.strip():
        conditions.append(Case.applicant_name.contains(criteria.name.strip(), autoescape=True))
    key = criteria.subject_key.strip().lower()
    if criteria.id_number.strip():
        key = id_search_key(criteria.id_number)
    if key:
        if not SUBJECT_KEY.match(key):
            raise ValidationFailed("查询条件无效，请重新输入身份证号")
        conditions.append(Case.subject_key == key)
    if criteria.status:
        if criteria.status not in STATUS_LABELS:
            raise ValidationFailed("未知的案件状态", errors={"status": "未知的案件状态"})
        conditions.append(Case.status == criteria.status)
    if criteria.programme:
        programme(criteria.programme)
        conditions.append(Case.programme == criteria.programme)
    if criteria.org_id is not None:
        org = session.get(Organisation, criteria.org_id)
        if org is None or not access.in_subtree(user, org):
            raise Forbidden("无权查询该单位的案件")
        subtree = select(Organisation.id).where(Organisation.path.startswith(org.path))
        conditions.append(Case.org_id.in_(subtree))
    limit = max(1, min(int(limit), 200))
    offset = max(0, int(offset))
    total = session.scalar(select(func.count(Case.id)).where(*conditions)) or 0
    rows = session.scalars(
        select(Case)
        .where(*conditions)
        .order_by(Case.created_at.desc(), Case.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return CasePage(list(rows), total, limit, offset)
