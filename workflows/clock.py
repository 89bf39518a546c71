"""The one clock: everything in warmflow asks `now()`.

SpiffWorkflow's timers read `datetime.now(timezone.utc)` themselves, so this reads the
same system clock; tests move both together with time-machine.
"""

from datetime import UTC, datetime, timedelta, timezone

# China Standard Time; a fixed offset (no DST) so no tz database is needed.
CST = timezone(timedelta(hours=8), "CST")


def now() -> datetime:
    """Aware UTC now."""
    return datetime.now(UTC)


def local_now() -> datetime:
    return now().astimezone(CST)


def as_utc(value: datetime | None) -> datetime | None:
    """Databases may hand back naive datetimes (SQLite); they are stored as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
