"""困难职工建档 (hardship archive): home visit, public notice, two approval levels, a
record valid for a year, the yearly 回头看 that renews it or ends it, and the ways an
application ends early (visit not confirmed, approval rejected)."""

import re
from datetime import timedelta

import pytest
from conftest import cst, today_iso
from sqlalchemy import func, select

from workflows import archive, cases, engine, timers
from workflows.clock import now
from workflows.errors import Conflict, ValidationFailed
from workflows.models import (
    AuditEvent,
    Case,
    GrantClaim,
    HardshipRecord,
    HumanTask,
    ProcessInstance,
    PublicNotice,
)

CHINESE = re.compile(r"[\u4e00-\u9fff]")


def application(world, **overrides) -> dict:
    data = dict(
        worker_name="赵铁柱",
        worker_id_number=world.next_id("19700308"),
        employer="内江钢铁厂",
        phone="13700000000",
        hardship_category="medical",
        household_size=4,
        household_income_fen=1800000,
        hardship_description="本人患尿毒症，长期透析，家庭收入微薄",
    )
    data.update(overrides)
    return data


def start(world, data: dict) -> Case:
    return cases.start_case(world.session, world.user("cw1"), "hardship_archive", data)


def visit(verdict: str = "confirmed") -> dict:
    return dict(
        visit_date=today_iso(),
        visitors="张经办、刘经办",
        household_situation="家中四口人，本人透析，配偶无业，靠低保生活",
        visit_verdict=verdict,
    )


def recheck(result: str, on: str) -> dict:
    return dict(recheck_date=on, recheck_finding="入户复核，情况如实记录", recheck_result=result)


def notice_of(world, case: Case) -> PublicNotice | None:
    world.session.expire_all()
    return world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == case.id)
    ).first()


def record_of(world, case: Case) -> HardshipRecord | None:
    world.session.expire_all()
    return world.session.scalars(
        select(HardshipRecord).where(HardshipRecord.case_id == case.id)
    ).first()


def instance_of(world, case: Case) -> ProcessInstance:
    world.session.expire_all()
    return world.session.scalars(
        select(ProcessInstance).where(ProcessInstance.case_id == case.id)
    ).one()


def open_elements(world, case: Case) -> set[str]:
    world.session.expire_all()
    return {t.element_id for t in cases.open_tasks(world.session, case.id)}


def pass_notice(world, clock, case: Case) -> None:
    """Let the notice period run out and the worker fire the timer."""
    notice = notice_of(world, case)
    assert notice is not None and notice.status == "open"
    clock.move_to(notice.ends_at + timedelta(minutes=1))
    assert timers.fire_due_timers(world.factory) == 1
    assert notice_of(world, case).status == "passed"


def at_approval(world, clock) -> Case:
    case = start(world, application(world))
    world.do("cw1", case, "home_visit_task", visit())
    pass_notice(world, clock, case)
    assert open_elements(world, case) == {"approve_l1"}
    return case


# --- the whole life of a record --------------------------------------------------------


def test_approved_worker_is_archived_for_one_year_with_recheck_timer(world, clock):
    case = start(world, application(world))
    assert open_elements(world, case) == {"home_visit_task"}
    world.do("cw1", case, "home_visit_task", visit())

    notice = notice_of(world, case)
    assert notice.status == "open"
    assert notice.ends_at == cst(2026, 9, 15, 0, 0)  # 5 working days after Mon 2026-09-07
    assert instance_of(world, case).next_timer_at == notice.ends_at
    assert open_elements(world, case) == set()

    clock.move_to(cst(2026, 9, 14, 23, 59))  # still within the notice period
    assert timers.fire_due_timers(world.factory) == 0
    assert notice_of(world, case).status == "open"

    clock.move_to(cst(2026, 9, 15, 9, 0))
    assert timers.fire_due_timers(world.factory) == 1
    assert notice_of(world, case).status == "passed"
    world.do("l1", case, "approve_l1", {"decision": "approve"})
    assert record_of(world, case) is None
    world.do("l2", case, "approve_l2", {"decision": "approve"})

    row = record_of(world, case)
    assert row is not None
    assert row.status == "archived"
    assert row.category == "medical"
    assert row.worker_name == "赵铁柱"
    assert row.valid_until == cst(2027, 9, 15, 9, 0)
    instance = instance_of(world, case)
    assert instance.next_timer_at == row.valid_until
    assert instance.status == "running"
    assert world.refresh(case).status == "running"
    assert open_elements(world, case) == set()


def test_recheck_keep_renews_the_record_and_exit_ends_the_case(world, clock):
    clock.move_to(cst(2026, 9, 15, 9, 0))
    case = start(world, application(world))
    world.do("cw1", case, "home_visit_task", visit())
    pass_notice(world, clock, case)
    clock.move_to(cst(2026, 9, 25, 9, 0))
    world.do("l1", case, "approve_l1", {"decision": "approve"})
    world.do("l2", case, "approve_l2", {"decision": "approve"})
    assert record_of(world, case).valid_until == cst(2027, 9, 25, 9, 0)

    # A day before the year is up nothing happens.
    clock.move_to(cst(2027, 9, 24, 9, 0))
    assert timers.fire_due_timers(world.factory) == 0
    assert open_elements(world, case) == set()

    clock.move_to(cst(2027, 9, 25, 9, 30))
    assert timers.fire_due_timers(world.factory) == 1
    task = world.open_task(case, "annual_recheck")
    assert task.candidate_group == "caseworker"
    assert task.org_id == world.orgs["g1"].id
    assert instance_of(world, case).next_timer_at is None

    clock.move_to(cst(2027, 9, 27, 10, 0))
    world.do("cw1", case, "annual_recheck", recheck("keep", "2027-09-27"))
    row = record_of(world, case)
    assert row.status == "archived"
    assert row.valid_until == cst(2028, 9, 27, 10, 0)
    assert instance_of(world, case).next_timer_at == row.valid_until
    assert world.refresh(case).status == "running"
    assert open_elements(world, case) == set()
    world.session.expire_all()
    assert world.session.scalar(select(func.count(HardshipRecord.id))) == 1

    clock.move_to(cst(2028, 9, 27, 10, 30))
    assert timers.fire_due_timers(world.factory) == 1
    clock.move_to(cst(2028, 9, 28, 10, 0))
    world.do("cw1", case, "annual_recheck", recheck("exit", "2028-09-28"))

    row = record_of(world, case)
    assert row.status == "left"
    assert row.left_at == cst(2028, 9, 28, 10, 0)
    case = world.refresh(case)
    assert case.status == "completed"
    assert case.outcome == "end_left_archive"
    assert instance_of(world, case).next_timer_at is None
    assert open_elements(world, case) == set()


def test_archived_worker_cannot_apply_again_while_the_record_runs(world, clock):
    data = application(world)
    case = start(world, data)
    world.do("cw1", case, "home_visit_task", visit())
    pass_notice(world, clock, case)
    world.do("l1", case, "approve_l1", {"decision": "approve"})
    world.do("l2", case, "approve_l2", {"decision": "approve"})
    assert record_of(world, case).status == "archived"

    with pytest.raises(ValidationFailed) as refused:
        start(world, dict(data))
    assert "worker_id_number" in refused.value.errors
    assert case.case_no in refused.value.errors["worker_id_number"]


# --- ending early ----------------------------------------------------------------------


def test_visit_not_confirmed_ends_case_without_notice_or_record(world):
    case = start(world, application(world))

    world.do("cw1", case, "home_visit_task", visit("not_confirmed"))

    case = world.refresh(case)
    assert case.status == "completed"
    assert case.outcome == "end_visit_rejected"
    assert notice_of(world, case) is None
    assert record_of(world, case) is None
    assert open_elements(world, case) == set()
    assert instance_of(world, case).next_timer_at is None


def test_second_application_refused_while_first_runs_and_accepted_after_it_ends(world):
    data = application(world)
    first = start(world, data)

    with pytest.raises(ValidationFailed) as refused:
        start(world, dict(data))
    assert set(refused.value.errors) == {"worker_id_number"}
    assert first.case_no in refused.value.errors["worker_id_number"]
    world.session.expire_all()
    assert world.session.scalar(select(func.count(Case.id))) == 1

    world.do("cw1", first, "home_visit_task", visit("not_confirmed"))
    world.session.expire_all()
    assert (
        world.session.scalars(select(GrantClaim).where(GrantClaim.case_id == first.id)).all() == []
    )

    again = start(world, dict(data))
    assert again.id != first.id
    assert again.status == "running"
    assert again.subject_key == world.refresh(first).subject_key
    assert open_elements(world, again) == {"home_visit_task"}


def test_rejected_approval_ends_case_rejected(world, clock):
    case = at_approval(world, clock)

    world.do("l1", case, "approve_l1", {"decision": "reject", "comment": "家庭收入超过标准"})

    case = world.refresh(case)
    assert case.status == "completed"
    assert case.outcome == "end_rejected"
    assert record_of(world, case) is None
    assert open_elements(world, case) == set()


def test_rejection_at_level_two_also_ends_rejected(world, clock):
    case = at_approval(world, clock)
    world.do("l1", case, "approve_l1", {"decision": "approve"})

    world.do("l2", case, "approve_l2", {"decision": "reject", "comment": "材料不全"})

    case = world.refresh(case)
    assert (case.status, case.outcome) == ("completed", "end_rejected")
    assert record_of(world, case) is None


def test_reject_without_comment_is_refused_on_comment(world, clock):
    case = at_approval(world, clock)
    task = world.open_task(case, "approve_l1")
    lock_before = instance_of(world, case).lock_version
    audit_before = world.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.case_id == case.id)
    )

    with pytest.raises(ValidationFailed) as refused:
        world.do("l1", case, "approve_l1", {"decision": "reject"})

    assert set(refused.value.errors) == {"comment"}
    assert CHINESE.search(refused.value.errors["comment"])
    assert "意见说明" in refused.value.errors["comment"]
    world.session.expire_all()
    assert world.session.get(HumanTask, task.id).status == "open"
    assert instance_of(world, case).lock_version == lock_before
    assert (
        world.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.case_id == case.id))
        == audit_before
    )
    assert world.refresh(case).status == "running"


def test_reject_with_blank_comment_is_refused_too(world, clock):
    case = at_approval(world, clock)

    with pytest.raises(ValidationFailed) as refused:
        world.do("l1", case, "approve_l1", {"decision": "reject", "comment": "   "})

    assert "comment" in refused.value.errors
    assert open_elements(world, case) == {"approve_l1"}


# --- edges: a timer due this very instant, cancelling an archived case -----------------


def test_a_timer_fires_just_after_its_due_moment_not_at_it(world, clock):
    case = start(world, application(world))
    world.do("cw1", case, "home_visit_task", visit())
    notice = notice_of(world, case)
    clock.move_to(notice.ends_at)

    # Due means strictly past, as SpiffWorkflow compares: at the very instant, nothing fires.
    assert timers.fire_due_timers(world.factory, limit=3) == 0
    assert notice_of(world, case).status == "open"
    clock.shift(timedelta(microseconds=1))
    assert timers.fire_due_timers(world.factory, limit=3) == 1
    assert notice_of(world, case).status == "passed"
    assert (
        world.session.scalar(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.case_id == case.id, AuditEvent.action == "timer.fire"
            )
        )
        == 1
    )


def test_cancelling_an_archived_case_takes_the_worker_out_of_the_archive(world, clock):
    """The rule: an archived case may be cancelled (registered in error, found out later)
    with a reason, by a manager (after the final approval a caseworker no longer may);
    the worker's record is cancelled with it, leaves the archive (no launch opens a case
    for them) and waits for no 回头看. Recorded in the case's history."""
    case = at_approval(world, clock)
    world.do("l1", case, "approve_l1", {"decision": "approve"})
    world.do("l2", case, "approve_l2", {"decision": "approve"})
    assert record_of(world, case).status == "archived"

    with pytest.raises(Conflict):
        cases.cancel_case(world.session, world.user("cw1"), case.id, "登记有误")
    cases.cancel_case(world.session, world.user("mgr"), case.id, "登记有误")

    world.session.expire_all()
    row = record_of(world, case)
    assert (row.status, row.left_at) == ("cancelled", now())  # the clock stands still
    assert row.id not in {r.id for r in archive.archived_workers(world.session)}
    closed = world.refresh(case)
    assert (closed.status, closed.cancel_reason) == ("cancelled", "登记有误")
    instance = world.session.scalars(
        select(ProcessInstance).where(ProcessInstance.case_id == case.id)
    ).one()
    assert instance.next_timer_at is None  # no 回头看 a year on
    actions = world.session.scalars(
        select(AuditEvent.action).where(AuditEvent.case_id == case.id)
    ).all()
    assert "archive.cancel" in actions and "case.cancel" in actions


def test_only_a_cancelled_case_takes_its_archived_worker_out_of_the_archive(world, clock):
    """Closing hooks run for every close. A case that reaches an end event with its worker
    still archived (a diagram a federation drew to end once the worker is archived) keeps
    the record archived; a cancelled one takes it out, as above."""
    case = at_approval(world, clock)
    world.do("l1", case, "approve_l1", {"decision": "approve"})
    world.do("l2", case, "approve_l2", {"decision": "approve"})
    assert record_of(world, case).status == "archived"

    loaded = engine.load_case(world.session, case.id)
    engine.close_case(world.session, loaded, None, ("end_archived", "已建档"))
    world.session.flush()
    assert record_of(world, case).status == "archived"

    engine.close_case(world.session, loaded, None, None)  # cancelled
    world.session.flush()
    row = record_of(world, case)
    assert (row.status, row.left_at) == ("cancelled", now())
    world.session.rollback()
