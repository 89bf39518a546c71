"""退回修改 → 按退回意见修改: the caseworker corrects the application itself (prefilled)
and its documents, not only a note. Corrections pass the rules the application passed
when it was registered; what changed is recorded old → new and shown to the approver
who returned the case."""

import json
import re
from datetime import timedelta
from io import BytesIO

import pytest
from conftest import BPMN, api_token, csrf_from, today_iso, valid_id
from sqlalchemy import select

from workflows import cases, engine, processes, tasks, timers
from workflows.errors import ValidationFailed
from workflows.models import AuditEvent, GrantClaim, PublicNotice, StoredFile

VISIT = dict(
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病，家庭收入低",
    visit_verdict="confirmed",
)
PDF = b"%PDF-1.4\n% corrected admission letter\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def returned(world, clock, level: int = 1, **overrides):
    """A 金秋助学 case returned for rework by level 1 (or 2)."""
    case = cases.start_case(
        world.session,
        world.user("cw1"),
        "tuition_grant",
        world.tuition_application(**overrides),
        world.campaigns["tuition"].id,
    )
    world.do("cw1b", case, "home_visit_task", dict(VISIT, visit_date=today_iso()))
    notice = world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == case.id)
    ).one()
    clock.move_to(notice.ends_at + timedelta(minutes=1))
    timers.fire_due_timers(world.factory)
    world.session.expire_all()
    if level == 2:
        world.do("l1", case, "approve_l1", {"decision": "approve"})
    world.do(
        "l1" if level == 1 else "l2",
        case,
        f"approve_l{level}",
        {"decision": "return", "comment": "学历层次填写有误，录取通知书为研究生"},
    )
    return world.refresh(case)


def test_rework_task_offers_the_application_prefilled_beside_the_note(world, clock):
    case = returned(world, clock)
    rework = world.open_task(case, "rework")
    view = tasks.get_task(world.session, world.user("cw1"), rework.id)
    ids = [f["id"] for f in view.application]
    assert ids[:3] == ["student_name", "student_id_number", "parent_name"]
    assert "admission_letter" in ids and "bank_card" in ids
    assert view.current["education_level"] == "undergraduate"
    assert view.current["university"] == "四川大学"
    assert [f["id"] for f in view.fields] == ["return_reason", "rework_note", "supplementary_files"]


def test_the_rework_page_is_prefilled_and_never_shows_whole_numbers(world, clock, as_user):
    case = returned(world, clock)
    data = engine.case_data(world.session, case)
    rework = world.open_task(case, "rework")
    page = as_user("cw1").get(f"/tasks/{rework.id}").get_data(as_text=True)
    assert 'value="四川大学"' in page and 'value="王小明"' in page
    assert re.search(
        r'<option selected value="undergraduate">|<option value="undergraduate" selected', page
    )
    assert 'value="5600.00"' in page  # tuition in 元
    assert data["student_id_number"] not in page and data["bank_card"] not in page
    assert "当前：" + "*" * 15 + data["bank_card"][-4:] in page and "不修改请留空" in page
    assert "学历层次填写有误" in page  # the return reason, read-only
    assert "录取通知书.pdf" in page  # the current document, kept unless replaced


def test_changing_the_education_level_recomputes_the_amount_and_is_shown_old_to_new(
    world, clock, as_user
):
    case = returned(world, clock)
    assert case.amount_fen == 500000
    rework = world.open_task(case, "rework")
    world.do(
        "cw1",
        case,
        "rework",
        {"rework_note": "已按录取通知书改为研究生", "education_level": "postgraduate"},
    )

    case = world.refresh(case)
    assert (case.amount_fen, case.category) == (800000, "postgraduate")
    data = engine.case_data(world.session, case)
    assert data["education_level"] == "postgraduate" and data["amount_fen"] == 800000
    assert data["approval_levels"] == 3  # 8,000 元 is above the city line of 5,000 元

    event = world.session.scalars(
        select(AuditEvent).where(AuditEvent.case_id == case.id, AuditEvent.action == "case.amend")
    ).one()
    assert "学历层次：本科 → 研究生" in event.summary
    assert "补助金额：5,000.00 元 → 8,000.00 元" in event.summary
    assert json.loads(event.detail)["task_id"] == rework.id

    # Back at level 1, who returned it: the note and the changes, old → new.
    task = world.open_task(case, "approve_l1")
    view = tasks.get_task(world.session, world.user("l1"), task.id)
    assert view.rework.rework_note == "已按录取通知书改为研究生"
    assert [(c.label, c.old, c.new) for c in view.rework.changes] == [
        ("学历层次", "本科", "研究生"),
        ("补助金额", "5,000.00 元", "8,000.00 元"),
    ]
    page = as_user("l1").get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "退回修改后重新提交" in page and "已按录取通知书改为研究生" in page
    assert '<td class="old">本科</td><td class="new">研究生</td>' in page
    # and in the case's history
    history = as_user("l1").get(f"/cases/{case.id}").get_data(as_text=True)
    assert "修改申请信息：学历层次：本科 → 研究生" in history

    # Once level 1 decided, the report is gone from later approvals.
    world.do("l1", case, "approve_l1", {"decision": "approve"})
    view = tasks.get_task(world.session, world.user("l2"), world.open_task(case, "approve_l2").id)
    assert view.rework is None


def test_an_id_number_with_a_wrong_check_digit_is_refused_and_nothing_changes(world, clock):
    case = returned(world, clock)
    task = world.open_task(case, "rework")
    wrong = valid_id("51100220070302999")[:-1] + (
        "1" if valid_id("51100220070302999")[-1] != "1" else "2"
    )
    with pytest.raises(ValidationFailed) as refusal:
        tasks.complete(
            world.session,
            world.user("cw1"),
            task.id,
            {"rework_note": "改身份证号", "student_id_number": wrong},
        )
    assert refusal.value.errors == {"student_id_number": "身份证号码无效，请核对后重新输入"}
    assert world.open_task(case, "rework").id == task.id
    assert world.refresh(case).subject_id_masked.endswith(case.subject_id_masked[-2:])


def test_a_student_who_already_has_this_years_grant_cannot_be_swapped_in(world, clock):
    other_id = world.next_id()
    cases.start_case(
        world.session,
        world.user("cw3"),
        "tuition_grant",
        world.tuition_application(student_id_number=other_id, admission_letter=world.upload("cw3")),
        world.campaigns["tuition"].id,
    )
    case = returned(world, clock)
    task = world.open_task(case, "rework")
    with pytest.raises(ValidationFailed) as refusal:
        tasks.complete(
            world.session,
            world.user("cw1"),
            task.id,
            {"rework_note": "换成另一名学生", "student_id_number": other_id},
        )
    assert "同一学生不能重复申请" in refusal.value.errors["student_id_number"]


def test_a_corrected_id_number_moves_the_case_and_its_yearly_claim(world, clock):
    case = returned(world, clock)
    old_key = case.subject_key
    new_id = world.next_id()
    world.do(
        "cw1", case, "rework", {"rework_note": "身份证号录入错误", "student_id_number": new_id}
    )
    case = world.refresh(case)
    assert (
        case.subject_key != old_key
        and case.subject_id_masked == new_id[:3] + "*" * 13 + new_id[-2:]
    )
    claim = world.session.scalars(select(GrantClaim).where(GrantClaim.case_id == case.id)).one()
    assert claim.subject_key == case.subject_key
    summary = world.session.scalars(
        select(AuditEvent.summary).where(AuditEvent.action == "case.amend")
    ).one()
    assert new_id not in summary and new_id[-2:] in summary  # masked, old → new
    # The old number is free again; the new one is taken.
    with pytest.raises(ValidationFailed):
        cases.start_case(
            world.session,
            world.user("cw1"),
            "tuition_grant",
            world.tuition_application(student_id_number=new_id),
            world.campaigns["tuition"].id,
        )


def test_the_page_replaces_the_letter_adds_documents_and_keeps_numbers_left_empty(
    world, clock, as_user
):
    case = returned(world, clock)
    before = engine.case_data(world.session, case)
    rework = world.open_task(case, "rework")
    client = as_user("cw1")
    token = csrf_from(client, f"/tasks/{rework.id}")
    page = client.get(f"/tasks/{rework.id}").get_data(as_text=True)
    form = {
        name: value
        for name, value in re.findall(r'<input[^>]*name="([a-z_]+)"[^>]*value="([^"]*)"', page)
    }
    form.update(
        {
            "csrf_token": token,
            "education_level": "postgraduate",
            "rework_note": "已更换为研究生录取通知书，补充学费单",
            "student_id_number": "",
            "parent_id_number": "",
            "bank_card": "",
            "admission_letter": (BytesIO(PDF), "研究生录取通知书.pdf"),
            "supplementary_files": [
                (BytesIO(PNG), "学费单.png"),
                (BytesIO(PDF + b"2"), "证明.pdf"),
            ],
        }
    )
    answer = client.post(f"/tasks/{rework.id}", data=form, content_type="multipart/form-data")
    assert answer.status_code == 302, answer.get_data(as_text=True)

    world.session.expire_all()
    after = engine.case_data(world.session, world.refresh(case))
    letter = world.session.scalars(
        select(StoredFile).where(StoredFile.filename == "研究生录取通知书.pdf")
    ).one()
    assert after["admission_letter"] == letter.id != before["admission_letter"]
    assert letter.case_id == case.id
    added = world.session.scalars(
        select(StoredFile).where(StoredFile.filename.in_(["学费单.png", "证明.pdf"]))
    ).all()
    assert sorted(after["supplementary_files"]) == sorted(f.id for f in added)
    for key in ("student_id_number", "parent_id_number", "bank_card", "university"):
        assert after[key] == before[key]
    summary = world.session.scalars(
        select(AuditEvent.summary).where(AuditEvent.action == "case.amend")
    ).one()
    assert "录取通知书：录取通知书.pdf → 研究生录取通知书.pdf" in summary


def test_a_rework_through_the_api_with_only_a_note_changes_nothing_else(app, world, clock):
    case = returned(world, clock)
    before = engine.case_data(world.session, case)
    rework = world.open_task(case, "rework")
    headers = api_token(app, "cw1")
    client = app.test_client()
    detail = client.get(f"/api/v1/tasks/{rework.id}", headers=headers).get_json()
    assert detail["application"]["values"]["education_level"] == "undergraduate"
    assert "*" in detail["application"]["values"]["student_id_number"]

    done = client.post(
        f"/api/v1/tasks/{rework.id}/complete",
        headers=headers,
        json={"data": {"rework_note": "情况已说明，无需修改"}},
    )
    assert done.status_code == 200, done.get_json()
    world.session.expire_all()
    after = engine.case_data(world.session, world.refresh(case))
    for key in ("student_name", "education_level", "bank_card", "admission_letter"):
        assert after[key] == before[key]
    assert (
        world.session.scalars(select(AuditEvent).where(AuditEvent.action == "case.amend")).all()
        == []
    )
    l1 = client.get(
        f"/api/v1/tasks/{world.open_task(case, 'approve_l1').id}", headers=api_token(app, "l1")
    ).get_json()
    assert l1["rework"]["rework_note"] == "情况已说明，无需修改" and l1["rework"]["changes"] == []


def test_a_return_from_level_two_comes_back_to_level_two_with_the_changes(world, clock):
    case = returned(world, clock, level=2)
    world.do("cw1", case, "rework", {"rework_note": "已改正", "university": "西南交通大学"})
    task = world.open_task(case, "approve_l2")
    view = tasks.get_task(world.session, world.user("l2"), task.id)
    assert [(c.old, c.new) for c in view.rework.changes] == [("四川大学", "西南交通大学")]


# --- the diagram says which task edits the application -----------------------------------


def _approval_with(world, old: str, new: str):
    xml = (BPMN / "approval_by_level.bpmn").read_text(encoding="utf-8")
    assert old in xml
    return processes.deploy(world.session, world.users["mgr"].id, xml.replace(old, new))


def test_edits_application_on_an_approver_task_is_refused_at_deploy(world):
    with pytest.raises(ValidationFailed) as refusal:
        _approval_with(
            world,
            'id="rework" name="按退回意见修改" camunda:formKey="embedded:warmflow" '
            'camunda:candidateGroups="caseworker"',
            'id="rework" name="按退回意见修改" camunda:formKey="embedded:warmflow" '
            'camunda:candidateGroups="approver_l1"',
        )
    assert "修改申请信息（edits_application），候选组应为 caseworker" in refusal.value.message


def test_a_misspelt_task_property_is_refused_at_deploy(world):
    with pytest.raises(ValidationFailed) as refusal:
        _approval_with(
            world,
            '<camunda:property name="edits_application" value="true" />',
            '<camunda:property name="edit_application" value="true" />',
        )
    assert "扩展属性“edit_application”无法识别" in refusal.value.message


def test_a_rework_field_named_like_an_application_field_is_refused_at_deploy(world):
    with pytest.raises(ValidationFailed) as refusal:
        _approval_with(
            world,
            '<camunda:formField id="supplementary_files" label="补充材料" type="file">',
            '<camunda:formField id="university" label="补充材料" type="file">',
        )
    assert "与调用本流程的“tuition_grant”申请表字段同名" in refusal.value.message


def test_without_the_property_the_rework_is_a_note_only_as_the_manager_chose(world, clock):
    _approval_with(
        world,
        '<camunda:property name="edits_application" value="true" />',
        '<camunda:property name="edits_application" value="false" />',
    )
    case = returned(world, clock)
    view = tasks.get_task(world.session, world.user("cw1"), world.open_task(case, "rework").id)
    assert view.application == []
