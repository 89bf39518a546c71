"""The personal lists beside 我的任务 and 待认领: 已办 (the tasks I completed, newest first)
and 我发起的 (the cases I registered), each with where its case stands now.

Both are index-backed (ix_human_task_done, ix_case_started) like the task lists.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from workflows import access, cases, progress, tasks
from workflows.errors import ValidationFailed
from workflows.models import (
    Case,
    HumanTask,
    Organisation,
    User,
)
from workflows.tasks import TaskFilter

DONE_SORTS = {
    "-completed": (HumanTask.completed_at.desc(), HumanTask.id.desc()),
    "completed": (HumanTask.completed_at.asc(), HumanTask.id.asc()),
}
STARTED_SORTS = {
    "-created": (Case.created_at.desc(), Case.id.desc()),
    "created": (Case.created_at.asc(), Case.id.asc()),
}

# Where a running case waits when no person has a task on it (the bank, the notice).
RUNNING = "办理中"  # a running case with no open step and no known reason


# --- 已办 ---------------------------------------------------------------------------------


def done_query(user: User, flt: TaskFilter | None = None):
    """The tasks `user` completed. "overdue" here means completed after the due date.

    Only a completion sets `completed_by_id` (workflows/tasks.py), so it alone selects
    them: the count then reads ix_human_task_done and nothing else."""
    query = select(HumanTask).where(HumanTask.completed_by_id == user.id)
    flt = flt or TaskFilter()
    if flt.programme:
        query = query.where(HumanTask.programme == flt.programme)
    if flt.org_id:
        query = query.where(tasks.of_case_unit(flt.org_id))
    if flt.element_id:
        query = query.where(HumanTask.element_id == flt.element_id)
    if flt.overdue:
        query = query.where(HumanTask.due_at < HumanTask.completed_at)
    return query


def list_done(
    session: Session,
    user: User,
    flt: TaskFilter | None = None,
    limit: int = 20,
    offset: int = 0,
    sort: str = "-completed",
) -> list[HumanTask]:
    if sort not in DONE_SORTS:
        raise ValidationFailed(f"未知的排序方式“{sort}”")
    query = done_query(user, flt).order_by(*DONE_SORTS[sort]).limit(limit).offset(offset)
    return list(session.scalars(query))


# 已办 and 我发起的 grow with every year a person works: their counts stop here (a list
# says "2,000 余件" and pages that far; filters narrow it), so a page costs the same in
# a person's tenth year as in the first (bench/tasklist.py, 3M finished cases).
COUNT_CAP = 2000


def capped_count(session: Session, query, order: tuple) -> int:
    """How many rows `query` has, counting no further than COUNT_CAP + 1: the first rows
    in the list's own `order`, so the count walks the index the list reads."""
    rows = query.with_only_columns(literal(1)).order_by(*order).limit(COUNT_CAP + 1)
    return session.scalar(select(func.count()).select_from(rows.subquery())) or 0


def count_done(session: Session, user: User, flt: TaskFilter | None = None) -> int:
    """The user's completed tasks, at most COUNT_CAP + 1 (more than the cap)."""
    return capped_count(session, done_query(user, flt), DONE_SORTS["-completed"])


def done_steps(session: Session, user: User) -> list[tuple[str, str]]:
    """The step filter of 已办: the steps the user's roles act on (tasks.role_steps), read
    from the cached diagrams, not from the thousands of tasks a person completes in a
    year."""
    return tasks.role_steps(session, user)


# --- 我发起的 -------------------------------------------------------------------------------


@dataclass
class CaseFilter:
    programme: str | None = None
    status: str | None = None
    org_id: int | None = None


def started_query(user: User, flt: CaseFilter | None = None, subtree: list[int] | None = None):
    """The cases `user` registered, still within the user's organisation subtree (its
    units' ids when given: PostgreSQL then reads one person's cases in date order from
    ix_case_started* instead of joining every case of the subtree)."""
    flt = flt or CaseFilter()
    visible = access.visible_cases(user) if subtree is None else Case.org_id.in_(subtree)
    query = select(Case).where(Case.created_by_id == user.id, visible)
    if flt.programme:
        cases.programme(flt.programme)  # refuses an unknown one
        query = query.where(Case.programme == flt.programme)
    if flt.status:
        if flt.status not in cases.STATUS_LABELS:
            raise ValidationFailed("未知的案件状态", errors={"status": "未知的案件状态"})
        query = query.where(Case.status == flt.status)
    if flt.org_id:
        query = query.where(Case.org_id == flt.org_id)
    return query


def list_started(
    session: Session,
    user: User,
    flt: CaseFilter | None = None,
    limit: int = 20,
    offset: int = 0,
    sort: str = "-created",
) -> list[Case]:
    if sort not in STARTED_SORTS:
        raise ValidationFailed(f"未知的排序方式“{sort}”")
    query = started_query(user, flt, _subtree(session, user)).order_by(*STARTED_SORTS[sort])
    return list(session.scalars(query.limit(limit).offset(offset)))


def _subtree(session: Session, user: User) -> list[int]:
    if not user.is_active:
        return []
    query = select(Organisation.id).where(Organisation.path.startswith(user.org.path))
    return list(session.scalars(query))


def count_started(session: Session, user: User, flt: CaseFilter | None = None) -> int:
    """The cases the user registered, at most COUNT_CAP + 1 (more than the cap)."""
    query = started_query(user, flt, _subtree(session, user))
    return capped_count(session, query, STARTED_SORTS["-created"])


# --- where a case stands ------------------------------------------------------------------


@dataclass
class Standing:
    """Where a case stands: its open steps (diagram names), or why it waits on no one
    (workflows.progress), or how it ended (app words), or how it ended."""

    steps: list[str]
    label: str
    values: dict
    waiting: progress.Waiting | None = None

    @property
    def text(self) -> str:
        """In Chinese (pages translate the label and format the day themselves)."""
        if self.steps:
            return "、".join(self.steps)
        if self.waiting is not None:
            return self.waiting.text
        values = {
            k: f"{v.month}月{v.day}日" if isinstance(v, date) else v for k, v in self.values.items()
        }
        return self.label % values if values else self.label


def standings(session: Session, case_list: Iterable[Case]) -> dict[int, Standing]:
    """Where each case stands, in a few queries for a page of cases: its open steps, or
    why it waits on no one (workflows.progress, the same reason the case page gives)."""
    case_list = list(case_list)
    running = [c.id for c in case_list if c.status == "running"]
    steps: dict[int, list[str]] = {}
    if running:
        for case_id, name in session.execute(
            select(HumanTask.case_id, HumanTask.name)
            .where(HumanTask.case_id.in_(running), HumanTask.status == "open")
            .order_by(HumanTask.id)
        ):
            steps.setdefault(case_id, []).append(name)
    idle = [c for c in case_list if c.status == "running" and c.id not in steps]
    reasons = progress.waiting_for(session, idle) if idle else {}
    answer = {}
    for case in case_list:
        if case.status != "running":
            answer[case.id] = Standing([], cases.status_label(case), {})
        elif case.id in steps:
            answer[case.id] = Standing(steps[case.id], "", {})
        else:
            answer[case.id] = Standing([], RUNNING, {}, reasons.get(case.id))
    return answer
