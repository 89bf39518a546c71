"""四季送 (seasonal aid): cash cases paid to the bank card, goods cases ended by a signed
receipt, approval levels by the campaign's city threshold, one case per worker per
campaign, and a cash case without a bank card refused cleanly at the payment step."""

import re
from datetime import date

import pytest
from conftest import valid_card, valid_id
from sqlalchemy import func, select

from workflows import cases, engine, payments
from workflows.errors import ValidationFailed
from workflows.models import AuditEvent, Case, HumanTask, Payment, ProcessInstance

CHINESE = re.compile(r"[\u4e00-\u9fff]")


def worker(world, **overrides) -> dict:
    data = dict(
        worker_name="李大山",
        worker_id_number=world.next_id("19750612"),
        hardship_category="medical",
        bank_card=valid_card(),
        account_name="李大山",
        phone="13900000000",
    )
    data.update(overrides)
    return data


def start(world, campaign: str, **overrides) -> tuple[Case, dict]:
    data = worker(world, **overrides)
    case = cases.start_case(
        world.session, world.user("cw1"), "seasonal_aid", data, world.campaigns[campaign].id
    )
    return case, data


def approve(world, username: str, case: Case, level: int) -> None:
    world.do(username, case, f"approve_l{level}", {"decision": "approve"})


def payments_of(world, case: Case) -> list[Payment]:
    world.session.expire_all()
    return list(world.session.scalars(select(Payment).where(Payment.case_id == case.id)))


def open_elements(world, case: Case) -> set[str]:
    world.session.expire_all()
    return {t.element_id for t in cases.open_tasks(world.session, case.id)}


def instance_of(world, case: Case) -> ProcessInstance:
    world.session.expire_all()
    return world.session.scalars(
        select(ProcessInstance).where(ProcessInstance.case_id == case.id)
    ).one()


def audit_count(world, case: Case) -> int:
    return world.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.case_id == case.id)
    )


# --- cash ------------------------------------------------------------------------------


def test_cash_case_pays_campaign_standard_and_ends_paid(world):
    case, data = start(world, "winter", hardship_category="medical")
    assert case.status == "running"
    assert case.amount_fen == 300000
    assert open_elements(world, case) == {"approve_l1"}

    approve(world, "l1", case, 1)
    approve(world, "l2", case, 2)
    approve(world, "l3", case, 3)  # 300000 fen is above the winter threshold

    [payment] = payments_of(world, case)
    assert payment.status == "payable"
    assert payment.amount_fen == 300000
    assert payment.bank_card == data["bank_card"]
    assert payment.account_name == "李大山"
    assert payment.campaign_id == world.campaigns["winter"].id
    assert world.refresh(case).status == "running"

    payments.record_result(world.session, world.user("fin"), payment.id, "paid")

    case = world.refresh(case)
    assert case.status == "completed"
    assert case.outcome == "end_paid"
    assert world.refresh(payment).status == "paid"
    assert open_elements(world, case) == set()


def test_amount_above_city_threshold_needs_level_three_approval(world):
    case, _ = start(world, "winter", hardship_category="medical")  # 300000 > 200000
    approve(world, "l1", case, 1)
    approve(world, "l2", case, 2)

    task = world.open_task(case, "approve_l3")
    assert task.candidate_group == "approver_l3"
    assert task.org_id == world.orgs["city"].id
    assert payments_of(world, case) == []

    approve(world, "l3", case, 3)
    [payment] = payments_of(world, case)
    assert payment.amount_fen == 300000


def test_amount_within_city_threshold_is_paid_after_level_two(world):
    case, _ = start(world, "winter", hardship_category="living")  # 100000 <= 200000
    assert case.amount_fen == 100000
    approve(world, "l1", case, 1)
    approve(world, "l2", case, 2)

    assert open_elements(world, case) == set()
    world.session.expire_all()
    assert not world.session.scalars(
        select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.element_id == "approve_l3")
    ).all()
    [payment] = payments_of(world, case)
    assert payment.status == "payable"
    assert payment.amount_fen == 100000

    payments.record_result(world.session, world.user("fin"), payment.id, "paid")
    case = world.refresh(case)
    assert (case.status, case.outcome) == ("completed", "end_paid")


# --- goods -----------------------------------------------------------------------------


def _goods_case_at_receipt(world) -> Case:
    case, _ = start(world, "summer", hardship_category="living", bank_card=None, account_name=None)
    approve(world, "l1", case, 1)
    approve(world, "l2", case, 2)
    return case


def receipt(**overrides) -> dict:
    data = dict(goods_quantity=2, receipt_signed=True, signed_by="李大山", sign_date="2026-09-08")
    data.update(overrides)
    return data


def test_goods_case_opens_receipt_task_for_caseworker(world):
    case = _goods_case_at_receipt(world)

    task = world.open_task(case, "sign_receipt")
    assert task.candidate_group == "caseworker"
    assert task.org_id == world.orgs["g1"].id
    assert open_elements(world, case) == {"sign_receipt"}
    assert payments_of(world, case) == []


def test_goods_receipt_not_signed_is_refused_and_changes_nothing(world):
    case = _goods_case_at_receipt(world)
    task = world.open_task(case, "sign_receipt")
    lock_before = instance_of(world, case).lock_version
    audit_before = audit_count(world, case)

    with pytest.raises(ValidationFailed) as refused:
        world.do("cw1", case, "sign_receipt", receipt(receipt_signed=False))

    assert set(refused.value.errors) == {"receipt_signed"}
    assert CHINESE.search(refused.value.errors["receipt_signed"])
    assert "已签收" in refused.value.errors["receipt_signed"]
    world.session.expire_all()
    row = world.session.get(HumanTask, task.id)
    assert row.status == "open"
    assert row.assignee_id is None
    assert instance_of(world, case).lock_version == lock_before
    assert audit_count(world, case) == audit_before
    assert world.refresh(case).status == "running"


def test_goods_case_ends_with_signed_receipt_and_no_payment(world):
    case = _goods_case_at_receipt(world)

    world.do("cw1", case, "sign_receipt", receipt())

    case = world.refresh(case)
    assert case.status == "completed"
    assert case.outcome == "end_goods"
    assert payments_of(world, case) == []
    assert world.session.scalar(select(func.count(Payment.id))) == 0
    assert open_elements(world, case) == set()


# --- one case per worker per campaign -------------------------------------------------


def test_same_worker_twice_in_one_campaign_is_refused(world):
    first, data = start(world, "winter")

    with pytest.raises(ValidationFailed) as refused:
        cases.start_case(
            world.session,
            world.user("cw1"),
            "seasonal_aid",
            dict(data),
            world.campaigns["winter"].id,
        )

    assert "worker_id_number" in refused.value.errors
    assert first.case_no in refused.value.errors["worker_id_number"]
    world.session.expire_all()
    assert world.session.scalar(select(func.count(Case.id))) == 1


def test_same_worker_in_other_campaign_is_accepted(world):
    winter, data = start(world, "winter")

    summer = cases.start_case(
        world.session, world.user("cw1"), "seasonal_aid", dict(data), world.campaigns["summer"].id
    )

    assert summer.id != winter.id
    assert summer.campaign_id == world.campaigns["summer"].id
    assert summer.status == "running"
    assert summer.subject_key == winter.subject_key


def test_same_worker_in_same_campaign_refused_even_after_being_paid(world):
    case, data = start(world, "winter", hardship_category="living")
    approve(world, "l1", case, 1)
    approve(world, "l2", case, 2)
    [payment] = payments_of(world, case)
    payments.record_result(world.session, world.user("fin"), payment.id, "paid")
    assert world.refresh(case).outcome == "end_paid"

    with pytest.raises(ValidationFailed) as refused:
        cases.start_case(
            world.session,
            world.user("cw1"),
            "seasonal_aid",
            dict(data),
            world.campaigns["winter"].id,
        )
    assert "worker_id_number" in refused.value.errors


def test_simultaneous_registration_of_same_worker_gets_the_same_refusal(world, monkeypatch):
    """Two caseworkers register the same worker at once: both pass the claim lookup, the
    unique claim row decides, and the loser gets the ordinary refusal on the ID field."""
    first, data = start(world, "winter")
    lookup = cases._existing_claim
    calls = []

    def raced(session, scope, key):
        calls.append(scope)
        return None if len(calls) == 1 else lookup(session, scope, key)

    monkeypatch.setattr(cases, "_existing_claim", raced)
    with pytest.raises(ValidationFailed) as refused:
        cases.start_case(
            world.session,
            world.user("cw1b"),
            "seasonal_aid",
            dict(data),
            world.campaigns["winter"].id,
        )

    assert len(calls) == 2  # the refusal came from the unique constraint, not the lookup
    assert first.case_no in refused.value.errors["worker_id_number"]
    world.session.expire_all()
    assert world.session.scalar(select(func.count(Case.id))) == 1
    assert world.session.scalar(select(func.count(ProcessInstance.id))) == 1


def test_id_number_with_bad_check_digit_is_refused_on_its_field(world):
    good = valid_id("51100219750612001")
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")

    with pytest.raises(ValidationFailed) as refused:
        start(world, "winter", worker_id_number=bad)

    assert set(refused.value.errors) == {"worker_id_number"}
    assert CHINESE.search(refused.value.errors["worker_id_number"])


# --- cash case without a bank card -----------------------------------------------------


def test_cash_case_without_bank_card_refuses_final_approval_and_writes_nothing(world):
    case, _ = start(world, "winter", hardship_category="living", bank_card=None)
    approve(world, "l1", case, 1)
    task = world.open_task(case, "approve_l2")
    lock_before = instance_of(world, case).lock_version
    audit_before = audit_count(world, case)

    with pytest.raises(engine.ProcessError) as refused:
        approve(world, "l2", case, 2)

    assert CHINESE.search(refused.value.message)
    assert "银行卡" in refused.value.message
    world.session.expire_all()
    row = world.session.get(HumanTask, task.id)
    assert row.status == "open"
    assert row.completed_by_id is None
    assert open_elements(world, case) == {"approve_l2"}
    assert payments_of(world, case) == []
    assert instance_of(world, case).lock_version == lock_before
    assert audit_count(world, case) == audit_before
    assert world.refresh(case).status == "running"


def test_goods_case_needs_no_bank_card(world):
    """The refusal above is about paying cash; a goods case without a card runs to the end."""
    case = _goods_case_at_receipt(world)
    world.do("cw1", case, "sign_receipt", receipt(sign_date=date(2026, 9, 9).isoformat()))
    assert world.refresh(case).outcome == "end_goods"
