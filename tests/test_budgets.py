"""Campaign budgets (DESIGN.md "Money"): the final approval reserves the case's amount from
its district federation's budget or is refused with nothing written; a case that ends
unpaid gives the money back; concurrent final approvals never overspend."""

import threading
from datetime import timedelta

import pytest
from conftest import today_iso, valid_card
from sqlalchemy import func, select

from workflows import budgets, cases, engine, payments, tasks, timers
from workflows.errors import Conflict
from workflows.models import (
    AuditEvent,
    BudgetReservation,
    CampaignBudget,
    HumanTask,
    Payment,
    PublicNotice,
    User,
)

VISIT_OK = dict(
    visit_date="2026-09-07",
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病，家庭收入低",
    visit_verdict="confirmed",
)
APPROVE = {"decision": "approve"}


def tuition_at_approval(world, clock, **overrides):
    case = cases.start_case(
        world.session,
        world.user("cw1"),
        "tuition_grant",
        world.tuition_application(**overrides),
        world.campaigns["tuition"].id,
    )
    world.do("cw1", case, "home_visit_task", dict(VISIT_OK, visit_date=today_iso()))
    notice = world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == case.id)
    ).one()
    clock.move_to(notice.ends_at + timedelta(minutes=1))
    timers.fire_due_timers(world.factory)
    world.open_task(case, "approve_l1")
    return case


def seasonal_at_approval(world, category: str = "living"):
    data = dict(
        worker_name="李大山",
        worker_id_number=world.next_id("19750612"),
        hardship_category=category,
        bank_card=valid_card(),
        account_name="李大山",
        phone="13900000000",
    )
    return cases.start_case(
        world.session, world.user("cw1"), "seasonal_aid", data, world.campaigns["winter"].id
    )


def budget_row(world, campaign: str = "tuition", district: str = "d1") -> CampaignBudget:
    world.session.expire_all()
    return world.session.scalars(
        select(CampaignBudget).where(
            CampaignBudget.campaign_id == world.campaigns[campaign].id,
            CampaignBudget.org_id == world.orgs[district].id,
        )
    ).one()


def set_budget(world, fen: int, campaign: str = "tuition", district: str = "d1") -> None:
    row = budget_row(world, campaign, district)
    row.budget_fen = fen
    world.session.commit()


def reserved(world, campaign: str = "tuition") -> int:
    status = budgets.budget_status(world.session, world.campaigns[campaign].id, world.orgs["d1"].id)
    return status.reserved_fen


def reservation_of(world, case) -> BudgetReservation | None:
    world.session.expire_all()
    return world.session.scalars(
        select(BudgetReservation).where(BudgetReservation.case_id == case.id)
    ).first()


def test_final_approval_at_level_two_reserves_exactly_the_amount(world, clock):
    case = tuition_at_approval(world, clock)
    world.do("l1", case, "approve_l1", APPROVE)
    assert reserved(world) == 0  # level 1 is not the final approval
    world.do("l2", case, "approve_l2", APPROVE)

    assert reserved(world) == 500000
    status = budgets.budget_status(
        world.session, world.campaigns["tuition"].id, world.orgs["d1"].id
    )
    assert (status.budget_fen, status.remaining_fen) == (100_000_000, 100_000_000 - 500000)
    reservation = reservation_of(world, case)
    assert reservation.amount_fen == 500000
    assert reservation.budget_id == budget_row(world).id
    assert budgets.budget_status(world.session, world.campaigns["tuition"].id, 999999) is None
    events = world.session.scalars(
        select(AuditEvent).where(AuditEvent.case_id == case.id, AuditEvent.action.like("budget.%"))
    ).all()
    assert [e.action for e in events] == ["budget.reserve"]
    assert "市中区总工会 2026年金秋助学" in events[0].summary


def test_postgraduate_reserves_only_after_city_approval(world, clock):
    case = tuition_at_approval(world, clock, education_level="postgraduate")
    world.do("l1", case, "approve_l1", APPROVE)
    world.do("l2", case, "approve_l2", APPROVE)
    assert reserved(world) == 0
    assert reservation_of(world, case) is None
    world.do("l3", case, "approve_l3", APPROVE)
    assert reserved(world) == 800000
    assert reservation_of(world, case).amount_fen == 800000


def test_too_small_a_budget_refuses_the_final_approval_and_writes_nothing(world, clock):
    case = tuition_at_approval(world, clock)
    world.do("l1", case, "approve_l1", APPROVE)
    set_budget(world, 400000)
    task_id = world.open_task(case, "approve_l2").id
    before_audit = world.session.scalar(select(func.count(AuditEvent.id)))

    with pytest.raises(engine.ProcessError) as refused:
        world.do("l2", case, "approve_l2", APPROVE)
    assert refused.value.message == (
        "市中区总工会 2026年金秋助学 预算不足：剩余 4000.00 元，本案需 5000.00 元"
    )

    world.session.expire_all()
    task = world.session.get(HumanTask, task_id)
    assert task.status == "open" and task.completed_by_id is None
    assert world.open_task(case, "approve_l2").id == task_id
    row = budget_row(world)
    assert (row.reserved_fen, row.lock_version) == (0, 2)  # only our own budget edit
    assert reservation_of(world, case) is None
    assert world.session.scalars(select(Payment).where(Payment.case_id == case.id)).first() is None
    assert world.session.scalar(select(func.count(AuditEvent.id))) == before_audit

    set_budget(world, 500000)  # exactly enough: the same task now goes through
    world.do("l2", case, "approve_l2", APPROVE)
    assert reserved(world) == 500000


def test_refusal_names_what_is_left_after_other_cases(world, clock):
    first = tuition_at_approval(world, clock)
    second = tuition_at_approval(world, clock)
    set_budget(world, 800000)
    for case in (first, second):
        world.do("l1", case, "approve_l1", APPROVE)
    world.do("l2", first, "approve_l2", APPROVE)
    with pytest.raises(engine.ProcessError) as refused:
        world.do("l2", second, "approve_l2", APPROVE)
    assert "剩余 3000.00 元，本案需 5000.00 元" in refused.value.message
    assert reserved(world) == 500000


def test_campaign_without_a_budget_for_the_district_is_refused_clearly(world, clock):
    case = tuition_at_approval(world, clock)
    world.do("l1", case, "approve_l1", APPROVE)
    world.session.delete(budget_row(world))
    world.session.commit()
    with pytest.raises(engine.ProcessError) as refused:
        world.do("l2", case, "approve_l2", APPROVE)
    assert "市中区总工会 2026年金秋助学 未设置预算" in refused.value.message
    assert world.open_task(case, "approve_l2")


def test_rejection_at_level_one_reserves_nothing(world, clock):
    case = tuition_at_approval(world, clock)
    world.do("l1", case, "approve_l1", {"decision": "reject", "comment": "家庭收入超过标准"})
    case = world.refresh(case)
    assert case.outcome == "end_rejected"
    assert reserved(world) == 0
    assert reservation_of(world, case) is None


def test_cancelling_an_approved_unpaid_case_releases_its_reservation(world, clock):
    case = tuition_at_approval(world, clock)
    world.do("l1", case, "approve_l1", APPROVE)
    world.do("l2", case, "approve_l2", APPROVE)
    assert reserved(world) == 500000

    # After the final approval only a manager may still cancel (the caseworker's 撤销 ends
    # there: tests/test_casework.py).
    cases.cancel_case(world.session, world.user("mgr"), case.id, "学生已获其他资助")
    case = world.refresh(case)
    assert case.status == "cancelled"
    assert reserved(world) == 0
    assert reservation_of(world, case) is None
    actions = [
        e.action
        for e in world.session.scalars(
            select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.id)
        )
    ]
    assert actions.count("budget.reserve") == 1 and actions.count("budget.release") == 1


def test_a_paid_case_keeps_its_reservation(world, clock):
    case = tuition_at_approval(world, clock)
    world.do("l1", case, "approve_l1", APPROVE)
    world.do("l2", case, "approve_l2", APPROVE)
    payment = world.session.scalars(select(Payment).where(Payment.case_id == case.id)).one()
    payments.record_result(world.session, world.user("fin"), payment.id, "paid")
    case = world.refresh(case)
    assert (case.status, case.outcome) == ("completed", "end_paid")
    assert reserved(world) == 500000
    assert reservation_of(world, case).amount_fen == 500000


def test_hardship_archive_reserves_nothing(world, clock):
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
    case = cases.start_case(world.session, world.user("cw1"), "hardship_archive", data)
    world.do("cw1", case, "home_visit_task", dict(VISIT_OK, visit_date=today_iso()))
    notice = world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == case.id)
    ).one()
    clock.move_to(notice.ends_at + timedelta(minutes=1))
    timers.fire_due_timers(world.factory)
    world.do("l1", case, "approve_l1", APPROVE)
    world.do("l2", case, "approve_l2", APPROVE)
    assert reservation_of(world, case) is None
    assert world.session.scalar(select(func.count(BudgetReservation.id))) == 0
    assert reserved(world) == 0 and reserved(world, "winter") == 0


def test_concurrent_final_approvals_never_overspend(world):
    amount = 100000  # winter "living": final approval at level 2
    set_budget(world, 2 * amount, campaign="winter")
    case_list = [seasonal_at_approval(world) for _ in range(3)]
    for case in case_list:
        world.do("l1", case, "approve_l1", APPROVE)
    task_ids = [world.open_task(case, "approve_l2").id for case in case_list]
    approver_id = world.users["l2"].id

    barrier = threading.Barrier(len(task_ids))
    outcomes: list[object] = [None] * len(task_ids)

    def approve(index: int) -> None:
        with world.factory() as session:
            user = session.get(User, approver_id)
            session.get(HumanTask, task_ids[index])
            session.rollback()  # start the action fresh, all threads at once
            barrier.wait(timeout=30)
            try:
                tasks.complete(session, user, task_ids[index], dict(APPROVE))
                outcomes[index] = "ok"
            except (engine.ProcessError, Conflict) as err:
                outcomes[index] = err
            except Exception as err:  # noqa: BLE001 - reported by the assertion below
                outcomes[index] = repr(err)

    threads = [threading.Thread(target=approve, args=(i,)) for i in range(len(task_ids))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert outcomes.count("ok") == 2, outcomes
    refused = [o for o in outcomes if o != "ok"]
    assert len(refused) == 1 and isinstance(refused[0], engine.ProcessError | Conflict), outcomes
    row = budget_row(world, "winter")
    assert row.reserved_fen == 2 * amount <= row.budget_fen
    assert world.session.scalar(select(func.count(BudgetReservation.id))) == 2
    assert world.session.scalar(select(func.count(Payment.id))) == 2
    still_open = [
        world.session.get(HumanTask, tid).status
        for tid, o in zip(task_ids, outcomes, strict=True)
        if o != "ok"
    ]
    assert still_open == ["open"]
