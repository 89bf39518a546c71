"""金秋助学 end to end through `workflows` alone: every path of the diagram, with the
instance reloaded from the database (and every cache dropped) between steps."""

from datetime import timedelta

import pytest
from conftest import cst, restart, valid_card
from sqlalchemy import func, select

from workflows import cases, engine, notices, payments, tasks, timers
from workflows.errors import ValidationFailed
from workflows.models import (
    AuditEvent,
    GrantClaim,
    HardshipRecord,
    HumanTask,
    Payment,
    ProcessInstance,
    PublicNotice,
)


def start(world, **overrides):
    return cases.start_case(
        world.session,
        world.user("cw1"),
        "tuition_grant",
        world.tuition_application(**overrides),
        world.campaigns["tuition"].id,
    )


VISIT_OK = dict(
    visit_date="2026-09-07",
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病，家庭收入低",
    visit_verdict="confirmed",
)
APPROVE = {"decision": "approve"}


def pass_notice(world, case):
    notice = world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == case.id)
    ).one()
    world.clock_move(notice.ends_at + timedelta(minutes=1))
    return timers.fire_due_timers(world.factory)


@pytest.fixture
def w(world, clock):
    def move(moment):
        clock.move_to(moment)

    world.clock_move = move
    return world


def test_grant_is_paid_after_visit_notice_and_two_levels_with_reload_between_steps(w):
    case = start(w)
    assert case.case_no.startswith("JQ2026")
    assert case.amount_fen == 500000  # the campaign's undergraduate standard

    steps = [
        lambda: w.do("cw1", case, "home_visit_task", VISIT_OK),
        lambda: pass_notice(w, case),
        lambda: w.do("l1", case, "approve_l1", APPROVE),
        lambda: w.do("l2", case, "approve_l2", APPROVE),
    ]
    for step in steps:
        restart()
        w.new_session()
        step()

    payment = w.session.scalars(select(Payment).where(Payment.case_id == case.id)).one()
    assert (payment.status, payment.amount_fen) == ("payable", 500000)
    assert (
        w.session.scalars(
            select(HumanTask).where(
                HumanTask.case_id == case.id, HumanTask.element_id == "approve_l3"
            )
        ).first()
        is None
    )

    restart()
    payments.record_result(w.session, w.user("fin"), payment.id, "paid")
    case = w.refresh(case)
    assert (case.status, case.outcome, case.outcome_label) == (
        "completed",
        "end_paid",
        "助学金已发放",
    )
    assert w.refresh(payment).status == "paid"
    # Closed cases keep a compact state: the data and the elements passed through.
    instance = w.session.scalars(
        select(ProcessInstance).where(ProcessInstance.case_id == case.id)
    ).one()
    assert instance.status == "completed" and len(instance.state) < 3000
    actions = [
        e.action
        for e in w.session.scalars(
            select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.id)
        )
    ]
    assert actions[0] == "case.start" and actions[-1] == "case.closed"
    assert {
        "notice.post",
        "notice.close",
        "timer.fire",
        "payment.request",
        "payment.result",
    } <= set(actions)


def test_postgraduate_grant_above_threshold_needs_city_approval(w):
    case = start(w, education_level="postgraduate")
    assert case.amount_fen == 800000
    w.do("cw1", case, "home_visit_task", VISIT_OK)
    pass_notice(w, case)
    w.do("l1", case, "approve_l1", APPROVE)
    w.do("l2", case, "approve_l2", APPROVE)
    task = w.open_task(case, "approve_l3")
    assert task.org_id == w.orgs["city"].id
    w.do("l3", case, "approve_l3", APPROVE)
    assert w.session.scalars(select(Payment).where(Payment.case_id == case.id)).one()


def test_return_at_level_two_goes_to_caseworker_with_reason_and_back_to_level_two(w):
    case = start(w)
    w.do("cw1", case, "home_visit_task", VISIT_OK)
    pass_notice(w, case)
    w.do("l1", case, "approve_l1", APPROVE)
    with pytest.raises(ValidationFailed) as refused:
        w.do("l2", case, "approve_l2", {"decision": "return"})
    assert "comment" in refused.value.errors
    w.do("l2", case, "approve_l2", {"decision": "return", "comment": "请补充学费缴费通知单"})

    rework = w.open_task(case, "rework")
    view = tasks.get_task(w.session, w.user("cw1"), rework.id)
    assert view.values["return_reason"] == "请补充学费缴费通知单"
    w.do("cw1", case, "rework", {"rework_note": "已补充缴费通知单"})

    back = w.open_task(case, "approve_l2")
    assert back.org_id == w.orgs["d1"].id
    w.do("l2", case, "approve_l2", APPROVE)
    assert w.session.scalars(select(Payment).where(Payment.case_id == case.id)).one()


def test_rejection_ends_case_and_frees_the_year_for_a_new_application(w):
    data = w.tuition_application()
    cw = w.user("cw1")
    campaign = w.campaigns["tuition"].id
    case = cases.start_case(w.session, cw, "tuition_grant", dict(data), campaign)
    w.do("cw1", case, "home_visit_task", VISIT_OK)
    pass_notice(w, case)
    w.do("l1", case, "approve_l1", {"decision": "reject", "comment": "家庭收入超过标准"})
    case = w.refresh(case)
    assert (case.status, case.outcome) == ("completed", "end_rejected")
    again = cases.start_case(
        w.session, cw, "tuition_grant", dict(data, admission_letter=w.upload()), campaign
    )
    assert again.status == "running"


def test_second_application_for_same_student_and_year_is_refused(w):
    data = w.tuition_application()
    cw = w.user("cw1")
    first = cases.start_case(w.session, cw, "tuition_grant", dict(data), w.campaigns["tuition"].id)
    before = w.session.scalar(select(func.count(GrantClaim.id)))
    other_union = w.user("cw2")
    with pytest.raises(ValidationFailed) as refused:
        cases.start_case(
            w.session,
            other_union,
            "tuition_grant",
            dict(
                data,
                student_id_number=data["student_id_number"].lower(),
                admission_letter=w.upload("cw2"),
            ),
            w.campaigns["tuition"].id,
        )
    assert "每年只能资助一次" in refused.value.message
    assert first.case_no in refused.value.message
    assert "student_id_number" in refused.value.errors
    assert w.session.scalar(select(func.count(GrantClaim.id))) == before


def test_objection_upheld_ends_the_case(w):
    case = start(w)
    w.do("cw1", case, "home_visit_task", VISIT_OK)
    notice = w.session.scalars(select(PublicNotice).where(PublicNotice.case_id == case.id)).one()
    assert notice.masked_name == "王*明" and notice.status == "open"
    notices.raise_objection(w.session, notice.id, "13900000000", "该生家庭经营两家商铺，并不困难")
    assert w.refresh(notice).status == "objection"
    investigation = w.open_task(case, "investigate_objection")
    view = tasks.get_task(w.session, w.user("cw1"), investigation.id)
    assert "经营两家商铺" in view.values["objection_summary"]
    # The notice timer no longer runs while the objection is investigated.
    w.clock_move(notice.ends_at + timedelta(minutes=1))
    assert timers.fire_due_timers(w.factory) == 0
    w.do(
        "cw1",
        case,
        "investigate_objection",
        {"objection_finding": "upheld", "investigation_report": "经核实，异议属实"},
    )
    case = w.refresh(case)
    assert (case.status, case.outcome) == ("completed", "end_objection_upheld")
    assert w.refresh(notice).status == "upheld"


def test_objection_dismissed_runs_the_notice_again_in_full(w):
    case = start(w)
    w.do("cw1", case, "home_visit_task", VISIT_OK)
    notice = w.session.scalars(select(PublicNotice).where(PublicNotice.case_id == case.id)).one()
    first_end = notice.ends_at
    w.clock_move(cst(2026, 9, 9, 15, 0))
    notices.raise_objection(w.session, notice.id, "匿名（12351热线转办）", "怀疑家庭收入填报不实")
    w.do(
        "cw1",
        case,
        "investigate_objection",
        {"objection_finding": "dismissed", "investigation_report": "经核实收入属实"},
    )
    notice = w.refresh(notice)
    assert notice.status == "open" and notice.round == 2
    # Posted again on Wed 9 Sep: 5 working days → through Wed 16 Sep.
    assert notice.ends_at == cst(2026, 9, 17, 0, 0) and notice.ends_at > first_end
    pass_notice(w, case)
    assert w.open_task(case, "approve_l1")


def test_objection_to_a_closed_notice_is_refused(w):
    case = start(w)
    w.do("cw1", case, "home_visit_task", VISIT_OK)
    notice = w.session.scalars(select(PublicNotice).where(PublicNotice.case_id == case.id)).one()
    pass_notice(w, case)
    with pytest.raises(ValidationFailed, match="已结束"):
        notices.raise_objection(w.session, notice.id, "13900000000", "理由理由理由理由")


def test_notice_timer_counts_national_day_and_the_make_up_saturday(w):
    w.clock_move(cst(2026, 9, 29, 10, 0))  # Tuesday before National Day
    case = start(w)
    w.do("cw1", case, "home_visit_task", dict(VISIT_OK, visit_date="2026-09-29"))
    notice = w.session.scalars(select(PublicNotice).where(PublicNotice.case_id == case.id)).one()
    # 9-30, (10-1..10-7 holiday), 10-8, 10-9, 10-10 (调休 Saturday), 10-12.
    assert notice.ends_at == cst(2026, 10, 13, 0, 0)
    assert notice.calendar_warning == ""
    w.clock_move(cst(2026, 10, 12, 23, 59))
    assert timers.fire_due_timers(w.factory) == 0
    assert w.refresh(notice).status == "open"
    w.clock_move(cst(2026, 10, 13, 0, 1))
    assert timers.fire_due_timers(w.factory) == 1
    assert w.refresh(notice).status == "passed"
    assert w.open_task(case, "approve_l1")


def test_notice_posted_on_28_december_runs_into_2027_with_a_warning(w):
    w.clock_move(cst(2026, 12, 28, 10, 0))
    case = start(w)
    w.do("cw1", case, "home_visit_task", dict(VISIT_OK, visit_date="2026-12-28"))
    notice = w.session.scalars(select(PublicNotice).where(PublicNotice.case_id == case.id)).one()
    # 12-29, 12-30, 12-31, then 2027 unknown to chinese-calendar: Mon–Fri → 1-1, 1-4.
    assert notice.ends_at == cst(2027, 1, 5, 0, 0)
    assert "2027年" in notice.calendar_warning and "周一至周五" in notice.calendar_warning
    instance = w.session.scalars(
        select(ProcessInstance).where(ProcessInstance.case_id == case.id)
    ).one()
    assert "2027年" in instance.calendar_warning
    w.clock_move(cst(2027, 1, 5, 0, 1))
    assert timers.fire_due_timers(w.factory) == 1
    assert w.open_task(case, "approve_l1")


def test_payment_failure_opens_card_correction_and_the_same_payment_is_paid_once(w):
    case = start(w)
    w.do("cw1", case, "home_visit_task", VISIT_OK)
    pass_notice(w, case)
    w.do("l1", case, "approve_l1", APPROVE)
    w.do("l2", case, "approve_l2", APPROVE)
    payment = w.session.scalars(select(Payment).where(Payment.case_id == case.id)).one()
    fin = w.user("fin")
    payments.record_result(w.session, fin, payment.id, "failed", "账户已销户")
    payments.record_result(w.session, fin, payment.id, "failed", "账户已销户")  # repeated
    correction = w.open_task(case, "correct_bank_card")
    view = tasks.get_task(w.session, w.user("cw1"), correction.id)
    assert view.values["payment_failure_reason"] == "账户已销户"
    with pytest.raises(ValidationFailed) as refused:
        w.do(
            "cw1",
            case,
            "correct_bank_card",
            {"bank_card": "6222020200112233440", "account_name": "王大力"},
        )
    assert "bank_card" in refused.value.errors
    new_card = valid_card("621700123456789012")
    w.do("cw1", case, "correct_bank_card", {"bank_card": new_card, "account_name": "王大力"})
    payment = w.refresh(payment)
    assert (payment.status, payment.bank_card, payment.attempts) == ("payable", new_card, 1)
    payments.record_result(w.session, fin, payment.id, "paid")
    payments.record_result(w.session, fin, payment.id, "paid")  # importing twice: no change
    assert w.session.scalar(select(func.count(Payment.id)).where(Payment.case_id == case.id)) == 1
    assert w.refresh(payment).attempts == 2
    assert w.refresh(case).outcome == "end_paid"


def test_another_district_sees_none_of_the_case_tasks(w):
    case = start(w)
    w.do("cw1", case, "home_visit_task", VISIT_OK)
    pass_notice(w, case)
    w.do("l1", case, "approve_l1", APPROVE)
    for outsider in ("l2_d2", "cw3", "l1_g3", "cw2"):
        assert tasks.list_tasks(w.session, w.user(outsider), "all") == []
    assert [t.element_id for t in tasks.list_tasks(w.session, w.user("l2"), "all")] == [
        "approve_l2"
    ]
    assert w.session.scalar(select(func.count(HardshipRecord.id))) == 0


def test_case_data_reads_the_running_state_and_the_final_state_of_a_closed_case(w):
    case = start(w)
    w.do("cw1", case, "home_visit_task", VISIT_OK)
    running = engine.case_data(w.session, case)
    assert running["student_name"] == "王小明" and running["visit_verdict"] == "confirmed"
    assert running["amount_fen"] == 500000
    pass_notice(w, case)
    w.do("l1", case, "approve_l1", {"decision": "reject", "comment": "材料不实"})
    closed = engine.case_data(w.session, w.refresh(case))
    assert closed["decision"] == "reject" and closed["comment"] == "材料不实"
    assert closed["approval_result"] == "rejected"


def test_level_two_form_does_not_show_level_one_decision_as_its_own(w):
    case = start(w)
    w.do("cw1", case, "home_visit_task", VISIT_OK)
    pass_notice(w, case)
    w.do("l1", case, "approve_l1", {"decision": "approve", "comment": "同意"})
    view = tasks.get_task(w.session, w.user("l2"), w.open_task(case, "approve_l2").id)
    assert [f["id"] for f in view.fields] == ["decision", "comment"]
    assert view.values == {}
