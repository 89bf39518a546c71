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


def version_column():
    """The calendar's stamp as a scalar subquery, for an action that reads it together
    with its other rows in one round trip (see `remember_version`)."""
    return select(ChangeStamp.version).where(ChangeStamp.name == STAMP).scalar_subquery()


def remember_version(session: Session, version: int | None) -> None:
    """The stamp as read by this transaction's first query: `current` then needs no query
    of its own (kept for this transaction only)."""
    session.info["calendar_version"] = (session.get_transaction(), version or 0)


def _version(session: Session) -> int:
    known = session.info.pop("calendar_version", None)
    if known is not None and known[0] is not None and known[0] is session.get_transaction():
        return known[1]
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
class Period:
    """A run of consecutive days of one festival (or its make-up working days)."""

    name: str  # 春节, 国庆节 ... (chinese-calendar's Chinese name)
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


@dataclass
class YearArrangement:
    year: int
    library_knows: bool  # chinese-calendar has the official arrangement built in
    entered: bool  # a manager entered it here
    holidays: list[date]  # entered here: holidays falling on weekdays
    workdays: list[date]  # entered here: 调休 working weekends
    # Built into chinese-calendar (its years only): the holiday periods and the 调休
    # working days, each named by its festival.
    builtin_holidays: list[Period] = field(default_factory=list)
    builtin_workdays: list[Period] = field(default_factory=list)


_HOLIDAY_NAMES = {h.value: h.chinese for h in chinese_calendar.Holiday}


def _periods(days: dict[date, str]) -> list[Period]:
    periods: list[Period] = []
    for day in sorted(days):
        name = _HOLIDAY_NAMES.get(days[day], days[day])
        last = periods[-1] if periods else None
        if last and last.name == name and (day - last.last).days == 1:
            last.last = day
        else:
            periods.append(Period(name, day, day))
    return periods


def builtin(year: int) -> tuple[list[Period], list[Period]]:
    """chinese-calendar's holidays and 调休 working days of `year` (none for a year it
    does not know)."""
    if not library_knows(year):
        return [], []

    def of(table: dict) -> dict[date, str]:
        return {d: str(name) for d, name in table.items() if d.year == year}

    return _periods(of(chinese_calendar.holidays)), _periods(of(chinese_calendar.workdays))


def arrangement(session: Session, year: int) -> YearArrangement:
    rows = session.scalars(
        select(CalendarDay)
        .where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
        .order_by(CalendarDay.day)
    ).all()
    holidays, workdays_ = builtin(year)
    return YearArrangement(
        year,
        library_knows(year),
        session.get(CalendarYear, year) is not None,
        [r.day for r in rows if not r.is_workday],
        [r.day for r in rows if r.is_workday],
        holidays,
        workdays_,
    )


def parse_days(text: str, year: int | None = None) -> tuple[list[date], list[str]]:
    """Dates typed one per line (or several on a line, separated by commas or spaces):
    the dates, and every bad one as "第 N 行：reason" (all of them, not only the first)."""
    days, bad = [], []
    for number, line in enumerate((text or "").splitlines(), 1):
        for word in re.split(r"[\s,，、;；]+", line):
            if not word:
                continue
            try:
                if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", word):
                    raise ValueError(word)
                day = date.fromisoformat(word)
            except ValueError:
                bad.append(f"第 {number} 行：“{word[:20]}”不是日期，请按 2027-01-01 的格式填写")
                continue
            if year is not None and day.year != year:
                bad.append(f"第 {number} 行：{day.isoformat()} 不属于 {year} 年")
                continue
            days.append(day)
    return sorted(set(days)), bad


def _bad_lines(bad: list[str]) -> str:
    return f"有 {len(bad)} 处填写有误：\n" + "\n".join(bad)


def require_manager(user: User) -> None:
    # One calendar for the whole federation: the city federation's managers only.
    if not (user.is_active and user.has_role("manager") and user.org.parent_id is None):
        raise Forbidden("只有市总工会的管理员可以录入节假日安排")


def enter_year_as(
    session: Session, user: User, year: int, holidays_text: str, workdays_text: str
) -> YearArrangement:
    """A manager enters (or replaces) a year's official holidays and make-up days."""
    require_manager(user)
    if not 2000 <= year <= 2100:
        raise ValidationFailed("年份应在 2000 至 2100 之间", errors={"year": "年份无效"})
    holidays, bad_holidays = parse_days(holidays_text, year)
    workdays_, bad_workdays = parse_days(workdays_text, year)
    errors = {}
    if bad_holidays:
        errors["holidays"] = _bad_lines(bad_holidays)
    if bad_workdays:
        errors["workdays"] = _bad_lines(bad_workdays)
    both = set(holidays) & set(workdays_)
    if both:
        clash = f"{'、'.join(d.isoformat() for d in sorted(both))} 不能既是假日又是上班日"
        errors["workdays"] = errors.get("workdays", "") + ("\n" if "workdays" in errors else "")
        errors["workdays"] += clash
    if errors:
        count = len(bad_holidays) + len(bad_workdays) + (1 if both else 0)
        raise ValidationFailed(f"有 {count} 处填写有误，请按提示修改后再保存", errors=errors)
    try:
        enter_year(session, user.id, year, holidays, workdays_)
    except ValueError as err:
        session.rollback()
        raise ValidationFailed(str(err), errors={"holidays": str(err)}) from None
    return arrangement(session, year)
