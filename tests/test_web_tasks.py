"""The task pages through the Flask test client: the two lists and their filters, claim /
unclaim / hand over, the task form (typed fields, money in 元, uploads, approval
buttons), completing twice, batch approval, and filing an application."""

import re
from datetime import timedelta

import pytest
from conftest import csrf_from, valid_card
from sqlalchemy import select

from webapp.forms import yuan_to_fen
from workflows import cases, engine, tasks, timers
from workflows.models import Case, HumanTask, PublicNotice, StoredFile

VISIT = dict(
    visit_date="2026-09-07",
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病，家庭收入低",
    visit_verdict="confirmed",
)
PDF = b"%PDF-1.4\n% test admission letter\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def start(world, username="cw1", **overrides) -> Case:
    data = world.tuition_application(**overrides)
    if username != "cw1":
        data["admission_letter"] = world.upload(username)
    return cases.start_case(
        world.session, world.user(username), "tuition_grant", data, world.campaigns["tuition"].id
    )


def at_level_one(world, clock, count: int = 1) -> list[Case]:
    """Cases past the home visit and the notice, each waiting for 基层工会审批."""
    started = [start(world) for _ in range(count)]
    for case in started:
        world.do("cw1", case, "home_visit_task", VISIT)
    notice = world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == started[-1].id)
    ).one()
    clock.move_to(notice.ends_at + timedelta(minutes=1))
    timers.fire_due_timers(world.factory)
    world.session.expire_all()
    return started


def row(world, task_id: int) -> HumanTask:
    world.session.expire_all()
    return world.session.get(HumanTask, task_id)


def post(client, url: str, data: dict | None = None, page: str | None = None, **kwargs):
    """POST with the CSRF token the page (or the task page) hands out."""
    token = csrf_from(client, page or url)
    return client.post(url, data={**(data or {}), "csrf_token": token}, **kwargs)


def text(answer) -> str:
    return answer.get_data(as_text=True)


# --- lists ----------------------------------------------------------------------------


def test_group_list_shows_masked_applicant_programme_step_org_and_due(world, as_user):
    case = start(world, student_name="王小明")
    task = world.open_task(case, "home_visit_task")

    page = text(as_user("cw1").get("/tasks/group"))

    assert f'href="/tasks/{task.id}"' in page and case.case_no in page
    assert "王*明" in page and "王小明" not in page
    assert "金秋助学" in page and "入户核查" in page and "城东街道帮扶站" in page
    assert "2026-09-21" in page  # 10 working days from Monday 2026-09-07
    assert "已超期</span>" not in page and 'class="overdue"' not in page


def test_lists_show_only_the_users_scope(world, as_user):
    case = start(world)
    task = world.open_task(case, "home_visit_task")

    assert case.case_no not in text(as_user("cw2").get("/tasks/group"))
    assert case.case_no in text(as_user("cw1b").get("/tasks/group"))
    assert case.case_no not in text(as_user("l1").get("/tasks/group"))
    assert as_user("cw2").get(f"/tasks/{task.id}").status_code == 403


def test_claimed_task_moves_to_my_list_with_a_flash(world, as_user):
    case = start(world)
    task = world.open_task(case, "home_visit_task")
    client = as_user("cw1")

    answer = post(client, f"/tasks/{task.id}/claim", {"next": "/tasks/group"}, page="/tasks/group")

    assert answer.status_code == 302 and answer.headers["Location"].endswith("/tasks/group")
    assert "已认领任务" in text(client.get("/tasks/group"))
    assert case.case_no in text(client.get("/tasks/mine"))
    assert case.case_no not in text(as_user("cw1b").get("/tasks/group"))
    assert row(world, task.id).assignee_id == world.users["cw1"].id


def test_unclaim_returns_the_task_to_the_group(world, as_user):
    case = start(world)
    task = world.open_task(case, "home_visit_task")
    tasks.claim(world.session, world.user("cw1"), task.id)
    client = as_user("cw1")

    answer = post(client, f"/tasks/{task.id}/unclaim", page=f"/tasks/{task.id}")

    assert answer.status_code == 302
    assert "已放弃认领" in text(client.get("/tasks/mine"))
    assert row(world, task.id).assignee_id is None


def test_hand_over_offers_only_colleagues_of_same_union_and_role(world, as_user):
    case = start(world)
    task = world.open_task(case, "home_visit_task")
    tasks.claim(world.session, world.user("cw1"), task.id)
    client = as_user("cw1")

    page = text(client.get(f"/tasks/{task.id}"))
    options = re.findall(r'<option value="([a-z0-9_]+)">', page)
    assert "cw1b" in options and "cw2" not in options and "l1" not in options

    answer = post(
        client, f"/tasks/{task.id}/handover", {"to_username": "cw1b"}, page=f"/tasks/{task.id}"
    )
    assert answer.status_code == 302
    assert "已将任务“入户核查”转交给刘经办" in text(client.get("/tasks/mine"))
    assert row(world, task.id).assignee_id == world.users["cw1b"].id
    assert case.case_no in text(as_user("cw1b").get("/tasks/mine"))

    refused = post(
        as_user("cw1b"),
        f"/tasks/{task.id}/handover",
        {"to_username": "cw2"},
        page=f"/tasks/{task.id}",
    )
    assert refused.status_code == 422 and "同单位同岗位" in text(refused)


def archive_case(world) -> Case:
    data = dict(
        worker_name="李大山",
        worker_id_number=world.next_id("19750612"),
        employer="内江钢铁厂",
        hardship_category="medical",
        household_size=3,
        household_income_fen=1200000,
        hardship_description="妻子患尿毒症，长期透析",
    )
    return cases.start_case(world.session, world.user("cw1"), "hardship_archive", data)


def test_filters_by_programme_step_org_and_overdue(world, as_user, clock):
    tuition = start(world)
    archive = archive_case(world)
    other_union = start(world, "cw2")
    cw = as_user("cw1")

    page = text(cw.get("/tasks/group"))
    assert tuition.case_no in page and archive.case_no in page
    assert other_union.case_no not in page
    only_archive = text(cw.get("/tasks/group?programme=hardship_archive"))
    assert archive.case_no in only_archive and tuition.case_no not in only_archive
    by_step = text(cw.get("/tasks/group?step=home_visit_task"))
    assert archive.case_no in by_step and tuition.case_no in by_step
    assert tuition.case_no not in text(cw.get("/tasks/group?step=rework"))
    by_org = text(cw.get(f"/tasks/group?org={world.orgs['g1'].id}"))
    assert tuition.case_no in by_org
    assert tuition.case_no not in text(cw.get(f"/tasks/group?org={world.orgs['g2'].id}"))

    assert tuition.case_no not in text(cw.get("/tasks/group?overdue=1"))
    clock.move_to(clock_after_days(30))
    cw = as_user("cw1")  # a month later: the old login session has expired
    late = text(cw.get("/tasks/group?overdue=1"))
    assert tuition.case_no in late and "已超期</span>" in late and 'class="overdue"' in late


def clock_after_days(days: int):
    from conftest import cst

    return cst(2026, 9, 7, 10, 0) + timedelta(days=days)


def test_list_pages_twenty_at_a_time_and_sorts(world, as_user, clock):
    started = []
    for minute in range(21):
        clock.move_to(clock_after_days(0) + timedelta(minutes=minute))
        started.append(start(world))
    client = as_user("cw1")

    first = text(client.get("/tasks/group"))
    assert "第 1 / 2 页" in first and "共 21 件" in first
    assert started[0].case_no in first and started[20].case_no not in first
    second = text(client.get("/tasks/group?page=2"))
    assert started[20].case_no in second and started[0].case_no not in second

    newest_first = text(client.get("/tasks/group?sort=-created"))
    assert started[20].case_no in newest_first and started[0].case_no not in newest_first
    assert client.get("/tasks/group?sort=evil&page=99").status_code == 200


# --- the task form ------------------------------------------------------------------------


def test_home_visit_form_renders_typed_inputs_and_case_summary(world, as_user):
    case = start(world, student_name="王小明")
    task = world.open_task(case, "home_visit_task")

    page = text(as_user("cw1").get(f"/tasks/{task.id}"))

    assert 'type="date"' in page and 'name="visit_date"' in page
    assert "<textarea" in page and 'name="household_situation"' in page
    assert 'type="file"' in page and 'name="housing_photos"' in page
    assert '<select id="visit_verdict"' in page and "情况属实" in page
    assert 'enctype="multipart/form-data"' in page and 'name="csrf_token"' in page
    # summary beside the form
    assert case.case_no in page and "王*明" in page and case.subject_id_masked in page
    assert "5,000.00 元" in page and "城东街道帮扶站" in page
    assert "tasks.css" in page and 'name="viewport"' in page


def test_task_page_never_shows_a_whole_id_or_card_number(world, as_user):
    student_id = world.next_id()
    card = valid_card()
    case = start(world, student_id_number=student_id, bank_card=card)
    task = world.open_task(case, "home_visit_task")

    page = text(as_user("cw1").get(f"/tasks/{task.id}"))

    assert student_id not in page and card not in page
    assert re.search(r"\d{18}", page.replace(str(case.id), "")) is None
    assert "学生身份证号" in page and student_id[:3] + "*" in page  # earlier data, masked
    assert "四川大学" in page and "本科" in page  # labels and option names


def test_completing_the_home_visit_with_a_photo(world, as_user):
    case = start(world)
    task = world.open_task(case, "home_visit_task")
    client = as_user("cw1")

    token = csrf_from(client, f"/tasks/{task.id}")
    answer = client.post(
        f"/tasks/{task.id}",
        data={**VISIT, "csrf_token": token, "housing_photos": (_io(PNG), "住房.png")},
        content_type="multipart/form-data",
    )

    assert answer.status_code == 302 and answer.headers["Location"].endswith("/tasks/mine")
    assert "已提交" in text(client.get("/tasks/mine"))
    assert row(world, task.id).status == "completed"
    photo = world.session.scalars(select(StoredFile).where(StoredFile.filename == "住房.png")).one()
    assert photo.case_id == case.id and photo.content_type == "image/png"
    world.session.expire_all()
    assert engine.case_data(world.session, world.refresh(case))["housing_photos"] == [photo.id]


def _io(data: bytes):
    from io import BytesIO

    return BytesIO(data)


def test_invalid_form_is_shown_again_with_messages_and_values_and_nothing_changes(world, as_user):
    case = start(world)
    task = world.open_task(case, "home_visit_task")
    client = as_user("cw1")

    answer = post(
        client,
        f"/tasks/{task.id}",
        {"visit_date": "2026-13-45", "visitors": "张经办、刘经办", "visit_verdict": ""},
    )

    assert answer.status_code == 422
    page = text(answer)
    assert "填写内容有误" in page
    assert "走访日期应为日期" in page and "请填写家庭情况核实" in page and "请填写核查结论" in page
    assert 'value="张经办、刘经办"' in page and 'value="2026-13-45"' in page
    assert row(world, task.id).status == "open"


def test_post_without_csrf_token_is_refused_and_nothing_changes(world, as_user):
    case = start(world)
    task = world.open_task(case, "home_visit_task")
    client = as_user("cw1")

    assert client.post(f"/tasks/{task.id}", data=VISIT).status_code == 400
    assert client.post(f"/tasks/{task.id}/claim").status_code == 400
    answer = client.post("/tasks/batch/approve", data={"task_ids": [task.id]})
    assert answer.status_code == 400 and "页面已过期" in text(answer)
    stored = row(world, task.id)
    assert (stored.status, stored.assignee_id) == ("open", None)


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("通知书.exe", b"MZ\x90\x00 not a document", "只接受 PDF、JPG 或 PNG 文件"),
        ("大文件.pdf", b"%PDF-" + b"0" * (10 * 1024 * 1024), "超过 10 MB 的上限"),
    ],
)
def test_upload_of_wrong_type_or_too_large_file_is_refused(world, as_user, filename, data, message):
    case = start(world)
    task = world.open_task(case, "home_visit_task")
    client = as_user("cw1")
    token = csrf_from(client, f"/tasks/{task.id}")

    answer = client.post(
        f"/tasks/{task.id}",
        data={**VISIT, "csrf_token": token, "housing_photos": (_io(data), filename)},
        content_type="multipart/form-data",
    )

    assert answer.status_code == 422 and message in text(answer)
    assert row(world, task.id).status == "open"
    assert (
        world.session.scalars(select(StoredFile).where(StoredFile.filename == filename)).first()
        is None
    )


def test_completing_twice_shows_already_done(world, as_user):
    case = start(world)
    task = world.open_task(case, "home_visit_task")
    client = as_user("cw1")
    token = csrf_from(client, f"/tasks/{task.id}")

    photo = {"housing_photos": (_io(PNG), "住房.png")}
    first = client.post(f"/tasks/{task.id}", data={**VISIT, **photo, "csrf_token": token})
    second = client.post(f"/tasks/{task.id}", data={**VISIT, "csrf_token": token})

    assert first.status_code == 302
    assert second.status_code == 409 and "已办理" in text(second)
    assert "已办理" in text(client.get(f"/tasks/{task.id}"))


def test_other_district_is_forbidden_the_page_claim_and_completion(world, as_user, clock):
    (case,) = at_level_one(world, clock)
    world.do("l1", case, "approve_l1", {"decision": "approve"})
    task = world.open_task(case, "approve_l2")
    outsider = as_user("l2_d2")
    token = csrf_from(outsider, "/tasks/mine")

    assert outsider.get(f"/tasks/{task.id}").status_code == 403
    assert case.case_no not in text(outsider.get("/tasks/group"))
    claim = outsider.post(f"/tasks/{task.id}/claim", data={"csrf_token": token})
    complete = outsider.post(f"/tasks/{task.id}", data={"csrf_token": token, "decision": "approve"})
    assert claim.status_code == 403 and complete.status_code == 403
    assert "无权办理该任务" in text(complete)
    stored = row(world, task.id)
    assert (stored.status, stored.assignee_id) == ("open", None)
    assert case.case_no in text(as_user("l2").get("/tasks/group"))


def test_approval_is_three_buttons_and_return_needs_a_comment(world, as_user, clock):
    (case,) = at_level_one(world, clock)
    task = world.open_task(case, "approve_l1")
    client = as_user("l1")

    page = text(client.get(f"/tasks/{task.id}"))
    for value, label in (("approve", "通过"), ("return", "退回修改"), ("reject", "不予通过")):
        assert f'name="decision" value="{value}"' in page and f">{label}</button>" in page
    assert '<select id="decision"' not in page and 'name="comment"' in page
    assert "走访人员（两人）" in page and "情况属实" in page  # the home visit, read-only

    refused = post(client, f"/tasks/{task.id}", {"decision": "return", "comment": ""})
    assert refused.status_code == 422 and "请填写意见说明" in text(refused)
    assert row(world, task.id).status == "open"

    done = post(client, f"/tasks/{task.id}", {"decision": "return", "comment": "请补充材料"})
    assert done.status_code == 302
    rework = world.open_task(case, "rework")
    page = text(as_user("cw1").get(f"/tasks/{rework.id}"))
    assert "退回原因" in page and "请补充材料" in page
    assert 'name="return_reason"' not in page and 'name="rework_note"' in page


def test_goods_receipt_takes_a_number_and_a_required_checkbox(world, as_user):
    data = dict(
        worker_name="李大山", worker_id_number=world.next_id("19750612"), hardship_category="living"
    )
    case = cases.start_case(
        world.session, world.user("cw1"), "seasonal_aid", data, world.campaigns["summer"].id
    )
    world.do("l1", case, "approve_l1", {"decision": "approve"})
    world.do("l2", case, "approve_l2", {"decision": "approve"})
    task = world.open_task(case, "sign_receipt")
    client = as_user("cw1")
    page = text(client.get(f"/tasks/{task.id}"))
    assert 'type="number"' in page and 'type="checkbox"' in page

    base = {"goods_quantity": "abc", "signed_by": "李大山", "sign_date": "2026-10-08"}
    refused = post(client, f"/tasks/{task.id}", base)
    assert refused.status_code == 422
    assert "数量应为整数" in text(refused) and "请确认已签收" in text(refused)

    done = post(client, f"/tasks/{task.id}", {**base, "goods_quantity": "2", "receipt_signed": "y"})
    assert done.status_code == 302 and row(world, task.id).status == "completed"


# --- batch approval -------------------------------------------------------------------------


def test_batch_approval_confirms_count_and_total_then_reports_each_case(world, as_user, clock):
    started = at_level_one(world, clock, 3)
    ids = [world.open_task(c, "approve_l1").id for c in started]
    client = as_user("l1")

    listing = text(client.get("/tasks/group"))
    for task_id in ids:
        assert f'name="task_ids" value="{task_id}"' in listing

    confirm = post(client, "/tasks/batch/confirm", {"task_ids": ids}, page="/tasks/group")
    assert confirm.status_code == 200
    page = text(confirm)
    assert re.search(r'class="batch-count">3<', page)
    assert re.search(r'class="batch-total">15,000.00<', page) and "元" in page

    # meanwhile the first case is approved elsewhere (another tab, another session)
    world.do("l1", started[0], "approve_l1", {"decision": "approve"})

    token = csrf_from(client, "/tasks/group")
    result = client.post("/tasks/batch/approve", data={"task_ids": ids, "csrf_token": token})
    assert result.status_code == 200
    page = text(result)
    assert re.search(r'<span class="big">2</span>已通过', page)
    assert re.search(r'<span class="big">1</span>未成功', page)
    failed = page.split("未成功的案件")[1].split("已通过的案件")[0]
    assert started[0].case_no in failed and "已办理完毕" in failed
    for case in started[1:]:
        assert world.open_task(case, "approve_l2")


def test_batch_of_mixed_steps_or_non_approval_tasks_is_refused(world, as_user, clock):
    first, second = at_level_one(world, clock, 2)
    world.do("l1", first, "approve_l1", {"decision": "return", "comment": "补充材料"})
    # a caseworker's rework and a home visit are not approval steps
    rework = world.open_task(first, "rework")
    visit = world.open_task(start(world), "home_visit_task")
    client = as_user("cw1")
    answer = post(
        client,
        "/tasks/batch/confirm",
        {"task_ids": [rework.id, visit.id], "next": "/tasks/group"},
        page="/tasks/group",
    )
    assert answer.status_code == 302
    assert "只能批量审批同一环节的任务" in text(client.get("/tasks/group"))
    answer = post(client, "/tasks/batch/confirm", {"task_ids": [visit.id]}, page="/tasks/group")
    assert "不是审批环节" in text(client.get("/tasks/group"))
    assert row(world, visit.id).status == "open"

    l1 = as_user("l1")
    refused = post(l1, "/tasks/batch/approve", {"task_ids": [rework.id]}, page="/tasks/group")
    assert refused.status_code == 403
    assert world.open_task(second, "approve_l1")


def test_batch_all_matching_the_filter(world, as_user, clock):
    started = at_level_one(world, clock, 2)
    client = as_user("l1")

    listing = text(client.get("/tasks/group?step=approve_l1"))
    assert "全部 2 件（当前筛选）批量通过" in listing
    confirm = post(
        client,
        "/tasks/batch/confirm",
        {"all": "1", "scope": "group", "step": "approve_l1"},
        page="/tasks/group",
    )
    assert re.search(r'class="batch-count">2<', text(confirm))
    ids = re.findall(r'name="task_ids" value="(\d+)"', text(confirm))
    result = post(client, "/tasks/batch/approve", {"task_ids": ids}, page="/tasks/group")
    assert re.search(r'<span class="big">2</span>已通过', text(result))
    for case in started:
        assert world.open_task(case, "approve_l2")


# --- applications ----------------------------------------------------------------------------


def test_apply_lists_programmes_with_open_campaigns_for_caseworkers_only(world, as_user):
    page = text(as_user("cw1").get("/apply"))
    assert "金秋助学" in page and "2026年金秋助学" in page and "困难职工建档" in page
    assert f"/apply/tuition_grant?campaign={world.campaigns['tuition'].id}" in page
    assert "/apply/hardship_archive" in page
    assert as_user("l1").get("/apply").status_code == 403
    assert as_user("l1").get("/apply/tuition_grant").status_code == 403
    assert as_user("cw1").get("/apply/no_such_thing").status_code == 404


def application(world, **overrides) -> dict:
    data = world.tuition_application()
    data.pop("admission_letter")
    data.update(tuition_fen="5,000.50", campaign=str(world.campaigns["tuition"].id))
    data.update(overrides)
    return data


@pytest.mark.parametrize("typed", ["5,000.50", "5000.5", "5000.50元"])
def test_caseworker_files_a_tuition_application_with_a_pdf(world, as_user, typed):
    client = as_user("cw1")
    url = f"/apply/tuition_grant?campaign={world.campaigns['tuition'].id}"
    form = text(client.get(url))
    assert 'type="file"' in form and 'name="admission_letter"' in form
    assert f'<option selected value="{world.campaigns["tuition"].id}">' in form

    data = application(world, tuition_fen=typed)
    answer = client.post(
        url,
        data={
            **data,
            "csrf_token": csrf_from(client, url),
            "admission_letter": (_io(PDF), "录取通知书.pdf"),
        },
        content_type="multipart/form-data",
    )

    assert answer.status_code == 302, text(answer)
    world.session.expire_all()
    case = world.session.scalars(select(Case).order_by(Case.id.desc())).first()
    assert case.programme == "tuition_grant" and case.amount_fen == 500000
    letter = world.session.scalars(select(StoredFile).where(StoredFile.case_id == case.id)).one()
    assert letter.filename == "录取通知书.pdf" and letter.content_type == "application/pdf"
    stored = engine.case_data(world.session, case)
    assert stored["tuition_fen"] == 500050 and stored["admission_letter"] == letter.id
    assert case.case_no in text(client.get(answer.headers["Location"]))


def test_application_errors_are_shown_again_and_the_upload_is_kept(world, as_user):
    client = as_user("cw1")
    url = "/apply/tuition_grant"
    data = application(world, student_id_number="123", tuition_fen="5000.555", campaign="")
    answer = client.post(
        url,
        data={
            **data,
            "csrf_token": csrf_from(client, url),
            "admission_letter": (_io(PDF), "通知书.pdf"),
        },
        content_type="multipart/form-data",
    )

    assert answer.status_code == 422
    page = text(answer)
    assert "身份证号码无效" in page and "最多保留两位小数" in page
    assert 'value="四川大学"' in page and "已上传：通知书.pdf" in page
    assert world.session.scalars(select(Case)).first() is None

    kept = re.search(r'name="admission_letter__kept" type="hidden" value="(\d+)"', page).group(1)
    fixed = application(world)
    fixed["admission_letter__kept"] = kept
    answer = client.post(url, data={**fixed, "csrf_token": csrf_from(client, url)})
    assert answer.status_code == 302, text(answer)
    world.session.expire_all()
    case = world.session.scalars(select(Case)).one()
    assert world.session.get(StoredFile, int(kept)).case_id == case.id


def test_start_without_a_campaign_asks_for_one(world, as_user):
    client = as_user("cw1")
    data = application(world, campaign="")
    answer = client.post(
        "/apply/tuition_grant",
        data={
            **data,
            "csrf_token": csrf_from(client, "/apply/tuition_grant"),
            "admission_letter": (_io(PDF), "a.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422 and "请选择活动" in text(answer)


@pytest.mark.parametrize(
    ("typed", "fen"),
    [
        ("5,000.50", 500050),
        ("5000.5", 500050),
        (" 12 ", 1200),
        ("0.07", 7),
        ("1,234,567.89", 123456789),
    ],
)
def test_yuan_are_converted_to_fen_exactly(typed, fen):
    assert yuan_to_fen(typed) == fen


@pytest.mark.parametrize("typed", ["5000.555", "abc", "1e3", "5.000,50", ""])
def test_malformed_amounts_are_refused_in_chinese(typed):
    with pytest.raises(ValueError, match="金额|小数"):
        yuan_to_fen(typed)
