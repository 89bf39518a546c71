"""已办, 我发起的, 督办 and 催办 in Chromium, at 1366×768 and at phone width: a district
approver reminds an overdue home visit; both caseworkers of the union see the reminder on
their start page and on the task; once it is done the reminder is gone, and the case
shows in the caseworker's 已办 and 我发起的 with where it stands."""

from datetime import timedelta

from test_web_tasks import VISIT, start

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 768}


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def test_overdue_task_is_reminded_seen_and_done(world, clock, sign_in, live_server, shot):
    case = start(world)
    task = world.open_task(case, "home_visit_task")
    clock.move_to(task.due_at + timedelta(days=2))

    supervisor = sign_in("l2")
    supervisor.set_viewport_size(DESKTOP)
    supervisor.goto(f"{live_server}/tasks/overdue")
    row = supervisor.locator(f"tr[data-task='{task.id}']")
    assert case.case_no in row.inner_text() and "待认领（经办人）" in row.inner_text()
    row.locator("input[name=message]").fill("请本周内完成入户核查")
    row.locator("button", has_text="催办").click()
    supervisor.wait_for_selector(".flash.info")
    assert "今日已催办" in supervisor.locator(f"tr[data-task='{task.id}']").inner_text()
    shot(supervisor, "overdue-1366")
    supervisor.set_viewport_size(PHONE)
    supervisor.reload()
    assert fits(supervisor)
    shot(supervisor, "overdue-phone")

    for username in ("cw1", "cw1b"):
        page = sign_in(username)
        page.set_viewport_size(PHONE)
        page.goto(live_server + "/")
        reminder = page.locator("#home-reminders")
        assert "请本周内完成入户核查" in reminder.inner_text()
        assert "王区审批" in reminder.inner_text()
        assert fits(page)
    shot(page, "reminder-home-phone")

    caseworker = sign_in("cw1")
    caseworker.set_viewport_size(DESKTOP)
    caseworker.goto(f"{live_server}/tasks/{task.id}")
    assert "请本周内完成入户核查" in caseworker.inner_text("#task-reminders")
    shot(caseworker, "reminder-task")
    world.do("cw1", case, "home_visit_task", VISIT)

    caseworker.goto(live_server + "/")
    assert caseworker.locator("#home-reminders").count() == 0
    caseworker.goto(f"{live_server}/tasks/done")
    done = caseworker.locator("#done-tasks").inner_text()
    assert case.case_no in done and "入户核查" in done and "超期办理" in done
    assert "公示中，至" in done
    caseworker.goto(f"{live_server}/cases/started")
    assert "公示中，至" in caseworker.locator("#started-cases").inner_text()
    shot(caseworker, "started-1366")
    caseworker.set_viewport_size(PHONE)
    caseworker.goto(f"{live_server}/tasks/done")
    assert fits(caseworker)
    shot(caseworker, "done-phone")
