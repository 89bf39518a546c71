"""A caseworker's case work after the application: a case waiting on no person says why
and until when; 撤销 with a reason before the final approval; 更正银行卡 shows what the
bank refused and refuses a correction that changes nothing."""

from datetime import timedelta

import pytest
from conftest import api_token, csrf_from, today_iso, valid_card
from sqlalchemy import select

from workflows import batches, cases, notices, payments, progress, tasks, timers, worklists
from workflows.errors import Conflict, ValidationFailed
from workflows.models import Objection, Payment, PublicNotice

VISIT = dict(
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病，家庭收入低",
    visit_verdict="confirmed",
)
APPROVE = {"decision": "approve"}


def start(world, username="cw1"):
    return cases.start_case(
        world.session,
        world.user(username),
        "tuition_grant",
        world.tuition_application(admission_letter=world.upload(username)),
        world.campaigns["tuition"].id,
    )


def on_notice(world):
    case = start(world)
    world.do("cw1", case, "home_visit_task", dict(VISIT, visit_date=today_iso()))
    notice = world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == case.id)
    ).one()
    return case, notice


def approved(world, clock):
    case, notice = on_notice(world)
    clock.move_to(notice.ends_at + timedelta(minutes=1))
    timers.fire_due_timers(world.factory)
    world.session.expire_all()
    world.do("l1", case, "approve_l1", APPROVE)
    world.do("l2", case, "approve_l2", APPROVE)
    return world.refresh(case)


def why(world, case):
    """Why the case waits, as the case page says it; the started list (我发起的), when it
    names no open step, says the same, through the same rules."""
    world.session.expire_all()
    found = progress.waiting(world.session, world.refresh(case))
    listed = worklists.standings(world.session, [world.refresh(case)])[case.id]
    if found is not None and not listed.steps:
        assert listed.text == found.text
    return found.text if found else None


# --- why a case waits ------------------------------------------------------------------------


def test_a_case_on_notice_says_until_when(world, as_user):
    case, _ = on_notice(world)
    assert why(world, case) == "公示中，至 9月14日期满"  # 5 working days from Mon 7 Sep
    page = as_user("cw1").get(f"/cases/{case.id}").get_data(as_text=True)
    assert "公示中，至 9月14日期满" in page
    listed = as_user("cw1").get("/cases").get_data(as_text=True)
    assert "公示中，至 9月14日期满" in listed


def test_an_objection_under_investigation_says_so(world):
    case, notice = on_notice(world)
    notices.raise_objection(world.session, notice.id, "13900000000", "该生家庭经营两家商铺")
    assert why(world, case) == "异议调查中"


def test_a_payment_waits_for_a_batch_then_for_the_banks_answer(world, clock, app):
    case = approved(world, clock)
    assert why(world, case) == "待财务生成发放批次"
    finance = world.user("fin")
    batch = batches.build_batch(
        world.session, finance, world.campaigns["tuition"].id, world.orgs["d1"].id
    )
    assert why(world, case) == "已编入发放批次，待财务发送银行"
    batches.mark_sent(world.session, world.user("fin"), batch.id)
    assert why(world, case) == "已发送银行，等待回盘"
    body = (
        app.test_client().get(f"/api/v1/cases/{case.id}", headers=api_token(app, "cw1")).get_json()
    )
    assert body["case"]["waiting"] == {
        "code": "sent",
        "text": "已发送银行，等待回盘",
        "until": None,
    }


def test_a_case_someone_must_act_on_has_no_waiting_reason(world, app):
    case = start(world)
    assert why(world, case) is None
    body = (
        app.test_client().get(f"/api/v1/cases/{case.id}", headers=api_token(app, "cw1")).get_json()
    )
    assert body["case"]["waiting"] is None


def test_english_pages_say_why_in_english(world, as_user):
    case, _ = on_notice(world)
    page = as_user("cw1").get(f"/cases/{case.id}?lang=en").get_data(as_text=True)
    assert "On public notice until Sep 14" in page


# --- withdraw ----------------------------------------------------------------------------------


def test_a_caseworker_withdraws_a_case_on_notice_with_a_reason(world, as_user):
    case, notice = on_notice(world)
    notices.raise_objection(world.session, notice.id, "13900000000", "该生家庭经营两家商铺")
    client = as_user("cw1")
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert f'href="/cases/{case.id}/withdraw"' in page
    confirm = client.get(f"/cases/{case.id}/withdraw").get_data(as_text=True)
    assert "正在进行的公示撤下，异议调查随之终止。" in confirm

    token = csrf_from(client, f"/cases/{case.id}/withdraw")
    empty = client.post(f"/cases/{case.id}/withdraw", data={"reason": " ", "csrf_token": token})
    assert empty.status_code == 422 and "请填写撤销原因" in empty.get_data(as_text=True)
    done = client.post(
        f"/cases/{case.id}/withdraw", data={"reason": "申请人主动放弃", "csrf_token": token}
    )
    assert done.status_code == 302

    case = world.refresh(case)
    assert (case.status, case.cancel_reason) == ("cancelled", "申请人主动放弃")
    assert world.refresh(notice).status == "withdrawn"
    objection = world.session.scalars(select(Objection)).one()
    assert objection.outcome == "closed"
    found = client.get("/cases?status=cancelled").get_data(as_text=True)
    assert case.case_no in found and "已撤销" in found


def test_after_the_final_approval_only_a_manager_may_cancel(world, clock, app):
    case = approved(world, clock)
    with pytest.raises(Conflict) as refusal:
        cases.cancel_case(world.session, world.user("cw1"), case.id, "学生已获其他资助")
    assert "终审通过" in refusal.value.message
    client = app.test_client()
    answer = client.post(
        f"/api/v1/cases/{case.id}/withdraw",
        headers=api_token(app, "cw1"),
        json={"reason": "学生已获其他资助"},
    )
    assert answer.status_code == 409
    answer = client.post(
        f"/api/v1/cases/{case.id}/withdraw",
        headers=api_token(app, "mgr"),
        json={"reason": "学生已获其他资助"},
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["case"]["status"] == "cancelled"
    assert world.session.scalars(select(Payment)).one().status == "cancelled"


def test_the_withdraw_button_is_offered_only_when_it_would_work(world, clock, as_user):
    case = approved(world, clock)
    page = as_user("cw1").get(f"/cases/{case.id}").get_data(as_text=True)
    assert "/withdraw" not in page
    refused = as_user("cw1").get(f"/cases/{case.id}/withdraw")
    assert refused.status_code == 409 and "终审通过" in refused.get_data(as_text=True)
    assert "/withdraw" not in as_user("l1").get(f"/cases/{case.id}").get_data(as_text=True)


def test_withdraw_through_the_api_needs_a_reason(world, app):
    case = start(world)
    answer = app.test_client().post(
        f"/api/v1/cases/{case.id}/withdraw", headers=api_token(app, "cw1"), json={}
    )
    assert answer.status_code == 422 and "reason" in answer.get_json()["errors"]
    other = app.test_client().post(
        f"/api/v1/cases/{case.id}/withdraw",
        headers=api_token(app, "cw3"),
        json={"reason": "误登记"},
    )
    assert other.status_code == 403


# --- correcting a bank card ------------------------------------------------------------------


def failed(world, clock):
    case = approved(world, clock)
    payment = world.session.scalars(select(Payment).where(Payment.case_id == case.id)).one()
    payments.record_result(world.session, world.user("fin"), payment.id, "failed", "户名与卡号不符")
    return world.refresh(case), payment


def test_the_correction_page_shows_the_refused_card_masked_the_name_and_the_reason(
    world, clock, as_user
):
    case, payment = failed(world, clock)
    task = world.open_task(case, "correct_bank_card")
    page = as_user("cw1").get(f"/tasks/{task.id}").get_data(as_text=True)
    card = world.session.get(Payment, payment.id).bank_card
    assert "银行发放失败" in page and "户名与卡号不符" in page
    assert "*" * (len(card) - 4) + card[-4:] in page and card not in page
    assert "王大力" in page  # the account name the bank compared


def test_a_correction_that_changes_nothing_is_refused(world, clock):
    case, payment = failed(world, clock)
    card = world.session.get(Payment, payment.id).bank_card
    task = world.open_task(case, "correct_bank_card")
    with pytest.raises(ValidationFailed) as refusal:
        tasks.complete(
            world.session,
            world.user("cw1"),
            task.id,
            {"bank_card": card, "account_name": "王大力"},
        )
    assert "与发放失败时相同" in refusal.value.errors["bank_card"]
    assert world.open_task(case, "correct_bank_card").id == task.id
    assert world.session.get(Payment, payment.id).status == "failed"

    # A new card (or a corrected name) goes into the next batch.
    new_card = valid_card("622848001122334455")
    world.do("cw1", case, "correct_bank_card", {"bank_card": new_card, "account_name": "王大力"})
    world.session.expire_all()
    assert world.session.get(Payment, payment.id).status == "payable"


def test_correcting_only_the_name_is_a_correction(world, clock):
    case, payment = failed(world, clock)
    card = world.session.get(Payment, payment.id).bank_card
    world.do("cw1", case, "correct_bank_card", {"bank_card": card, "account_name": "王大利"})
    world.session.expire_all()
    assert world.session.get(Payment, payment.id).account_name == "王大利"
