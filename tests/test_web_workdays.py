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
    }
    saved = client.put(
        "/api/v1/calendar/2027", headers=headers, json={"holidays": ["2027-01-01"], "workdays": []}
    )
    assert saved.status_code == 200 and saved.get_json()["entered"] is True
    bad = client.put("/api/v1/calendar/2027", headers=headers, json={"holidays": "x"})
    assert bad.status_code == 422
    assert client.get("/api/v1/calendar/2026", headers=headers).get_json()["library_knows"]
