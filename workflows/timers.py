"""Firing due timers (公示期满, 回头看): what `warmflow worker` runs.

Each instance fires in its own transaction. On PostgreSQL several workers share the
work: the row is taken with SELECT ... FOR UPDATE SKIP LOCKED, so no timer fires twice;
a worker killed midway loses nothing (its transaction never committed).

The worker outlives any error of one round (a locked database, a broken diagram): it logs
it, notes it in `worker_heartbeat`, waits longer and goes on. A case whose own timer
cannot fire is parked with its error so that the others still fire. `health` tells
/healthz and the managers' start page when the timers last ran.
"""

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, joinedload, sessionmaker

from workflows import engine, privacy, workdays
from workflows.audit import record
from workflows.clock import now
from workflows.errors import Conflict, WarmflowError
from workflows.models import ProcessInstance, WorkerHeartbeat

log = logging.getLogger(__name__)
RETRY_AFTER = timedelta(hours=1)
NOTHING_FIRED_RETRY = timedelta(minutes=1)
HEARTBEAT = "timers"
# The timers count as stopped when no round succeeded for this long (or for three
# intervals, if the worker runs less often than that).
STALE_AFTER = timedelta(minutes=10)
MAX_BACKOFF_SECONDS = 600.0


def _take_one(session: Session, at: datetime) -> ProcessInstance | None:
    """The instance whose timer is due first, with its case and the calendar's stamp read
    in the same statement (the firing then needs no query for them)."""
    query = (
        select(ProcessInstance, workdays.version_column())
        .options(joinedload(ProcessInstance.case, innerjoin=True))
        # Strictly before now, the comparison SpiffWorkflow's timers make.
        .where(ProcessInstance.status == "running", ProcessInstance.next_timer_at < at)
        .order_by(ProcessInstance.next_timer_at)
        .limit(1)
    )
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=ProcessInstance)
    found = session.execute(query).first()
    if found is None:
        return None
    workdays.remember_version(session, found[1])
    return found[0]


def fire_due_timers(factory: sessionmaker, limit: int | None = None) -> int:
    """Fire every timer due now; returns how many instances moved on."""
    fired = 0
    while limit is None or fired < limit:
        with factory() as session:
            instance = _take_one(session, now())
            if instance is None:
                return fired
            case_no = instance.case.case_no
            due = instance.next_timer_at
            try:
                with engine.unit_of_work(session):
                    loaded = engine.load(session, instance)
                    engine.advance(session, loaded, None, lambda wf: wf.refresh_timers())
                    if instance.status == "running" and instance.next_timer_at == due:
                        # Nothing fired (clocks disagree by a hair): look again shortly.
                        instance.next_timer_at = now() + NOTHING_FIRED_RETRY
                        continue
                    record(session, None, instance.case_id, "timer.fire", "定时器到期，流程继续")
                fired += 1
            except Conflict:
                continue  # another worker fired it first (SQLite has no SKIP LOCKED)
            except WarmflowError as err:
                log.error("case %s: timer could not fire: %s", case_no, err.message)
                _park(factory, instance.id, err.message)
            except SQLAlchemyError:
                raise  # the database, not this case: the round fails and is tried again
            except Exception as err:  # noqa: BLE001 - a broken diagram or state: park the case
                log.exception("case %s: timer could not fire", case_no)
                _park(factory, instance.id, f"定时器执行出错（{describe(err)}），请联系管理员")
    return fired


def _park(factory: sessionmaker, instance_id: int, message: str) -> None:
    """Keep a failing instance from blocking the queue; retried later, visible as an error."""
    with factory() as session, engine.unit_of_work(session):
        instance = session.get(ProcessInstance, instance_id)
        instance.error = message[:2000]
        instance.next_timer_at = now() + RETRY_AFTER
        record(session, None, instance.case_id, "timer.error", f"定时器执行失败：{message[:200]}")


def describe(err: BaseException) -> str:
    """An error in one line for the heartbeat and a parked case: its kind and the driver's
    message, without SQL parameters (which may hold personal numbers), masked anyway."""
    cause = getattr(err, "orig", None) or err
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return privacy.mask_numbers(f"{type(cause).__name__}: {text}"[:300])


def run_round(factory: sessionmaker) -> None:
    """One round: fire the due timers, open the 回头看 of imported workers whose date came,
    go on with an archive import the server stopped, move cases on after bank imports."""
    from workflows import (
        archive,  # imported workers' 回头看 opens on its date too
        archive_import,
        batches,  # the worker also moves cases on after a bank import
    )

    count = fire_due_timers(factory)
    if count:
        log.info("fired %d timer(s)", count)
    rechecks = archive.open_due_rechecks(factory)
    if rechecks:
        log.info("opened %d 回头看 of imported workers", rechecks)
    archive_import.resume_stale(factory)  # an archive import the server stopped midway
    with factory() as session:
        delivered = batches.deliver_results(session)
    if delivered:
        log.info("delivered %d bank result(s) to their cases", delivered)


def run_worker(
    factory: sessionmaker,
    interval: float = 30.0,
    once: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Run rounds every `interval` seconds until stopped; with `once`, one round. An error
    ends only its round: it is logged and noted, and the next round comes later (the wait
    doubles with each failure in a row, up to ten minutes). Returns whether the last round
    succeeded."""
    failures = 0
    while True:
        try:
            run_round(factory)
        except Exception as err:  # noqa: BLE001 - the worker must outlive any one round
            failures += 1
            log.exception("timer worker: round failed (%d in a row)", failures)
            _beat(factory, interval, error=describe(err))
        else:
            failures = 0
            _beat(factory, interval)
        if once:
            return failures == 0
        backoff = min(interval * 2**failures, max(interval, MAX_BACKOFF_SECONDS))
        sleep(backoff if failures else interval)


def _beat(factory: sessionmaker, interval: float, error: str | None = None) -> None:
    """Note the round in `worker_heartbeat` (best effort: a database that just failed the
    round may refuse this too, and the log has it already)."""
    at = now()
    for _attempt in range(2):  # two workers may create the row at once
        try:
            with factory() as session:
                row = session.get(WorkerHeartbeat, HEARTBEAT)
                if row is None:
                    row = WorkerHeartbeat(name=HEARTBEAT, last_error="")
                    session.add(row)
                row.interval_seconds = max(1, round(interval))
                row.worker = f"{socket.gethostname()}:{os.getpid()}"[:100]
                if error is None:
                    row.last_ok_at = at
                else:
                    row.last_error_at = at
                    row.last_error = error[:500]
                session.commit()
            return
        except IntegrityError:
            continue
        except Exception:  # noqa: BLE001 - see above
            log.warning("timer worker: could not record the round", exc_info=True)
            return


@dataclass(frozen=True)
class Health:
    state: str  # ok | stale | never (no round has succeeded yet)
    last_ok_at: datetime | None
    last_error_at: datetime | None
    last_error: str
    interval_seconds: int
    minutes_since: int | None  # since the last good round

    @property
    def warn(self) -> bool:
        return self.state != "ok"

    @property
    def failing(self) -> bool:
        """The last round noted failed after the last good one."""
        return self.last_error_at is not None and (
            self.last_ok_at is None or self.last_error_at > self.last_ok_at
        )


def health(session: Session) -> Health:
    row = session.get(WorkerHeartbeat, HEARTBEAT)
    if row is None:
        return Health("never", None, None, "", 0, None)
    at = now()
    limit = max(STALE_AFTER, timedelta(seconds=3 * row.interval_seconds))
    if row.last_ok_at is None:
        state, minutes = "never", None
    else:
        state = "ok" if at - row.last_ok_at <= limit else "stale"
        minutes = max(0, int((at - row.last_ok_at).total_seconds() // 60))
    return Health(
        state, row.last_ok_at, row.last_error_at, row.last_error, row.interval_seconds, minutes
    )
