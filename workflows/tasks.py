"""Human tasks: lists scoped by role and organisation, claim / unclaim / hand over,
completion with the submitted data checked against the task's form, and batch approval
(each case in its own transaction)."""

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, literal, literal_column, or_, select, tuple_
from sqlalchemy.orm import Session, aliased, contains_eager

from workflows import access, amend, engine, forms, privacy, workdays
from workflows.audit import record
from workflows.cases import attach_files, check_files
from workflows.clock import CST, as_utc, now
from workflows.errors import (
    AlreadyDone,
    Conflict,
    Forbidden,
    NotFound,
    ValidationFailed,
    WarmflowError,
)
from workflows.models import (
    Case,
    CaseActor,
    HumanTask,
    Organisation,
    Payment,
    PaymentBatch,
    ProcessInstance,
    StoredFile,
    UnitPath,
    User,
)
from workflows.processes import deployed_metas, loaded_version

log = logging.getLogger(__name__)

SCOPES = ("mine", "group", "all")
# Orderings a task list offers; each ends on the id so pages do not overlap.
SORTS = {
    "created": (HumanTask.created_at.asc(), HumanTask.id.asc()),
    "-created": (HumanTask.created_at.desc(), HumanTask.id.desc()),
    "due": (HumanTask.due_at.asc().nulls_last(), HumanTask.id.asc()),
    "-due": (HumanTask.due_at.desc().nulls_last(), HumanTask.id.desc()),
}
# One batch approves at most this many cases (each in its own transaction).
MAX_BATCH = 200
# `status = 'open'` written out in the SQL, not as a parameter: only then may the planner
# (PostgreSQL's generic plans of prepared statements, SQLite always) use the partial
# open-task indexes (ix_human_task_open, ix_human_task_open_due).
OPEN = literal_column("'open'")
# Pages deeper than this read the ids first (from the index alone), then the rows.
DEEP_OFFSET = 100


@dataclass
class TaskFilter:
    programme: str | None = None
    element_id: str | None = None
    org_id: int | None = None
    overdue: bool = False


def _scope_condition(user: User, scope: str):
    if scope not in SCOPES:
        raise ValidationFailed(f"未知的任务范围“{scope}”")
    visible = access.visible_tasks(user)
    if scope == "mine":
        return visible & (HumanTask.assignee_id == user.id)
    if scope == "group":
        return visible & HumanTask.assignee_id.is_(None)
    return visible


def of_case_unit(org_id: int):
    """Tasks whose case belongs to unit `org_id` (a list's unit filter; a task's own org_id
    is where it acts). Probed per task: a join let SQLite start from the unit's cases, all
    of its history, and look for open tasks among them (bench/tasklist.py: 940 ms for a
    district's 督办 filtered to one union, 1M finished cases)."""
    return exists().where(Case.id == HumanTask.case_id, Case.org_id == org_id)


def task_query(user: User, scope: str = "mine", flt: TaskFilter | None = None):
    query = select(HumanTask).where(HumanTask.status == OPEN, _scope_condition(user, scope))
    flt = flt or TaskFilter()
    if flt.programme:
        query = query.where(HumanTask.programme == flt.programme)
    if flt.org_id:
        query = query.where(of_case_unit(flt.org_id))
    if flt.element_id:
        query = query.where(HumanTask.element_id == flt.element_id)
    if flt.overdue:
        query = query.where(HumanTask.due_at < now())
    return query


def list_tasks(
    session: Session,
    user: User,
    scope: str = "mine",
    flt: TaskFilter | None = None,
    limit: int = 50,
    offset: int = 0,
    sort: str = "created",
    after: int | None = None,
) -> list[HumanTask]:
    """A page of the user's task list. `after` (keyset paging, for the created sorts): the
    id of the last task of the previous page; the page then starts right after it, read
    from the index however deep, whatever was completed meanwhile. A deep `offset` reads
    the page's ids from the index alone before the rows."""
    if sort not in SORTS:
        raise ValidationFailed(f"未知的排序方式“{sort}”")
    query = task_query(user, scope, flt).order_by(*SORTS[sort])
    if after is not None:
        query = query.where(_after(session, sort, after))
    if offset <= DEEP_OFFSET:
        return list(session.scalars(query.limit(limit).offset(offset)))
    ids = list(session.scalars(query.with_only_columns(HumanTask.id).limit(limit).offset(offset)))
    rows = {r.id: r for r in session.scalars(select(HumanTask).where(HumanTask.id.in_(ids)))}
    return [rows[i] for i in ids if i in rows]


def _after(session: Session, sort: str, task_id: int):
    """Where a page after task `task_id` starts, in the order `sort`."""
    if sort not in ("created", "-created"):
        message = "按办理期限排序时不能使用 after 翻页，请使用 offset"
        raise ValidationFailed(message, errors={"after": message})
    created = session.scalar(select(HumanTask.created_at).where(HumanTask.id == task_id))
    if created is None:
        raise ValidationFailed("after 指向的任务不存在", errors={"after": "任务不存在"})
    key = tuple_(HumanTask.created_at, HumanTask.id)
    start = tuple_(literal(created, HumanTask.created_at.type), literal(task_id))
    return key > start if sort == "created" else key < start


def count_tasks(
    session: Session, user: User, scope: str = "mine", flt: TaskFilter | None = None
) -> int:
    query = task_query(user, scope, flt).with_only_columns(func.count(HumanTask.id))
    return session.scalar(query.order_by(None)) or 0


@dataclass
class FailedPayment:
    card_masked: str
    account_name: str
    reason: str
    attempts: int
    batch_reference: str


@dataclass
class TaskView:
    task: HumanTask
    case: Case
    fields: list[dict]
    # What the read-only fields show (退回原因, 失败原因, 异议内容). Editable fields start
    # empty: approval levels share `decision`, and level 2 must not see level 1's answer
    # pre-selected as its own.
    values: dict[str, Any]
    overdue: bool
    # A task that edits the application (修改申请): the case's application fields and what
    # the case holds now for them and for the task's own file fields (prefilled).
    application: list[dict] = field(default_factory=list)
    current: dict[str, Any] = field(default_factory=dict)
    # An approval step after a rework: what the caseworker changed (old → new).
    rework: amend.ReworkReport | None = None
    # The case's payment the bank refused (更正银行卡 shows the card, the name and why).
    failed_payment: FailedPayment | None = None


def get_task(session: Session, user: User, task_id: int, for_form: bool = False) -> TaskView:
    """The task as its page shows it. `for_form`: only what reading a submitted form
    needs (its fields, and for a task that edits the application that application and
    what the case holds now): an approval's POST restores no workflow for the page's
    read-only values, rework report and failed payment (the completion restores it)."""
    row = access.get_actionable_task(session, user, task_id)
    meta = _task_meta(session, row)
    fields = meta.get("fields", [])
    view = TaskView(row, row.case, fields, {}, is_overdue(row))
    if row.status != "open" or (for_form and not amend.edits_application(meta)):
        return view
    instance = _instance(session, row)
    loaded = engine.load(session, instance)
    task = engine.require_ready(loaded, row.task_uuid)
    view.values = {
        f["id"]: _shown_text(f, task.data.get(f["id"]))
        for f in fields
        if f.get("readonly") and f["id"] in task.data
    }
    if amend.edits_application(meta):
        view.application = amend.application_fields(session, instance.version_id, fields)
        own_files = [f for f in fields if f["type"] == "file" and not f.get("readonly")]
        view.current = amend.prefill_values(view.application + own_files, task.data)
        if for_form:
            return view
    elif is_approval_form(fields):
        view.rework = amend.latest_rework(session, row.case, task.data)
    view.failed_payment = _failed_payment(session, row.case_id)
    return view


def _failed_payment(session: Session, case_id: int) -> FailedPayment | None:
    payment = session.scalars(
        select(Payment).where(Payment.case_id == case_id, Payment.status == "failed")
    ).first()
    if payment is None:
        return None
    batch = session.get(PaymentBatch, payment.batch_id) if payment.batch_id else None
    return FailedPayment(
        privacy.mask_card(payment.bank_card),
        payment.account_name,
        payment.last_failure_reason,
        payment.attempts,
        batch.reference if batch else "",
    )


def _shown_text(field: dict, value: Any) -> Any:
    """Free text as a page may show it: an ID or card number in it masked, however it was
    typed (the id_number and bank_card fields are masked where they are shown)."""
    if isinstance(value, str) and field.get("type") not in ("id_number", "bank_card"):
        return privacy.mask_numbers(value)
    return value


def _instance(session: Session, row: HumanTask) -> ProcessInstance:
    return session.get(ProcessInstance, row.instance_id)


def _pinned_version_id(session: Session, row: HumanTask, version_id: int, pins: str) -> int:
    top = loaded_version(session, version_id)
    if top.process_id == row.process_id:
        return top.id
    return json.loads(pins)[row.process_id]


def _version_id_for(session: Session, row: HumanTask) -> int:
    instance = _instance(session, row)
    return _pinned_version_id(session, row, instance.version_id, instance.subprocess_versions)


def _task_meta(session: Session, row: HumanTask) -> dict:
    """The meta of the task's element, in the version its case runs on."""
    meta = loaded_version(session, _version_id_for(session, row)).meta
    return meta.get("user_tasks", {}).get(row.element_id, {})


def task_fields(session: Session, row: HumanTask) -> list[dict]:
    """The form fields of the task's element, in the version its case runs on."""
    return _task_meta(session, row).get("fields", [])


def ensure_open(session: Session, user: User, task_id: int) -> HumanTask:
    """The task if the user may act on it and it still waits; AlreadyDone otherwise."""
    return _open_task(session, user, task_id)


def colleagues(session: Session, user: User, task_id: int) -> list[User]:
    """Whom the user may hand the task to: others of the task's organisation and role."""
    row = access.get_actionable_task(session, user, task_id)
    candidates = session.scalars(
        select(User)
        .where(User.org_id == row.org_id, User.is_active.is_(True), User.id != user.id)
        .order_by(User.username)
    )
    return [u for u in candidates if access.can_act_on_task(u, row)]


def step_choices(session: Session, user: User, scope: str = "all") -> list[tuple[str, str]]:
    """The step filter of a task list (any scope): `role_steps`. Grouping the open tasks
    by step cost a list page a read of its whole queue (2 ms for a union's 1,900)."""
    return role_steps(session, user)


def role_steps(session: Session, user: User) -> list[tuple[str, str]]:
    """(element id, name) of the steps the user's roles act on in any deployed diagram
    version (a case keeps the version it started on), the newest version's name first;
    read from the diagrams' meta, not from the tasks."""
    roles = user.role_set
    steps: dict[str, str] = {}
    for meta in deployed_metas(session):
        for element_id, task in meta.get("user_tasks", {}).items():
            if task.get("group") in roles:
                steps.setdefault(element_id, task.get("name") or element_id)
    return sorted(steps.items())


@dataclass
class DataItem:
    field_id: str
    label: str
    type: str
    value: Any


def _known_fields(session: Session, instance: ProcessInstance) -> dict[str, dict]:
    """Every field the case's diagrams declare, by id; the start form's label wins."""
    versions = [loaded_version(session, instance.version_id)] + [
        loaded_version(session, vid)
        for vid in json.loads(instance.subprocess_versions or "{}").values()
    ]
    known: dict[str, dict] = {}
    for version in versions:
        for f in version.meta.get("start_form", []):
            known.setdefault(f["id"], f)
    for version in versions:
        for task in version.meta.get("user_tasks", {}).values():
            for f in task.get("fields", []):
                known.setdefault(f["id"], f)
    return known


def earlier_data(session: Session, view: TaskView) -> list[DataItem]:
    """What the case already holds (application, earlier steps), for reading beside the
    form: declared fields only, ID and card numbers masked, options by their names, files
    as the case's stored files (a list per field)."""
    instance = _instance(session, view.task)
    data = engine.case_data(session, view.case)
    own = {f["id"] for f in view.fields + view.application}
    items = []
    for fid, f in _known_fields(session, instance).items():
        value = data.get(fid)
        if fid in own or value is None or value == "":
            continue
        kind = f.get("type", "string")
        if kind == "id_number":
            value = privacy.mask_id(str(value))
        elif kind == "bank_card":
            value = privacy.mask_card(str(value))
        elif kind == "enum":
            value = dict((o[0], o[1]) for o in f.get("options", [])).get(value, value)
        elif kind == "boolean":
            value = "是" if value else "否"
        elif kind == "file":
            # The files themselves (the page links and previews them), only the case's own.
            found = [session.get(StoredFile, i) for i in forms.as_file_list(value)]
            value = [f for f in found if f is not None and f.case_id == view.case.id]
            if not value:
                continue
        else:
            value = _shown_text(f, value)
        items.append(DataItem(fid, f.get("label") or fid, kind, value))
    return items


def _open_task(session: Session, user: User, task_id: int) -> HumanTask:
    row = access.get_actionable_task(session, user, task_id)
    if row.status != "open":
        who = row.completed_by_id and session.get(User, row.completed_by_id)
        by = f"（{who.display_name} 已办理）" if who else ""
        raise AlreadyDone(f"该任务已办理完毕{by}，无需重复办理")
    return row


def claim(session: Session, user: User, task_id: int) -> HumanTask:
    with engine.unit_of_work(session):
        row = _open_task(session, user, task_id)
        if row.assignee_id == user.id:
            return row
        if row.assignee_id is not None:
            other = session.get(User, row.assignee_id)
            raise Conflict(f"该任务已由{other.display_name}认领")
        row.assignee_id = user.id
        record(session, user.id, row.case_id, "task.claim", f"认领任务：{row.name}", task_id=row.id)
    return row


def unclaim(session: Session, user: User, task_id: int) -> HumanTask:
    with engine.unit_of_work(session):
        row = _open_task(session, user, task_id)
        if row.assignee_id != user.id:
            raise Forbidden("只能退回自己认领的任务")
        row.assignee_id = None
        record(
            session, user.id, row.case_id, "task.unclaim", f"放弃认领：{row.name}", task_id=row.id
        )
    return row


def hand_over(session: Session, user: User, task_id: int, to_username: str) -> HumanTask:
    with engine.unit_of_work(session):
        row = _open_task(session, user, task_id)
        if row.assignee_id not in (None, user.id):
            raise Forbidden("只能转交自己认领的任务")
        target = session.scalars(select(User).where(User.username == to_username)).first()
        if target is None:
            raise NotFound(f"用户“{to_username}”不存在")
        if not access.can_act_on_task(target, row):
            if access.four_eyes_barred(target, row):
                raise ValidationFailed(
                    f"{target.display_name}登记或经办过该案件，按双人复核要求不能审批，"
                    "请转交给其他同事"
                )
            raise ValidationFailed(
                f"{target.display_name}无权办理该任务，只能转交给同单位同岗位的同事"
            )
        row.assignee_id = target.id
        record(
            session,
            user.id,
            row.case_id,
            "task.hand_over",
            f"转交任务：{row.name} → {target.display_name}",
            task_id=row.id,
            to=target.id,
        )
    return row


def _summary(fields: list[dict], clean: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A short line for the history and the data with personal numbers masked."""
    shown, masked = [], {}
    for f in fields:
        if f["id"] not in clean:
            continue
        value = clean[f["id"]]
        if f["type"] == "id_number":
            value = privacy.mask_id(value)
        elif f["type"] == "bank_card":
            value = privacy.mask_card(value)
        masked[f["id"]] = value
        if f["type"] == "enum":
            label = dict((o[0], o[1]) for o in f["options"]).get(value, value)
            shown.append(label)
        elif f["id"] in ("comment", "rework_note", "investigation_report") and value:
            shown.append(str(value)[:60])
    return "；".join(shown), masked


@dataclass
class _Read:
    """What a completion read in its first statement (held here: the session keeps its
    rows only while someone refers to them)."""

    rows: list[HumanTask]
    instance: ProcessInstance | None
    actor: CaseActor | None = None  # the user's four-eyes row for the case, if any
    unit: UnitPath | None = None  # the case's unit

    @property
    def open_rows(self) -> list[HumanTask]:
        return [r for r in self.rows if r.status == "open"]


_COMPLETION_READ = None


def _completion_read():
    """The statement of `_read_for_completion`, built once (parameters: task_id,
    user_id): building it and its cache key on every call cost more than running it."""
    global _COMPLETION_READ
    if _COMPLETION_READ is None:
        me = aliased(HumanTask, name="the_task")
        instance_of_task = (
            select(me.instance_id).where(me.id == bindparam("task_id")).scalar_subquery()
        )
        unit = aliased(Organisation, name="case_unit")
        _COMPLETION_READ = (
            select(HumanTask, ProcessInstance, CaseActor, workdays.version_column(), unit.path)
            .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
            .join(HumanTask.case)
            .join(unit, unit.id == Case.org_id)
            .outerjoin(
                CaseActor,
                and_(
                    CaseActor.user_id == bindparam("user_id"),
                    CaseActor.case_id == HumanTask.case_id,
                ),
            )
            # The case's unit as its path, not as a row: building a unit object for
            # every completion cost more than the rest of the read (new tasks are placed
            # from the path; whoever wants case.org still finds it by its id).
            .options(contains_eager(HumanTask.case).lazyload(Case.org))
            .where(
                HumanTask.instance_id == instance_of_task,
                or_(HumanTask.status == "open", HumanTask.id == bindparam("task_id")),
            )
            .execution_options(populate_existing=True)
        )
    return _COMPLETION_READ


def _read_for_completion(session: Session, task_id: int, user_id: int) -> _Read:
    """What a completion reads, in one statement: the task, its instance and case, the
    instance's other open tasks, whether the user worked on the case (four eyes) and the
    calendar's stamp. The rows land in the session (refreshed), so the checks and the
    engine that follow find them without a query."""
    found = session.execute(_completion_read(), {"task_id": task_id, "user_id": user_id}).all()
    if not found:
        return _Read([], None)
    workdays.remember_version(session, found[0][3])
    if found[0][2] is None:
        access.remember_absent_actor(session, user_id, found[0][0].case_id)
    return _Read([row for row, *_rest in found], found[0][1], found[0][2], UnitPath(found[0][4]))


def complete(session: Session, user: User, task_id: int, data: dict[str, Any]) -> HumanTask:
    """Complete a user task with form data: one transaction, or a clear refusal.

    Round trips (bench/engine.py counts them): one read of the task with its instance,
    case, sibling tasks and the user's four-eyes row; the instance's new state written first
    with its version checked (a racing client gets a clear conflict before anything else
    is written); then the effects, the task rows and the audit rows, inserted together."""
    with engine.unit_of_work(session):
        read = _read_for_completion(session, task_id, user.id)
        row = _open_task(session, user, task_id)
        if row.assignee_id not in (None, user.id):
            other = session.get(User, row.assignee_id)
            raise Conflict(f"该任务已由{other.display_name}认领，不能由他人办理")
        loaded = engine.load(session, read.instance or _instance(session, row))
        loaded.open_rows, loaded.unit = read.open_rows, read.unit
        task = engine.require_ready(loaded, row.task_uuid)
        meta = loaded.meta_for(task).get("user_tasks", {}).get(row.element_id, {})
        fields = meta.get("fields", [])
        context = form_context(row.case)
        clean, errors = forms.validate(fields, data, context)
        amendment = None
        if amend.edits_application(meta):
            application = amend.application_fields(session, loaded.instance.version_id, fields)
            amendment = amend.prepare(session, row.case, application, task.data, data, context)
            errors.update(amendment.errors)
        if errors:
            raise ValidationFailed("填写内容有误，请按提示修改", errors=errors)
        new_files = forms.file_ids(fields, clean) + (amendment.file_ids if amendment else [])
        check_files(session, user, new_files, row.case)
        attach_files(session, new_files, row.case)
        if amendment is not None:
            amend.apply(session, user, row.case, amendment, row.id)
            clean.update(amendment.updates)

        def step(wf):
            task.data.update(clean)
            task.run()

        if is_approval_form(fields):
            record_approval(row.case, row.candidate_group, clean.get("decision"))
        if row.candidate_group == "caseworker":
            access.worked_on(session, user, row.case_id, row.element_id)
        row.status = "completed"
        row.completed_at = now()
        row.completed_by_id = user.id
        row.assignee_id = row.assignee_id or user.id
        summary, masked = _summary(fields, clean)
        record(
            session,
            user.id,
            row.case_id,
            "task.complete",
            f"{row.name}" + (f"：{summary}" if summary else ""),
            task_id=row.id,
            element=row.element_id,
            data=masked,
            **({amend.EDITS_APPLICATION: True} if amendment is not None else {}),
        )
        engine.advance(session, loaded, user.id, step, completed_task_uuid=row.task_uuid)
    return row


APPROVER_LEVELS = {"approver_l1": 1, "approver_l2": 2, "approver_l3": 3}


def record_approval(case: Case, group: str, decision: Any) -> None:
    """Keep on the case which levels have approved it. With every level its rules require
    (case.approval_levels), that is the final approval: money may move from then on, for
    the amount approved then. A level that returns the case (退回修改) takes back its own
    approval and those above it (the case comes back to it after rework); a refusal
    takes back all."""
    level = APPROVER_LEVELS.get(group)
    if level is None:
        return
    if decision != "approve":
        kept = (1 << level) - 1 if decision == "return" else 0
        case.approvals = (case.approvals or 0) & kept
        case.approved_at, case.approved_fen = None, None
        return
    case.approvals = (case.approvals or 0) | (1 << level)
    needed = sum(1 << n for n in range(1, (case.approval_levels or 2) + 1))
    if case.approvals & needed == needed and case.approved_at is None:
        case.approved_at, case.approved_fen = now(), case.amount_fen


def form_context(case: Case) -> forms.FormContext:
    """Today and the day the case was registered (China time), for relative dates."""
    return forms.today_context(as_utc(case.created_at).astimezone(CST).date())


def is_overdue(row: HumanTask, at: datetime | None = None) -> bool:
    return bool(row.due_at and row.status == "open" and row.due_at < (at or now()))


# --- batch approval ----------------------------------------------------------------------


def is_approval_form(fields: list[dict]) -> bool:
    """An approval step: an enum `decision` that offers `approve` (通过)."""
    return any(
        f["id"] == "decision"
        and f["type"] == "enum"
        and any(option[0] == "approve" for option in f.get("options", []))
        for f in fields
    )


def approval_task_ids(session: Session, rows: Iterable[HumanTask]) -> set[int]:
    """Which of these tasks are approval steps (one query for their instances' pins)."""
    rows = list(rows)
    if not rows:
        return set()
    pins = {
        iid: (vid, subs)
        for iid, vid, subs in session.execute(
            select(
                ProcessInstance.id, ProcessInstance.version_id, ProcessInstance.subprocess_versions
            ).where(ProcessInstance.id.in_({r.instance_id for r in rows}))
        )
    }
    found = set()
    for row in rows:
        version_id, subs = pins[row.instance_id]
        meta = loaded_version(session, _pinned_version_id(session, row, version_id, subs)).meta
        fields = meta.get("user_tasks", {}).get(row.element_id, {}).get("fields", [])
        if is_approval_form(fields):
            found.add(row.id)
    return found


@dataclass
class BatchPlan:
    """What a batch approval would do: the open tasks, those already gone, the money."""

    element_id: str
    name: str
    tasks: list[HumanTask]
    skipped: list[tuple[HumanTask, str]]
    total_fen: int

    @property
    def task_ids(self) -> list[int]:
        return [t.id for t in self.tasks]


def _unique_ids(task_ids: Iterable[int]) -> list[int]:
    seen: list[int] = []
    for task_id in task_ids:
        if task_id not in seen:
            seen.append(task_id)
    if not seen:
        raise ValidationFailed("请至少选择一个任务")
    if len(seen) > MAX_BATCH:
        raise ValidationFailed(f"一次最多批量审批 {MAX_BATCH} 件，请缩小筛选范围")
    return seen


def plan_batch_approval(session: Session, user: User, task_ids: Iterable[int]) -> BatchPlan:
    """Check a batch before asking the user to confirm it: one step, an approval form,
    tasks the user may act on. Tasks no longer open are listed as skipped."""
    ids = _unique_ids(task_ids)
    rows = {r.id: r for r in session.scalars(select(HumanTask).where(HumanTask.id.in_(ids)))}
    if len(rows) != len(ids):
        raise NotFound("所选任务中有不存在的任务，请刷新后重试")
    ordered = [rows[i] for i in ids]
    barred = [r for r in ordered if access.four_eyes_barred(user, r)]
    if any(not access.can_act_on_task(user, r) for r in ordered if r not in barred):
        raise Forbidden("所选任务中有您无权办理的任务")
    steps = {(r.process_id, r.element_id) for r in ordered}
    if len(steps) > 1:
        names = "、".join(sorted({r.name for r in ordered}))
        raise ValidationFailed(
            f"只能批量审批同一环节的任务（所选任务分属：{names}），请按环节筛选后再选择"
        )
    approvals = approval_task_ids(session, ordered)
    if len(approvals) != len(ordered):
        raise ValidationFailed(f"“{ordered[0].name}”不是审批环节，不能批量通过")
    open_rows = [r for r in ordered if r.status == "open"]
    skipped = []
    for row in ordered:
        if row in barred:
            skipped.append((row, "由您登记或经办，按双人复核要求不能由您审批"))
        elif row.status == "open" and row.assignee_id not in (None, user.id):
            skipped.append((row, "已由他人认领"))
        elif row.status != "open":
            skipped.append((row, "已办理完毕" if row.status == "completed" else "已取消"))
    ready = [r for r in open_rows if r.assignee_id in (None, user.id) and r not in barred]
    return BatchPlan(
        ordered[0].element_id,
        ordered[0].name,
        ready,
        skipped,
        sum(r.case.amount_fen or 0 for r in ready),
    )


def matching_task_ids(
    session: Session, user: User, scope: str, flt: TaskFilter | None = None
) -> list[int]:
    """The ids of every task a list filter matches ("all N matching"), capped."""
    query = task_query(user, scope, flt).order_by(*SORTS["created"]).limit(MAX_BATCH + 1)
    ids = list(session.scalars(query.with_only_columns(HumanTask.id)))
    if len(ids) > MAX_BATCH:
        raise ValidationFailed(f"一次最多批量审批 {MAX_BATCH} 件，请缩小筛选范围")
    return ids


@dataclass
class BatchResult:
    task_id: int
    case_no: str
    ok: bool
    message: str = ""


def complete_many(
    session: Session, user: User, task_ids: Iterable[int], data: dict[str, Any]
) -> list[BatchResult]:
    """Complete each task with the same data, each in its own transaction; a failure is
    recorded with its reason and the batch goes on."""
    results = []
    for task_id in task_ids:
        row = session.get(HumanTask, task_id)
        case_no = (row.case.case_no or "") if row is not None else ""
        try:
            complete(session, user, task_id, dict(data))
        except WarmflowError as err:
            details = getattr(err, "errors", None) or {}
            reason = "；".join([err.message, *details.values()]) if details else err.message
            results.append(BatchResult(task_id, case_no, False, reason))
        except Exception:  # one broken case must not stop the others
            session.rollback()
            log.exception("batch: task %s of case %s failed", task_id, case_no)
            results.append(BatchResult(task_id, case_no, False, "系统出现错误，该件未办理"))
        else:
            results.append(BatchResult(task_id, case_no, True))
    return results


def approve_many(
    session: Session, user: User, task_ids: Iterable[int], comment: str = ""
) -> list[BatchResult]:
    """批量通过: the same checks as the confirmation, then each case on its own, each with
    the optional common comment (意见说明) as if typed on its own page."""
    ids = _unique_ids(task_ids)
    plan_batch_approval(session, user, ids)
    data = {"decision": "approve"}
    if isinstance(comment, str) and comment.strip():
        data["comment"] = comment.strip()
    return complete_many(session, user, ids, data)
