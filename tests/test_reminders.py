"""督办 and 催办: supervisors see the overdue tasks of their subtree, longest overdue first,
and remind; the assignee (or the group while unclaimed) sees the reminder on the start
page and on the task until it is done; one reminder per task per day; audited; API."""

from datetime import timedelta

import pytest
from conftest import api_token, csrf_from
from sqlalchemy import select
from test_web_tasks import VISIT, start

from workflows import reminders, tasks, timers
from workflows.clock import now
from workflows.errors import AlreadyDone, Conflict, Forbidden, ValidationFailed
from workflows.models import AuditEvent, HumanTask, TaskReminder


def body(answer) -> str:
    return answer.get_data(as_text=True)


def overdue_visits(world, clock, *owners: str) -> list[HumanTask]:
    """One case per caseworker (in that order, a day apart), each home visit overdue."""
    rows = []
    for owner in owners:
        rows.append(world.open_task(start(world, owner), "home_visit_task"))
        clock.move_to(now() + timedelta(days=1))
    clock.move_to(max(r.due_at for r in rows) + timedelta(hours=1))
    return rows


def ids(rows) -> list[int]:
    return [r.id for r in rows]


# --- 督办: who sees what --------------------------------------------------------------------


def test_supervisors_see_overdue_tasks_of_their_subtree_longest_overdue_first(world, clock):
    older, newer, elsewhere = overdue_visits(world, clock, "cw1", "cw2", "cw3")
    session = world.session

    assert ids(reminders.list_overdue(session, world.user("l2"))) == [older.id, newer.id]
    assert ids(reminders.list_overdue(session, world.user("l2_d2"))) == [elsewhere.id]
    for city in ("l3", "mgr"):
        found = ids(reminders.list_overdue(session, world.user(city)))
        assert found == [older.id, newer.id, elsewhere.id]
    assert reminders.count_overdue(session, world.user("mgr")) == 3


def test_tasks_not_yet_due_are_not_on_the_list(world, clock):
    start(world)

    assert reminders.list_overdue(world.session, world.user("l2")) == []


def test_a_district_does_not_supervise_the_city_federations_own_step(world, clock):
    small, big = start(world), start(world, education_level="postgraduate")
    for case in (small, big):
        world.do("cw1", case, "home_visit_task", VISIT)
    clock.move_to(now() + timedelta(days=10))
    timers.fire_due_timers(world.factory)
    for case in (small, big):
        world.do("l1", case, "approve_l1", {"decision": "approve"})
    world.do("l2", big, "approve_l2", {"decision": "approve"})  # above 5,000: to the city
    city_step = world.open_task(big, "approve_l3")
    clock.move_to(city_step.due_at + timedelta(hours=1))

    by_district = ids(reminders.list_overdue(world.session, world.user("l2")))
    by_city = ids(reminders.list_overdue(world.session, world.user("l3")))

    assert city_step.id not in by_district and city_step.id in by_city
    assert world.open_task(small, "approve_l2").id in by_district  # its own step


@pytest.mark.parametrize("username", ["cw1", "l1", "fin"])
def test_others_may_not_supervise(world, clock, as_user, username):
    (task,) = overdue_visits(world, clock, "cw1")

    with pytest.raises(Forbidden):
        reminders.list_overdue(world.session, world.user(username))
    with pytest.raises(Forbidden):
        reminders.remind(world.session, world.user(username), task.id)
    client = as_user(username)
    assert client.get("/tasks/overdue").status_code == 403
    assert 'href="/tasks/overdue"' not in body(client.get("/"))


# --- 催办 ----------------------------------------------------------------------------------


def test_reminder_reaches_the_group_while_unclaimed_and_follows_the_task(world, clock, as_user):
    (task,) = overdue_visits(world, clock, "cw1")

    reminders.remind(world.session, world.user("l2"), task.id, "请本周内完成入户核查")

    for colleague in ("cw1", "cw1b"):
        found = reminders.for_user(world.session, world.user(colleague))
        assert [r.task.id for r in found] == [task.id]
        assert found[0].sender == "王区审批"
    assert reminders.for_user(world.session, world.user("cw2")) == []
    home = body(as_user("cw1b").get("/"))
    assert 'id="home-reminders"' in home and "请本周内完成入户核查" in home
    assert task.case.case_no in home
    page = body(as_user("cw1").get(f"/tasks/{task.id}"))
    assert 'id="task-reminders"' in page and "王区审批" in page

    tasks.claim(world.session, world.user("cw1b"), task.id)

    assert reminders.for_user(world.session, world.user("cw1")) == []
    assert [r.task.id for r in reminders.for_user(world.session, world.user("cw1b"))] == [task.id]


def test_reminder_disappears_once_the_task_is_done(world, clock, as_user):
    (task,) = overdue_visits(world, clock, "cw1")
    reminders.remind(world.session, world.user("l2"), task.id)

    world.do("cw1", task.case, "home_visit_task", VISIT)

    assert reminders.for_user(world.session, world.user("cw1")) == []
    assert 'id="home-reminders"' not in body(as_user("cw1").get("/"))
    done = world.session.get(HumanTask, task.id)
    assert reminders.for_task(world.session, done) == []
    assert 'id="task-reminders"' not in body(as_user("cw1").get(f"/tasks/{task.id}"))


def test_one_reminder_per_task_per_day(world, clock):
    (task,) = overdue_visits(world, clock, "cw1")
    reminders.remind(world.session, world.user("l2"), task.id)

    with pytest.raises(Conflict, match="王区审批今天 .* 已催办过该任务"):
        reminders.remind(world.session, world.user("l3"), task.id)

    clock.move_to(now() + timedelta(days=1))
    reminders.remind(world.session, world.user("l3"), task.id, "再次催办")
    found = reminders.for_user(world.session, world.user("cw1"))
    assert found[0].times == 2 and found[0].reminder.message == "再次催办"
    assert len(world.session.scalars(select(TaskReminder)).all()) == 2


def test_refusals_are_clear_and_change_nothing(world, clock):
    (late,) = overdue_visits(world, clock, "cw1")
    fresh = world.open_task(start(world), "home_visit_task")
    session, l2 = world.session, world.user("l2")

    with pytest.raises(ValidationFailed, match="尚未超期"):
        reminders.remind(session, l2, fresh.id)
    with pytest.raises(ValidationFailed, match="不能超过 200"):
        reminders.remind(session, l2, late.id, "催" * 201)
    with pytest.raises(Forbidden):
        reminders.remind(session, world.user("l2_d2"), late.id)  # another district's
    world.do("cw1", late.case, "home_visit_task", VISIT)
    with pytest.raises(AlreadyDone):
        reminders.remind(session, l2, late.id)
    assert session.scalars(select(TaskReminder)).all() == []


def test_reminder_is_audited_with_whom_it_reached(world, clock):
    (task,) = overdue_visits(world, clock, "cw1")
    tasks.claim(world.session, world.user("cw1"), task.id)

    reminders.remind(world.session, world.user("mgr"), task.id, "请尽快办理")

    event = world.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "task.remind")
    ).one()
    assert event.actor_id == world.users["mgr"].id and event.case_id == task.case_id
    assert event.summary == "催办：入户核查 → 张经办；留言：请尽快办理"


# --- the pages -----------------------------------------------------------------------------


def test_overdue_page_reminds_and_then_shows_it_was_done_today(world, clock, as_user):
    (task,) = overdue_visits(world, clock, "cw1")
    client = as_user("l2")

    page = body(client.get("/tasks/overdue"))
    assert task.case.case_no in page and "超期" in page and "待认领（经办人）" in page
    answer = client.post(
        f"/tasks/{task.id}/remind",
        data={
            "message": "请今天完成",
            "next": "/tasks/overdue",
            "csrf_token": csrf_from(client, "/tasks/overdue"),
        },
    )

    assert answer.status_code == 302 and answer.headers["Location"].endswith("/tasks/overdue")
    after = body(client.get("/tasks/overdue"))
    assert "已催办" in after and "今日已催办" in after
    assert world.session.scalars(select(TaskReminder)).one().message == "请今天完成"
    again = client.post(
        f"/tasks/{task.id}/remind",
        data={"next": "/tasks/overdue", "csrf_token": csrf_from(client, "/tasks/overdue")},
        follow_redirects=True,
    )
    assert "已催办过该任务" in body(again)


def test_overdue_page_filters_by_organisation(world, clock, as_user):
    mine, other = overdue_visits(world, clock, "cw1", "cw2")
    client = as_user("l2")

    page = body(client.get(f"/tasks/overdue?org={world.orgs['g2'].id}"))

    assert other.case.case_no in page and mine.case.case_no not in page


# --- API -----------------------------------------------------------------------------------


def test_api_overdue_list_remind_and_my_reminders(world, clock, app):
    (task,) = overdue_visits(world, clock, "cw1")
    client = app.test_client()
    l2, cw1 = api_token(app, "l2"), api_token(app, "cw1")

    listed = client.get("/api/v1/tasks?scope=overdue", headers=l2).get_json()
    assert [t["id"] for t in listed["items"]] == [task.id]
    assert listed["items"][0]["reminded_today"] is False
    sent = client.post(f"/api/v1/tasks/{task.id}/remind", json={"message": "请办理"}, headers=l2)
    assert sent.status_code == 201 and sent.get_json()["to"] is None
    again = client.post(f"/api/v1/tasks/{task.id}/remind", headers=l2)
    assert again.status_code == 409

    mine = client.get("/api/v1/reminders", headers=cw1).get_json()["items"]
    assert [(r["task"]["id"], r["message"], r["sent_by"]) for r in mine] == [
        (task.id, "请办理", "王区审批")
    ]
    detail = client.get(f"/api/v1/tasks/{task.id}", headers=cw1).get_json()
    assert [r["message"] for r in detail["reminders"]] == ["请办理"]
    assert client.get("/api/v1/tasks?scope=overdue", headers=cw1).status_code == 403
    listed = client.get("/api/v1/tasks?scope=overdue", headers=l2).get_json()
    assert listed["items"][0]["reminded_today"] is True
