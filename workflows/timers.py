"""Firing due timers (公示期满, 回头看): what `warmflow worker` runs.

Each instance fires in its own transaction. On PostgreSQL several workers share the
work: the row is taken with SELECT ... FOR UPDATE SKIP LOCKED, so no timer fires twice;
a worker killed midway loses nothing (its transaction never committed).
"""

import logging
import time
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from workflows import engine
from workflows.audit import record
from workflows.clock import now
from workflows.errors import Conflict, WarmflowError
from workflows.models import ProcessInstance

log = logging.getLogger(__name__)
RETRY_AFTER = timedelta(hours=1)
NOTHING_FIRED_RETRY = timedelta(minutes=1)


def _take_one(session: Session, at: datetime) -> ProcessInstance | None:
    query = (
        select(ProcessInstance)
        # Strictly before now, the comparison SpiffWorkflow's timers make.
        .where(ProcessInstance.status == "running", ProcessInstance.next_timer_at < at)
        .order_by(ProcessInstance.next_timer_at)
        .limit(1)
    )
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.scalars(query).first()


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
    return fired


def _park(factory: sessionmaker, instance_id: int, message: str) -> None:
    """Keep a failing instance from blocking the queue; retried later, visible as an error."""
    with factory() as session, engine.unit_of_work(session):
        instance = session.get(ProcessInstance, instance_id)
        instance.error = message[:2000]
        instance.next_timer_at = now() + RETRY_AFTER
        record(session, None, instance.case_id, "timer.error", f"定时器执行失败：{message[:200]}")


def run_worker(factory: sessionmaker, interval: float = 30.0, once: bool = False) -> None:
    from workflows import batches  # the worker also moves cases on after a bank import

    while True:
        count = fire_due_timers(factory)
        if count:
            log.info("fired %d timer(s)", count)
        with factory() as session:
            delivered = batches.deliver_results(session)
        if delivered:
            log.info("delivered %d bank result(s) to their cases", delivered)
        if once:
            return
        time.sleep(interval)
