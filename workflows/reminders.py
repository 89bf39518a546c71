"""督办 and 催办: supervisors (district and city approvers, managers) see the overdue tasks
of their subtree, longest overdue first, and send a reminder; the assignee, or the task's
group while it is unclaimed, sees it on the start page and on the task until it is done.

A task gets at most one reminder per China day (a unique key, so two supervisors racing
get one reminder and a clear conflict), which keeps reminders from turning into spam.
"""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from workflows import access, engine, tasks
from workflows.audit import record
from workflows.clock import CST, now
from workflows.errors import AlreadyDone, Conflict, Forbidden, NotFound, ValidationFailed
from workflows.models import HumanTask, Organisation, TaskReminder, User
from workflows.processes import ROLES
from workflows.tasks import TaskFilter

MAX_MESSAGE = 200


def require_supervisor(user: User) -> None:
    if not access.may_supervise(user):
        raise Forbidden("只有县（区）、市总工会审批人和管理员可以督办")


def overdue_query(user: User, flt: TaskFilter | None = None):
    """Open tasks past their due date that `user` supervises (the 督办 list)."""
    query = select(HumanTask).where(
        HumanTask.status == "open", HumanTask.due_at < now(), access.supervised_tasks(user)
    )
    flt = flt or TaskFilter()
    if flt.programme:
        query = query.where(HumanTask.programme == flt.programme)
    if flt.org_id:
        query = query.where(tasks.of_case_unit(flt.org_id))
    if flt.element_id:
        query = query.where(HumanTask.element_id == flt.element_id)
    return query


def list_overdue(
    session: Session, user: User, flt: TaskFilter | None = None, limit: int = 20, offset: int = 0
) -> list[HumanTask]:
    """Longest overdue first. The units' overdue tasks are sorted (one index range per
    unit), so their cases are read for the page's tasks only, after it is cut."""
    require_supervisor(user)
    query = overdue_query(user, flt).order_by(HumanTask.due_at.asc(), HumanTask.id.asc())
    query = query.options(selectinload(HumanTask.case))
    return list(session.scalars(query.limit(limit).offset(offset)))


def count_overdue(session: Session, user: User, flt: TaskFilter | None = None) -> int:
    require_supervisor(user)
    query = overdue_query(user, flt).with_only_columns(func.count(HumanTask.id)).order_by(None)
    return session.scalar(query) or 0


def overdue_steps(session: Session, user: User) -> list[tuple[str, str]]:
    require_supervisor(user)
    query = (
        select(HumanTask.element_id, func.min(HumanTask.name))
        .where(HumanTask.status == "open", HumanTask.due_at < now(), access.supervised_tasks(user))
        .group_by(HumanTask.element_id)
        .order_by(HumanTask.element_id)
    )
    return [(element, name) for element, name in session.execute(query)]


def today() -> date:
    return now().astimezone(CST).date()


def _whom(session: Session, task: HumanTask) -> str:
    if task.assignee_id:
        return session.get(User, task.assignee_id).display_name
    return f"{ROLES.get(task.candidate_group, task.candidate_group)}（未认领）"


def remind(session: Session, user: User, task_id: int, message: str = "") -> TaskReminder:
    """催办: one reminder about an overdue task the user supervises; one transaction."""
    require_supervisor(user)
    message = (message or "").strip()
    if len(message) > MAX_MESSAGE:
        text = f"留言不能超过 {MAX_MESSAGE} 个字"
        raise ValidationFailed(text, errors={"message": text})
    with engine.unit_of_work(session):
        task = session.get(HumanTask, task_id)
        if task is None:
            raise NotFound("任务不存在")
        org = session.get(Organisation, task.org_id)
        if not access.can_supervise_task(user, task, org):
            raise Forbidden("无权督办该任务")
        if task.status != "open":
            raise AlreadyDone("该任务已办理完毕，无需催办")
        if task.due_at is None or task.due_at >= now():
            raise ValidationFailed("该任务尚未超期，无需催办")
        day = today()
        earlier = session.scalars(
            select(TaskReminder).where(TaskReminder.task_id == task.id, TaskReminder.sent_on == day)
        ).first()
        if earlier is not None:
            raise Conflict(_already(session, earlier))
        whom = _whom(session, task)
        reminder = TaskReminder(
            task_id=task.id,
            case_id=task.case_id,
            sent_by_id=user.id,
            to_user_id=task.assignee_id,
            to_group=task.candidate_group,
            message=message,
            sent_at=now(),
            sent_on=day,
        )
        try:
            with session.begin_nested():
                session.add(reminder)
        except IntegrityError:
            # Another supervisor reminded the same task a moment ago.
            raise Conflict("今天已有人催办过该任务，明天可再次催办") from None
        summary = f"催办：{task.name} → {whom}"
        record(
            session,
            user.id,
            task.case_id,
            "task.remind",
            summary + (f"；留言：{message}" if message else ""),
            task_id=task.id,
            to_user=task.assignee_id,
            to_group=task.candidate_group,
        )
    return reminder


def _already(session: Session, earlier: TaskReminder) -> str:
    sender = session.get(User, earlier.sent_by_id)
    at = earlier.sent_at.astimezone(CST).strftime("%H:%M")
    return f"{sender.display_name}今天 {at} 已催办过该任务，明天可再次催办"


@dataclass
class Reminder:
    """A reminder as shown: the task it is about, who sent it, when, and how many times
    the task has been reminded in all."""

    reminder: TaskReminder
    task: HumanTask
    sender: str
    times: int


def _names(session: Session, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = session.execute(select(User.id, User.display_name).where(User.id.in_(user_ids)))
    return dict(rows.tuples().all())


def _shown(session: Session, rows: list[tuple[TaskReminder, HumanTask]]) -> list[Reminder]:
    names = _names(session, {r.sent_by_id for r, _ in rows})
    counts: dict[int, int] = {}
    latest: dict[int, tuple[TaskReminder, HumanTask]] = {}
    for reminder, task in rows:  # newest first: the first per task is its latest
        counts[task.id] = counts.get(task.id, 0) + 1
        latest.setdefault(task.id, (reminder, task))
    return [
        Reminder(reminder, task, names.get(reminder.sent_by_id, ""), counts[task.id])
        for reminder, task in latest.values()
    ]


def for_user(session: Session, user: User, limit: int = 20) -> list[Reminder]:
    """Reminders on open tasks that wait on `user`: claimed by them, or unclaimed in
    their group and organisation. Newest first, one line per task."""
    query = (
        select(TaskReminder, HumanTask)
        .join(HumanTask, HumanTask.id == TaskReminder.task_id)
        .where(
            HumanTask.status == "open",
            or_(
                HumanTask.assignee_id == user.id,
                HumanTask.assignee_id.is_(None) & access.visible_tasks(user),
            ),
        )
        .order_by(TaskReminder.sent_at.desc(), TaskReminder.id.desc())
        .limit(limit * 5)
    )
    return _shown(session, [tuple(r) for r in session.execute(query)])[:limit]


def for_task(session: Session, task: HumanTask) -> list[Reminder]:
    """Every reminder of an open task, newest first (none once it is done)."""
    if task.status != "open":
        return []
    rows = session.scalars(
        select(TaskReminder)
        .where(TaskReminder.task_id == task.id)
        .order_by(TaskReminder.sent_at.desc(), TaskReminder.id.desc())
    ).all()
    names = _names(session, {r.sent_by_id for r in rows})
    return [Reminder(r, task, names.get(r.sent_by_id, ""), len(rows)) for r in rows]


def reminded_today(session: Session, task_ids: list[int]) -> dict[int, TaskReminder]:
    """Today's reminder of each of these tasks that has one (the 督办 list's state)."""
    if not task_ids:
        return {}
    rows = session.scalars(
        select(TaskReminder).where(
            TaskReminder.task_id.in_(task_ids), TaskReminder.sent_on == today()
        )
    )
    return {r.task_id: r for r in rows}


def last_reminders(session: Session, task_ids: list[int]) -> dict[int, TaskReminder]:
    """The latest reminder of each of these tasks that has one."""
    if not task_ids:
        return {}
    newest = (
        select(TaskReminder.task_id, func.max(TaskReminder.id).label("id"))
        .where(TaskReminder.task_id.in_(task_ids))
        .group_by(TaskReminder.task_id)
        .subquery()
    )
    rows = session.scalars(select(TaskReminder).join(newest, newest.c.id == TaskReminder.id))
    return {r.task_id: r for r in rows}
