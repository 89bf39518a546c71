"""节假日安排: a manager enters next year's official arrangement in the browser or the API,
and periods running into that year count it at once."""

from datetime import date

from conftest import api_token, csrf_from
from sqlalchemy import select

from workflows import workdays
from workflows.models import AuditEvent


def test_manager_enters_2027_and_the_warning_disappears(app, world, as_user):
    manager = as_user("mgr")
    page = manager.get("/calendar?year=2027").get_data(as_text=True)
    assert "未录入，暂按周一至周五计算" in page and "录入 2027 年安排" in page
    token = csrf_from(manager, "/calendar?year=2027")
    answer = manager.post(
        "/calendar?year=2027",
        data={
            "csrf_token": token,
            "holidays": "2027-01-01\n2027-02-08, 2027-02-09",
            "workdays": "2027-02-06",
        },
    )
    assert answer.status_code == 302
    shown = workdays.arrangement(world.session, 2027)
    assert shown.entered and shown.holidays == [
        date(2027, 1, 1),
        date(2027, 2, 8),
        date(2027, 2, 9),
    ]
    assert shown.workdays == [date(2027, 2, 6)]
    calendar = workdays.load(world.session)
    assert calendar.warning(date(2026, 12, 28), date(2027, 1, 5)) == ""
    assert not calendar.is_workday(date(2027, 1, 1)) and calendar.is_workday(date(2027, 2, 6))
    assert (
        world.session.scalars(select(AuditEvent).where(AuditEvent.action == "calendar.enter_year"))
        .first()
        .actor_id
        == world.users["mgr"].id
    )


def test_bad_dates_are_shown_again_with_a_message_and_nothing_is_stored(app, world, as_user):
    manager = as_user("mgr")
    token = csrf_from(manager, "/calendar?year=2027")
    answer = manager.post(
        "/calendar?year=2027", data={"csrf_token": token, "holidays": "2027-13-01", "workdays": ""}
    )
    assert answer.status_code == 422
    assert "不是日期" in answer.get_data(as_text=True)
    other_year = manager.post(
        "/calendar?year=2027", data={"csrf_token": token, "holidays": "2028-01-03", "workdays": ""}
    )
    assert other_year.status_code == 422 and "不属于 2027 年" in other_year.get_data(as_text=True)
    assert not workdays.arrangement(world.session, 2027).entered


def test_only_managers_reach_the_calendar_page_and_api(app, world, as_user):
    for username in ("cw1", "l2", "fin"):
        assert as_user(username).get("/calendar").status_code == 403
        headers = api_token(app, username)
        client = app.test_client()
        assert client.get("/api/v1/calendar/2027", headers=headers).status_code == 403
        assert (
            client.put(
                "/api/v1/calendar/2027", headers=headers, json={"holidays": ["2027-01-01"]}
            ).status_code
            == 403
        )
    assert not workdays.arrangement(world.session, 2027).entered


def test_api_enters_and_reads_a_year(app, world):
    headers = api_token(app, "mgr")
    client = app.test_client()
    before = client.get("/api/v1/calendar/2027", headers=headers).get_json()
    assert before == {
        "year": 2027,
        "library_knows": False,
        "entered": False,
        "holidays": [],
        "workdays": [],
        "builtin_holidays": [],
        "builtin_workdays": [],
    }
    saved = client.put(
        "/api/v1/calendar/2027", headers=headers, json={"holidays": ["2027-01-01"], "workdays": []}
    )
    assert saved.status_code == 200 and saved.get_json()["entered"] is True
    bad = client.put("/api/v1/calendar/2027", headers=headers, json={"holidays": "x"})
    assert bad.status_code == 422
    assert client.get("/api/v1/calendar/2026", headers=headers).get_json()["library_knows"]


def test_built_in_years_show_their_holidays_and_make_up_days(app, world, as_user):
    shown = workdays.arrangement(world.session, 2026)
    spring = next(p for p in shown.builtin_holidays if p.name == "春节")
    assert (spring.first, spring.last, spring.days) == (date(2026, 2, 15), date(2026, 2, 23), 9)
    assert [(p.name, p.first) for p in shown.builtin_workdays if p.name == "国庆节"] == [
        ("国庆节", date(2026, 9, 20)),
        ("国庆节", date(2026, 10, 10)),
    ]
    page = as_user("mgr").get("/calendar?year=2026").get_data(as_text=True)
    assert "2026 年放假安排（系统内置）" in page
    assert "2026-02-15 至 2026-02-23，共 9 天" in page
    assert "2026-09-20（周日）" in page and "2026-02-14（周六）" in page
    assert "元旦" in page and "调休上班" in page
    later = as_user("mgr").get("/calendar?year=2027").get_data(as_text=True)
    assert 'id="builtin-arrangement"' not in later  # chinese-calendar does not know 2027


def test_api_gives_the_built_in_arrangement(app, world):
    answer = app.test_client().get("/api/v1/calendar/2026", headers=api_token(app, "mgr"))
    data = answer.get_json()
    assert {"name": "国庆节", "first": "2026-10-01", "last": "2026-10-07"} in data[
        "builtin_holidays"
    ]
    assert {"name": "劳动节", "first": "2026-05-09", "last": "2026-05-09"} in data[
        "builtin_workdays"
    ]


def test_every_bad_line_is_listed_with_its_number(app, world, as_user):
    manager = as_user("mgr")
    token = csrf_from(manager, "/calendar?year=2027")
    answer = manager.post(
        "/calendar?year=2027",
        data={
            "csrf_token": token,
            "holidays": "2027-01-01\n2027-13-01\n2027-02-08, 2027-2-9\n2026-12-31\n2027-02-10",
            "workdays": "2027-02-06\n2027-02-10\nnext saturday",
        },
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert "有 6 处填写有误" in page
    assert "第 2 行：“2027-13-01”不是日期" in page
    assert "第 3 行：“2027-2-9”不是日期" in page
    assert "第 4 行：2026-12-31 不属于 2027 年" in page
    assert "第 3 行：“next”不是日期" in page and "第 3 行：“saturday”不是日期" in page
    assert "2027-02-10 不能既是假日又是上班日" in page
    assert "2027-13-01" in page  # what was typed is shown again
    assert not workdays.arrangement(world.session, 2027).entered


def test_api_lists_every_bad_item(app, world):
    answer = app.test_client().put(
        "/api/v1/calendar/2027",
        headers=api_token(app, "mgr"),
        json={"holidays": ["2027-01-01", "bad", "2028-01-01"], "workdays": []},
    )
    assert answer.status_code == 422
    error = answer.get_json()["errors"]["holidays"]
    assert "第 2 行：“bad”不是日期" in error and "第 3 行：2028-01-01 不属于 2027 年" in error
