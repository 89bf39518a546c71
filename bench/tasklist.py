"""Benchmark: task lists and task completion with a city's worth of cases in the database.

The database gets 100,000 open cases (a 冬送温暖 campaign launched for 100,000 archived
workers through `campaigns.run_launch`: real instances waiting at level-1 approval,
spread over 50 grassroots unions in 10 districts; a few per cent then moved on through
the real services to level-2 approval or returned for rework, and some claimed) and
1,000,000 finished cases inserted in bulk (closed case rows, closed process instances
with a compact closed state, their completed human tasks and audit rows; COPY on
PostgreSQL). Then, through the Flask app in-process (its WSGI test client: no socket,
no web server), logged in as level-1 approvers, level-2 approvers and caseworkers:

- task-list pages: GET /tasks/group and /tasks/mine, plain, filtered and paged, each
  request by another user of the same role (p50/p95 per page; goal p95 <= 50 ms);
- task completion: POST of the approval form (通过) on /tasks/<id>, and POST
  /api/v1/tasks/<id>/complete with a bearer token, each on a distinct open task
  (goal p95 <= 30 ms).

Raw engine figure measured in the same run: bare SpiffWorkflow completing the same
approval task and serializing the workflow to JSON (step + serialize, as
bench/engine.py's floor), `complete_ratio` = warmflow p50 / raw p50. A task list has no
raw-engine counterpart (SpiffWorkflow has no query side); the service-level time of the
same list (count + page query, no HTTP, no template) is printed beside it instead.

By default it runs on a fresh SQLite file and on a PostgreSQL database of its own
(created and dropped by the script, never `test`):

    python bench/tasklist.py [--open N] [--finished N] [--sqlite-only]
                             [--postgres-url postgresql://postgres@127.0.0.1:5432/NAME]
    python bench/tasklist.py --database-url URL   # one database only (emptied first)

The last line printed is one JSON object; tasklist_p95_ms and complete_p95_ms are the
worse of the databases run.
"""

import argparse
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from campaign_helpers import archive_workers, card  # noqa: E402
from SpiffWorkflow.bpmn import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment  # noqa: E402
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

from workflows import (  # noqa: E402
    auth,
    campaigns,
    db,
    migrate,
    processes,
    runtime,
    serialization,
    tasks,
    users,
)
from workflows.models import (  # noqa: E402
    AuditEvent,
    Campaign,
    CampaignBudget,
    Case,
    HumanTask,
    ProcessInstance,
    User,
)

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/warmflow_bench_tasklist"
PASSWORD = "bench-password-1"
DISTRICTS, UNIONS_PER_DISTRICT = 10, 5
STANDARDS = {"living": 100000, "medical": 300000, "schooling": 100000, "disaster": 200000}
STANDARDS["other"] = 50000
CHUNK = 20000
GOAL_LIST_MS, GOAL_COMPLETE_MS = 50.0, 30.0


def log(message: str) -> None:
    print(message, flush=True)


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    k = (len(ordered) - 1) * p / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def figures(samples_s: list[float]) -> dict:
    ms = [s * 1000 for s in samples_s]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
    }


# --- the organisation, users, campaign ---------------------------------------------------


def setup(factory) -> dict:
    with factory() as session:
        processes.deploy_files(session, None, sorted((ROOT / "bpmn").glob("*.bpmn")))
        city = users.add_organisation(session, "nj", "内江市总工会")
        ids = {"city": city.id, "districts": [], "unions": [], "union_district": {}}
        people = {"mgr": ("manager", city), "fin": ("finance", city), "l3": ("approver_l3", city)}
        for d in range(DISTRICTS):
            district = users.add_organisation(session, f"d{d}", f"第{d + 1}区总工会", city)
            ids["districts"].append(district.id)
            people[f"l2_{d}"] = ("approver_l2", district)
            for u in range(UNIONS_PER_DISTRICT):
                union = users.add_organisation(
                    session, f"d{d}u{u}", f"第{d + 1}区第{u + 1}帮扶站", district
                )
                ids["unions"].append(union.id)
                ids["union_district"][union.id] = district.id
                people[f"l1_{d}_{u}"] = ("approver_l1", union)
                people[f"cw_{d}_{u}"] = ("caseworker", union)
                people[f"cwb_{d}_{u}"] = ("caseworker", union)
        for name, (role, org) in people.items():
            users.add_user(session, name, PASSWORD, name, org, [role])
        campaign = Campaign(
            code="dsnw2026",
            name="2026年冬送温暖",
            programme="seasonal_aid",
            season="winter",
            year=2026,
            aid_kind="cash",
            owner_org_id=city.id,
            standards_json=json.dumps(STANDARDS),
            city_approval_threshold_fen=200000,
        )
        session.add(campaign)
        session.flush()
        for district in ids["districts"]:
            session.add(CampaignBudget(campaign_id=campaign.id, org_id=district, budget_fen=10**13))
        session.commit()
        ids["campaign"] = campaign.id
        ids["users"] = {u.username: u.id for u in session.scalars(select(User))}
        ids["org_user"] = {}  # (org id, role) -> [user ids]
        for u in session.scalars(select(User)):
            for role in u.role_set:
                ids["org_user"].setdefault((u.org_id, role), []).append(u.id)
        ids["versions"] = {
            pid: processes.latest_version(session, pid).id
            for pid in (
                "seasonal_aid",
                "tuition_grant",
                "approval_by_level",
                "bank_disbursement",
                "home_visit",
                "public_notice",
            )
        }
    return ids


# --- finished cases, in bulk -----------------------------------------------------------


def _closed_state(programme: str, passed: dict) -> bytes:
    data = {
        "programme": programme,
        "worker_name": "职工",
        "hardship_category": "living",
        "amount_fen": 100000,
        "decision": "approve",
        "payment_result": {"status": "paid", "reason": ""},
    }
    return serialization.pack(
        {"format": serialization.STATE_FORMAT, "closed": True, "data": data, "passed": passed}
    )


# (programme, outcome, label, steps: (process, element, name, group))
SEASONAL_STEPS = [
    ("approval_by_level", "approve_l1", "基层工会审批", "approver_l1"),
    ("approval_by_level", "approve_l2", "县（区）总工会审批", "approver_l2"),
]
TUITION_STEPS = [
    ("home_visit", "home_visit_task", "入户核查", "caseworker"),
    *SEASONAL_STEPS,
]
GROUP_LEVEL = {"caseworker": "union", "approver_l1": "union", "approver_l2": "district"}


class BulkWriter:
    """Rows into tables, fast: COPY on PostgreSQL, executemany elsewhere."""

    def __init__(self, engine):
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    def write(self, batches: dict) -> None:
        if self.postgres:
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                for table, rows in batches.items():
                    if not rows:
                        continue
                    given = list(rows[0])
                    # COPY fills in no Python-side defaults (approval_levels, ...): add them.
                    defaults = {
                        c.name: c.default.arg if c.default.is_scalar else c.default.arg(None)
                        for c in table.columns
                        if c.name not in given and c.default is not None
                    }
                    columns = given + list(defaults)
                    names = ", ".join(f'"{c}"' for c in columns)
                    with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
                        for row in rows:
                            copy.write_row([row[c] for c in given] + list(defaults.values()))
                raw.commit()
            finally:
                raw.close()
        else:
            with self.engine.begin() as conn:
                for table, rows in batches.items():
                    if rows:
                        conn.execute(table.insert(), rows)


def insert_finished(engine, ids: dict, count: int) -> None:
    """`count` closed cases, 4 in 5 四季送 (two approvals) and 1 in 5 金秋助学 (home visit
    and two approvals), with their closed instances, completed tasks and audit rows; ids
    given explicitly, sequences moved past them afterwards (PostgreSQL)."""
    if count <= 0:
        return
    with engine.connect() as conn:
        start = {
            t: (conn.scalar(select(func.max(t.id))) or 0) + 1
            for t in (Case, ProcessInstance, HumanTask, AuditEvent)
        }
    v = ids["versions"]
    kinds = {
        "seasonal_aid": dict(
            version=v["seasonal_aid"],
            pins=json.dumps(
                {
                    "approval_by_level": v["approval_by_level"],
                    "bank_disbursement": v["bank_disbursement"],
                }
            ),
            outcome=("end_paid", "慰问金已发放"),
            steps=SEASONAL_STEPS,
            state=_closed_state(
                "seasonal_aid",
                {
                    "seasonal_aid": ["start", "set_levels", "call_approval", "end_paid"],
                    "approval_by_level": ["start", "approve_l1", "approve_l2"],
                },
            ),
        ),
        "tuition_grant": dict(
            version=v["tuition_grant"],
            pins=json.dumps(
                {
                    p: v[p]
                    for p in (
                        "approval_by_level",
                        "bank_disbursement",
                        "home_visit",
                        "public_notice",
                    )
                }
            ),
            outcome=("end_paid", "助学金已发放"),
            steps=TUITION_STEPS,
            state=_closed_state(
                "tuition_grant",
                {"tuition_grant": ["start", "end_paid"], "home_visit": ["home_visit_task"]},
            ),
        ),
    }
    users_of = ids["org_user"]
    writer = BulkWriter(engine)
    case_id, inst_id = start[Case], start[ProcessInstance]
    task_id, audit_id = start[HumanTask], start[AuditEvent]
    origin = datetime(2023, 1, 2, 1, 0, tzinfo=UTC)
    span = (datetime(2026, 6, 30, tzinfo=UTC) - origin).total_seconds()
    unions = ids["unions"]
    began = time.perf_counter()
    for first in range(0, count, CHUNK):
        cases, instances, human, audit = [], [], [], []
        for n in range(first, min(first + CHUNK, count)):
            programme = "tuition_grant" if n % 5 == 4 else "seasonal_aid"
            kind = kinds[programme]
            union = unions[n % len(unions)]
            district = ids["union_district"][union]
            created = origin + timedelta(seconds=span * n / count)
            closed = created + timedelta(days=20)
            cw = users_of[(union, "caseworker")][n % 2]
            cases.append(
                dict(
                    id=case_id,
                    case_no=f"HX{n:09d}",
                    programme=programme,
                    campaign_id=None,
                    org_id=union,
                    applicant_name=f"往年{n % 100000:05d}",
                    subject_key=hashlib.blake2b(b"%d" % n, digest_size=32).hexdigest(),
                    subject_id_masked="5110**********123X",
                    amount_fen=100000,
                    status="completed",
                    outcome=kind["outcome"][0],
                    outcome_label=kind["outcome"][1],
                    cancel_reason="",
                    created_by_id=cw,
                    created_at=created,
                    closed_at=closed,
                    goods_quantity=0,
                    category="living",
                )
            )
            instances.append(
                dict(
                    id=inst_id,
                    case_id=case_id,
                    version_id=kind["version"],
                    subprocess_versions=kind["pins"],
                    state=kind["state"],
                    status="completed",
                    error="",
                    next_timer_at=None,
                    calendar_warning="",
                    updated_at=closed,
                    lock_version=1,
                )
            )
            audit.append(
                dict(
                    id=audit_id,
                    at=created,
                    actor_id=cw,
                    case_id=case_id,
                    action="case.start",
                    summary="发起",
                    detail="{}",
                )
            )
            audit_id += 1
            for step, (process, element, name, group) in enumerate(kind["steps"]):
                org = union if GROUP_LEVEL[group] == "union" else district
                who = cw if group == "caseworker" else users_of[(org, group)][0]
                at = created + timedelta(days=2 + 3 * step)
                human.append(
                    dict(
                        id=task_id,
                        instance_id=inst_id,
                        case_id=case_id,
                        task_uuid=str(uuid4()),
                        process_id=process,
                        programme=programme,
                        element_id=element,
                        name=name,
                        candidate_group=group,
                        org_id=org,
                        assignee_id=who,
                        status="completed",
                        due_at=at + timedelta(days=7),
                        created_at=at - timedelta(days=2),
                        completed_at=at,
                        completed_by_id=who,
                        lock_version=1,
                    )
                )
                audit.append(
                    dict(
                        id=audit_id,
                        at=at,
                        actor_id=who,
                        case_id=case_id,
                        action="task.complete",
                        summary=f"{name}：通过",
                        detail=json.dumps({"task_id": task_id, "element": element}),
                    )
                )
                task_id += 1
                audit_id += 1
            audit.append(
                dict(
                    id=audit_id,
                    at=closed,
                    actor_id=None,
                    case_id=case_id,
                    action="case.closed",
                    summary=f"结案：{kind['outcome'][1]}",
                    detail=json.dumps({"outcome": kind["outcome"][0]}),
                )
            )
            audit_id += 1
            case_id += 1
            inst_id += 1
        writer.write(
            {
                Case.__table__: cases,
                ProcessInstance.__table__: instances,
                HumanTask.__table__: human,
                AuditEvent.__table__: audit,
            }
        )
        done = min(first + CHUNK, count)
        if done % 100000 == 0 or done == count:
            elapsed = time.perf_counter() - began
            log(f"  finished cases: {done}/{count} ({done / elapsed:.0f}/s)")
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for table in ("case", "process_instance", "human_task", "audit_event"):
                sequence = f"pg_get_serial_sequence('\"{table}\"', 'id')"
                latest = f'SELECT max(id) FROM "{table}"'  # noqa: S608 (our table names)
                conn.execute(text(f"SELECT setval({sequence}, ({latest}))"))


# --- open cases: a real launch, then some moved on -------------------------------------


def make_overdue(engine, share: float) -> int:
    """Put every n-th open task's due date a week back, so that 督办 lists have a city's
    share of overdue tasks to read (a launch's tasks are all due in the future)."""
    every = max(1, round(1 / share)) if share > 0 else 0
    if not every:
        return 0
    past = datetime.now(UTC) - timedelta(days=7)
    with engine.begin() as conn:
        return conn.execute(
            HumanTask.__table__.update()
            .where(HumanTask.status == "open", HumanTask.id % every == 0)
            .values(due_at=past)
        ).rowcount


def launch(factory, ids: dict) -> tuple[float, int]:
    with factory() as session:
        manager = session.get(User, ids["users"]["mgr"])
        launch_id = campaigns.start_launch(session, manager, ids["campaign"]).id
    began = time.perf_counter()
    campaigns.run_launch(factory, launch_id)
    elapsed = time.perf_counter() - began
    with factory() as session:
        row = campaigns.get_launch(session, session.get(User, ids["users"]["mgr"]), launch_id)
        assert row.status == "done" and row.failed == 0, (row.status, row.message)
        return elapsed, row.created


def move_on(factory, ids: dict, to_l2: int, returned: int, claimed: int) -> list[float]:
    """Through the services: approve `to_l2` level-1 tasks (they wait at level 2), return
    `returned` for rework (caseworkers' lists), and claim `claimed` tasks per approver
    and caseworker so that 我的任务 is not empty. Returns the service times of the
    completions (no HTTP)."""
    times = []
    with factory() as session:
        people = {uid: session.get(User, uid) for uid in ids["users"].values()}
        per_union = {}
        for tid, org in session.execute(
            select(HumanTask.id, HumanTask.org_id)
            .where(HumanTask.status == "open", HumanTask.element_id == "approve_l1")
            .order_by(HumanTask.id)
        ):
            per_union.setdefault(org, []).append(tid)
        unions = ids["unions"]
        plan = []
        for k in range(to_l2 + returned):
            union = unions[k % len(unions)]
            queue = per_union[union]
            tid = queue.pop()  # from the newest end: the oldest stay for the lists
            data = (
                {"decision": "approve"}
                if k < to_l2
                else {"decision": "return", "comment": "请补充收入证明"}
            )
            plan.append((union, tid, data))
        for n, (union, tid, data) in enumerate(plan, 1):
            user = people[ids["org_user"][(union, "approver_l1")][0]]
            began = time.perf_counter()
            tasks.complete(session, user, tid, data)
            times.append(time.perf_counter() - began)
            if n % 1000 == 0:
                log(f"  moved on: {n}/{len(plan)}")
        # Claims: each approver and caseworker holds `claimed` of their queue.
        for (org, role), uids in sorted(ids["org_user"].items()):
            if role not in ("approver_l1", "approver_l2", "caseworker"):
                continue
            element = {"approver_l1": "approve_l1", "approver_l2": "approve_l2"}.get(role)
            query = select(HumanTask.id).where(
                HumanTask.status == "open",
                HumanTask.org_id == org,
                HumanTask.candidate_group == role,
                HumanTask.assignee_id.is_(None),
            )
            if element:
                query = query.where(HumanTask.element_id == element)
            free = list(session.scalars(query.order_by(HumanTask.id).limit(claimed * len(uids))))
            for i, tid in enumerate(free):
                tasks.claim(session, people[uids[i % len(uids)]], tid)
    return times


# --- raw SpiffWorkflow: the same approval, step + serialize ----------------------------


def raw_complete_times(samples: int) -> list[float]:
    parser = CamundaParser()
    parser.add_bpmn_files([str(p) for p in sorted((ROOT / "bpmn").glob("*.bpmn"))])
    spec = parser.get_spec("seasonal_aid")
    subs = parser.get_subprocess_specs("seasonal_aid")
    engine = PythonScriptEngine(
        environment=TaskDataEnvironment(
            {
                "working_days_after": lambda n=0: "2026-12-31T00:00:00+08:00",
                "reserve_budget": lambda: None,
                "request_payment": lambda: None,
            }
        )
    )
    serializer = serialization.full_serializer
    times = []
    for n in range(samples + 1):
        workflow = BpmnWorkflow(spec, subs, script_engine=engine)
        data = {
            "worker_name": f"职工{n:05d}",
            "hardship_category": "living",
            "bank_card": card(n),
            "account_name": f"职工{n:05d}",
            "phone": "13800000000",
            "amount_fen": 100000,
            "city_approval_threshold_fen": 200000,
            "aid_kind": "cash",
            "notice_days": 5,
        }
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)
        workflow.do_engine_steps()
        # As warmflow does: the waiting state is restored from JSON before the step.
        workflow = serializer.deserialize_json(serializer.serialize_json(workflow))
        workflow.script_engine = engine
        began = time.perf_counter()
        task = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
        assert task.task_spec.bpmn_id == "approve_l1", task.task_spec.bpmn_id
        task.data.update({"decision": "approve"})
        task.run()
        workflow.do_engine_steps()
        serializer.serialize_json(workflow)
        if n:  # the first is a warm-up
            times.append(time.perf_counter() - began)
    return times


# --- over HTTP (the WSGI app in-process) ---------------------------------------------


def make_app(url: str):
    from webapp import create_app

    return create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench-secret",
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
        }
    )


def login(app, username: str):
    client = app.test_client()
    answer = client.post("/login", data={"username": username, "password": PASSWORD})
    assert answer.status_code == 302, (username, answer.status_code)
    return client


def timed_get(client, path: str) -> float:
    began = time.perf_counter()
    answer = client.get(path)
    elapsed = time.perf_counter() - began
    assert answer.status_code == 200, (path, answer.status_code)
    return elapsed


PAGES = {
    "approver_l1": [
        "/tasks/group",
        "/tasks/mine",
        "/tasks/group?step=approve_l1&sort=due",
        "/tasks/group?programme=seasonal_aid&overdue=1",
        "/tasks/group?page=40",
        "/tasks/done",
        "/tasks/done?programme=seasonal_aid&page=10",
    ],
    "approver_l2": [
        "/tasks/group",
        "/tasks/mine",
        "/tasks/group?step=approve_l2&sort=-created",
        "/tasks/group?org={union}",
        "/tasks/done",
        "/tasks/overdue",
        "/tasks/overdue?org={union}&page=2",
    ],
    "caseworker": [
        "/tasks/group",
        "/tasks/mine",
        "/tasks/group?step=rework",
        "/tasks/done",
        "/cases/started",
        "/cases/started?status=completed&page=10",
    ],
}


def measure_lists(app, factory, ids: dict, requests: int) -> dict:
    clients: dict[str, list] = {}
    for name in sorted(ids["users"]):
        role = {"l1": "approver_l1", "l2": "approver_l2", "cw": "caseworker"}.get(
            name.split("_")[0]
        )
        if role:
            clients.setdefault(role, []).append((name, login(app, name)))
    results = {}
    for role, pages in PAGES.items():
        people = clients[role]
        for page in pages:
            for name, client in people[:3]:  # warm-up
                timed_get(client, page.format(union=_union_of(ids, name)))
            samples = []
            for i in range(requests):
                name, client = people[i % len(people)]
                samples.append(timed_get(client, page.format(union=_union_of(ids, name))))
            results[f"{role} {page}"] = figures(samples)
    # The same first page at service level (count + page + step choices), no HTTP.
    with factory() as session:
        samples = []
        people = [session.get(User, ids["users"][n]) for n, _c in clients["approver_l1"]]
        for i in range(requests):
            user = people[i % len(people)]
            began = time.perf_counter()
            tasks.count_tasks(session, user, "group")
            tasks.list_tasks(session, user, "group", limit=20)
            tasks.step_choices(session, user, "group")
            samples.append(time.perf_counter() - began)
            session.rollback()
        results["service approver_l1 group (count+page+steps)"] = figures(samples)
    return results


def _union_of(ids: dict, username: str) -> int:
    """For a level-2 approver's org filter: the first union of the user's district."""
    if username.startswith("l2_"):
        d = int(username.split("_")[1])
        return ids["unions"][d * UNIONS_PER_DISTRICT]
    return ids["unions"][0]


def measure_completion(app, factory, ids: dict, count: int) -> dict:
    """The approval form POSTed for `count` distinct open level-1 tasks, and the API
    completion for `count` more; each by the task's own union approver."""
    with factory() as session:
        by_union = {}
        for tid, org in session.execute(
            select(HumanTask.id, HumanTask.org_id)
            .where(
                HumanTask.status == "open",
                HumanTask.element_id == "approve_l1",
                HumanTask.assignee_id.is_(None),
            )
            .order_by(HumanTask.id.desc())
        ):
            by_union.setdefault(org, []).append(tid)
        tokens = {}
        for union in ids["unions"]:
            user = session.get(User, ids["org_user"][(union, "approver_l1")][0])
            tokens[union] = auth.issue_token(session, user)
    clients = {}
    for d in range(DISTRICTS):
        for u in range(UNIONS_PER_DISTRICT):
            clients[ids["unions"][d * UNIONS_PER_DISTRICT + u]] = login(app, f"l1_{d}_{u}")
    # Round the unions: each union's newest waiting task, then the next newest, ...
    queue = [
        (union, queued[k])
        for k in range(max(len(q) for q in by_union.values()))
        for union, queued in sorted(by_union.items())
        if k < len(queued)
    ]
    assert len(queue) >= 2 * (count + 5), "too few open tasks for the completions asked"
    results = {}
    for how in ("form", "api"):
        samples = []
        for i in range(count + 5):
            union, tid = queue.pop(0)
            began = time.perf_counter()
            if how == "form":
                answer = clients[union].post(f"/tasks/{tid}", data={"decision": "approve"})
                ok = answer.status_code == 302
            else:
                answer = clients[union].post(
                    f"/api/v1/tasks/{tid}/complete",
                    json={"data": {"decision": "approve"}},
                    headers={"Authorization": f"Bearer {tokens[union]}"},
                )
                ok = answer.status_code == 200
            elapsed = time.perf_counter() - began
            assert ok, (how, tid, answer.status_code, answer.get_data(as_text=True)[:300])
            if i >= 5:  # warm-up
                samples.append(elapsed)
        results[how] = figures(samples)
    with factory() as session:
        waiting_l2 = session.scalar(
            select(func.count(HumanTask.id)).where(
                HumanTask.status == "open", HumanTask.element_id == "approve_l2"
            )
        )
    results["waiting_l2_after"] = waiting_l2
    return results


def explain(engine, factory, ids: dict) -> list[str]:
    """The plans of the level-1 group list's first page, its count, a deep page (offset
    1,000) and the same deep page by keyset (after the previous page's last task); on
    PostgreSQL with ANALYZE (actual rows and time)."""
    with factory() as session:
        user = session.get(User, ids["org_user"][(ids["unions"][0], "approver_l1")][0])
        ordered = tasks.task_query(user, "group").order_by(*tasks.SORTS["created"])
        page = ordered.limit(20)
        count = tasks.task_query(user, "group").with_only_columns(func.count(HumanTask.id))
        # A deep page: the 1,000th task on, or the queue's last page if it is shorter.
        depth = max(0, min(1000, (session.scalar(count.order_by(None)) or 0) - 20))
        deep = ordered.with_only_columns(HumanTask.id).limit(20).offset(depth)
        last = session.scalars(ordered.with_only_columns(HumanTask.id).offset(depth - 1).limit(1))
        last = last.first() if depth else None
        queries = [
            ("first page", page),
            ("count", count.order_by(None)),
            (f"offset {depth} (ids first)", deep),
        ]
        if last is not None:
            keyset = ordered.where(tasks._after(session, "created", last)).limit(20)
            queries.append((f"keyset after the {depth}th", keyset))
        lines = []
        if engine.dialect.name == "sqlite":
            prefix = "EXPLAIN QUERY PLAN "
        else:
            prefix = "EXPLAIN (ANALYZE, COSTS, TIMING OFF, SUMMARY ON) "
        for label, query in queries:
            compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
            lines.append(f"-- {label}")
            for row in session.execute(text(prefix + str(compiled))):
                lines.append(" | ".join(str(c) for c in row))
        return lines


def old_indexes(engine) -> None:
    """The task-list indexes as they were before migration 0016 (full, status first; no
    extended statistics), for a plan and figures to compare against."""
    with engine.begin() as conn:
        for name in (
            "ix_human_task_open",
            "ix_human_task_open_due",
            "ix_human_task_queue_open",
            "ix_human_task_queue_due",
        ):
            conn.execute(text(f"DROP INDEX {name}"))
        conn.execute(
            text(
                "CREATE INDEX ix_human_task_list ON human_task "
                "(status, candidate_group, org_id, assignee_id, created_at, id)"
            )
        )
        conn.execute(
            text(
                "CREATE INDEX ix_human_task_list_due ON human_task "
                "(status, candidate_group, org_id, assignee_id, due_at, id)"
            )
        )
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP STATISTICS IF EXISTS st_human_task_group_org"))


# --- one database ---------------------------------------------------------------------


def run(url: str, args) -> dict:
    log(f"== {make_url(url).render_as_string(hide_password=True)}")
    processes.forget_versions()
    engine = db.make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(engine)
    if args.old_indexes:
        old_indexes(engine)
    factory = db.make_session_factory(engine)
    ids = setup(factory)
    began = time.perf_counter()
    with factory() as session:
        for first in range(0, args.open, CHUNK):  # PostgreSQL takes at most 65,535 parameters
            archive_workers(session, ids["unions"], min(CHUNK, args.open - first), start=first)
    log(f"  archived workers: {args.open} in {time.perf_counter() - began:.1f} s")
    began = time.perf_counter()
    insert_finished(engine, ids, args.finished)
    finished_s = time.perf_counter() - began
    log(f"  finished cases: {args.finished} in {finished_s:.1f} s")
    launch_s, created = launch(factory, ids)
    assert created == args.open, created
    log(f"  launched: {created} open cases in {launch_s:.1f} s ({created / launch_s:.0f}/s)")
    to_l2 = max(DISTRICTS, int(args.open * args.l2_share))
    returned = max(len(ids["unions"]), int(args.open * args.rework_share))
    began = time.perf_counter()
    # Claims take at most a fifth of a union's queue (small runs keep tasks to complete).
    claimed = min(args.claimed, args.open // (len(ids["unions"]) * 5))
    service_times = move_on(factory, ids, to_l2, returned, claimed)
    log(
        f"  moved on: {to_l2} to level 2, {returned} returned, in "
        f"{time.perf_counter() - began:.1f} s"
    )
    overdue = make_overdue(engine, args.overdue_share)
    log(f"  overdue: {overdue} open tasks past their due date (督办 lists)")
    if engine.dialect.name == "postgresql":
        # What autovacuum does after a bulk load (PostgreSQL 13+ vacuums after inserts
        # too): statistics, and the visibility map that index-only counts rely on.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    with engine.begin() as conn:
        counts = {
            "cases": conn.scalar(select(func.count(Case.id))),
            "human_tasks": conn.scalar(select(func.count(HumanTask.id))),
            "open_tasks": conn.scalar(
                select(func.count(HumanTask.id)).where(HumanTask.status == "open")
            ),
            "audit_events": conn.scalar(select(func.count(AuditEvent.id))),
        }
    log(f"  rows: {counts}")
    size = database_bytes(engine, url)
    per_million = round(size / max(1, counts["cases"]) * 1_000_000 / 2**30, 2)
    log(f"  database size: {size / 2**30:.2f} GiB, {per_million} GiB per million cases")
    plans = explain(engine, factory, ids)
    for line in plans:
        log(f"  plan: {line}")

    app = make_app(url)
    load_before = os.getloadavg()[0]
    lists = measure_lists(app, factory, ids, args.requests)
    for page, f in lists.items():
        log(f"  list {page}: p50 {f['p50_ms']} ms, p95 {f['p95_ms']} ms")
    completion = measure_completion(app, factory, ids, args.completions)
    for how in ("form", "api"):
        f = completion[how]
        log(f"  complete ({how}): p50 {f['p50_ms']} ms, p95 {f['p95_ms']} ms")
    load = (round(load_before, 2), round(os.getloadavg()[0], 2))
    log(f"  machine load average (1 min) before / after measuring: {load[0]} / {load[1]}")
    app.extensions["warmflow.sessions"].kw["bind"].dispose()
    engine.dispose()
    http_pages = {k: v for k, v in lists.items() if not k.startswith("service")}
    return {
        "database": engine.dialect.name,
        "counts": counts,
        "plans": plans,
        "finished_insert_s": round(finished_s, 1),
        "database_bytes": size,
        "gib_per_million_cases": per_million,
        "launch_per_s": round(created / launch_s, 1),
        "lists": lists,
        "tasklist_p50_ms": max(v["p50_ms"] for v in http_pages.values()),
        "tasklist_p95_ms": max(v["p95_ms"] for v in http_pages.values()),
        "complete_form": completion["form"],
        "complete_api": completion["api"],
        "complete_p50_ms": max(completion["form"]["p50_ms"], completion["api"]["p50_ms"]),
        "complete_p95_ms": max(completion["form"]["p95_ms"], completion["api"]["p95_ms"]),
        "service_complete": figures(service_times),
        "load_average": load,
        "moved_to_l2": to_l2,
        "waiting_l2_after": completion["waiting_l2_after"],
    }


def database_bytes(engine, url: str) -> int:
    """The whole database on disk after VACUUM ANALYZE: tables, indexes and TOAST on
    PostgreSQL, the file (and its WAL) on SQLite."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            return int(conn.scalar(text("SELECT pg_database_size(current_database())")))
    path = make_url(url).database
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def own_postgres(url: str):
    """Create the bench's own database (dropped afterwards); never `test` or `postgres`."""
    parsed = make_url(url)
    name = parsed.database
    if not name or name in ("test", "postgres", "template0", "template1"):
        raise SystemExit(f"refusing to use the database {name!r}: name one of the bench's own")
    admin = db.make_engine(
        parsed.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return drop


def main() -> None:
    runtime.tune_gc()  # as the web app and the worker run
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=100000, help="open cases (a launch)")
    parser.add_argument("--finished", type=int, default=1000000, help="closed cases (bulk)")
    parser.add_argument("--requests", type=int, default=100, help="GETs per list page")
    parser.add_argument("--completions", type=int, default=100, help="per completion kind")
    parser.add_argument("--l2-share", type=float, default=0.03, help="open moved to level 2")
    parser.add_argument("--rework-share", type=float, default=0.01, help="open returned")
    parser.add_argument("--claimed", type=int, default=30, help="claimed tasks per person")
    parser.add_argument(
        "--overdue-share", type=float, default=0.05, help="open tasks made overdue (督办)"
    )
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument(
        "--old-indexes",
        action="store_true",
        help="the task-list indexes before migration 0016 (to compare plans and figures)",
    )
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES,
        help="the bench's own PostgreSQL database, created and dropped by the script",
    )
    parser.add_argument(
        "--database-url", default=None, help="run on this one database only (emptied first)"
    )
    args = parser.parse_args()
    logging.getLogger("spiff").setLevel(logging.WARNING)
    # Users are made with a cheap hash (as the tests do): ~110 scrypt hashes would cost
    # ~10 s; logging in still checks a real hash.
    users.generate_password_hash = lambda p: generate_password_hash(p, "pbkdf2:sha256:1")

    runs = []
    with tempfile.TemporaryDirectory(prefix="warmflow-bench-") as tmp:
        os.environ.setdefault("WARMFLOW_FILES_DIR", os.path.join(tmp, "files"))
        if args.database_url:
            runs.append(run(args.database_url, args))
        else:
            runs.append(run(f"sqlite:///{tmp}/bench.sqlite", args))
            if not args.sqlite_only:
                drop = own_postgres(args.postgres_url)
                try:
                    runs.append(run(args.postgres_url, args))
                finally:
                    drop()

    raw = raw_complete_times(max(20, args.completions))
    raw_f = figures(raw)
    log(f"raw SpiffWorkflow approve_l1 step + serialize: p50 {raw_f['p50_ms']} ms")
    worst = {
        "tasklist_p95_ms": max(r["tasklist_p95_ms"] for r in runs),
        "tasklist_p50_ms": max(r["tasklist_p50_ms"] for r in runs),
        "complete_p95_ms": max(r["complete_p95_ms"] for r in runs),
        "complete_p50_ms": max(r["complete_p50_ms"] for r in runs),
    }
    result = {
        "open": args.open,
        "finished": args.finished,
        "databases": [r["database"] for r in runs],
        **worst,
        "tasklist_goal_met": worst["tasklist_p95_ms"] <= GOAL_LIST_MS,
        "complete_goal_met": worst["complete_p95_ms"] <= GOAL_COMPLETE_MS,
        "raw_complete_p50_ms": raw_f["p50_ms"],
        # warmflow over HTTP / raw step + serialize, on the p50s (worse database).
        "complete_ratio": round(worst["complete_p50_ms"] / raw_f["p50_ms"], 2),
        "complete_api_ratio": round(
            max(r["complete_api"]["p50_ms"] for r in runs) / raw_f["p50_ms"], 2
        ),
        "per_database": {
            r["database"]: {
                "tasklist_p50_ms": r["tasklist_p50_ms"],
                "tasklist_p95_ms": r["tasklist_p95_ms"],
                "complete_form": r["complete_form"],
                "complete_api": r["complete_api"],
                "service_complete": r["service_complete"],
                "finished_insert_s": r["finished_insert_s"],
                "database_bytes": r["database_bytes"],
                "gib_per_million_cases": r["gib_per_million_cases"],
                "launch_per_s": r["launch_per_s"],
                "counts": r["counts"],
                "plans": r["plans"],
                "load_average": r["load_average"],
                "moved_to_l2": r["moved_to_l2"],
                "waiting_l2_after": r["waiting_l2_after"],
                "lists": r["lists"],
            }
            for r in runs
        },
    }
    # The figures per database under flat names (pg_launch_per_s, sqlite_tasklist_p95_ms).
    for r in runs:
        prefix = {"postgresql": "pg"}.get(r["database"], r["database"])
        for key in ("launch_per_s", "tasklist_p95_ms", "complete_p95_ms", "tasklist_p50_ms"):
            result[f"{prefix}_{key}"] = r[key]
        result[f"{prefix}_complete_form_p95_ms"] = r["complete_form"]["p95_ms"]
    for r in runs:
        log(
            f"{r['database']}: task list p95 {r['tasklist_p95_ms']} ms (goal {GOAL_LIST_MS:.0f}), "
            f"completion p95 {r['complete_p95_ms']} ms (goal {GOAL_COMPLETE_MS:.0f})"
        )
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
