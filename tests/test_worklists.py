"""已办 (the tasks I completed) and 我发起的 (the cases I registered): services, pages and
API, each with where the case stands now; and that both lists read from their indexes."""

from datetime import timedelta

import pytest
from conftest import api_token, cst
from sqlalchemy import text
from test_web_tasks import VISIT, at_level_one, start

from workflows import cases, worklists
from workflows.errors import ValidationFailed
from workflows.models import HumanTask
from workflows.tasks import TaskFilter


def body(answer) -> str:
    return answer.get_data(as_text=True)


# --- 已办 ---------------------------------------------------------------------------------


def test_done_lists_my_completed_tasks_newest_first_with_the_case_now(world, clock, as_user):
    first, second = start(world), start(world)
    world.do("cw1", first, "home_visit_task", VISIT)
    clock.move_to(cst(2026, 9, 8, 10, 0))
    world.do("cw1", second, "home_visit_task", VISIT)
    other = start(world)
    # A colleague's, not mine (visited the day it was registered).
    world.do("cw1b", other, "home_visit_task", dict(VISIT, visit_date="2026-09-08"))

    rows = worklists.list_done(world.session, world.user("cw1"))

    assert [r.case_id for r in rows] == [second.id, first.id]
    assert worklists.count_done(world.session, world.user("cw1")) == 2
    page = body(as_user("cw1").get("/tasks/done"))
    assert page.index(second.case_no) < page.index(first.case_no)
    assert other.case_no not in page
    assert "共 2 件" in page and "入户核查" in page
    # Both cases now wait out their public notice, which says until when.
    assert "公示中，至 9月14日期满" in page and "公示中，至 9月15日" in page


def test_done_shows_the_step_a_case_has_moved_to(world, clock, as_user):
    (case,) = at_level_one(world, clock)
    world.do("l1", case, "approve_l1", {"decision": "approve"})

    page = body(as_user("l1").get("/tasks/done"))

    assert case.case_no in page and "基层工会审批" in page
    assert "县（区）总工会审批" in page  # where the case is now


def test_done_filters_by_programme_step_and_late_completion(world, clock, as_user):
    on_time, late = start(world), start(world)
    world.do("cw1", on_time, "home_visit_task", VISIT)
    due = world.open_task(late, "home_visit_task").due_at
    clock.move_to(due + timedelta(days=1))
    world.do("cw1", late, "home_visit_task", VISIT)
    user = world.user("cw1")

    assert worklists.count_done(world.session, user, TaskFilter(programme="seasonal_aid")) == 0
    mine = TaskFilter(programme=on_time.programme)
    assert {r.case_id for r in worklists.list_done(world.session, user, mine)} == {
        on_time.id,
        late.id,
    }
    step = worklists.list_done(world.session, user, TaskFilter(element_id="home_visit_task"))
    assert len(step) == 2
    overdue = worklists.list_done(world.session, user, TaskFilter(overdue=True))
    assert [r.case_id for r in overdue] == [late.id]
    page = body(as_user("cw1").get("/tasks/done?overdue=1"))
    assert late.case_no in page and on_time.case_no not in page and "超期办理" in page


def test_done_pages_twenty_at_a_time(world, as_user):
    started = [start(world) for _ in range(21)]
    for case in started:
        world.do("cw1", case, "home_visit_task", VISIT)
    client = as_user("cw1")

    first, second = body(client.get("/tasks/done")), body(client.get("/tasks/done?page=2"))

    assert "第 1 / 2 页" in first and started[0].case_no not in first
    assert started[0].case_no in second and started[-1].case_no not in second


def test_done_is_in_the_menu_for_everyone(world, as_user):
    for username in ("cw1", "l1", "fin", "mgr"):
        assert 'href="/tasks/done"' in body(as_user(username).get("/"))


# --- 我发起的 -------------------------------------------------------------------------------


def test_started_lists_the_cases_i_registered_with_where_each_stands(world, as_user):
    waiting, noticed = start(world), start(world)
    world.do("cw1", noticed, "home_visit_task", VISIT)
    colleague = start(world, "cw1b")
    cancelled = start(world)
    cases.cancel_case(world.session, world.user("cw1"), cancelled.id, "申请人主动放弃")

    rows = worklists.list_started(world.session, world.user("cw1"))
    stands = worklists.standings(world.session, rows)

    assert [c.id for c in rows] == [cancelled.id, noticed.id, waiting.id]
    assert stands[waiting.id].text == "入户核查"
    assert stands[noticed.id].text == "公示中，至 9月14日期满"
    assert stands[cancelled.id].text == "已撤销"
    page = body(as_user("cw1").get("/cases/started"))
    assert colleague.case_no not in page
    assert "入户核查" in page and "公示中，至 9月14日期满" in page and "已撤销" in page
    only_running = body(as_user("cw1").get("/cases/started?status=running"))
    assert cancelled.case_no not in only_running and waiting.case_no in only_running


def test_started_says_why_a_case_waits_on_nobody(world, clock):
    (case,) = at_level_one(world, clock)
    world.do("l1", case, "approve_l1", {"decision": "approve"})
    world.do("l2", case, "approve_l2", {"decision": "approve"})

    stands = worklists.standings(world.session, [world.refresh(case)])

    assert stands[case.id].text == "待财务生成发放批次"


def test_started_is_for_caseworkers_only(world, as_user):
    assert as_user("l1").get("/cases/started").status_code == 403
    assert 'href="/cases/started"' not in body(as_user("l1").get("/"))
    assert 'href="/cases/started"' in body(as_user("cw1").get("/"))


def test_unknown_status_filter_is_refused_clearly(world):
    with pytest.raises(ValidationFailed, match="未知的案件状态"):
        worklists.list_started(
            world.session, world.user("cw1"), worklists.CaseFilter(status="lost")
        )


# --- API ---------------------------------------------------------------------------------


def test_api_lists_done_tasks_and_started_cases(world, app):
    case = start(world)
    world.do("cw1", case, "home_visit_task", VISIT)
    waiting = start(world)
    client, headers = app.test_client(), api_token(app, "cw1")

    done = client.get("/api/v1/tasks?scope=done", headers=headers).get_json()
    started = client.get("/api/v1/cases/started", headers=headers).get_json()
    running = client.get("/api/v1/cases/started?status=completed", headers=headers).get_json()

    assert done["total"] == 1 and done["items"][0]["case_no"] == case.case_no
    assert done["items"][0]["status"] == "completed"
    assert done["items"][0]["completed_at"].startswith("2026-09-07T10:00:00")
    assert done["items"][0]["case_stands"] == "公示中，至 9月14日期满"
    assert [c["case_no"] for c in started["items"]] == [waiting.case_no, case.case_no]
    assert started["items"][0]["stands"] == "入户核查"
    assert running["total"] == 0
    bad = client.get("/api/v1/cases/started?status=lost", headers=headers)
    assert bad.status_code == 422 and bad.get_json()["errors"]["status"]


def test_api_done_for_someone_else_is_empty(world, app):
    case = start(world)
    world.do("cw1", case, "home_visit_task", VISIT)

    answer = app.test_client().get("/api/v1/tasks?scope=done", headers=api_token(app, "cw1b"))

    assert answer.get_json()["total"] == 0


# --- the indexes -------------------------------------------------------------------------


def _plan(session, query) -> str:
    compiled = query.compile(session.bind, compile_kwargs={"literal_binds": True})
    if session.bind.dialect.name == "sqlite":
        rows = session.execute(text("EXPLAIN QUERY PLAN " + str(compiled)))
        return " ".join(str(r[-1]) for r in rows)
    # A small table would be scanned whatever the indexes: ask for the plan without that.
    session.execute(text("SET LOCAL enable_seqscan = off"))
    rows = session.execute(text("EXPLAIN " + str(compiled)))
    plan = " ".join(r[0] for r in rows)
    session.rollback()
    return plan


def test_done_and_started_lists_read_from_their_indexes(world):
    user = world.user("cw1")
    done = worklists.done_query(user).order_by(*worklists.DONE_SORTS["-completed"]).limit(20)
    started = worklists.started_query(user).order_by(*worklists.STARTED_SORTS["-created"]).limit(20)

    assert "ix_human_task_done" in _plan(world.session, done)
    assert "ix_case_started" in _plan(world.session, started)


def test_filtered_done_and_the_overdue_list_read_no_case_per_task(world):
    """已办 by programme reads ix_human_task_done_programme (no join to the cases); 督办
    counts its units' overdue tasks from ix_human_task_open_unit_due."""
    from workflows import reminders

    done = worklists.done_query(world.user("cw1"), TaskFilter(programme="seasonal_aid"))
    # As the capped count reads it (a page then joins its 20 rows' cases).
    done = done.with_only_columns(text("1")).order_by(*worklists.DONE_SORTS["-completed"])
    overdue = reminders.overdue_query(world.user("l2")).with_only_columns(text("1"))

    done_plan = _plan(world.session, done)
    assert "ix_human_task_done_programme" in done_plan and '"case"' not in done_plan
    assert "ix_human_task_open_unit_due" in _plan(world.session, overdue)
    # Filtered to one union, 督办 still starts from the supervisor's overdue tasks and
    # looks up each one's case, never from the union's whole case history. SQLite plans
    # without statistics (a join started from the cases); PostgreSQL weighs its own, and
    # on this handful of rows may start either way.
    if world.session.bind.dialect.name == "sqlite":
        unit = TaskFilter(org_id=world.orgs["g1"].id)
        one_union = reminders.overdue_query(world.user("l2"), unit)
        plan = _plan(world.session, one_union.order_by(HumanTask.due_at).limit(20))
        assert plan.startswith("SEARCH human_task USING INDEX ix_human_task_open_unit_due")
        assert "ix_case_org_id" not in plan


def test_a_long_history_is_counted_no_further_than_the_cap(world, as_user, app, monkeypatch):
    """已办 and 我发起的 stop counting at COUNT_CAP: the page says "N 余件" and pages that
    far, the API says its total is a lower bound; below the cap both are exact."""
    monkeypatch.setattr(worklists, "COUNT_CAP", 3)
    started = [start(world) for _ in range(5)]
    for case in started:
        world.do("cw1", case, "home_visit_task", VISIT)
    user = world.user("cw1")
    assert worklists.count_done(world.session, user) == 4  # the cap, and one more
    assert worklists.count_started(world.session, user) == 4
    assert worklists.count_done(world.session, world.user("cw1b")) == 0

    for url in ("/tasks/done", "/cases/started"):
        page = body(as_user("cw1").get(url))
        assert "3 余件" in page and 'id="count-capped"' in page
    client, headers = app.test_client(), api_token(app, "cw1")
    done = client.get("/api/v1/tasks?scope=done", headers=headers).get_json()
    mine = client.get("/api/v1/cases/started?limit=2", headers=headers).get_json()
    assert (done["total"], done["total_is_lower_bound"], len(done["items"])) == (3, True, 5)
    assert (mine["total"], mine["total_is_lower_bound"], len(mine["items"])) == (3, True, 2)

    monkeypatch.setattr(worklists, "COUNT_CAP", 10)
    assert "共 5 件" in body(as_user("cw1").get("/tasks/done"))
    done = client.get("/api/v1/tasks?scope=done", headers=headers).get_json()
    assert (done["total"], done["total_is_lower_bound"]) == (5, False)


def test_the_step_filters_offer_the_steps_of_the_users_roles_from_the_diagrams(world, as_user):
    """Task lists and 已办 offer the steps a person's roles act on, in every deployed
    version, without grouping the person's tasks (none are open here)."""
    from workflows import processes, tasks

    approver = dict(tasks.step_choices(world.session, world.user("l1"), "group"))
    caseworker = dict(worklists.done_steps(world.session, world.user("cw1")))

    assert "approve_l1" in approver and "home_visit_task" not in approver
    assert "home_visit_task" in caseworker and "approve_l1" not in caseworker
    assert caseworker["home_visit_task"] == "入户核查"
    page = body(as_user("l1").get("/tasks/group"))
    assert 'value="approve_l1"' in page
    # Versions no case runs on are read for their step names, not parsed whole.
    processes.forget_versions()
    assert "approve_l1" in dict(tasks.role_steps(world.session, world.user("l1")))
    assert not processes._versions
    # ... and once a process: their metas are kept, the next list reads only the ids.
    from test_round_trips import Statements

    with Statements(world.session.get_bind()) as counted:
        assert "approve_l1" in dict(tasks.role_steps(world.session, world.user("l1")))
    assert not [s for s in counted.seen if "meta_json" in s], counted.seen


def test_the_four_eyes_probe_is_asked_once_a_transaction_and_again_after_work(world):
    """Whether an approver worked on any case decides the shape of every list query; a
    page asks it for its count, its rows and its menu, once. Working on a case in the
    same transaction is seen at once."""
    from test_round_trips import Statements

    from workflows import access

    case = start(world)
    approver = world.user("l1")
    world.session.commit()
    with Statements(world.session.get_bind()) as counted:
        assert not access._worked_on_any_case(approver)
        assert not access._worked_on_any_case(approver)
        access.worked_on(world.session, approver, case.id, "入户核查")
        world.session.flush()
        assert access._worked_on_any_case(approver)
    probes = [s for s in counted.seen if s.startswith("SELECT EXISTS (SELECT * FROM case_actor")]
    assert len(probes) == 2, counted.seen
    world.session.rollback()
    assert not access._worked_on_any_case(approver)  # a new transaction asks again
