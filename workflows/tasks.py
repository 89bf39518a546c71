"""Human tasks: lists scoped by role and organisation, claim / unclaim / hand over, and
completion with the submitted data checked against the task's form."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflows import access, engine, forms, privacy
from workflows.audit import record
from workflows.cases import attach_files, check_files
from workflows.clock import now
from workflows.errors import AlreadyDone, Conflict, Forbidden, NotFound, ValidationFailed
from workflows.models import Case, HumanTask, ProcessInstance, User
from workflows.processes import loaded_version

SCOPES = ("mine", "group", "all")


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


def task_query(user: User, scope: str = "mine", flt: TaskFilter | None = None):
    query = select(HumanTask).where(HumanTask.status == "open", _scope_condition(user, scope))
    flt = flt or TaskFilter()
    if flt.programme:
        query = query.join(Case, Case.id == HumanTask.case_id).where(
            Case.programme == flt.programme
        )
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
) -> list[HumanTask]:
    query = task_query(user, scope, flt).order_by(HumanTask.created_at, HumanTask.id)
    return list(session.scalars(query.limit(limit).offset(offset)))


def count_tasks(
    session: Session, user: User, scope: str = "mine", flt: TaskFilter | None = None
) -> int:
    query = task_query(user, scope, flt).with_only_columns(func.count(HumanTask.id))
    return session.scalar(query.order_by(None)) or 0


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


def get_task(session: Session, user: User, task_id: int) -> TaskView:
    row = access.get_actionable_task(session, user, task_id)
    meta = loaded_version(session, _version_id_for(session, row)).meta
    fields = meta.get("user_tasks", {}).get(row.element_id, {}).get("fields", [])
    values: dict[str, Any] = {}
    if row.status == "open":
        loaded = engine.load(session, _instance(session, row))
        task = engine.require_ready(loaded, row.task_uuid)
        values = {
            f["id"]: task.data.get(f["id"])
            for f in fields
            if f.get("readonly") and f["id"] in task.data
        }
    return TaskView(row, row.case, fields, values, is_overdue(row))


def _instance(session: Session, row: HumanTask) -> ProcessInstance:
    return session.get(ProcessInstance, row.instance_id)


def _version_id_for(session: Session, row: HumanTask) -> int:
    instance = _instance(session, row)
    top = loaded_version(session, instance.version_id)
    if top.process_id == row.process_id:
        return top.id
    return json.loads(instance.subprocess_versions)[row.process_id]


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


def complete(session: Session, user: User, task_id: int, data: dict[str, Any]) -> HumanTask:
    """Complete a user task with form data: one transaction, or a clear refusal."""
    with engine.unit_of_work(session):
        row = _open_task(session, user, task_id)
        if row.assignee_id not in (None, user.id):
            other = session.get(User, row.assignee_id)
            raise Conflict(f"该任务已由{other.display_name}认领，不能由他人办理")
        loaded = engine.load(session, _instance(session, row))
        task = engine.require_ready(loaded, row.task_uuid)
        fields = (
            loaded.meta_for(task).get("user_tasks", {}).get(row.element_id, {}).get("fields", [])
        )
        clean, errors = forms.validate(fields, data)
        if errors:
            raise ValidationFailed("填写内容有误，请按提示修改", errors=errors)
        check_files(session, user, forms.file_ids(fields, clean), row.case)
        attach_files(session, forms.file_ids(fields, clean), row.case)

        def step(wf):
            task.data.update(clean)
            task.run()

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
        )
        engine.advance(session, loaded, user.id, step, completed_task_uuid=row.task_uuid)
    return row


def is_overdue(row: HumanTask, at: datetime | None = None) -> bool:
    return bool(row.due_at and row.status == "open" and row.due_at < (at or now()))
