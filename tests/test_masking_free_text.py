"""ID and card numbers typed into free text with spaces or dashes are masked like whole
ones (issue 12): on the case page, the task page and in the API."""

from datetime import timedelta

import pytest
from conftest import api_token
from sqlalchemy import select

from workflows import cases, engine, privacy, tasks, timers
from workflows.models import AuditEvent, PublicNotice

SPACED_ID = "5110 0220 0703 0200 1X"
DASHED_CARD = "6222-0202-0011-2233-445"
TYPED = [SPACED_ID, DASHED_CARD, "511002 19800101 0017", "6222　0202　0011　2233　445"]


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"身份证 {SPACED_ID} 号", "身份证 511*************1X 号"),
        (f"卡号{DASHED_CARD}。", "卡号***************3445。"),
        ("511002 19800101 0017", "511*************17"),
        ("511002198001010017", "511*************17"),
        ("6222 0202 0011 2233 445", "***************3445"),
    ],
)
def test_numbers_are_recognised_however_they_are_written(text, masked):
    assert privacy.mask_numbers(text) == masked


@pytest.mark.parametrize(
    "text",
    ["2026-09-07 13800000000", "电话 138 0000 0000", "PF20260907-0001-000001", "JQ2026000001"],
)
def test_dates_phone_numbers_and_references_are_left_alone(text):
    assert privacy.mask_numbers(text) == text


def _case_with_numbers_in_free_text(world, clock):
    case = cases.start_case(
        world.session,
        world.user("cw1"),
        "tuition_grant",
        world.tuition_application(major=f"计算机（学生证件 {SPACED_ID}）"),
        world.campaigns["tuition"].id,
    )
    situation = f"父亲身份证 {SPACED_ID}，工资卡 {DASHED_CARD}，另一张 {TYPED[3]}"
    world.do(
        "cw1",
        case,
        "home_visit_task",
        dict(
            visit_date="2026-09-07",
            visitors="张经办、刘经办",
            household_situation=situation,
            visit_verdict="confirmed",
        ),
    )
    notice = world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == case.id)
    ).one()
    clock.move_to(notice.ends_at + timedelta(minutes=1))
    timers.fire_due_timers(world.factory)
    world.do("l1", case, "approve_l1", {"decision": "approve"})
    world.do(
        "l2",
        case,
        "approve_l2",
        {"decision": "return", "comment": f"卡号 {DASHED_CARD} 与户名不符，身份证 {TYPED[2]}"},
    )
    return case


def _no_typed_number(text: str) -> None:
    for number in TYPED:
        assert number not in text, number
    assert "511*************1X" in text or "***************3445" in text


def test_case_page_task_page_and_api_mask_numbers_typed_with_spaces_or_dashes(
    app, world, clock, as_user
):
    case = _case_with_numbers_in_free_text(world, clock)
    case_page = as_user("l2").get(f"/cases/{case.id}").get_data(as_text=True)
    _no_typed_number(case_page)
    assert "511*************1X" in case_page and "***************3445" in case_page

    caseworker = as_user("cw1")
    rework = world.open_task(case, "rework")
    task_page = caseworker.get(f"/tasks/{rework.id}").get_data(as_text=True)
    _no_typed_number(task_page)
    assert "卡号 ***************3445 与户名不符" in task_page

    headers = api_token(app, "cw1")
    client = app.test_client()
    for url in (f"/api/v1/cases/{case.id}", f"/api/v1/tasks/{rework.id}"):
        answer = client.get(url, headers=headers)
        assert answer.status_code == 200
        _no_typed_number(answer.get_data(as_text=True))


def test_a_rework_shows_free_text_masked_and_sent_back_unchanged_keeps_it_whole(app, world, clock):
    """The rework form prefills the application masked; submitting that masked text as it
    was changes nothing, and the case keeps the number as typed."""
    case = _case_with_numbers_in_free_text(world, clock)
    rework = world.open_task(case, "rework")
    view = tasks.get_task(world.session, world.user("cw1"), rework.id)
    shown = view.current["major"]
    assert SPACED_ID not in shown and "511*************1X" in shown

    world.do("cw1", case, "rework", {"major": shown, "rework_note": "核对无误"})
    assert engine.case_data(world.session, world.refresh(case))["major"] == (
        f"计算机（学生证件 {SPACED_ID}）"
    )
    amended = world.session.scalars(
        select(AuditEvent).where(AuditEvent.case_id == case.id, AuditEvent.action == "case.amend")
    ).all()
    assert amended == []  # nothing changed, nothing recorded
