"""Several `warmflow worker` processes on one PostgreSQL database: a due timer is taken
with SELECT ... FOR UPDATE SKIP LOCKED, so two workers never fire the same one, and a
worker killed midway loses nothing and fires nothing twice once a worker runs again.

The timers are 金秋助学 notice periods (公示期满): each case is registered and visited,
which posts its notice; when the notice period has ended, the timer closes the notice and
opens the level-1 approval.

A killed worker runs as a real subprocess, which the test's time-machine clock does not
reach: SpiffWorkflow compares a timer with the real `datetime.now()`. So the cases of that
test are registered with the test clock set 40 days before the real time (read from
PostgreSQL's clock): their notice periods (5 working days) ended in the real past, and
the subprocess finds them due exactly as a production worker finds timers that fell due
while it was down. Nothing in the database is edited by hand.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from workflows import cases, timers, workdays
from workflows.clock import CST, now
from workflows.models import AuditEvent, HumanTask, ProcessInstance, PublicNotice

ROOT = Path(__file__).resolve().parent.parent
KILLED_WORKER = "warmflow_test_killed_worker"


@pytest.fixture(autouse=True)
def _postgres_only(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL row locks (SKIP LOCKED)")


def in_notice(world, count: int) -> list[int]:
    """`count` 金秋助学 cases registered and visited now: each waits on its notice timer."""
    visit_day = now().astimezone(CST).date()
    made = []
    for _ in range(count):
        case = cases.start_case(
            world.session,
            world.user("cw1"),
            "tuition_grant",
            world.tuition_application(),
            world.campaigns["tuition"].id,
        )
        world.do(
            "cw1",
            case,
            "home_visit_task",
            dict(
                visit_date=visit_day.isoformat(),
                visitors="张经办、刘经办",
                household_situation="父亲下岗，母亲患病，家庭收入低",
                visit_verdict="confirmed",
            ),
        )
        made.append(case.id)
    return made


def latest_notice_end(world, case_ids: list[int]):
    return world.session.scalar(
        select(func.max(PublicNotice.ends_at)).where(PublicNotice.case_id.in_(case_ids))
    )


def fired_per_case(world, case_ids: list[int]) -> Counter:
    world.session.expire_all()
    return Counter(
        world.session.scalars(
            select(AuditEvent.case_id).where(
                AuditEvent.action == "timer.fire", AuditEvent.case_id.in_(case_ids)
            )
        )
    )


def approvals_per_case(world, case_ids: list[int]) -> Counter:
    return Counter(
        world.session.scalars(
            select(HumanTask.case_id).where(
                HumanTask.element_id == "approve_l1", HumanTask.case_id.in_(case_ids)
            )
        )
    )


def still_waiting(world, case_ids: list[int]) -> int:
    return world.session.scalar(
        select(func.count(PublicNotice.id)).where(
            PublicNotice.case_id.in_(case_ids), PublicNotice.status == "open"
        )
    )


def test_two_workers_firing_at_once_take_each_due_timer_exactly_once(world, clock, monkeypatch):
    case_ids = in_notice(world, 40)
    clock.move_to(latest_notice_end(world, case_ids) + timedelta(minutes=1))

    taken: dict[str, list[int]] = {"a": [], "b": []}
    take_one = timers._take_one

    def recording_take_one(session, at):
        instance = take_one(session, at)
        if instance is not None:
            taken[threading.current_thread().name].append(instance.id)
        return instance

    monkeypatch.setattr(timers, "_take_one", recording_take_one)
    fired: dict[str, int] = {}
    failures: list[BaseException] = []
    gate = threading.Barrier(2)

    def work(name: str) -> None:
        try:
            gate.wait()
            fired[name] = timers.fire_due_timers(world.factory)
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            failures.append(err)

    workers = [threading.Thread(target=work, args=(n,), name=n) for n in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)

    assert not failures, failures
    # No instance was taken by both workers, nor twice by one: SKIP LOCKED hands each row
    # to one worker only, so no firing ended in a conflict.
    all_taken = taken["a"] + taken["b"]
    assert len(all_taken) == len(set(all_taken)) == len(case_ids)
    assert fired["a"] + fired["b"] == len(case_ids)
    assert fired_per_case(world, case_ids) == Counter(dict.fromkeys(case_ids, 1))
    assert approvals_per_case(world, case_ids) == Counter(dict.fromkeys(case_ids, 1))
    assert still_waiting(world, case_ids) == 0
    assert timers.fire_due_timers(world.factory) == 0


def worker_process(engine, *args: str, name: str = "warmflow_test_worker") -> subprocess.Popen:
    url = engine.url.set(query={**engine.url.query, "application_name": name})
    env = dict(os.environ, DATABASE_URL=url.render_as_string(hide_password=False))
    command = [sys.executable, "-c", "from workflows.cli import main; main()", "worker", *args]
    return subprocess.Popen(  # noqa: S603 (our own command line)
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def wait_until(condition, seconds: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


def test_worker_killed_while_firing_loses_no_timer_and_fires_none_twice(engine, world, clock):
    real_now = world.session.scalar(text("SELECT now()"))
    world.session.commit()
    # Registered 40 days ago, notices long over: 75 due first, then one due a day later,
    # then 74 due a day after that, so the worker takes them in that order.
    clock.move_to(real_now - timedelta(days=40))
    calendar = workdays.load(world.session)

    def next_working_day() -> None:  # a notice posted then ends a working day later
        clock.shift(timedelta(days=1))
        while not calendar.is_workday(now().astimezone(CST).date()):
            clock.shift(timedelta(days=1))

    next_working_day()
    first = in_notice(world, 75)
    next_working_day()
    (held,) = in_notice(world, 1)
    next_working_day()
    rest = in_notice(world, 74)
    ends = [latest_notice_end(world, ids) for ids in (first, [held], rest)]
    assert ends == sorted(set(ends))
    case_ids = [*first, held, *rest]
    assert latest_notice_end(world, case_ids) < real_now - timedelta(days=10)

    def fired_so_far() -> int:
        with engine.connect() as conn:
            return conn.scalar(
                select(func.count(AuditEvent.id)).where(AuditEvent.action == "timer.fire")
            )

    def waiting_on_the_lock() -> bool:
        with engine.connect() as conn:
            return bool(
                conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE application_name = :n AND wait_event_type = 'Lock'"
                    ),
                    {"n": KILLED_WORKER},
                )
            )

    # This test holds the 76th case's notice row: the worker fires the first 75, then
    # waits inside the 76th's transaction (closing the notice needs that row). That is
    # where it is killed, every time: midway, with a transaction open.
    holder = engine.connect()
    lock = holder.begin()
    holder.execute(
        select(PublicNotice.id).where(PublicNotice.case_id == held).with_for_update()
    ).one()
    killed = worker_process(engine, "--interval", "60", name=KILLED_WORKER)
    try:
        assert wait_until(waiting_on_the_lock, 120, step=0.05), "the worker never got there"
        assert fired_so_far() == 75
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=10)
    finally:
        if killed.poll() is None:
            killed.kill()
            killed.wait()
        killed.stdout.close()
        lock.rollback()
        holder.close()
    before_restart = fired_so_far()
    assert before_restart == 75, "nothing the killed worker had not committed may count"

    # The killed worker's connection is gone once PostgreSQL has rolled its open
    # transaction back and released its row lock (else SKIP LOCKED would pass that row by
    # until the next round).
    def worker_gone() -> bool:
        with engine.connect() as conn:
            return not conn.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n"),
                {"n": KILLED_WORKER},
            )

    assert wait_until(worker_gone, 10, step=0.05)

    restarted = worker_process(engine, "--once")
    output, _ = restarted.communicate(timeout=300)
    assert restarted.returncode == 0, output.decode(errors="replace")[-2000:]

    assert fired_per_case(world, case_ids) == Counter(dict.fromkeys(case_ids, 1))
    assert approvals_per_case(world, case_ids) == Counter(dict.fromkeys(case_ids, 1))
    assert still_waiting(world, case_ids) == 0
    assert (
        world.session.scalar(
            select(func.count(ProcessInstance.id)).where(
                ProcessInstance.next_timer_at < real_now, ProcessInstance.status == "running"
            )
        )
        == 0
    )
