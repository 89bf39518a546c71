"""Benchmark: a 金秋助学 case end to end through `workflows` against bare SpiffWorkflow.

Both sides run the same diagram through the same six steps (application, home visit,
notice timer, level 1, level 2, bank result). The raw side is SpiffWorkflow alone: the
step, then a JSON round trip of the whole workflow (serialize with the spec, as
SpiffWorkflow does by default, and restore), which is the least a durable step needs
(DESIGN.md's floor). The warmflow side is the service call a user action makes: load,
step, effects, human tasks, audit and one database commit. The step + serialize figure
without the restore is printed too, with its ratio.

A second workload is a small diagram (bench/diagrams/linear.bpmn, deployed as a version
in the bench's own database): five user tasks in a line, one exclusive gateway and one
script, driven through `workflows.tasks.complete` against bare SpiffWorkflow completing
the same five tasks with a JSON round trip after each. On a diagram this small the fixed
cost of an action shows.

What one action costs the database is counted, not timed (a SQLAlchemy
`before_cursor_execute` listener and the engine's commit/begin events): statements,
round trips (statements + BEGIN + COMMIT/ROLLBACK on PostgreSQL, where each is one trip
to the server) and commits, per task completion (the small diagram) and per timer firing
(the programme's notice timer).

    python bench/engine.py [--cases N] [--database-url URL] [--postgres-url URL]

By default it runs on a fresh SQLite file; with --postgres-url also on that PostgreSQL
database (the bench's own: created and dropped by the script, never `test`).
The last line printed is one JSON object; per database its keys are prefixed `sqlite_`
or `pg_` (`pg_ratio`, `sqlite_linear_ratio`, ...), and `statements_per_step` holds the
counts per database.

"""

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import time_machine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow  # noqa: E402
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment  # noqa: E402
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser  # noqa: E402
from SpiffWorkflow.camunda.specs.event_definitions import MessageEventDefinition  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402
from sqlalchemy import event, func, select, text  # noqa: E402
from stdnum import luhn  # noqa: E402
from stdnum.cn import ric  # noqa: E402
from tasklist import own_postgres  # noqa: E402  (bench/ is on the path: the bench's own DB)

from workflows import (  # noqa: E402
    cases,
    db,
    migrate,
    payments,
    processes,
    runtime,
    serialization,
    tasks,
    timers,
    users,
)
from workflows.clock import CST  # noqa: E402
from workflows.models import (  # noqa: E402
    Campaign,
    CampaignBudget,
    HumanTask,
    Payment,
    ProcessInstance,
    StoredFile,
)

STEPS_PER_CASE = 6
LINEAR = ROOT / "bench" / "diagrams" / "linear.bpmn"
# The small diagram's five tasks in order, who completes each, and what they submit.
LINEAR_STEPS = (
    ("t1", "cw", {"comment_t1": "材料齐全"}),
    ("t2", "l1", {"decision": "approve"}),
    ("t3", "l1", {"comment_t3": "复核无误"}),
    ("t4", "l2", {"comment_t4": ""}),
    ("t5", "cw", {"comment_t5": "已归档"}),
)
START = datetime(2026, 9, 7, 10, 0, tzinfo=CST)
LATER = START + timedelta(days=14)
VISIT = dict(
    visit_date="2026-09-07",
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病，家庭收入低",
    visit_verdict="confirmed",
)


def application(serial: int, letter: int) -> dict:
    body = f"511002{2000 + serial // 1000 % 9:04d}0302{serial % 1000:03d}"
    card = f"62220202{serial:010d}"
    return dict(
        student_name="王小明",
        student_id_number=body + ric.calc_check_digit(body + "0"),
        parent_name="王大力",
        parent_id_number="511002199001010011",
        university="四川大学",
        major="计算机",
        education_level="undergraduate",
        admission_letter=letter,
        tuition_fen=560000,
        bank_card=card + luhn.calc_check_digit(card),
        account_name="王大力",
    )


# --- raw SpiffWorkflow --------------------------------------------------------------------


def raw_specs():
    parser = CamundaParser()
    parser.add_bpmn_files([str(p) for p in sorted((ROOT / "bpmn").glob("*.bpmn"))])
    return parser.get_spec("tuition_grant"), parser.get_subprocess_specs("tuition_grant")


def raw_engine() -> PythonScriptEngine:
    past = "2000-01-01T00:00:00+00:00"

    def later(_n=0):
        return (datetime.now(UTC) + timedelta(days=7)).isoformat()

    return PythonScriptEngine(
        environment=TaskDataEnvironment(
            {
                "working_days_after": later,
                "post_notice": later,
                "close_notice": lambda r: r,
                "request_payment": lambda: None,
                "reserve_budget": lambda: None,
                "archive_worker": lambda m: past,
                "leave_archive": lambda: None,
            }
        )
    )


def raw_case(spec, subs, engine, serializer, data: dict) -> list[float]:
    """Time each of the six steps, each followed by a JSON round trip of the whole workflow
    (serialize, then restore it for the next step), as a durable engine needs."""
    durations, serialize_only = [], []
    holder = {"workflow": BpmnWorkflow(spec, subs, script_engine=engine)}

    def timed(step):
        began = time.perf_counter()
        step(holder["workflow"])
        text = serializer.serialize_json(holder["workflow"])
        serialize_only.append(time.perf_counter() - began)
        restored = serializer.deserialize_json(text)
        restored.script_engine = engine
        holder["workflow"] = restored
        durations.append(time.perf_counter() - began)

    def complete(values):
        def step(workflow):
            task = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
            task.data.update(values)
            task.run()
            workflow.do_engine_steps()

        return step

    def begin(workflow):
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)
        workflow.do_engine_steps()

    with time_machine.travel(START, tick=False) as traveller:
        timed(begin)
        timed(complete(dict(VISIT, housing_photos=[1])))
        traveller.move_to(LATER)

        def fire(workflow):
            workflow.refresh_timers()
            workflow.do_engine_steps()

        timed(fire)
        timed(complete({"decision": "approve"}))
        timed(complete({"decision": "approve"}))
        event = BpmnEvent(
            MessageEventDefinition("payment_result"),
            {"payload": {"status": "paid", "reason": ""}, "result_var": "payment_result"},
        )

        def pay(workflow):
            workflow.send_event(event)
            workflow.do_engine_steps()

        timed(pay)
    assert holder["workflow"].is_completed(), "raw case did not finish"
    return durations, serialize_only


class StatementCounter:
    """What the database is asked: statements (cursor executions), transactions begun and
    ended. On PostgreSQL each of these is one round trip to the server (psycopg sends BEGIN
    by itself before the first statement of a transaction); SQLite runs in the process."""

    def __init__(self, engine) -> None:
        self.remote = engine.dialect.name != "sqlite"
        self.statements = self.begins = self.commits = self.rollbacks = 0
        self.trace: list[str] | None = os.environ.get("BENCH_TRACE") and []
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._rollback)

    def _statement(self, _conn, _cursor, statement, *_args) -> None:
        self.statements += 1
        if self.trace is not None:
            self.trace.append(statement.split("\n")[0][:150])

    def _begin(self, _conn) -> None:
        self.begins += 1

    def _commit(self, _conn) -> None:
        self.commits += 1

    def _rollback(self, _conn) -> None:
        self.rollbacks += 1

    def snapshot(self) -> tuple[int, int, int]:
        trips = self.statements + (self.begins + self.commits + self.rollbacks) * self.remote
        return self.statements, trips, self.commits

    def since(self, before: tuple[int, int, int]) -> tuple[int, int, int]:
        now_ = self.snapshot()
        return tuple(a - b for a, b in zip(now_, before, strict=True))


def linear_raw_spec():
    parser = CamundaParser()
    parser.add_bpmn_files([str(LINEAR)])
    return parser.get_spec("bench_linear")


def raw_linear_case(spec, serializer, data: dict) -> list[float]:
    """The small diagram on bare SpiffWorkflow: each of the five tasks, then a JSON round
    trip of the workflow (serialize, restore), timed per task."""
    workflow = BpmnWorkflow(spec)
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(data)
    workflow.do_engine_steps()
    workflow = serializer.deserialize_json(serializer.serialize_json(workflow))
    durations = []
    for element, _who, values in LINEAR_STEPS:
        began = time.perf_counter()
        task = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
        assert task.task_spec.name == element, task.task_spec.name
        task.data.update(values)
        task.run()
        workflow.do_engine_steps()
        workflow = serializer.deserialize_json(serializer.serialize_json(workflow))
        durations.append(time.perf_counter() - began)
    assert workflow.is_completed(), "raw linear case did not finish"
    return durations


# --- through warmflow ---------------------------------------------------------------------


def setup_world(factory):
    with factory() as session:
        processes.deploy_files(session, None, sorted((ROOT / "bpmn").glob("*.bpmn")))
        processes.deploy_files(session, None, [LINEAR])
        city = users.add_organisation(session, "nj", "内江市总工会")
        district = users.add_organisation(session, "szq", "市中区总工会", city)
        union = users.add_organisation(session, "szq1", "城东街道帮扶站", district)
        people = {}
        for name, org, role in (
            ("cw", union, "caseworker"),
            ("l1", union, "approver_l1"),
            ("l2", district, "approver_l2"),
            ("fin", city, "finance"),
        ):
            people[name] = users.add_user(
                session, name, "bench-password", name, org, [role], check_policy=False
            ).id
        campaign = Campaign(
            code="jq2026",
            name="2026年金秋助学",
            programme="tuition_grant",
            year=2026,
            owner_org_id=city.id,
            standards_json=json.dumps({"undergraduate": 500000}),
            city_approval_threshold_fen=500000,
        )
        session.add(campaign)
        session.flush()
        session.add(CampaignBudget(campaign_id=campaign.id, org_id=district.id, budget_fen=10**15))
        session.commit()
        return people, campaign.id


def warmflow_case(
    factory, people, campaign_id, serial: int, counter: StatementCounter, timer_counts: list
) -> tuple[list[float], int, int]:
    from workflows.models import User

    durations, running_sizes = [], []

    def timed(step):
        began = time.perf_counter()
        step()
        durations.append(time.perf_counter() - began)
        if "case" in holder:  # outside the timing: how big the stored state is now
            running_sizes.append(
                session.scalar(
                    select(func.length(ProcessInstance.state)).where(
                        ProcessInstance.case_id == holder["case"].id
                    )
                )
            )

    with factory() as session:

        def user(name):
            return session.get(User, people[name])

        letter = StoredFile(
            sha256="0" * 64,
            filename="letter.pdf",
            content_type="application/pdf",
            size=1,
            org_id=user("cw").org_id,
            uploaded_by_id=people["cw"],
        )
        photo = StoredFile(
            sha256="1" * 64,
            filename="photo.jpg",
            content_type="image/jpeg",
            size=1,
            org_id=user("cw").org_id,
            uploaded_by_id=people["cw"],
        )
        session.add_all([letter, photo])
        session.commit()
        data = application(serial, letter.id)
        visit_data = dict(VISIT, housing_photos=[photo.id])
        holder = {}

        def task_id(element):
            return session.scalars(
                select(HumanTask.id).where(
                    HumanTask.case_id == holder["case"].id,
                    HumanTask.status == "open",
                    HumanTask.element_id == element,
                )
            ).one()

        with time_machine.travel(START, tick=False) as traveller:
            timed(
                lambda: holder.update(
                    case=cases.start_case(session, user("cw"), "tuition_grant", data, campaign_id)
                )
            )
            visit = task_id("home_visit_task")
            timed(lambda: tasks.complete(session, user("cw"), visit, visit_data))
            traveller.move_to(LATER)
            before = counter.snapshot()
            timed(lambda: timers.fire_due_timers(factory))
            timer_counts.append(counter.since(before))
            l1 = task_id("approve_l1")
            timed(lambda: tasks.complete(session, user("l1"), l1, {"decision": "approve"}))
            l2 = task_id("approve_l2")
            timed(lambda: tasks.complete(session, user("l2"), l2, {"decision": "approve"}))
            payment = session.scalars(
                select(Payment.id).where(Payment.case_id == holder["case"].id)
            ).one()
            timed(lambda: payments.record_result(session, user("fin"), payment, "paid"))
        instance = session.scalars(
            select(ProcessInstance).where(ProcessInstance.case_id == holder["case"].id)
        ).one()
        assert instance.status == "completed", "warmflow case did not finish"
        return durations, len(instance.state), max(running_sizes)


LINEAR_PROGRAMME = cases.Programme(
    "bench_linear",
    "基准",
    "BL",
    "worker_name",
    "worker_id_number",
    False,
    None,
    frozenset(),
    False,
    "职工",
)


def warmflow_linear_case(factory, people, serial: int, counter: StatementCounter):
    """The small diagram through warmflow: a case opened on it, then its five tasks each
    completed through `tasks.complete` (timed, and counted)."""
    from workflows.models import User

    with factory() as session:
        cw = session.get(User, people["cw"])
        with db.unit_of_work(session):
            opening = cases.Opening.latest(session, LINEAR_PROGRAMME, None)
            clean = {"worker_name": "王大力", "worker_id_number": "", "amount_fen": 80000}
            case = cases.open_case(
                session, cw, cw.org, opening, clean, f"bench-linear-{serial}", "5110**********0011"
            )
        durations, counts = [], []
        for element, who, values in LINEAR_STEPS:
            task_id = session.scalars(
                select(HumanTask.id).where(
                    HumanTask.case_id == case.id,
                    HumanTask.status == "open",
                    HumanTask.element_id == element,
                )
            ).one()
            actor = session.get(User, people[who])
            session.commit()  # the completion's own transaction counts its BEGIN
            before = counter.snapshot()
            began = time.perf_counter()
            tasks.complete(session, actor, task_id, dict(values))
            durations.append(time.perf_counter() - began)
            counts.append(counter.since(before))
        instance = session.scalars(
            select(ProcessInstance).where(ProcessInstance.case_id == case.id)
        ).one()
        assert instance.status == "completed", "warmflow linear case did not finish"
        return durations, counts


def median(values) -> float:
    return statistics.median(values) if values else 0.0


def p95(values) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else 0.0


def run_database(url: str, cases_n: int) -> dict:
    processes.forget_versions()
    engine = db.make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(engine)
    factory = db.make_session_factory(engine)
    people, campaign_id = setup_world(factory)
    counter = StatementCounter(engine)

    spec, subs = raw_specs()
    linear_spec = linear_raw_spec()
    raw_eng = raw_engine()
    serializer = serialization.full_serializer
    warm_times, raw_times, serialize_times, sizes, running = [], [], [], [], []
    linear_warm, linear_raw, linear_counts, timer_counts = [], [], [], []
    # Interleave the two so machine noise hits both alike; one warm-up case each.
    for serial in range(cases_n + 1):
        raw_data = dict(
            application(serial, 1),
            programme="tuition_grant",
            amount_fen=500000,
            city_approval_threshold_fen=500000,
            notice_days=5,
            aid_kind="cash",
            campaign_id=1,
            campaign_year=2026,
            case_no=f"JQ2026{serial:06d}",
        )
        raw, serialize_only = raw_case(spec, subs, raw_eng, serializer, raw_data)
        fired = []
        warm, size, running_size = warmflow_case(
            factory, people, campaign_id, serial, counter, fired
        )
        lin_raw = raw_linear_case(linear_spec, serializer, {"amount_fen": 80000})
        lin_warm, lin_counts = warmflow_linear_case(factory, people, serial, counter)
        if counter.trace is not None and serial == 1:
            print("\n".join(counter.trace[-60:]))
        if serial == 0:
            continue
        raw_times.append(sum(raw))
        serialize_times.append(sum(serialize_only))
        warm_times.append(sum(warm))
        sizes.append(size)
        running.append(running_size)
        linear_raw.extend(lin_raw)
        linear_warm.extend(lin_warm)
        linear_counts.extend(lin_counts)
        timer_counts.extend(fired)
    engine.dispose()

    ms_per_task = statistics.median(warm_times) / STEPS_PER_CASE * 1000
    raw_ms_per_task = statistics.median(raw_times) / STEPS_PER_CASE * 1000
    serialize_ms = statistics.median(serialize_times) / STEPS_PER_CASE * 1000
    linear_ms = median(linear_warm) * 1000
    linear_raw_ms = median(linear_raw) * 1000

    def per(counts, i):
        return round(sum(c[i] for c in counts) / len(counts), 2)

    return {
        "database": engine.dialect.name,
        "ms_per_task": round(ms_per_task, 3),
        "raw_ms_per_task": round(raw_ms_per_task, 3),
        "ratio": round(ms_per_task / raw_ms_per_task, 3),
        # Step + serialize only, no restore: a floor no durable engine reaches.
        "raw_step_serialize_ms": round(serialize_ms, 3),
        "ratio_vs_step_serialize": round(ms_per_task / serialize_ms, 3),
        "state_bytes_per_case": int(statistics.median(sizes)),
        "running_state_bytes_max": max(running),
        # The small linear diagram: per task completion, median and p95.
        "linear_ms_per_task": round(linear_ms, 3),
        "linear_p95_ms": round(p95(linear_warm) * 1000, 3),
        "linear_raw_ms_per_task": round(linear_raw_ms, 3),
        "linear_ratio": round(linear_ms / linear_raw_ms, 3),
        "statements": {
            "per_completion": per(linear_counts, 0),
            "round_trips_per_completion": per(linear_counts, 1),
            "commits_per_completion": per(linear_counts, 2),
            "per_timer_firing": per(timer_counts, 0),
            "round_trips_per_timer_firing": per(timer_counts, 1),
            "commits_per_timer_firing": per(timer_counts, 2),
        },
    }


PREFIX = {"sqlite": "sqlite", "postgresql": "pg"}


def main() -> None:
    runtime.tune_gc()  # as the web app and the worker run
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument(
        "--database-url", default=None, help="default: a fresh SQLite file in a temporary folder"
    )
    parser.add_argument(
        "--postgres-url",
        default=None,
        help="also run on this PostgreSQL database (the bench's own, created and dropped)",
    )
    args = parser.parse_args()
    logging.getLogger("spiff").setLevel(logging.WARNING)

    folder = tempfile.mkdtemp(prefix="warmflow-bench-")
    url = args.database_url or f"sqlite:///{os.path.join(folder, 'bench.sqlite')}"
    runs = [run_database(url, args.cases)]
    if args.postgres_url:
        drop = own_postgres(args.postgres_url)
        try:
            runs.append(run_database(args.postgres_url, args.cases))
        finally:
            drop()

    first = runs[0]
    result = {
        "cases": args.cases,
        "database": first["database"],
        "steps_per_case": STEPS_PER_CASE,
        **{k: v for k, v in first.items() if k not in ("database", "statements")},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "statements_per_step": {r["database"]: r["statements"] for r in runs},
    }
    for r in runs:
        prefix = PREFIX.get(r["database"], r["database"])
        for key, value in r.items():
            if key not in ("database", "statements"):
                result[f"{prefix}_{key}"] = value
        c = r["statements"]
        print(
            f"{r['database']}: programme {r['ms_per_task']:.2f} ms per step, raw SpiffWorkflow "
            f"+ JSON {r['raw_ms_per_task']:.2f} ms, ratio {r['ratio']:.2f} (raw step + "
            f"serialize without restore {r['raw_step_serialize_ms']:.2f} ms, ratio "
            f"{r['ratio_vs_step_serialize']:.2f})"
        )
        print(
            f"{r['database']}: small linear diagram {r['linear_ms_per_task']:.2f} ms per task "
            f"(p95 {r['linear_p95_ms']:.2f}), raw {r['linear_raw_ms_per_task']:.2f} ms, ratio "
            f"{r['linear_ratio']:.2f}"
        )
        print(
            f"{r['database']}: per completion {c['per_completion']} statements, "
            f"{c['round_trips_per_completion']} round trips, {c['commits_per_completion']} "
            f"commits; per timer firing {c['per_timer_firing']} statements, "
            f"{c['round_trips_per_timer_firing']} round trips, "
            f"{c['commits_per_timer_firing']} commits"
        )
        print(
            f"{r['database']}: stored state of a closed case {r['state_bytes_per_case']} bytes; "
            f"largest running state {r['running_state_bytes_max']} bytes"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
