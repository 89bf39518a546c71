"""Chinese working days (工作日), statutory holidays and 调休 make-up days counted.

chinese-calendar knows the years it was released for (1.11: 2004–2026) and raises
for later ones. A period must never fail because of that: managers enter a year's
official arrangement each November (`CalendarDay` rows plus a `CalendarYear` row);
until they do, Monday–Friday count and the period carries a visible warning.
"""

import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime

import chinese_calendar
from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.audit import record
from workflows.clock import CST, local_now
from workflows.models import CalendarDay, CalendarYear

_LIBRARY_YEARS: dict[int, bool] = {}


def library_knows(year: int) -> bool:
    if year not in _LIBRARY_YEARS:
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
            _LIBRARY_YEARS[year] = True
        except NotImplementedError:
            _LIBRARY_YEARS[year] = False
    return _LIBRARY_YEARS[year]


@dataclass
class WorkCalendar:
    overrides: dict[date, bool] = field(default_factory=dict)
    entered_years: frozenset[int] = frozenset()

    def year_known(self, year: int) -> bool:
        return year in self.entered_years or library_knows(year)

    def is_workday(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        if library_knows(day.year):
            return chinese_calendar.is_workday(day)
        return day.weekday() < 5

    def add_working_days(self, start: date, days: int) -> date:
        """The `days`-th working day after `start` (`start` itself not counted)."""
        if days < 0:
            raise ValueError("days must not be negative")
        day = start
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_workday(day):
                counted += 1
        return day

    def period_end(self, start: datetime, days: int) -> datetime:
        """End (24:00 China time) of the `days`-th working day after `start`."""
        last = self.add_working_days(start.astimezone(CST).date(), days)
        return datetime.combine(last + timedelta(days=1), dtime(0, 0), CST)

    def unknown_years(self, first: date, last: date) -> list[int]:
        return [y for y in range(first.year, last.year + 1) if not self.year_known(y)]

    def warning(self, first: date, last: date) -> str:
        years = self.unknown_years(first, last)
        if not years:
            return ""
        names = "、".join(f"{y}年" for y in years)
        return f"{names}的法定节假日安排尚未录入，期限暂按周一至周五计算，录入后以实际安排为准。"


_cache_lock = threading.Lock()
_cache: tuple[float, WorkCalendar] | None = None
RELOAD_SECONDS = 60.0


def current(session: Session | None = None) -> WorkCalendar:
    """The calendar with managers' entries, reloaded at most once a minute per process."""
    global _cache
    with _cache_lock:
        fresh = _cache is not None and time.monotonic() - _cache[0] < RELOAD_SECONDS
        if fresh or session is None:
            return _cache[1] if _cache else WorkCalendar()
        calendar = load(session)
        _cache = (time.monotonic(), calendar)
        return calendar


def invalidate() -> None:
    global _cache
    with _cache_lock:
        _cache = None


def load(session: Session) -> WorkCalendar:
    days = {row.day: row.is_workday for row in session.scalars(select(CalendarDay))}
    years = frozenset(session.scalars(select(CalendarYear.year)))
    return WorkCalendar(days, years)


def enter_year(
    session: Session,
    actor_id: int | None,
    year: int,
    holidays: list[date],
    workdays: list[date],
    note: str = "",
) -> None:
    """Record a year's official arrangement: holiday dates and 调休 working days."""
    for day in holidays + workdays:
        if day.year != year:
            raise ValueError(f"{day.isoformat()} 不属于 {year} 年")
    existing = {
        row.day: row
        for row in session.scalars(
            select(CalendarDay).where(
                CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31)
            )
        )
    }
    for row in existing.values():
        session.delete(row)
    session.flush()
    for day in holidays:
        session.add(CalendarDay(day=day, is_workday=False, note=note or "法定节假日"))
    for day in workdays:
        session.add(CalendarDay(day=day, is_workday=True, note=note or "调休上班"))
    if session.get(CalendarYear, year) is None:
        session.add(CalendarYear(year=year, entered_by_id=actor_id))
    record(
        session,
        actor_id,
        None,
        "calendar.enter_year",
        f"录入 {year} 年节假日安排：{len(holidays)} 天假日，{len(workdays)} 天调休上班",
    )
    session.commit()
    invalidate()


def today_local() -> date:
    return local_now().date()
