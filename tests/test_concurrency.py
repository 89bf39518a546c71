"""Two updates of one instance from two database sessions: the second is refused with a
clear conflict and changes nothing."""

import pytest
from sqlalchemy import func, select

from workflows import cases, engine, tasks
from workflows.errors import Conflict
from workflows.models import AuditEvent, HumanTask, ProcessInstance, PublicNotice, User

VISIT = dict(
    visit_date="2026-09-07",
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病，家庭收入低",
    visit_verdict="confirmed",
)


def _start(world):
    return cases.start_case(
        world.session,
        world.user("cw1"),
        "tuition_grant",
        world.tuition_application(),
        world.campaigns["tuition"].id,
    )


def test_second_session_completing_the_same_task_gets_a_conflict_and_changes_nothing(world):
    case = _start(world)
    task_id = world.open_task(case, "home_visit_task").id
    visit = dict(VISIT, housing_photos=[world.photo()])
    first, second = world.factory(), world.factory()
    try:
        # Both sessions read the task and the instance before either writes.
        for s in (first, second):
            s.get(HumanTask, task_id)
            s.scalars(select(ProcessInstance).where(ProcessInstance.case_id == case.id)).one()
        tasks.complete(first, first.get(User, world.users["cw1"].id), task_id, visit)
        before_audit = world.session.scalar(select(func.count(AuditEvent.id)))
        with pytest.raises(Conflict) as refused:
            tasks.complete(second, second.get(User, world.users["cw1b"].id), task_id, visit)
        assert "其他人" in refused.value.message or "已办理" in refused.value.message
    finally:
        first.close()
        second.close()
    world.session.expire_all()
    assert world.session.scalar(select(func.count(AuditEvent.id))) == before_audit
    instance = world.session.scalars(
        select(ProcessInstance).where(ProcessInstance.case_id == case.id)
    ).one()
    assert instance.lock_version == 3  # created (1), started (2), one completion (3)
    completed = world.session.get(HumanTask, task_id)
    assert completed.completed_by_id == world.users["cw1"].id


def test_stale_instance_write_is_refused_even_when_the_task_row_looks_open(world):
    """The instance's lock_version alone guards the state: a write based on an old read
    loses, whatever the task rows say."""
    case = _start(world)
    stale = world.factory()
    try:
        stale_loaded = engine.load_case(stale, case.id)
        world.do("cw1", case, "home_visit_task", VISIT)  # moves the version on

        def complete_again(wf):  # the same step, on the stale copy of the workflow
            task = wf.get_tasks(state=engine.TaskState.READY, manual=True)[0]
            task.data.update(VISIT)
            task.run()

        with pytest.raises(Conflict), engine.unit_of_work(stale):
            engine.advance(stale, stale_loaded, None, complete_again)
    finally:
        stale.close()
    world.session.expire_all()
    instance = world.session.scalars(
        select(ProcessInstance).where(ProcessInstance.case_id == case.id)
    ).one()
    assert instance.lock_version == 3
    notice = world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == case.id)
    ).one()
    assert notice.status == "open"  # the home visit's outcome stands


def test_a_task_done_since_it_was_listed_is_a_conflict_not_bad_input(world):
    """The row was read as open, then someone else's completion committed before this
    action loaded the case: the answer is 'already done' (409), not 'invalid' (422)."""
    from workflows.errors import AlreadyDone

    case = _start(world)
    row = world.open_task(case, "home_visit_task")
    world.do("cw1", case, "home_visit_task", VISIT)
    world.session.expire_all()
    loaded = engine.load_case(world.session, case.id)
    with pytest.raises(AlreadyDone):
        engine.require_ready(loaded, row.task_uuid)
