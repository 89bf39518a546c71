"""Who sees what, in one place.

A user has roles and one organisation. A task is visible to users whose role is the
task's candidate group and whose organisation is the case's organisation's ancestor at
the group's level (caseworkers and level-1 approvers: the grassroots union itself;
level 2: its district federation; level 3 and finance: the city federation). Cases,
files and payments are visible within the user's own organisation subtree.

Four eyes (双人复核): nobody signs a case off at an approval level who registered it or
did one of its caseworker steps (home visit, rework, objection investigation), even
holding both roles in a small union. Such a task is neither listed for nor actionable by
that person (`case_actor` records who worked on which case).
"""

from sqlalchemy import ColumnElement, and_, exists, false, or_, select
from sqlalchemy.orm import Session, object_session

from workflows.clock import now
from workflows.errors import Forbidden, NotFound
from workflows.models import Case, CaseActor, HumanTask, Organisation, User

# The organisation level (1 city, 2 district, 3 grassroots) that acts for each group.
GROUP_LEVEL = {
    "caseworker": 3,
    "approver_l1": 3,
    "approver_l2": 2,
    "approver_l3": 1,
    "finance": 1,
    "manager": 1,
}


def org_at_level(org: Organisation, level: int) -> int:
    """The id of `org`'s ancestor (or itself) at `level`; the nearest one above if the
    tree is shallower there."""
    ids = org.ancestor_ids()
    return ids[min(level, len(ids)) - 1]


def task_org_id(case_org: Organisation, group: str) -> int:
    return org_at_level(case_org, GROUP_LEVEL.get(group, 3))


APPROVAL_GROUPS = frozenset({"approver_l1", "approver_l2", "approver_l3"})
FOUR_EYES_MESSAGE = (
    "该案件由您登记或经办（入户核查等），按双人复核要求不能由您审批，请由其他审批人办理"
)


_WORKED_ANY = "worked_on_any_case"


def _worked_on_any_case(user: User) -> bool:
    """One index probe; most approvers never registered or visited a case, and their task
    lists stay index-only queries."""
    session = object_session(user)
    if session is None:
        return True  # a detached user: apply the rule rather than skip it
    # Asked once per transaction: a list page asks for its count, its rows and the
    # menu's badge (`worked_on` forgets the answer when it adds a row).
    known = session.info.get(_WORKED_ANY)
    transaction = session.get_transaction()
    if known is not None and transaction is not None and known[:2] == (transaction, user.id):
        return known[2]
    worked = bool(session.scalar(select(exists().where(CaseActor.user_id == user.id))))
    session.info[_WORKED_ANY] = (session.get_transaction(), user.id, worked)  # begun by now
    return worked


def visible_tasks(user: User) -> ColumnElement[bool]:
    roles = [r for r in user.role_set if r in GROUP_LEVEL]
    if not roles or not user.is_active:
        return false()
    condition = and_(HumanTask.candidate_group.in_(roles), HumanTask.org_id == user.org_id)
    if APPROVAL_GROUPS & set(roles) and _worked_on_any_case(user):
        worked = select(CaseActor.case_id).where(CaseActor.user_id == user.id)
        condition = and_(
            condition,
            or_(
                HumanTask.candidate_group.not_in(APPROVAL_GROUPS),
                HumanTask.case_id.not_in(worked),
            ),
        )
    return condition


_ABSENT = "case_actor_absent"


def remember_absent_actor(session: Session, user_id: int, case_id: int) -> None:
    """This transaction's first read found no case_actor row for (user, case): the checks
    below then need no query of their own (kept for this transaction only; a row found
    by that read is in the session already)."""
    session.info[_ABSENT] = (session.get_transaction(), (user_id, case_id))


def _case_actor(session: Session, user_id: int, case_id: int) -> CaseActor | None:
    known = session.info.get(_ABSENT)
    if known is not None:
        if known[0] is not None and known[0] is session.get_transaction():
            if known[1] == (user_id, case_id):
                return None
        else:
            session.info.pop(_ABSENT, None)
    found = session.get(CaseActor, (user_id, case_id))
    if found is None:  # asked again by the same request (its page, then its completion)
        remember_absent_actor(session, user_id, case_id)
    return found


def four_eyes_barred(user: User, task: HumanTask) -> bool:
    """The user worked on the task's case and the task is an approval level."""
    if task.candidate_group not in APPROVAL_GROUPS:
        return False
    session = object_session(task) or object_session(user)
    if session is None:
        return True
    return _case_actor(session, user.id, task.case_id) is not None


def can_act_on_task(user: User, task: HumanTask) -> bool:
    return (
        user.is_active
        and task.candidate_group in user.role_set
        and task.org_id == user.org_id
        and not four_eyes_barred(user, task)
    )


def worked_on(
    session: Session, user: User, case_id: int, what: str, *, new_case: bool = False
) -> None:
    """Record that the user registered the case or did a caseworker step of it
    (`new_case`: the case was opened in this transaction, nobody has worked on it yet)."""
    if new_case or _case_actor(session, user.id, case_id) is None:
        session.info.pop(_ABSENT, None)  # from now on the row is pending, not absent
        session.info.pop(_WORKED_ANY, None)
        session.add(CaseActor(user_id=user.id, case_id=case_id, what=what[:40], at=now()))


def in_subtree(user: User, org: Organisation) -> bool:
    return user.is_active and org.path.startswith(user.org.path)


def orgs_in_scope(session: Session, user: User) -> list[Organisation]:
    """The user's own organisation and everything below it, in tree order (for filters)."""
    return list(
        session.scalars(
            select(Organisation)
            .where(Organisation.path.startswith(user.org.path))
            .order_by(Organisation.path)
        )
    )


# 督办: who may watch over overdue tasks and send reminders (催办), within their subtree.
SUPERVISOR_ROLES = ("approver_l2", "approver_l3", "manager")


def may_supervise(user: User) -> bool:
    return user.is_active and any(user.has_role(r) for r in SUPERVISOR_ROLES)


def supervised_tasks(user: User) -> ColumnElement[bool]:
    """Tasks acting at the supervisor's organisation or below: a district approver watches
    its district and unions (not the city's own step), a city approver or manager the city."""
    if not may_supervise(user):
        return false()
    subtree = select(Organisation.id).where(Organisation.path.startswith(user.org.path))
    return HumanTask.org_id.in_(subtree)


def can_supervise_task(user: User, task: HumanTask, org: Organisation) -> bool:
    """`org` is the task's acting organisation (task.org_id)."""
    return may_supervise(user) and org.id == task.org_id and in_subtree(user, org)


def visible_cases(user: User) -> ColumnElement[bool]:
    if not user.is_active:
        return false()
    subtree = select(Organisation.id).where(Organisation.path.startswith(user.org.path))
    return Case.org_id.in_(subtree)


def get_visible_case(session: Session, user: User, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("案件不存在")
    if not in_subtree(user, case.org):
        raise Forbidden("无权查看该案件")
    return case


def get_actionable_task(session: Session, user: User, task_id: int) -> HumanTask:
    task = session.get(HumanTask, task_id)
    if task is None:
        raise NotFound("任务不存在")
    if not can_act_on_task(user, task):
        if user.is_active and task.candidate_group in user.role_set:
            if task.org_id == user.org_id and four_eyes_barred(user, task):
                raise Forbidden(FOUR_EYES_MESSAGE)
        raise Forbidden("无权办理该任务")
    return task
