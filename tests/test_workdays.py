"""Working days (工作日): statutory holidays and 调休 from chinese-calendar, Monday–Friday
with a warning for years it does not know, and managers' entries for such years."""

from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import cst
from sqlalchemy import select

from workflows import cases, db, timers, workdays
from workflows.models import CalendarDay, CalendarYear, ProcessInstance, PublicNotice
from workflows.workdays import WorkCalendar

VISIT_OK = dict(
    visit_date="2026-12-28",
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病，家庭收入低",
    visit_verdict="confirmed",
)
HOLIDAYS_2027 = [date(2027, 1, 1)]
WORKDAYS_2027 = [date(2027, 1, 9)]  # a hypothetical 调休 Saturday


# --- the calendar alone ------------------------------------------------------------------------


def test_national_day_week_is_off_and_the_make_up_weekend_days_are_worked():
    calendar = WorkCalendar()
    for day in range(1, 8):
        assert not calendar.is_workday(date(2026, 10, day)), f"2026-10-{day:02d}"
    assert calendar.is_workday(date(2026, 10, 10))  # Saturday, 调休
    assert calendar.is_workday(date(2026, 9, 20))  # Sunday, 调休
    assert not calendar.is_workday(date(2026, 9, 19))  # an ordinary Saturday
    assert calendar.is_workday(date(2026, 10, 9))  # an ordinary Friday


def test_working_days_skip_the_holiday_and_count_the_make_up_saturday():
    # 9-30, 10-8, 10-9, 10-10 (Saturday, 调休), 10-12.
    assert WorkCalendar().add_working_days(date(2026, 9, 29), 5) == date(2026, 10, 12)
    assert WorkCalendar().add_working_days(date(2026, 9, 29), 0) == date(2026, 9, 29)
    with pytest.raises(ValueError):
        WorkCalendar().add_working_days(date(2026, 9, 29), -1)


def test_period_ends_at_midnight_china_time_after_the_last_working_day():
    end = WorkCalendar().period_end(cst(2026, 9, 29, 10, 0), 5)
    assert end == cst(2026, 10, 13, 0, 0)
    assert end.utcoffset() == timedelta(hours=8)


def test_period_started_on_friday_evening_counts_from_the_next_working_day():
    # Friday 11 September, 20:00: one working day is Monday 14 September.
    assert WorkCalendar().period_end(cst(2026, 9, 11, 20, 0), 1) == cst(2026, 9, 15, 0, 0)


def test_period_start_is_read_in_china_time_not_utc():
    # Thursday 16:30 UTC is already Friday 00:30 in China: the Friday is the start day.
    start = datetime(2026, 9, 10, 16, 30, tzinfo=UTC)
    assert WorkCalendar().period_end(start, 1) == cst(2026, 9, 15, 0, 0)


def test_year_unknown_to_the_library_counts_monday_to_friday_with_a_warning():
    calendar = WorkCalendar()
    assert not workdays.library_knows(2027)
    assert calendar.is_workday(date(2027, 1, 1))  # Friday; the real 元旦 is not known
    assert not calendar.is_workday(date(2027, 1, 9))  # Saturday
    assert calendar.add_working_days(date(2026, 12, 31), 2) == date(2027, 1, 4)
    warning = calendar.warning(date(2026, 12, 28), date(2027, 1, 5))
    assert "2027年" in warning and "周一至周五" in warning
    assert "2026年" not in warning
    assert calendar.warning(date(2026, 12, 1), date(2026, 12, 31)) == ""


def test_entered_year_uses_the_overrides_and_carries_no_warning():
    overrides = {d: False for d in HOLIDAYS_2027} | {d: True for d in WORKDAYS_2027}
    calendar = WorkCalendar(overrides, frozenset({2027}))
    assert not calendar.is_workday(date(2027, 1, 1))
    assert calendar.is_workday(date(2027, 1, 9))
    assert calendar.is_workday(date(2027, 1, 4))  # not overridden: Monday–Friday
    assert calendar.add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
    assert calendar.add_working_days(date(2027, 1, 8), 1) == date(2027, 1, 9)
    assert calendar.warning(date(2026, 12, 28), date(2027, 1, 31)) == ""


def test_overrides_without_the_year_entered_still_warn():
    calendar = WorkCalendar({date(2027, 1, 1): False})
    assert not calendar.is_workday(date(2027, 1, 1))
    assert "2027年" in calendar.warning(date(2026, 12, 28), date(2027, 1, 5))


# --- managers' entries in the database ---------------------------------------------------------


def _stored(session) -> dict[date, bool]:
    session.expire_all()
    return {row.day: row.is_workday for row in session.scalars(select(CalendarDay))}


def test_entered_year_is_stored_and_seen_by_the_current_calendar(session):
    assert "2027年" in workdays.current(session).warning(date(2027, 1, 1), date(2027, 1, 5))
    workdays.enter_year(session, None, 2027, HOLIDAYS_2027, WORKDAYS_2027, "国务院办公厅通知")
    assert _stored(session) == {date(2027, 1, 1): False, date(2027, 1, 9): True}
    assert session.scalars(select(CalendarYear.year)).all() == [2027]
    calendar = workdays.current(session)
    assert not calendar.is_workday(date(2027, 1, 1))
    assert calendar.is_workday(date(2027, 1, 9))
    assert calendar.warning(date(2027, 1, 1), date(2027, 1, 5)) == ""


def test_a_year_entered_in_another_process_counts_here_at_once(session, engine, monkeypatch):
    before = workdays.current(session)
    assert before.is_workday(date(2027, 1, 1))
    assert workdays.current(session) is before  # cached: nothing changed

    # Another process (its own connection; it cannot empty this process's cache) enters
    # 2027: the change stamp it moves tells this process to read the calendar again.
    monkeypatch.setattr(workdays, "invalidate", lambda: None)
    with db.make_session_factory(engine)() as elsewhere:
        workdays.enter_year(elsewhere, None, 2027, HOLIDAYS_2027, WORKDAYS_2027)
    now_known = workdays.current(session)
    assert not now_known.is_workday(date(2027, 1, 1))
    assert now_known.warning(date(2027, 1, 1), date(2027, 1, 5)) == ""
    assert workdays.current(session) is now_known

    # The stamp is the signal: a row written behind the service's back is not seen.
    session.add(CalendarDay(day=date(2027, 3, 1), is_workday=False, note="手工"))
    session.commit()
    assert workdays.current(session).is_workday(date(2027, 3, 1))


def test_entering_a_year_again_replaces_its_earlier_entries_only(session):
    workdays.enter_year(session, None, 2028, [date(2028, 1, 3)], [])
    workdays.enter_year(
        session, None, 2027, [date(2027, 1, 1), date(2027, 2, 8)], [date(2027, 2, 6)]
    )
    workdays.enter_year(session, None, 2027, HOLIDAYS_2027, WORKDAYS_2027)
    assert _stored(session) == {
        date(2027, 1, 1): False,
        date(2027, 1, 9): True,
        date(2028, 1, 3): False,
    }
    assert sorted(session.scalars(select(CalendarYear.year))) == [2027, 2028]
    assert workdays.current(session).is_workday(date(2027, 2, 8))  # no longer a holiday


@pytest.mark.parametrize(
    ("holidays", "workdays_"),
    [
        ([date(2027, 1, 1), date(2028, 1, 1)], []),
        ([], [date(2026, 12, 27)]),
    ],
)
def test_date_outside_the_year_is_refused_and_nothing_is_stored(session, holidays, workdays_):
    with pytest.raises(ValueError):
        workdays.enter_year(session, None, 2027, holidays, workdays_)
    session.rollback()
    assert _stored(session) == {}
    assert session.scalars(select(CalendarYear)).all() == []


def test_notice_running_into_an_entered_2027_counts_the_holiday_without_warning(world, clock):
    workdays.enter_year(world.session, world.user("mgr").id, 2027, HOLIDAYS_2027, [])
    clock.move_to(cst(2026, 12, 28, 10, 0))
    case = cases.start_case(
        world.session,
        world.user("cw1"),
        "tuition_grant",
        world.tuition_application(),
        world.campaigns["tuition"].id,
    )
    world.do("cw1", case, "home_visit_task", VISIT_OK)
    notice = world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == case.id)
    ).one()
    # 12-29, 12-30, 12-31, (1-1 元旦, weekend), 1-4, 1-5.
    assert notice.ends_at == cst(2027, 1, 6, 0, 0)
    assert notice.calendar_warning == ""
    instance = world.session.scalars(
        select(ProcessInstance).where(ProcessInstance.case_id == case.id)
    ).one()
    assert instance.calendar_warning == ""
    clock.move_to(cst(2027, 1, 5, 23, 59))
    assert timers.fire_due_timers(world.factory) == 0
    clock.move_to(cst(2027, 1, 6, 0, 1))
    assert timers.fire_due_timers(world.factory) == 1
    assert world.open_task(case, "approve_l1")
