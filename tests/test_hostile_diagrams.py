"""A manager's diagram, by mistake or on purpose (issue 12): the hostile diagrams in
tests/data/hostile/ are refused at deploy naming their element, or, when only the
running case can tell, refused when they run, naming the element, with nothing saved.
Money moves only after the case's final approval, for the approved amount, once."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from workflows import cases, diagram_limits, engine, processes, timers
from workflows.errors import ValidationFailed
from workflows.models import (
    AuditEvent,
    BudgetReservation,
    Case,
    Payment,
    ProcessVersion,
    PublicNotice,
)

HOSTILE = Path(__file__).parent / "data" / "hostile"
BPMN = Path(__file__).parent.parent / "bpmn"
CHINESE = re.compile(r"[\u4e00-\u9fff]")
VISIT_OK = dict(
    visit_date="2026-09-07",
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病，家庭收入低",
    visit_verdict="confirmed",
)
APPROVE = {"decision": "approve"}


def hostile(name: str) -> str:
    return (HOSTILE / name).read_text(encoding="utf-8")


def shipped(name: str, old: str = "", new: str = "") -> str:
    text = (BPMN / f"{name}.bpmn").read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}.bpmn"
    return text.replace(old, new, 1) if old else text


def versions(session) -> int:
    return session.scalar(select(func.count(ProcessVersion.id)))


def refused_at_deploy(session, xml: str) -> ValidationFailed:
    before = versions(session)
    with pytest.raises(ValidationFailed) as caught:
        processes.deploy(session, None, xml)
    session.rollback()
    assert versions(session) == before
    assert CHINESE.search(caught.value.message)
    return caught.value


def register(world):
    return cases.start_case(
        world.session,
        world.user("cw1"),
        "tuition_grant",
        world.tuition_application(),
        world.campaigns["tuition"].id,
    )


def refused_when_run(world, monkeypatch=None) -> engine.ProcessError:
    """Register a 金秋助学 case (its first step calls the newest home_visit): refused
    with a ProcessError, and nothing of it saved."""
    before = (
        world.session.scalar(select(func.count(Case.id))),
        world.session.scalar(select(func.count(AuditEvent.id))),
    )
    with pytest.raises(engine.ProcessError) as caught:
        register(world)
    world.session.rollback()
    after = (
        world.session.scalar(select(func.count(Case.id))),
        world.session.scalar(select(func.count(AuditEvent.id))),
    )
    assert after == before
    assert CHINESE.search(caught.value.message)
    return caught.value


# --- refused at deploy, naming the element --------------------------------------------

DEPLOY_REFUSALS = {
    "self_call.bpmn": ("call_myself", "循环"),
    "timer_duration_forever.bpmn": ("wait_forever", "超过十年"),
    "timer_cycle_zero.bpmn": ("tick", "过短"),
    "timer_date_far.bpmn": ("someday", "超过十年"),
    "function_argument_constant.bpmn": ("far_deadline", "working_days_after"),
    "money_in_condition.bpmn": ("Flow_pay_in_condition", "只能在审批通过之后"),
    "pay_at_registration.bpmn": ("pay_now", "审批通过之前"),
    "multi_instance.bpmn": ("many", "多实例"),
    "home_visit_pays_early.bpmn": ("pay_now", "审批通过之前"),
    "home_visit_calls_itself.bpmn": ("again", "循环"),
}


@pytest.mark.parametrize(("name", "expected"), DEPLOY_REFUSALS.items(), ids=list(DEPLOY_REFUSALS))
def test_a_hostile_diagram_is_refused_at_deploy_naming_its_element(world, name, expected):
    element, words = expected
    refusal = refused_at_deploy(world.session, hostile(name))
    assert element in refusal.errors, refusal.errors
    assert words in refusal.errors[element]
    assert element in refusal.message


def test_a_call_cycle_through_another_process_is_refused_naming_the_call(world):
    pong = hostile("call_cycle_pong.bpmn")
    plain = re.sub(
        r"<bpmn:callActivity id=\"call_ping\".*?</bpmn:callActivity>",
        '<bpmn:task id="call_ping" name="调用乒" />',
        pong,
        flags=re.S,
    )
    processes.deploy(world.session, None, plain)
    processes.deploy(world.session, None, hostile("call_cycle_ping.bpmn"))
    refusal = refused_at_deploy(world.session, pong)
    assert "hostile_pong → hostile_ping → hostile_pong" in refusal.errors["call_ping"]


def test_a_chain_of_five_thousand_tasks_is_refused_with_the_size_limit_not_a_recursion_error(
    world,
):
    refusal = refused_at_deploy(world.session, hostile("chain_5000.bpmn"))
    message = refusal.errors["hostile_chain"]
    assert "5002 个环节" in message and f"最多 {diagram_limits.MAX_FLOW_NODES} 个" in message
    assert "Recursion" not in refusal.message


def test_a_doctype_after_the_first_four_kilobytes_is_still_refused(world):
    text = hostile("doctype_late.bpmn")
    assert text.lower().index("<!doctype") > 4096
    refusal = refused_at_deploy(world.session, text)
    assert "DOCTYPE" in refusal.message


def test_a_doctype_in_utf16_is_refused_too(world):
    text = hostile("doctype_late.bpmn").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    refusal = refused_at_deploy(world.session, text.encode("utf-16"))
    assert "DOCTYPE" in refusal.message


def test_the_shipped_diagrams_pass_every_limit(world):
    # deploy_files in the world fixture deployed them all; each is a version.
    assert versions(world.session) == len(list(BPMN.glob("*.bpmn")))


def test_editors_findings_mark_the_element_too(world):
    findings = processes.findings_for(
        world.session, world.user("mgr"), hostile("timer_cycle_zero.bpmn")
    )
    assert any(f.element == "tick" and "过短" in f.message for f in findings)


# --- refused when the case runs, naming the element, nothing saved -----------------------

RUN_TIME_REFUSALS = {
    "home_visit_runaway_loop.bpmn": ("步骤过多", ("空转", "再转一圈")),
    "home_visit_big_comprehension.bpmn": ("过大", ("撑大数据",)),
    "home_visit_fstring.bpmn": ("过大", ("拼接",)),
    "home_visit_nested.bpmn": ("过大", ("嵌套",)),
    "home_visit_dict_loop.bpmn": ("过大", ("逐项填写",)),
    "home_visit_function_argument.bpmn": ("working_days_after", ("算期限",)),
    "home_visit_timer_from_data.bpmn": ("定时器时长超出范围", ("等一亿年",)),
}


@pytest.mark.parametrize(
    ("name", "expected"), RUN_TIME_REFUSALS.items(), ids=list(RUN_TIME_REFUSALS)
)
def test_a_hostile_step_is_refused_when_it_runs_naming_the_element(world, clock, name, expected):
    words, elements = expected
    processes.deploy(world.session, None, hostile(name))
    refusal = refused_when_run(world)
    assert words in refusal.message
    assert any(f"环节：{e}" in refusal.message for e in elements), refusal.message


def test_a_slow_script_is_cut_off_at_the_time_limit(world, clock, monkeypatch):
    monkeypatch.setattr(engine, "MAX_ENGINE_SECONDS", 0.5)
    processes.deploy(world.session, None, hostile("home_visit_slow_script.bpmn"))
    refusal = refused_when_run(world)
    assert "运行时间过长" in refusal.message and "环节：慢慢算" in refusal.message


def test_a_call_cycle_deployed_before_the_check_is_cut_off_by_the_step_limit(
    world, clock, monkeypatch
):
    monkeypatch.setattr(diagram_limits, "check_call_cycles", lambda *args: [])
    processes.deploy(world.session, None, hostile("home_visit_calls_itself.bpmn"))
    refusal = refused_when_run(world)
    assert "层级过深" in refusal.message and "环节：再核查一次" in refusal.message


def test_a_runaway_timer_or_script_never_reaches_the_data_limit_unchecked():
    # The caps the messages above come from.
    assert engine.MAX_ENGINE_STEPS <= 1000 and engine.MAX_ENGINE_SECONDS <= 10
    assert engine.MAX_TASK_DATA <= 1024 * 1024


# --- money: after the final approval, for the approved amount, once ---------------------


def _through_notice(world, clock, case):
    world.do("cw1", case, "home_visit_task", VISIT_OK)
    notice = world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == case.id)
    ).one()
    clock.move_to(notice.ends_at + timedelta(minutes=1))
    assert timers.fire_due_timers(world.factory) == 1


def test_a_payment_asked_for_before_any_approval_is_refused_at_run_time_too(
    world, clock, monkeypatch
):
    # As if deployed by an older release without the deploy-time rule.
    monkeypatch.setattr(diagram_limits, "check_money", lambda *args, **kw: [])
    processes.deploy(world.session, None, hostile("home_visit_pays_early.bpmn"))
    refusal = refused_when_run(world)
    assert "尚未终审通过" in refusal.message
    assert world.session.scalar(select(func.count(Payment.id))) == 0


def test_money_follows_the_approved_amount_not_what_a_script_puts_in_task_data(world, clock):
    greedy = shipped(
        "bank_disbursement",
        "<bpmn:script>request_payment()</bpmn:script>",
        "<bpmn:script>amount_fen = 99999999\nrequest_payment()</bpmn:script>",
    )
    processes.deploy(world.session, None, greedy)  # after approval: allowed to deploy
    case = register(world)
    _through_notice(world, clock, case)
    world.do("l1", case, "approve_l1", APPROVE)
    world.do("l2", case, "approve_l2", APPROVE)
    case = world.refresh(case)
    assert case.approved_at is not None and case.approved_fen == case.amount_fen == 500000
    payment = world.session.scalars(select(Payment).where(Payment.case_id == case.id)).one()
    assert payment.amount_fen == 500000
    reservation = world.session.scalars(
        select(BudgetReservation).where(BudgetReservation.case_id == case.id)
    ).one()
    assert reservation.amount_fen == 500000


def test_a_diagram_that_skips_an_approval_level_cannot_move_money(world, clock):
    # Level 1 approves and the diagram goes straight to 记录审批通过 (reserve_budget):
    # it deploys (an approval comes first), but the case's rules want level 2 as well.
    skipping = shipped(
        "approval_by_level",
        'sourceRef="gw_l1" targetRef="approve_l2"',
        'sourceRef="gw_l1" targetRef="approved"',
    )
    processes.deploy(world.session, None, skipping)
    case = register(world)
    _through_notice(world, clock, case)
    with pytest.raises(engine.ProcessError, match="尚未终审通过"):
        world.do("l1", case, "approve_l1", APPROVE)
    world.session.rollback()
    assert world.session.scalar(select(func.count(BudgetReservation.id))) == 0
    assert world.open_task(case, "approve_l1")  # the approval was not saved either


def test_a_payment_is_asked_for_once(world, clock):
    twice = shipped(
        "bank_disbursement",
        "<bpmn:script>request_payment()</bpmn:script>",
        "<bpmn:script>request_payment()\nrequest_payment()</bpmn:script>",
    )
    processes.deploy(world.session, None, twice)
    case = register(world)
    _through_notice(world, clock, case)
    world.do("l1", case, "approve_l1", APPROVE)
    with pytest.raises(engine.ProcessError, match="不能重复生成"):
        world.do("l2", case, "approve_l2", APPROVE)
    world.session.rollback()
    assert world.session.scalar(select(func.count(Payment.id))) == 0


def test_a_return_takes_back_the_approvals_from_its_level_up(world, clock):
    case = register(world)
    _through_notice(world, clock, case)
    world.do("l1", case, "approve_l1", APPROVE)
    assert world.refresh(case).approvals == 0b10
    world.do("l2", case, "approve_l2", {"decision": "return", "comment": "请补充材料"})
    assert world.refresh(case).approvals == 0b10 and world.refresh(case).approved_at is None
    world.do("cw1", case, "rework", {"rework_note": "已补充"})
    world.do("l2", case, "approve_l2", APPROVE)
    case = world.refresh(case)
    assert case.approvals == 0b110 and case.approved_at is not None


def test_final_approval_needs_the_city_level_above_the_threshold(world, clock):
    case = cases.start_case(
        world.session,
        world.user("cw1"),
        "tuition_grant",
        world.tuition_application(education_level="postgraduate"),
        world.campaigns["tuition"].id,
    )
    case = world.refresh(case)
    assert case.amount_fen == 800000 and case.approval_levels == 3
    _through_notice(world, clock, case)
    world.do("l1", case, "approve_l1", APPROVE)
    world.do("l2", case, "approve_l2", APPROVE)
    assert world.refresh(case).approved_at is None
    world.do("l3", case, "approve_l3", APPROVE)
    case = world.refresh(case)
    assert case.approved_at is not None and case.approved_fen == 800000
    assert world.session.scalars(select(Payment).where(Payment.case_id == case.id)).one()
