"""Benchmark: a 金秋助学 case end to end through `workflows` against bare SpiffWorkflow.

Both sides run the same diagram through the same six steps (application, home visit,
notice timer, level 1, level 2, bank result). The raw side is SpiffWorkflow alone: the
step, then a JSON round trip of the whole workflow (serialize with the spec, as
SpiffWorkflow does by default, and restore), which is the least a durable step needs
(DESIGN.md's floor). The warmflow side is the service call a user action makes: load,
step, effects, human tasks, audit and one database commit. The step + serialize figure
without the restore is printed too, with its ratio.

    python bench/engine.py [--cases N] [--database-url URL]

The last line printed is one JSON object.
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
from sqlalchemy import func, select  # noqa: E402
from stdnum import luhn  # noqa: E402
from stdnum.cn import ric  # noqa: E402

from workflows import (  # noqa: E402
    cases,
    db,
    migrate,
    payments,
    processes,
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


# --- through warmflow ---------------------------------------------------------------------


def setup_world(factory):
    with factory() as session:
        processes.deploy_files(session, None, sorted((ROOT / "bpmn").glob("*.bpmn")))
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


def warmflow_case(factory, people, campaign_id, serial: int) -> tuple[list[float], int, int]:
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
            timed(lambda: timers.fire_due_timers(factory))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument(
        "--database-url", default=None, help="default: a fresh SQLite file in a temporary folder"
    )
    args = parser.parse_args()
    logging.getLogger("spiff").setLevel(logging.WARNING)

    folder = tempfile.mkdtemp(prefix="warmflow-bench-")
    url = args.database_url or f"sqlite:///{os.path.join(folder, 'bench.sqlite')}"
    engine = db.make_engine(url)
    if engine.dialect.name == "postgresql":
        from sqlalchemy import text

        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(engine)
    factory = db.make_session_factory(engine)
    people, campaign_id = setup_world(factory)

    spec, subs = raw_specs()
    raw_eng = raw_engine()
    serializer = serialization.full_serializer
    warm_times, raw_times, serialize_times, sizes, running = [], [], [], [], []
    # Interleave the two so machine noise hits both alike; one warm-up case each.
    for serial in range(args.cases + 1):
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
        warm, size, running_size = warmflow_case(factory, people, campaign_id, serial)
        if serial == 0:
            continue
        raw_times.append(sum(raw))
        serialize_times.append(sum(serialize_only))
        warm_times.append(sum(warm))
        sizes.append(size)
        running.append(running_size)

    ms_per_task = statistics.median(warm_times) / STEPS_PER_CASE * 1000
    raw_ms_per_task = statistics.median(raw_times) / STEPS_PER_CASE * 1000
    serialize_ms = statistics.median(serialize_times) / STEPS_PER_CASE * 1000
    result = {
        "cases": args.cases,
        "database": engine.dialect.name,
        "steps_per_case": STEPS_PER_CASE,
        "ms_per_task": round(ms_per_task, 3),
        "raw_ms_per_task": round(raw_ms_per_task, 3),
        "ratio": round(ms_per_task / raw_ms_per_task, 3),
        # Step + serialize only, no restore: a floor no durable engine reaches.
        "raw_step_serialize_ms": round(serialize_ms, 3),
        "ratio_vs_step_serialize": round(ms_per_task / serialize_ms, 3),
        "state_bytes_per_case": int(statistics.median(sizes)),
        "running_state_bytes_max": max(running),
    }
    print(
        f"warmflow: {ms_per_task:.2f} ms per step (median case), raw SpiffWorkflow + JSON: "
        f"{raw_ms_per_task:.2f} ms, ratio {result['ratio']:.2f}"
    )
    print(
        f"(raw step + serialize without restore: {serialize_ms:.2f} ms, ratio "
        f"{result['ratio_vs_step_serialize']:.2f})"
    )
    print(
        f"stored state of a closed case: {result['state_bytes_per_case']} bytes; largest "
        f"running state: {result['running_state_bytes_max']} bytes (spec stored once per "
        f"version)"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
