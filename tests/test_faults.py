"""Faults a production system meets: many clients racing for one task, and the database
connection dropping in the middle of a request. Nothing is lost or half-written.

Runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL (where the dropped connection
is a real one: the server terminates the request's backend mid-transaction)."""

import threading

import psycopg
from conftest import api_token
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url

from workflows import cases, engine, serialization
from workflows.models import AuditEvent, HumanTask, ProcessInstance, PublicNotice

VISIT = dict(
    visit_date="2026-09-07",
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病，家庭收入低",
    visit_verdict="confirmed",
)


def _case_at_home_visit(world):
    case = cases.start_case(
        world.session,
        world.user("cw1"),
        "tuition_grant",
        world.tuition_application(),
        world.campaigns["tuition"].id,
    )
    return case, world.open_task(case, "home_visit_task")


def _snapshot(world, case):
    world.session.expire_all()
    instance = world.session.scalars(
        select(ProcessInstance).where(ProcessInstance.case_id == case.id)
    ).one()
    return (
        instance.lock_version,
        bytes(instance.state),
        world.session.scalar(select(func.count(AuditEvent.id))),
        world.session.scalar(select(func.count(HumanTask.id))),
        world.session.scalar(select(func.count(PublicNotice.id))),
    )


def _replays_clean(world, case):
    """The stored state restores, and the open task rows are exactly its ready tasks."""
    world.session.expire_all()
    loaded = engine.load_case(world.session, case.id)
    ready = {
        str(t.id) for t in loaded.workflow.get_tasks(state=engine.TaskState.READY, manual=True)
    }
    rows = world.session.scalars(
        select(HumanTask.task_uuid).where(HumanTask.case_id == case.id, HumanTask.status == "open")
    ).all()
    assert set(rows) == ready and len(rows) == len(ready)
    loaded.workflow.do_engine_steps()  # nothing pending, nothing raises
    return loaded


def test_twenty_clients_completing_one_task_one_wins_nineteen_get_a_conflict(app, world):
    case, task = _case_at_home_visit(world)
    clients = [(app.test_client(), api_token(app, "cw1" if n % 2 else "cw1b")) for n in range(20)]
    visit = dict(VISIT, housing_photos=[world.photo()])
    start = threading.Barrier(len(clients))
    answers: list = [None] * len(clients)

    def run(n: int) -> None:
        client, headers = clients[n]
        start.wait()
        answers[n] = client.post(
            f"/api/v1/tasks/{task.id}/complete", json={"data": visit}, headers=headers
        )

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * 19, statuses
    for answer in answers:
        if answer.status_code == 409:
            body = answer.get_json()
            assert body["code"] in ("conflict", "already_done")
            assert "已办理" in body["message"] or "其他人" in body["message"]
    world.session.expire_all()
    completions = world.session.scalar(
        select(func.count(AuditEvent.id)).where(
            AuditEvent.case_id == case.id, AuditEvent.action == "task.complete"
        )
    )
    assert completions == 1
    assert world.session.scalar(select(func.count(PublicNotice.id))) == 1  # posted once
    done = world.session.get(HumanTask, task.id)
    assert done.status == "completed"
    _replays_clean(world, case)


class _DropConnection:
    """Drops the request's database connection when it is about to write the instance: on
    PostgreSQL the server terminates the backend; on SQLite the statement fails with an
    I/O error (there is no server to lose)."""

    def __init__(self, app):
        self.engine = app.extensions["warmflow.sessions"].kw["bind"]
        self.armed = False
        self.fired = 0

    def __enter__(self):
        event.listen(self.engine, "do_execute", self.before)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "do_execute", self.before)

    def before(self, cursor, statement, parameters, context):
        # The instance write: alone on SQLite, on PostgreSQL the first part of one statement
        # with the action's other rows (workflows/engine.py `_write_instance`).
        instance_write = ("UPDATE PROCESS_INSTANCE", "WITH W_INSTANCE AS (UPDATE PROCESS_INSTANCE")
        if not (self.armed and " ".join(statement.split()).upper().startswith(instance_write)):
            return
        self.armed = False
        self.fired += 1
        if self.engine.dialect.name == "postgresql":
            pid = cursor.connection.info.backend_pid
            url = make_url(self.engine.url).set(drivername="postgresql")
            with psycopg.connect(url.render_as_string(hide_password=False)) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        else:
            import sqlite3

            raise sqlite3.OperationalError("disk I/O error")


def test_a_dropped_database_connection_answers_503_and_writes_nothing(app, world):
    case, task = _case_at_home_visit(world)
    headers = api_token(app, "cw1")
    visit = dict(VISIT, housing_photos=[world.photo()])
    before = _snapshot(world, case)
    client = app.test_client()
    with _DropConnection(app) as drop:
        drop.armed = True
        answer = client.post(
            f"/api/v1/tasks/{task.id}/complete", json={"data": visit}, headers=headers
        )
    assert drop.fired == 1
    assert answer.status_code == 503
    body = answer.get_json()
    assert body["code"] == "database_unavailable" and "未被保存" in body["message"]
    assert _snapshot(world, case) == before  # nothing half-written
    assert world.session.get(HumanTask, task.id).status == "open"
    # The next request gets a fresh connection and the same action succeeds, once.
    again = client.post(f"/api/v1/tasks/{task.id}/complete", json={"data": visit}, headers=headers)
    assert again.status_code == 200
    loaded = _replays_clean(world, case)
    assert serialization.unpack(
        world.session.scalars(
            select(ProcessInstance.state).where(ProcessInstance.case_id == case.id)
        ).one()
    )["workflow"]
    assert loaded.instance.lock_version == before[0] + 1


def test_a_database_error_on_a_page_answers_503_in_chinese(make_app, world):
    """The same on a browser page, on either database: an OperationalError from the
    database becomes a clear 503 page, never a traceback."""
    from sqlalchemy.exc import OperationalError

    app = make_app()

    @app.get("/__broken")
    def broken():
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    answer = app.test_client().get("/__broken")
    assert answer.status_code == 503
    page = answer.get_data(as_text=True)
    assert "数据库暂时不可用" in page and "Traceback" not in page
