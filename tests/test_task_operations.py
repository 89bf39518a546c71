"""Human tasks across programmes: who sees them (group and own lists), claim / unclaim /
hand over, refusals (other unions, other districts, completed twice, bad form data), due
dates in Chinese working days, cancelling a case, and a case that survives a restart
between every step."""

import re
from datetime import timedelta

import pytest
from conftest import cst, restart, today_iso, valid_card
from sqlalchemy import func, select

from workflows import cases, payments, tasks, timers
from workflows.errors import AlreadyDone, Conflict, Forbidden, NotFound, ValidationFailed
from workflows.models import (
    AuditEvent,
    Case,
    GrantClaim,
    HumanTask,
    Payment,
    ProcessInstance,
    PublicNotice,
    User,
)

CHINESE = re.compile(r"[\u4e00-\u9fff]")


def start_tuition(world, **overrides) -> tuple[Case, dict]:
    data = world.tuition_application(**overrides)
    case = cases.start_case(
        world.session, world.user("cw1"), "tuition_grant", data, world.campaigns["tuition"].id
    )
    return case, data


def start_seasonal(world, campaign: str = "winter") -> Case:
    data = dict(
        worker_name="李大山",
        worker_id_number=world.next_id("19750612"),
        hardship_category="living",
        bank_card=valid_card(),
        account_name="李大山",
    )
    return cases.start_case(
        world.session, world.user("cw1"), "seasonal_aid", data, world.campaigns[campaign].id
    )


def visit(verdict: str = "confirmed", photo: int | None = None) -> dict:
    data = dict(
        visit_date=today_iso(),
        visitors="张经办、刘经办",
        household_situation="父母务工收入低，家中两个孩子上学",
        visit_verdict=verdict,
    )
    if photo is not None:
        data["housing_photos"] = [photo]
    return data


def ids(rows) -> set[int]:
    return {r.id for r in rows}


def listed(world, username: str, scope: str, flt: tasks.TaskFilter | None = None) -> set[int]:
    world.session.expire_all()
    return ids(tasks.list_tasks(world.session, world.user(username), scope, flt))


def instance_of(world, case: Case) -> ProcessInstance:
    world.session.expire_all()
    return world.session.scalars(
        select(ProcessInstance).where(ProcessInstance.case_id == case.id)
    ).one()


def audit_count(world, case: Case) -> int:
    world.session.expire_all()
    return world.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.case_id == case.id)
    )


def task_row(world, task_id: int) -> HumanTask:
    world.session.expire_all()
    return world.session.get(HumanTask, task_id)


# --- lists, claim, unclaim, hand over --------------------------------------------------


def test_new_home_visit_task_is_in_own_union_group_lists_only(world):
    case, _ = start_tuition(world)
    task = world.open_task(case, "home_visit_task")
    assert task.candidate_group == "caseworker"
    assert task.assignee_id is None

    assert task.id in listed(world, "cw1", "group")
    assert task.id in listed(world, "cw1b", "group")
    assert task.id not in listed(world, "cw1", "mine")
    for other in ("cw2", "cw3", "l1", "l2", "l3", "fin"):
        assert task.id not in listed(world, other, "group"), other
        assert task.id not in listed(world, other, "all"), other


def test_claimed_task_moves_from_group_to_claimers_own_list(world):
    case, _ = start_tuition(world)
    task = world.open_task(case, "home_visit_task")

    tasks.claim(world.session, world.user("cw1"), task.id)

    assert task.id in listed(world, "cw1", "mine")
    assert task.id not in listed(world, "cw1", "group")
    assert task.id not in listed(world, "cw1b", "group")
    assert task.id not in listed(world, "cw1b", "mine")
    assert task.id in listed(world, "cw1b", "all")
    assert task_row(world, task.id).assignee_id == world.users["cw1"].id


def test_colleague_cannot_claim_or_complete_a_claimed_task(world):
    case, _ = start_tuition(world)
    task = world.open_task(case, "home_visit_task")
    tasks.claim(world.session, world.user("cw1"), task.id)

    with pytest.raises(Conflict) as claim_refused:
        tasks.claim(world.session, world.user("cw1b"), task.id)
    assert not isinstance(claim_refused.value, AlreadyDone)
    assert "张经办" in claim_refused.value.message

    with pytest.raises(Conflict) as complete_refused:
        tasks.complete(world.session, world.user("cw1b"), task.id, visit())
    assert not isinstance(complete_refused.value, AlreadyDone)
    assert "张经办" in complete_refused.value.message

    row = task_row(world, task.id)
    assert row.status == "open"
    assert row.assignee_id == world.users["cw1"].id
    assert world.refresh(case).status == "running"


def test_claiming_own_task_again_changes_nothing(world):
    case, _ = start_tuition(world)
    task = world.open_task(case, "home_visit_task")
    tasks.claim(world.session, world.user("cw1"), task.id)
    before = audit_count(world, case)

    tasks.claim(world.session, world.user("cw1"), task.id)

    assert audit_count(world, case) == before
    assert task_row(world, task.id).assignee_id == world.users["cw1"].id


def test_unclaim_puts_task_back_in_group_list(world):
    case, _ = start_tuition(world)
    task = world.open_task(case, "home_visit_task")
    tasks.claim(world.session, world.user("cw1"), task.id)

    with pytest.raises(Forbidden):
        tasks.unclaim(world.session, world.user("cw1b"), task.id)
    tasks.unclaim(world.session, world.user("cw1"), task.id)

    assert task_row(world, task.id).assignee_id is None
    assert task.id in listed(world, "cw1", "group")
    assert task.id in listed(world, "cw1b", "group")
    assert task.id not in listed(world, "cw1", "mine")


def test_hand_over_to_colleague_puts_task_in_their_own_list(world):
    case, _ = start_tuition(world)
    task = world.open_task(case, "home_visit_task")
    tasks.claim(world.session, world.user("cw1"), task.id)

    tasks.hand_over(world.session, world.user("cw1"), task.id, "cw1b")

    assert task.id in listed(world, "cw1b", "mine")
    assert task.id not in listed(world, "cw1", "mine")
    assert task.id not in listed(world, "cw1", "group")
    # the new holder completes it
    tasks.complete(world.session, world.user("cw1b"), task.id, visit(photo=world.photo("cw1b")))
    row = task_row(world, task.id)
    assert row.status == "completed"
    assert row.completed_by_id == world.users["cw1b"].id


def test_hand_over_to_other_union_is_refused_and_to_unknown_user_not_found(world):
    case, _ = start_tuition(world)
    task = world.open_task(case, "home_visit_task")
    tasks.claim(world.session, world.user("cw1"), task.id)

    with pytest.raises(ValidationFailed) as refused:
        tasks.hand_over(world.session, world.user("cw1"), task.id, "cw2")
    assert CHINESE.search(refused.value.message)
    with pytest.raises(ValidationFailed):
        tasks.hand_over(world.session, world.user("cw1"), task.id, "l1")  # same union, other role
    with pytest.raises(NotFound):
        tasks.hand_over(world.session, world.user("cw1"), task.id, "nobody")

    assert task_row(world, task.id).assignee_id == world.users["cw1"].id
    assert task.id not in listed(world, "cw2", "mine")


# --- other unions and districts --------------------------------------------------------


def test_caseworker_of_other_union_is_forbidden_every_task_operation(world):
    case, _ = start_tuition(world)
    task = world.open_task(case, "home_visit_task")
    cw2 = world.user("cw2")

    with pytest.raises(Forbidden):
        tasks.get_task(world.session, cw2, task.id)
    with pytest.raises(Forbidden):
        tasks.claim(world.session, cw2, task.id)
    with pytest.raises(Forbidden):
        tasks.complete(world.session, cw2, task.id, visit())
    with pytest.raises(Forbidden):
        tasks.hand_over(world.session, cw2, task.id, "cw2")

    row = task_row(world, task.id)
    assert (row.status, row.assignee_id) == ("open", None)
    # while cw1 may read it
    view = tasks.get_task(world.session, world.user("cw1"), task.id)
    assert view.task.id == task.id
    assert {f["id"] for f in view.fields} >= {"visit_date", "visit_verdict"}


def test_unknown_task_is_not_found(world):
    with pytest.raises(NotFound):
        tasks.get_task(world.session, world.user("cw1"), 999999)


def test_level_two_task_is_seen_by_own_district_only(world):
    case = start_seasonal(world)
    world.do("l1", case, "approve_l1", {"decision": "approve"})
    task = world.open_task(case, "approve_l2")
    assert task.org_id == world.orgs["d1"].id

    assert task.id in listed(world, "l2", "group")
    assert task.id in listed(world, "l2", "all")
    assert task.id not in listed(world, "l2_d2", "group")
    assert task.id not in listed(world, "l2_d2", "all")
    assert tasks.count_tasks(world.session, world.user("l2_d2"), "all") == 0
    with pytest.raises(Forbidden):
        tasks.get_task(world.session, world.user("l2_d2"), task.id)
    with pytest.raises(Forbidden):
        tasks.complete(world.session, world.user("l2_d2"), task.id, {"decision": "approve"})
    assert tasks.get_task(world.session, world.user("l2"), task.id).task.id == task.id
    assert task_row(world, task.id).status == "open"


# --- completing twice, bad form data ---------------------------------------------------


def test_completing_a_task_twice_is_already_done(world):
    case, _ = start_tuition(world)
    task = world.open_task(case, "home_visit_task")
    tasks.complete(world.session, world.user("cw1"), task.id, visit(photo=world.photo()))
    audit_before = audit_count(world, case)
    lock_before = instance_of(world, case).lock_version

    with pytest.raises(AlreadyDone) as again:
        tasks.complete(world.session, world.user("cw1"), task.id, visit())
    assert isinstance(again.value, Conflict)
    assert "已办理" in again.value.message

    with pytest.raises(AlreadyDone):
        tasks.complete(world.session, world.user("cw1b"), task.id, visit())
    assert audit_count(world, case) == audit_before
    assert instance_of(world, case).lock_version == lock_before


def _assert_refused_without_change(
    world, case: Case, task: HumanTask, data: dict, bad: set[str], username: str = "cw1"
) -> dict:
    lock_before = instance_of(world, case).lock_version
    audit_before = audit_count(world, case)

    with pytest.raises(ValidationFailed) as refused:
        tasks.complete(world.session, world.user(username), task.id, data)

    errors = refused.value.errors
    assert set(errors) == bad
    for field, message in errors.items():
        assert CHINESE.search(message), (field, message)
    row = task_row(world, task.id)
    assert (row.status, row.completed_by_id, row.assignee_id) == ("open", None, None)
    assert instance_of(world, case).lock_version == lock_before
    assert audit_count(world, case) == audit_before
    assert world.refresh(case).status == "running"
    return errors


def test_invalid_home_visit_data_names_each_bad_field_and_changes_nothing(world):
    case, _ = start_tuition(world)
    task = world.open_task(case, "home_visit_task")
    data = dict(visit_date="2026-13-40", household_situation="属实", visit_verdict="maybe")

    errors = _assert_refused_without_change(
        world,
        case,
        task,
        data,
        {"visit_date", "visitors", "visit_verdict", "household_situation", "housing_photos"},
    )

    assert "走访人员" in errors["visitors"]
    assert "至少 15 个字" in errors["household_situation"]
    assert errors["housing_photos"] == "请上传住房照片"
    assert "日期" in errors["visit_date"]
    assert "情况属实" in errors["visit_verdict"]  # the message lists the options
    # the same task then completes with good data
    tasks.complete(world.session, world.user("cw1"), task.id, visit(photo=world.photo()))
    assert task_row(world, task.id).status == "completed"


def test_receipt_quantity_below_minimum_is_refused_and_changes_nothing(world):
    case = start_seasonal(world, "summer")
    world.do("l1", case, "approve_l1", {"decision": "approve"})
    world.do("l2", case, "approve_l2", {"decision": "approve"})
    task = world.open_task(case, "sign_receipt")
    data = dict(goods_quantity=0, receipt_signed=True, signed_by="李大山", sign_date="2026-09-08")

    errors = _assert_refused_without_change(world, case, task, data, {"goods_quantity"})

    assert "数量" in errors["goods_quantity"]
    assert "1" in errors["goods_quantity"]


def test_non_integer_quantity_is_refused(world):
    case = start_seasonal(world, "summer")
    world.do("l1", case, "approve_l1", {"decision": "approve"})
    world.do("l2", case, "approve_l2", {"decision": "approve"})
    task = world.open_task(case, "sign_receipt")
    data = dict(
        goods_quantity="两箱", receipt_signed=True, signed_by="李大山", sign_date="2026-09-08"
    )

    _assert_refused_without_change(world, case, task, data, {"goods_quantity"})


# --- due dates -------------------------------------------------------------------------


def test_home_visit_due_after_ten_working_days_across_national_day(world, clock):
    clock.move_to(cst(2026, 9, 28, 10, 0))  # Monday
    case, _ = start_tuition(world)
    task = world.open_task(case, "home_visit_task")

    # Sep 29, 30; Oct 1-7 holiday; Oct 8, 9, Sat 10 (make-up day); Oct 12-16.
    assert task.due_at == cst(2026, 10, 17, 0, 0)


def test_due_date_counts_from_the_china_date_not_the_utc_date(world, clock):
    clock.move_to(cst(2026, 9, 28, 7, 59))  # Monday in China, still Sunday 23:59 in UTC
    case, _ = start_tuition(world)

    assert world.open_task(case, "home_visit_task").due_at == cst(2026, 10, 17, 0, 0)


def test_overdue_filter_lists_task_only_after_its_due_time(world, clock):
    clock.move_to(cst(2026, 9, 28, 10, 0))
    case, _ = start_tuition(world)
    task = world.open_task(case, "home_visit_task")
    overdue = tasks.TaskFilter(overdue=True)
    cw1 = world.user("cw1")

    assert listed(world, "cw1", "group", overdue) == set()
    assert tasks.count_tasks(world.session, cw1, "group", overdue) == 0

    clock.move_to(cst(2026, 10, 16, 23, 59))  # the last working day: not yet overdue
    assert listed(world, "cw1", "group", overdue) == set()
    assert tasks.count_tasks(world.session, cw1, "all", overdue) == 0
    assert not tasks.get_task(world.session, cw1, task.id).overdue

    clock.move_to(cst(2026, 10, 17, 0, 1))
    assert listed(world, "cw1", "group", overdue) == {task.id}
    assert listed(world, "cw1", "all", overdue) == {task.id}
    assert tasks.count_tasks(world.session, cw1, "group", overdue) == 1
    assert tasks.count_tasks(world.session, cw1, "all", overdue) == 1
    assert tasks.get_task(world.session, cw1, task.id).overdue
    assert listed(world, "cw2", "all", overdue) == set()


def test_count_agrees_with_list_for_every_scope(world):
    first, _ = start_tuition(world)
    start_tuition(world)
    claimed = world.open_task(first, "home_visit_task")
    tasks.claim(world.session, world.user("cw1"), claimed.id)

    for username in ("cw1", "cw1b", "cw2"):
        for scope in tasks.SCOPES:
            count = tasks.count_tasks(world.session, world.user(username), scope)
            assert count == len(listed(world, username, scope)), (username, scope)
    assert tasks.count_tasks(world.session, world.user("cw1"), "mine") == 1
    assert tasks.count_tasks(world.session, world.user("cw1"), "group") == 1
    assert tasks.count_tasks(world.session, world.user("cw1"), "all") == 2


# --- cancel ----------------------------------------------------------------------------


def test_cancel_without_reason_is_refused(world):
    case, _ = start_tuition(world)

    for reason in ("", "   ", None):
        with pytest.raises(ValidationFailed) as refused:
            cases.cancel_case(world.session, world.user("cw1"), case.id, reason)
        assert "reason" in refused.value.errors

    assert world.refresh(case).status == "running"
    assert world.open_task(case, "home_visit_task").status == "open"


def test_cancel_by_other_union_or_approver_is_forbidden(world):
    case, _ = start_tuition(world)

    with pytest.raises(Forbidden):
        cases.cancel_case(world.session, world.user("cw2"), case.id, "误登记")
    with pytest.raises(Forbidden):
        cases.cancel_case(world.session, world.user("l1"), case.id, "误登记")
    assert world.refresh(case).status == "running"


def test_cancel_closes_case_cancels_its_tasks_and_frees_the_claim(world):
    case, data = start_tuition(world)
    task = world.open_task(case, "home_visit_task")
    tasks.claim(world.session, world.user("cw1"), task.id)
    with pytest.raises(ValidationFailed):  # the student holds this year's claim
        cases.start_case(
            world.session,
            world.user("cw1"),
            "tuition_grant",
            dict(data, admission_letter=world.upload()),
            world.campaigns["tuition"].id,
        )

    cases.cancel_case(world.session, world.user("cw1"), case.id, "申请人主动放弃")

    case = world.refresh(case)
    assert case.status == "cancelled"
    assert case.outcome == "cancelled"
    assert case.cancel_reason == "申请人主动放弃"
    assert case.closed_at is not None
    assert instance_of(world, case).status == "cancelled"
    assert task_row(world, task.id).status == "cancelled"
    assert cases.open_tasks(world.session, case.id) == []
    for username in ("cw1", "cw1b"):
        for scope in tasks.SCOPES:
            assert task.id not in listed(world, username, scope), (username, scope)
    world.session.expire_all()
    assert (
        world.session.scalars(select(GrantClaim).where(GrantClaim.case_id == case.id)).all() == []
    )

    again = cases.start_case(
        world.session,
        world.user("cw1"),
        "tuition_grant",
        dict(data, admission_letter=world.upload()),
        world.campaigns["tuition"].id,
    )
    assert again.status == "running"
    assert again.subject_key == case.subject_key
    assert again.campaign_id == case.campaign_id


def test_cancel_during_notice_withdraws_the_notice(world):
    case, _ = start_tuition(world)
    world.do("cw1", case, "home_visit_task", visit())
    world.session.expire_all()
    notice = world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == case.id)
    ).one()
    assert notice.status == "open"
    assert instance_of(world, case).next_timer_at is not None

    cases.cancel_case(world.session, world.user("cw1"), case.id, "学生已获其他资助")

    world.session.expire_all()
    assert world.session.get(PublicNotice, notice.id).status == "withdrawn"
    assert world.refresh(case).status == "cancelled"
    instance = instance_of(world, case)
    assert instance.next_timer_at is None
    assert world.session.scalar(select(func.count(Payment.id))) == 0


def test_cancelling_a_cancelled_case_again_is_a_conflict(world):
    case, _ = start_tuition(world)
    cases.cancel_case(world.session, world.user("cw1"), case.id, "重复登记")
    audit_before = audit_count(world, case)

    with pytest.raises(Conflict):
        cases.cancel_case(world.session, world.user("cw1"), case.id, "再次撤销")

    assert audit_count(world, case) == audit_before
    assert world.refresh(case).cancel_reason == "重复登记"


# --- state survives a restart between steps -------------------------------------------


def _step(world, action):
    """Run one step as a restarted server would: no cached specs, a fresh session."""
    restart()
    with world.factory() as session:

        def user(name: str) -> User:
            return session.get(User, world.users[name].id)

        return action(session, user)


def _only_open_task(session, case_id: int, element_id: str) -> HumanTask:
    [row] = session.scalars(
        select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.status == "open")
    ).all()
    assert row.element_id == element_id
    return row


def test_case_runs_to_the_end_with_a_restart_between_every_step(world, clock):
    data = world.tuition_application(education_level="postgraduate")  # 800000: three levels
    campaign_id = world.campaigns["tuition"].id

    case_id = _step(
        world,
        lambda s, user: cases.start_case(s, user("cw1"), "tuition_grant", data, campaign_id).id,
    )

    photo = world.photo()

    def home_visit(s, user):
        [row] = tasks.list_tasks(s, user("cw1"), "group")
        assert row.case_id == case_id and row.element_id == "home_visit_task"
        tasks.complete(s, user("cw1"), row.id, visit(photo=photo))

    _step(world, home_visit)

    def notice_end(s, user):
        return s.scalars(select(PublicNotice).where(PublicNotice.case_id == case_id)).one()

    ends_at = _step(world, notice_end).ends_at
    clock.move_to(ends_at + timedelta(minutes=1))
    restart()
    assert timers.fire_due_timers(world.factory) == 1

    for username, element in (("l1", "approve_l1"), ("l2", "approve_l2"), ("l3", "approve_l3")):

        def approve(s, user, username=username, element=element):
            row = _only_open_task(s, case_id, element)
            [listed_row] = tasks.list_tasks(s, user(username), "group")
            assert listed_row.id == row.id
            tasks.complete(s, user(username), row.id, {"decision": "approve"})

        _step(world, approve)

    def pay(s, user):
        [payment] = s.scalars(select(Payment).where(Payment.case_id == case_id)).all()
        assert payment.amount_fen == 800000
        assert payment.status == "payable"
        payments.record_result(s, user("fin"), payment.id, "paid")

    _step(world, pay)

    def final(s, user):
        case = s.get(Case, case_id)
        return case.status, case.outcome, cases.open_tasks(s, case_id)

    assert _step(world, final) == ("completed", "end_paid", [])
