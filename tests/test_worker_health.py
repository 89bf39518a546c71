"""The timer worker outlives any error of one round, and says when it last ran: /healthz
and the managers' start page warn when the timers have stopped. (The same with a real
`warmflow worker` process beside the web app: tests/test_make_run.py.)"""

import logging

import pytest
from conftest import cst
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from workflows import cases, timers
from workflows.models import HumanTask, ProcessInstance, WorkerHeartbeat

VISIT = dict(
    visit_date="2026-09-07",
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病，家庭收入低，住单位老旧宿舍，情况属实。",
    visit_verdict="confirmed",
)


class Stop(Exception):
    """Ends run_worker's loop from its sleep, after the rounds a test wants."""


def in_notice(world, count: int) -> list[int]:
    made = []
    for _ in range(count):
        case = cases.start_case(
            world.session,
            world.user("cw1"),
            "tuition_grant",
            world.tuition_application(),
            world.campaigns["tuition"].id,
        )
        world.do("cw1", case, "home_visit_task", VISIT)
        made.append(case.id)
    return made


def approvals(world, case_ids) -> int:
    world.session.expire_all()
    return len(
        world.session.scalars(
            select(HumanTask).where(
                HumanTask.case_id.in_(case_ids), HumanTask.element_id == "approve_l1"
            )
        ).all()
    )


class FlakyFactory:
    """A session factory whose sessions fail every query, as a locked database fails
    them, while `failing` (the heartbeat's own write is let through)."""

    def __init__(self, factory) -> None:
        self.factory, self.failing = factory, True

    def __call__(self):
        session = self.factory()
        if self.failing:

            def refuse(*_args, **_kwargs):
                raise OperationalError("SELECT …", {}, Exception("database is locked"))

            session.scalars = refuse
        return session


def test_a_failing_round_is_logged_and_noted_and_the_worker_goes_on(world, clock, caplog):
    due = in_notice(world, 2)
    clock.move_to(cst(2026, 9, 16, 1, 0))  # the notices ended at midnight
    flaky = FlakyFactory(world.factory)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            row = world.session.get(WorkerHeartbeat, timers.HEARTBEAT)
            assert row.last_ok_at is None and row.last_error == "Exception: database is locked"
            flaky.failing = False  # the lock is gone
        if len(waits) == 3:
            raise Stop

    with caplog.at_level(logging.ERROR, "workflows.timers"), pytest.raises(Stop):
        timers.run_worker(flaky, interval=30, sleep=sleep)

    # Two rounds failed (waiting longer each time), the third fired both timers.
    assert waits == [60, 120, 30]
    assert approvals(world, due) == 2
    assert caplog.text.count("round failed") == 2
    world.session.expire_all()
    row = world.session.get(WorkerHeartbeat, timers.HEARTBEAT)
    assert row.last_ok_at == cst(2026, 9, 16, 1, 0) and row.last_error_at <= row.last_ok_at
    assert row.interval_seconds == 30


def test_a_case_whose_timer_breaks_is_set_aside_and_the_others_fire(world, clock, caplog):
    due = in_notice(world, 3)
    broken = due[1]
    world.session.execute(
        text("UPDATE process_instance SET state = :junk WHERE case_id = :case"),
        {"junk": b"\x00not a state", "case": broken},
    )
    world.session.commit()
    clock.move_to(cst(2026, 9, 16, 1, 0))

    with caplog.at_level(logging.ERROR, "workflows.timers"):
        assert timers.fire_due_timers(world.factory) == 2
    assert approvals(world, [due[0], due[2]]) == 2
    world.session.expire_all()
    parked = world.session.scalars(
        select(ProcessInstance).where(ProcessInstance.case_id == broken)
    ).one()
    assert parked.error.startswith("定时器执行出错") and "请联系管理员" in parked.error
    assert parked.next_timer_at == cst(2026, 9, 16, 2, 0)  # tried again in an hour
    assert "timer could not fire" in caplog.text
    assert timers.fire_due_timers(world.factory) == 0  # not retried before then


def test_worker_once_exits_1_when_its_round_failed(world, monkeypatch):
    from click.testing import CliRunner

    from workflows import cli

    def broken_round(_factory):
        raise OperationalError("SELECT …", {}, Exception("database is locked"))

    monkeypatch.setattr(timers, "run_round", broken_round)
    monkeypatch.setattr(cli, "_factory", lambda: world.factory)
    result = CliRunner().invoke(cli.main, ["worker", "--once"])
    assert result.exit_code == 1
    assert "本轮定时任务出错" in result.output and "Traceback" not in result.output


def health(app) -> dict:
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 200
    return answer.get_json()["timers"]


def test_healthz_and_the_managers_start_page_say_when_the_timers_last_ran(
    app, world, clock, as_user
):
    manager, approver = as_user("mgr"), as_user("l1")

    # Never ran (a deployment without `warmflow worker`).
    assert health(app)["state"] == "never"
    page = manager.get("/").get_data(as_text=True)
    assert "定时任务从未运行" in page and "warmflow worker" in page
    assert "定时任务" not in approver.get("/").get_data(as_text=True)  # managers only

    timers.run_worker(world.factory, interval=30, once=True)
    ran = health(app)
    assert ran["state"] == "ok" and ran["minutes_since_last_ok"] == 0
    assert ran["last_ok_at"].startswith("2026-09-07T10:00") and ran["failing"] is False
    assert "定时任务" not in manager.get("/").get_data(as_text=True)

    # Quiet for nine minutes is fine; for eleven it is not.
    clock.move_to(cst(2026, 9, 7, 10, 9))
    assert health(app)["state"] == "ok"
    clock.move_to(cst(2026, 9, 7, 10, 11))
    assert health(app)["state"] == "stale"
    page = manager.get("/").get_data(as_text=True)
    assert "定时任务已有 11 分钟没有运行（上次：2026-09-07 10:00）" in page
    assert "公示期满不会结束" in page

    # A failing round is shown with its error (one line, no SQL, no numbers).
    timers._beat(world.factory, 30, error="OperationalError: database is locked")
    failing = health(app)
    assert failing["failing"] is True and failing["state"] == "stale"
    assert failing["last_error"] == "OperationalError: database is locked"
    page = manager.get("/").get_data(as_text=True)
    assert "最近的错误：OperationalError: database is locked" in page


def test_the_error_noted_is_one_masked_line_without_sql_parameters():
    card = "6222020200112233446"
    err = OperationalError(
        "UPDATE payment SET bank_card = ?", {"bank_card": card}, Exception("disk I/O error")
    )
    assert timers.describe(err) == "Exception: disk I/O error"
    leaked = timers.describe(ValueError(f"bad card {card}\nsecond line"))
    assert card not in leaked and leaked.startswith("ValueError: bad card") and "\n" not in leaked
