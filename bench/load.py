"""Load benchmark: warmflow under gunicorn on PostgreSQL, many approvers at once.

- creates a fresh PostgreSQL database (dropped at the end), migrates it, deploys bpmn/;
- seeds a federation (3 districts, 6 grassroots unions, approvers at every level) and a
  冬送温暖 campaign launched from the archive: `--cases` open level-1 approvals;
- starts `gunicorn -c gunicorn.conf.py -w N 'webapp:create_app()'` on a free loopback
  port;
- runs `--users` simulated approvers for `--seconds`, each on its own loopback address
  (127.0.0.x, so the per-address login limit of the API applies to each as it would to
  people): log in once (POST /api/v1/token), then list the task pool
  (GET /api/v1/tasks?scope=group, now and then scope=mine) and complete one
  (POST /api/v1/tasks/<id>/complete {"data": {"decision": "approve"}}). A share
  `--racers` of each organisation's approvers (two at least) always takes the first task
  of the list, so they collide on the same task: those collisions must come back as 409,
  never as a double approval; the others pick at random from the first 50;
- checks afterwards that nothing was lost or done twice: every 200 answer is exactly one
  completed task and one `task.complete` audit event, and every approved case moved on
  exactly once (one next approval, or one payment after the last level).

    python bench/load.py [--users 50] [--seconds 120] [--workers N] [--cases 5000]

Needs PostgreSQL (`--admin-url`, default postgresql://postgres@127.0.0.1:5432/postgres,
a database it may CREATE/DROP databases from) and gunicorn. Traffic goes to loopback only.
The last line printed is one JSON object.
"""

import argparse
import http.client
import json
import logging
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from campaign_helpers import archive_workers  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from workflows import campaigns, db, migrate, processes, runtime, users  # noqa: E402
from workflows.models import (  # noqa: E402
    AuditEvent,
    Campaign,
    CampaignBudget,
    Case,
    HumanTask,
    Payment,
    User,
)

PASSWORD = "load-bench-password-1"  # noqa: S105 (a throwaway database)
STANDARDS = {"living": 100000, "medical": 300000, "schooling": 100000, "disaster": 200000}
STANDARDS["other"] = 50000
THRESHOLD = 200000  # above it, a third (city) approval
LEVELS = ("approve_l1", "approve_l2", "approve_l3")
KINDS = ("token", "list_group", "list_mine", "complete")


# --- the database ---------------------------------------------------------------------


def create_database(admin_url: str, name: str) -> str:
    admin = db.make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin.url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    admin = db.make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def user_plan(count: int) -> list[tuple[str, str, int, int]]:
    """(username, role, district index, union index) for `count` approvers: about one in
    twelve at the district, one or two at the city, the rest at the grassroots unions."""
    l3 = max(1, count // 25)
    l2 = max(3, count // 12) if count >= 6 else 0
    l1 = max(count - l3 - l2, 1)
    plan = [(f"l1_{n:02d}", "approver_l1", n % 6 // 2, n % 6) for n in range(l1)]
    plan += [(f"l2_{n:02d}", "approver_l2", n % 3, -1) for n in range(l2)]
    plan += [(f"l3_{n:02d}", "approver_l3", -1, -1) for n in range(l3)]
    return plan[:count] if count >= 3 else plan


def seed(factory, approvers: int, cases: int) -> dict:
    with factory() as session:
        processes.deploy_files(session, None, sorted((ROOT / "bpmn").glob("*.bpmn")))
        city = users.add_organisation(session, "nj", "内江市总工会")
        districts, unions = [], []
        for d in range(3):
            district = users.add_organisation(session, f"d{d}", f"第{d + 1}区总工会", city)
            districts.append(district)
            for u in range(2):
                unions.append(
                    users.add_organisation(
                        session, f"d{d}u{u}", f"第{d + 1}区第{u + 1}帮扶站", district
                    )
                )
        manager = users.add_user(session, "mgr", PASSWORD, "管理员", city, ["manager"])
        plan = user_plan(approvers)
        for username, role, d, u in plan:
            org = unions[u] if role == "approver_l1" else districts[d] if d >= 0 else city
            users.add_user(session, username, PASSWORD, username, org, [role])
        campaign = Campaign(
            code="dsnw2026",
            name="2026年冬送温暖",
            programme="seasonal_aid",
            season="winter",
            year=2026,
            aid_kind="cash",
            owner_org_id=city.id,
            standards_json=json.dumps(STANDARDS),
            city_approval_threshold_fen=THRESHOLD,
        )
        session.add(campaign)
        session.flush()
        for district in districts:
            session.add(
                CampaignBudget(campaign_id=campaign.id, org_id=district.id, budget_fen=10**13)
            )
        session.commit()
        campaign_id, manager_id = campaign.id, manager.id
        archive_workers(session, [u.id for u in unions], cases)
        launch = campaigns.start_launch(session, session.get(User, manager_id), campaign_id)
        launch_id = launch.id
    began = time.perf_counter()
    campaigns.run_launch(factory, launch_id)
    launch_s = time.perf_counter() - began
    with factory() as session:
        row = campaigns.get_launch(session, session.get(User, manager_id), launch_id)
        assert row.status == "done" and row.created == cases, (row.status, row.message)
        open_l1 = session.scalar(
            select(func.count(HumanTask.id)).where(
                HumanTask.status == "open", HumanTask.element_id == "approve_l1"
            )
        )
    return {"plan": plan, "launch_s": launch_s, "open_l1": open_l1}


# --- the server -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(url: str, port: int, workers: int, folder: Path) -> subprocess.Popen:
    gunicorn = Path(sys.executable).parent / "gunicorn"
    command = [str(gunicorn) if gunicorn.exists() else "gunicorn", "-c", "gunicorn.conf.py"]
    command += ["-w", str(workers), "-b", f"127.0.0.1:{port}", "webapp:create_app()"]
    env = dict(
        os.environ,
        DATABASE_URL=url,
        SECRET_KEY=os.urandom(24).hex(),
        WARMFLOW_FILES_DIR=str(folder / "files"),
        WARMFLOW_ACCESS_LOG=str(folder / "access.log"),
    )
    log = (folder / "gunicorn.log").open("wb")
    server = subprocess.Popen(  # noqa: S603 (our own command line)
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("gunicorn did not start:\n" + (folder / "gunicorn.log").read_text())
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/openapi.json")
            if conn.getresponse().status == 200:
                conn.close()
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not answer within 60 s")


def stop(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=40)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# --- the simulated users ----------------------------------------------------------------


@dataclass
class Tally:
    latencies: dict = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    completed: list = field(default_factory=list)  # task ids answered 200
    unexpected: Counter = field(default_factory=Counter)  # (kind, status, code) of 4xx/5xx
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, seconds: float, outcome: str | None) -> None:
        with self.lock:
            if outcome in (None, "conflict_409", "http_4xx", "http_5xx"):
                self.latencies[kind].append(seconds)
            if outcome is not None:
                self.errors[outcome] += 1


class Window:
    began = 0.0
    deadline = 0.0


class SimulatedUser:
    def __init__(self, index: int, username: str, port: int, racer: bool, tally: Tally):
        self.username = username
        self.racer = racer
        self.tally = tally
        self.port = port
        # Each user on its own loopback address, as people behind their own machines.
        self.source = (f"127.0.{10 + index // 200}.{10 + index % 200}", 0)
        self.conn = self._connect()
        self.token = ""
        self.rand = random.Random(index)  # noqa: S311 (load pattern, not security)

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=30, source_address=self.source
        )

    def call(self, kind: str, method: str, path: str, payload: dict | None = None):
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        body = json.dumps(payload).encode() if payload is not None else None
        began = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            answer = self.conn.getresponse()
            data = answer.read()
        except TimeoutError:
            self.tally.add(kind, time.perf_counter() - began, "timeout")
            self.conn.close()
            self.conn = self._connect()
            return None, None
        except (OSError, http.client.HTTPException):
            self.tally.add(kind, time.perf_counter() - began, "connection")
            self.conn.close()
            self.conn = self._connect()
            return None, None
        status = answer.status
        outcome = None
        if status == 409:
            outcome = "conflict_409"
        elif status >= 500:
            outcome = "http_5xx"
        elif status >= 400:
            outcome = "http_4xx"
        self.tally.add(kind, time.perf_counter() - began, outcome)
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        if outcome in ("http_4xx", "http_5xx"):
            code = parsed.get("code") if isinstance(parsed, dict) else None
            message = parsed.get("message") if isinstance(parsed, dict) else None
            with self.tally.lock:
                self.tally.unexpected[f"{kind} {status} {code}: {message}"] += 1
        return status, parsed

    def run(self, window: Window, start_gate: threading.Barrier) -> None:
        status, answer = self.call(
            "token", "POST", "/api/v1/token", {"username": self.username, "password": PASSWORD}
        )
        start_gate.wait()
        if status != 200:
            return
        self.token = answer["token"]
        rounds = 0
        while time.monotonic() < window.deadline:
            rounds += 1
            if rounds % 10 == 0:
                self.call("list_mine", "GET", "/api/v1/tasks?scope=mine&limit=20")
            status, answer = self.call("list_group", "GET", "/api/v1/tasks?scope=group&limit=50")
            items = (answer or {}).get("items") or [] if status == 200 else []
            if not items:
                time.sleep(0.2)  # nothing waiting at this level yet
                continue
            task = items[0] if self.racer else self.rand.choice(items)
            status, _ = self.call(
                "complete",
                "POST",
                f"/api/v1/tasks/{task['id']}/complete",
                {"data": {"decision": "approve"}},
            )
            if status == 200:
                with self.tally.lock:
                    self.tally.completed.append(task["id"])
        self.conn.close()


def racing_users(plan: list[tuple], share: float) -> set[str]:
    """In every organisation, the first max(2, share × its approvers) approvers race: they
    all take the first task of the same list."""
    if share <= 0:
        return set()
    groups = defaultdict(list)
    for username, role, d, u in plan:
        groups[(role, d, u)].append(username)
    chosen = set()
    for names in groups.values():
        chosen.update(names[: max(2, round(share * len(names)))])
    return chosen


def run_users(port: int, plan: list[tuple], seconds: float, racers: float) -> tuple:
    tally = Tally()
    racing = racing_users(plan, racers)
    people = [
        SimulatedUser(i, name, port, name in racing, tally) for i, (name, *_rest) in enumerate(plan)
    ]
    # Everyone logs in first (not part of the measured window), then all start at once.
    window = Window()

    def open_window() -> None:  # run by one thread as the last one reaches the gate
        window.began = time.monotonic()
        window.deadline = window.began + seconds

    gate = threading.Barrier(len(people) + 1, action=open_window)
    threads = [threading.Thread(target=p.run, args=(window, gate), daemon=True) for p in people]
    for t in threads:
        t.start()
    gate.wait()
    began = window.began
    for t in threads:
        t.join(timeout=seconds + 120)
    elapsed = time.monotonic() - began
    return tally, elapsed, sum(p.racer for p in people)


# --- checking the result --------------------------------------------------------------


def verify(factory, completed: list[int]) -> dict:
    """Nothing lost, nothing twice: compare the 200 answers with the database."""
    answered = Counter(completed)
    with factory() as session:
        done = dict(
            session.execute(
                select(HumanTask.id, HumanTask.case_id).where(HumanTask.status == "completed")
            ).all()
        )
        audits = Counter()
        for (detail,) in session.execute(
            select(AuditEvent.detail).where(AuditEvent.action == "task.complete")
        ):
            audits[json.loads(detail).get("task_id")] += 1
        per_case = defaultdict(Counter)
        for case_id, element, status in session.execute(
            select(HumanTask.case_id, HumanTask.element_id, HumanTask.status)
        ):
            per_case[case_id][element] += 1
            if status == "completed":
                per_case[case_id][element + ":done"] += 1
        payments = Counter(session.scalars(select(Payment.case_id)))
        amounts = dict(session.execute(select(Case.id, Case.amount_fen)).all())
    twice_answered = sum(1 for n in answered.values() if n > 1)
    lost = len(set(answered) - set(done))  # a 200 with no completed task
    unanswered = len(set(done) - set(answered))  # completed, but no client was told
    audit_mismatch = sum(1 for t in set(done) | set(audits) if audits.get(t) != 1)
    bad_advance = 0
    for case_id, seen in per_case.items():
        if any(seen[level] > 1 for level in LEVELS) or payments[case_id] > 1:
            bad_advance += 1
            continue
        l3_needed = (amounts.get(case_id) or 0) > THRESHOLD
        expected = [
            (seen["approve_l1:done"], seen["approve_l2"]),
            (seen["approve_l2:done"] if l3_needed else 0, seen["approve_l3"]),
        ]
        last = "approve_l3:done" if l3_needed else "approve_l2:done"
        expected.append((seen[last], payments[case_id]))
        if any(done_here != next_here for done_here, next_here in expected):
            bad_advance += 1
    return {
        "completed_tasks": len(done),
        "answered_200": sum(answered.values()),
        "answered_twice": twice_answered,
        "lost": lost,
        "unanswered": unanswered,
        "audit_mismatch": audit_mismatch,
        "cases_advanced_wrongly": bad_advance,
        "payments": sum(payments.values()),
    }


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def main() -> None:
    runtime.tune_gc()  # as the web app and the worker run
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--workers", type=int, default=multiprocessing.cpu_count() * 2 + 1)
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument(
        "--racers",
        type=float,
        default=0.2,
        help="share of racing users per organisation (at least 2 each)",
    )
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "LOAD_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    logging.getLogger("spiff").setLevel(logging.WARNING)

    name = f"warmflow_load_{os.getpid()}"
    url = create_database(args.admin_url, name)
    server = None
    try:
        engine = db.make_engine(url)
        migrate.upgrade(engine)
        factory = db.make_session_factory(engine)
        began = time.perf_counter()
        seeded = seed(factory, args.users, args.cases)
        print(
            f"seeded {args.cases} cases ({seeded['launch_s']:.1f} s launch), "
            f"{len(seeded['plan'])} approvers in {time.perf_counter() - began:.1f} s"
        )
        with tempfile.TemporaryDirectory() as tmp:
            port = free_port()
            server = start_gunicorn(url, port, args.workers, Path(tmp))
            print(f"gunicorn: {args.workers} workers on 127.0.0.1:{port}")
            tally, elapsed, racers = run_users(port, seeded["plan"], args.seconds, args.racers)
            stop(server)
            server = None
            server_errors = (Path(tmp) / "gunicorn.log").read_text().count("Traceback")
        checked = verify(factory, tally.completed)
        engine.dispose()
    finally:
        if server is not None:
            server.kill()
            server.wait()
        drop_database(args.admin_url, name)

    requests = sum(len(v) for v in tally.latencies.values())
    completions = len(tally.completed)
    latency = {
        kind: {
            "count": len(tally.latencies[kind]),
            "p50_ms": round(percentile(tally.latencies[kind], 50) * 1000, 1),
            "p95_ms": round(percentile(tally.latencies[kind], 95) * 1000, 1),
            "p99_ms": round(percentile(tally.latencies[kind], 99) * 1000, 1),
        }
        for kind in KINDS
        if tally.latencies[kind]
    }
    errors = {k: tally.errors.get(k, 0) for k in ("conflict_409", "http_4xx", "http_5xx")}
    errors.update({k: tally.errors.get(k, 0) for k in ("timeout", "connection")})
    print(
        f"{args.users} users ({racers} racing) for {elapsed:.0f} s: {requests} requests, "
        f"{requests / elapsed:.1f}/s; {completions} completions, {completions / elapsed:.1f}/s"
    )
    for kind, row in latency.items():
        print(
            f"  {kind:<11} n={row['count']:<6} p50 {row['p50_ms']} ms  p95 {row['p95_ms']} ms"
            f"  p99 {row['p99_ms']} ms"
        )
    print("  errors: " + ", ".join(f"{k} {v}" for k, v in errors.items()))
    for line, count in tally.unexpected.most_common(5):
        print(f"    {count} × {line}")
    print(
        f"  check: {checked['completed_tasks']} tasks completed, {checked['answered_200']} "
        f"answered 200, lost {checked['lost']}, twice {checked['answered_twice']}, audit "
        f"mismatches {checked['audit_mismatch']}, cases advanced wrongly "
        f"{checked['cases_advanced_wrongly']}, server tracebacks {server_errors}"
    )
    figures = {
        "database": "postgresql",
        "users": args.users,
        "racers": racers,
        "web_workers": args.workers,
        "cases": args.cases,
        "seconds": round(elapsed, 1),
        "requests": requests,
        "requests_per_s": round(requests / elapsed, 1),
        "completions": completions,
        "completions_per_s": round(completions / elapsed, 1),
        "latency": latency,
        "errors": errors,
        "server_tracebacks": server_errors,
        **{k: v for k, v in checked.items()},
        "ok": (
            checked["lost"] == 0
            and checked["answered_twice"] == 0
            # a completion whose answer timed out is done but unanswered, and that is fine
            and checked["unanswered"] <= errors["timeout"] + errors["connection"]
            and checked["audit_mismatch"] == 0
            and checked["cases_advanced_wrongly"] == 0
            and errors["http_5xx"] == 0
        ),
    }
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
