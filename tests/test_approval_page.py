"""What an approver works with: the evidence on the page (files linked, images as
thumbnails and large photos, shown in the browser), whether the decision is final or goes
on ("金额超过 5,000 元，将报市总工会审批"), a confirmation naming the case and what
follows for 退回修改 and 不予通过, and a common comment for batch approval. And four eyes:
nobody approves a case they registered or visited."""

import re
from datetime import timedelta

import pytest
from conftest import api_token, csrf_from, today_iso
from sqlalchemy import select, text

from workflows import cases, files, tasks, timers, users
from workflows.errors import Forbidden, ValidationFailed
from workflows.models import AuditEvent, PublicNotice, StoredFile

VISIT = dict(
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病，家庭收入低",
    visit_verdict="confirmed",
)


def at_level_one(world, clock, registered_by="cw1", visited_by="cw1b", photos=None, **overrides):
    case = cases.start_case(
        world.session,
        world.user(registered_by),
        "tuition_grant",
        world.tuition_application(admission_letter=world.upload(registered_by), **overrides),
        world.campaigns["tuition"].id,
    )
    photos = photos or [
        world.photo(visited_by, "客厅.jpg"),
        world.photo(visited_by, "厨房.jpg"),
    ]
    world.do(
        visited_by,
        case,
        "home_visit_task",
        dict(VISIT, visit_date=today_iso(), housing_photos=photos),
    )
    notice = world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == case.id)
    ).one()
    clock.move_to(notice.ends_at + timedelta(minutes=1))
    timers.fire_due_timers(world.factory)
    world.session.expire_all()
    return world.refresh(case)


def page_of(client, world, case, element):
    task = world.open_task(case, element)
    return task, client.get(f"/tasks/{task.id}").get_data(as_text=True)


# --- evidence --------------------------------------------------------------------------------


def test_the_approval_page_shows_the_photos_large_and_the_letter_as_a_link(world, clock, as_user):
    case = at_level_one(world, clock)
    _, page = page_of(as_user("l1"), world, case, "approve_l1")
    files = {
        f.filename: f.id
        for f in world.session.scalars(select(StoredFile).where(StoredFile.case_id == case.id))
    }
    assert "材料与照片" in page and "住房照片" in page and "录取通知书" in page
    for name in ("客厅.jpg", "厨房.jpg"):
        view = f"/files/{files[name]}/view"
        assert f'<img src="{view}"' in page and 'data-preview="image"' in page
    assert page.count('class="file-list large"') == 2  # photos and letter, judged at size
    letter = f"/files/{files['录取通知书.pdf']}/view"
    assert f'class="file-doc" href="{letter}" target="_blank"' in page
    assert 'id="file-preview-dialog"' in page


def test_a_file_opens_in_the_browser_with_its_own_policy_and_only_for_the_case_scope(
    world, clock, as_user
):
    as_user("l1")  # the app (and its files directory) first
    photo = files.store(world.session, world.user("cw1b"), "客厅.jpg", b"\xff\xd8\xff" + b"1" * 99)
    at_level_one(world, clock, photos=[photo.id])
    answer = as_user("l1").get(f"/files/{photo.id}/view")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "image/jpeg"
    assert not answer.headers.get("Content-Disposition", "").startswith("attachment")
    assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert as_user("l1_g3").get(f"/files/{photo.id}/view").status_code == 403


# --- where the decision leads -------------------------------------------------------------


def test_level_one_goes_on_to_the_district(world, clock, as_user):
    case = at_level_one(world, clock)
    _, page = page_of(as_user("l1"), world, case, "approve_l1")
    assert "本级不是终审：通过后将报县（区）总工会审批（县（区）总工会审批人）。" in page


def test_level_two_is_final_at_or_below_the_city_line(world, clock, as_user):
    case = at_level_one(world, clock)  # 本科: 5,000 元, the line is 5,000 元
    world.do("l1", case, "approve_l1", {"decision": "approve"})
    _, page = page_of(as_user("l2"), world, case, "approve_l2")
    assert "本级为终审：通过后审批即完成（审批通过）。" in page
    assert "金额 5,000.00 元未超过 5,000.00 元，无需报市总工会审批。" in page


def test_level_two_says_a_larger_amount_goes_to_the_city(world, clock, as_user):
    case = at_level_one(world, clock, education_level="postgraduate")  # 8,000 元
    world.do("l1", case, "approve_l1", {"decision": "approve"})
    task, page = page_of(as_user("l2"), world, case, "approve_l2")
    assert "金额 8,000.00 元超过 5,000.00 元，通过后将报市总工会审批。" in page


def test_the_api_tells_where_each_decision_leads(app, world, clock):
    case = at_level_one(world, clock, education_level="postgraduate")
    world.do("l1", case, "approve_l1", {"decision": "approve"})
    task = world.open_task(case, "approve_l2")
    body = (
        app.test_client().get(f"/api/v1/tasks/{task.id}", headers=api_token(app, "l2")).get_json()
    )
    assert body["outcomes"]["approve"] == {
        "final": False,
        "next": "市总工会审批",
        "candidate_group": "approver_l3",
        "threshold_fen": 500000,
        "amount_fen": 800000,
    }
    assert body["outcomes"]["return"]["next"] == "按退回意见修改"
    assert body["outcomes"]["reject"] == {
        "final": True,
        "next": "不予通过",
        "candidate_group": None,
        "threshold_fen": 500000,
        "amount_fen": 800000,
    }


def test_return_and_reject_ask_for_confirmation_naming_the_case_and_what_follows(
    world, clock, as_user
):
    case = at_level_one(world, clock)
    _, page = page_of(as_user("l1"), world, case, "approve_l1")
    buttons = dict(
        re.findall(r'value="(return|reject)" class="decision \1"\s+data-confirm="([^"]*)"', page)
    )
    assert f"确认将案件 {case.case_no}（王*明）退回修改？" in buttons["return"]
    assert "退回后由经办人办理“按退回意见修改”，修改后重新提交审批。" in buttons["return"]
    assert f"确认对案件 {case.case_no}（王*明）不予通过？" in buttons["reject"]
    assert "不予通过后案件即结束（不予通过），不再进入发放等后续办理。" in buttons["reject"]
    approve = re.search(r'<button[^>]*value="approve"[^>]*>', page).group(0)
    assert "data-confirm" not in approve
    assert 'src="/static/task-page.js"' in page


# --- batch approval with a comment --------------------------------------------------------


def test_batch_approval_records_the_common_comment_on_each_case(world, clock, as_user):
    first = at_level_one(world, clock)
    second = at_level_one(world, clock)
    client = as_user("l1")
    ids = [world.open_task(c, "approve_l1").id for c in (first, second)]
    confirm = client.post(
        "/tasks/batch/confirm",
        data={"task_ids": ids, "csrf_token": csrf_from(client, "/tasks/group")},
    ).get_data(as_text=True)
    assert "统一审批意见（可选）" in confirm
    done = client.post(
        "/tasks/batch/approve",
        data={
            "task_ids": ids,
            "comment": "经审核，材料齐全，同意",
            "csrf_token": csrf_from(client, "/tasks/group"),
        },
    )
    assert done.status_code == 200
    for case in (first, second):
        event = world.session.scalars(
            select(AuditEvent).where(
                AuditEvent.case_id == case.id, AuditEvent.summary.like("基层工会审批%")
            )
        ).one()
        assert event.summary == "基层工会审批：通过；经审核，材料齐全，同意"


def test_batch_approval_through_the_api_without_a_comment(app, world, clock):
    case = at_level_one(world, clock)
    task = world.open_task(case, "approve_l1")
    answer = app.test_client().post(
        "/api/v1/tasks/batch-approve",
        headers=api_token(app, "l1"),
        json={"task_ids": [task.id]},
    )
    assert answer.status_code == 200
    assert answer.get_json() == {
        "results": [{"task_id": task.id, "case_no": case.case_no, "ok": True, "message": None}],
        "approved": 1,
        "failed": 0,
    }
    bad = app.test_client().post(
        "/api/v1/tasks/batch-approve", headers=api_token(app, "l1"), json={"task_ids": "1"}
    )
    assert bad.status_code == 422 and "task_ids" in bad.get_json()["errors"]


# --- four eyes -----------------------------------------------------------------------------


@pytest.fixture
def both_roles(world):
    """A small union's one person who is caseworker and level-1 approver at once."""
    user = users.add_user(
        world.session,
        "both",
        "pw-both",
        "杨兼职",
        world.orgs["g1"],
        ["caseworker", "approver_l1"],
        check_policy=False,
    )
    world.users["both"] = user
    return user


def test_who_registered_a_case_is_not_offered_its_approval_and_is_refused(
    app, world, clock, both_roles, as_user
):
    mine = at_level_one(world, clock, registered_by="both", visited_by="cw1b")
    other = at_level_one(world, clock, registered_by="cw1", visited_by="cw1b")
    mine_task = world.open_task(mine, "approve_l1")
    other_task = world.open_task(other, "approve_l1")
    user = world.user("both")

    listed = {t.id for t in tasks.list_tasks(world.session, user, "group")}
    assert other_task.id in listed and mine_task.id not in listed
    assert tasks.count_tasks(world.session, user, "group") == len(listed)
    assert mine_task.id in {
        t.id for t in tasks.list_tasks(world.session, world.user("l1"), "group")
    }

    with pytest.raises(Forbidden) as refusal:
        tasks.complete(world.session, user, mine_task.id, {"decision": "approve"})
    assert "双人复核" in refusal.value.message
    answer = app.test_client().post(
        f"/api/v1/tasks/{mine_task.id}/complete",
        headers=api_token(app, "both"),
        json={"data": {"decision": "approve"}},
    )
    assert answer.status_code == 403 and "双人复核" in answer.get_json()["message"]
    page = as_user("both").get(f"/tasks/{mine_task.id}")
    assert page.status_code == 403 and "双人复核" in page.get_data(as_text=True)
    # The rework of their own case is still theirs to do.
    world.do("l1", mine, "approve_l1", {"decision": "return", "comment": "补充材料"})
    assert world.open_task(mine, "rework").id in {
        t.id for t in tasks.list_tasks(world.session, world.user("both"), "group")
    }


def test_who_did_the_home_visit_may_not_approve_either(world, clock, both_roles):
    case = at_level_one(world, clock, registered_by="cw1", visited_by="both")
    task = world.open_task(case, "approve_l1")
    user = world.user("both")
    assert task.id not in {t.id for t in tasks.list_tasks(world.session, user, "all")}
    with pytest.raises(Forbidden):
        tasks.claim(world.session, user, task.id)


def test_batch_approval_leaves_out_a_case_the_approver_worked_on(world, clock, both_roles):
    mine = at_level_one(world, clock, registered_by="both", visited_by="cw1b")
    other = at_level_one(world, clock, registered_by="cw1", visited_by="cw1b")
    ids = [world.open_task(c, "approve_l1").id for c in (mine, other)]
    plan = tasks.plan_batch_approval(world.session, world.user("both"), ids)
    assert [t.case_id for t in plan.tasks] == [other.id]
    assert [(t.case_id, reason) for t, reason in plan.skipped] == [
        (mine.id, "由您登记或经办，按双人复核要求不能由您审批")
    ]
    results = tasks.approve_many(world.session, world.user("both"), ids)
    assert [(r.case_no, r.ok) for r in results] == [(mine.case_no, False), (other.case_no, True)]
    assert "双人复核" in results[0].message


def test_a_task_cannot_be_handed_to_an_approver_who_worked_on_the_case(world, clock, both_roles):
    case = at_level_one(world, clock, registered_by="both", visited_by="cw1b")
    task = world.open_task(case, "approve_l1")
    with pytest.raises(ValidationFailed) as refusal:
        tasks.hand_over(world.session, world.user("l1"), task.id, "both")
    assert "双人复核" in refusal.value.message
    assert "both" not in {
        u.username for u in tasks.colleagues(world.session, world.user("l1"), task.id)
    }


def _plan(world, query) -> str:
    compiled = query.compile(world.session.get_bind(), compile_kwargs={"literal_binds": True})
    prefix = (
        "EXPLAIN QUERY PLAN " if world.session.get_bind().dialect.name == "sqlite" else "EXPLAIN "
    )
    rows = world.session.execute(text(prefix + str(compiled))).all()
    return "\n".join(" ".join(str(c) for c in row) for row in rows)


def test_the_task_list_stays_an_index_query_with_and_without_four_eyes(world, clock, both_roles):
    at_level_one(world, clock, registered_by="both", visited_by="cw1b")
    pure, both = world.user("l1"), world.user("both")
    # Someone who never worked on a case gets the very query as before: nothing added.
    assert "case_actor" not in str(tasks.task_query(pure, "group"))
    query = tasks.task_query(both, "group").order_by(*tasks.SORTS["created"]).limit(20)
    assert "case_actor" in str(query)
    plan = _plan(world, query)
    # Read through one of the task-list indexes (which one is the planner's choice on a
    # table this small), never scanned.
    assert re.search(r"(Index (Only )?Scan using|USING (COVERING )?INDEX) ix_human_task_", plan), (
        plan
    )
    assert not re.search(r"SCAN (TABLE )?human_task\b(?! USING)", plan), plan
    assert "Seq Scan on human_task" not in plan, plan
