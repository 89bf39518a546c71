"""Chinese working days (工作日), statutory holidays and 调休 make-up days counted.

chinese-calendar knows the years it was released for (1.11: 2004–2026) and raises
for later ones. A period must never fail because of that: managers enter a year's
official arrangement each November (`CalendarDay` rows plus a `CalendarYear` row);
until they do, Monday–Friday count and the period carries a visible warning.
"""

import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime

import chinese_calendar
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from workflows.audit import record
from workflows.clock import CST, now
from workflows.errors import Forbidden, ValidationFailed
from workflows.models import CalendarDay, CalendarYear, ChangeStamp, User

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


# Each process keeps the calendar with the version of the `calendar` change stamp it was
# read at; one small read of the stamp tells whether another process changed it since.
STAMP = "calendar"
_cache_lock = threading.Lock()
_cache: tuple[int, WorkCalendar] | None = None


def _version(session: Session) -> int:
    return session.scalar(select(ChangeStamp.version).where(ChangeStamp.name == STAMP)) or 0


def current(session: Session | None = None) -> WorkCalendar:
    """The calendar with managers' entries, as the database has it now: reloaded whenever
    any process entered a year since this one read it. Without a session (an expression
    evaluated outside a case), the last one read."""
    global _cache
    with _cache_lock:
        if session is None:
            return _cache[1] if _cache else WorkCalendar()
        version = _version(session)
        if _cache is not None and _cache[0] == version:
            return _cache[1]
        calendar = load(session)
        _cache = (version, calendar)
        return calendar


def _bump(session: Session) -> None:
    """Move the stamp on, in the transaction that changes the calendar."""
    moved = session.execute(
        update(ChangeStamp)
        .where(ChangeStamp.name == STAMP)
        .values(version=ChangeStamp.version + 1, changed_at=now())
    )
    if not moved.rowcount:
        session.add(ChangeStamp(name=STAMP, version=1, changed_at=now()))


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
    _bump(session)
    record(
        session,
        actor_id,
        None,
        "calendar.enter_year",
        f"录入 {year} 年节假日安排：{len(holidays)} 天假日，{len(workdays)} 天调休上班",
    )
    session.commit()
    invalidate()


# --- the manager's page: enter next year's arrangement each November --------------------


@dataclass
class YearArrangement:
    year: int
    library_knows: bool  # chinese-calendar has the official arrangement built in
    entered: bool  # a manager entered it here
    holidays: list[date]  # entered here: holidays falling on weekdays
    workdays: list[date]  # entered here: 调休 working weekends


def arrangement(session: Session, year: int) -> YearArrangement:
    rows = session.scalars(
        select(CalendarDay)
        .where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
        .order_by(CalendarDay.day)
    ).all()
    return YearArrangement(
        year,
        library_knows(year),
        session.get(CalendarYear, year) is not None,
        [r.day for r in rows if not r.is_workday],
        [r.day for r in rows if r.is_workday],
    )


def parse_days(text: str, field: str) -> list[date]:
    """Dates typed one per line or separated by commas or spaces (2027-01-01, ...)."""
    days = []
    for word in re.split(r"[\s,，、;；]+", text or ""):
        if not word:
            continue
        try:
            days.append(date.fromisoformat(word))
        except ValueError:
            message = f"“{word}”不是日期，请按 2027-01-01 的格式填写"
            raise ValidationFailed(message, errors={field: message}) from None
    return sorted(set(days))


def require_manager(user: User) -> None:
    if not (user.is_active and user.has_role("manager")):
        raise Forbidden("只有管理员可以录入节假日安排")


def enter_year_as(
    session: Session, user: User, year: int, holidays_text: str, workdays_text: str
) -> YearArrangement:
    """A manager enters (or replaces) a year's official holidays and make-up days."""
    require_manager(user)
    if not 2000 <= year <= 2100:
        raise ValidationFailed("年份应在 2000 至 2100 之间", errors={"year": "年份无效"})
    holidays = parse_days(holidays_text, "holidays")
    workdays_ = parse_days(workdays_text, "workdays")
    both = set(holidays) & set(workdays_)
    if both:
        message = f"{'、'.join(d.isoformat() for d in sorted(both))} 不能既是假日又是上班日"
        raise ValidationFailed(message, errors={"workdays": message})
    try:
        enter_year(session, user.id, year, holidays, workdays_)
    except ValueError as err:
        session.rollback()
        raise ValidationFailed(str(err), errors={"holidays": str(err)}) from None
    return arrangement(session, year)
