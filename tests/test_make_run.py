"""`make run` as a person runs it, and the web app and timer worker beside each other.

A fresh working directory with the default configuration (`sqlite:///instance/...` and
the files folder relative to it, no WARMFLOW_FILES_DIR, no SECRET_KEY): `warmflow init-db
--demo`, then `flask run` and `warmflow worker` as two processes on one SQLite file, as
the Makefile starts them. The tests reach them over HTTP as a browser and an API client
would. Cases whose notice periods ended in the real past are registered by this process
(its clock moved back with time-machine; the subprocesses keep the real one), exactly as
timers fall due while nobody is looking.

These run on their own SQLite file whatever TEST_DATABASE_URL says, so they run once, in
the SQLite pass of `make test`.
"""

import os
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from conftest import JPEG, PNG, csrf_from, login, restart, valid_id
from served import BIN, Client, Process, api_token, free_port, start, user_env, wait_until
from sqlalchemy import func, select

from workflows import cases, db, demo, files, tasks, users, workdays
from workflows.clock import CST, local_now, now
from workflows.models import HumanTask, ProcessInstance

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL")),
    reason="runs as `make run` does, on its own SQLite file: once, in the SQLite pass",
)
PASSWORD = demo.PASSWORD


@dataclass
class Site:
    cwd: Path
    url: str
    web: Process
    worker: Process

    @property
    def database(self) -> Path:
        return self.cwd / "instance" / "warmflow.sqlite"

    def factory(self):
        """This process's own way into the same SQLite file (as a third process would)."""
        return db.make_session_factory(db.make_engine(f"sqlite:///{self.database}"))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("make-run")
    env = user_env()
    seeded = subprocess.run(  # noqa: S603 - our own command line
        [str(BIN / "warmflow"), "init-db", "--demo"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert seeded.returncode == 0, seeded.stdout[-2000:] + seeded.stderr[-3000:]
    assert "已生成演示数据" in seeded.stdout
    port = free_port()
    web = start(
        [BIN / "flask", "--app", "webapp:create_app()", "run", "--host", "127.0.0.1"]
        + ["--port", str(port)],
        cwd,
        user_env(WARMFLOW_INSECURE_COOKIES="1"),
        "web",
    )
    worker = start([BIN / "warmflow", "worker", "--interval", "1"], cwd, env, "worker")
    site = Site(cwd, f"http://127.0.0.1:{port}", web, worker)
    try:
        healthy = wait_until(lambda: Client(site.url).get("/healthz").status == 200, 90)
        assert healthy, web.output()[-3000:]
        yield site
    finally:
        worker.stop()
        web.stop()


def stored_files(site: Site) -> list[tuple[int, str, str]]:
    with sqlite3.connect(site.database) as conn:
        return conn.execute(
            "SELECT f.id, f.content_type, o.code FROM stored_file f"
            ' JOIN "case" c ON c.id = f.case_id JOIN organisation o ON o.id = c.org_id'
        ).fetchall()


# --- files: stored under the working directory, downloaded through the web app ----------


def test_demo_files_and_new_uploads_download_under_make_run(site):
    # The uploads went where the default says, under the working directory.
    assert list((site.cwd / "instance" / "files").rglob("*")), "nothing stored on disk"
    letters = [(i, t) for i, t, org in stored_files(site) if org == "szq1" and t.endswith("pdf")]
    photos = [(i, t) for i, t, org in stored_files(site) if org == "szq1" and "jpeg" in t]
    assert letters and photos

    page = Client(site.url)
    assert page.sign_in("caseworker.szq1", PASSWORD).status == 302
    headers = api_token(site.url, "caseworker.szq1", PASSWORD)
    api = Client(site.url, headers)
    for file_id, kind in (letters[0], photos[0]):
        expected = demo.demo_file(
            "admission_letter.pdf" if kind.endswith("pdf") else "housing_outside.jpg"
        )
        shown = page.get(f"/files/{file_id}")
        assert (shown.status, shown.headers["Content-Type"]) == (200, kind)
        assert shown.body == expected
        assert api.get(f"/api/v1/files/{file_id}").body == expected

    # What an API client uploads, it reads back; a browser session too.
    for name, content, kind in (("扫描件.png", PNG, "image/png"), ("照片.jpg", JPEG, "image/jpeg")):
        uploaded = api.post_file("/api/v1/files", name, content)
        assert uploaded.status == 201, uploaded.text
        file_id = uploaded.json()["id"]
        again = api.get(f"/api/v1/files/{file_id}")
        assert (again.status, again.headers["Content-Type"], again.body) == (200, kind, content)
        assert page.get(f"/files/{file_id}").body == content

    # Scope holds: another union's caseworker gets neither.
    other = Client(site.url, api_token(site.url, "caseworker.zzx1", PASSWORD))
    assert other.get(f"/api/v1/files/{letters[0][0]}").status == 403
    assert Client(site.url).get(f"/api/v1/files/{letters[0][0]}").status == 401


# --- the timer worker beside the web app ----------------------------------------------------

_serial = iter(range(100, 999))


def archive_cases_in_notice(
    site: Site, count: int, days_ago: int, visited: bool = True
) -> list[int]:
    """`count` 困难职工建档 cases registered and visited `days_ago` days ago by 张敏: each
    has its notice posted; its 5 working days are long over by now. Not `visited`, they
    wait for their home visit (no timer the worker could fire)."""
    restart()  # this process's caches knew the test database, not this one
    factory = site.factory()
    made = []
    with time_machine.travel(now() - timedelta(days=days_ago), tick=False):
        with factory() as session:
            caseworker = users.get_user(session, "caseworker.szq1")
            for _ in range(count):
                number = valid_id(f"51100219990101{next(_serial):03d}")
                case = cases.start_case(
                    session,
                    caseworker,
                    "hardship_archive",
                    dict(
                        worker_name="测试职工",
                        worker_id_number=number,
                        employer="城东物业公司",
                        hardship_category="living",
                        household_size=2,
                        household_income_fen=2_000_000,
                        hardship_description="本人长期病休，仅领取基本生活费，独自抚养孩子。",
                    ),
                    None,
                )
                made.append(case.id)
                if not visited:
                    continue
                visit = session.scalars(
                    select(HumanTask).where(
                        HumanTask.case_id == case.id, HumanTask.status == "open"
                    )
                ).one()
                tasks.complete(
                    session,
                    caseworker,
                    visit.id,
                    dict(
                        visit_date=local_now().date().isoformat(),
                        visitors="张敏、李强",
                        household_situation="入户核实：租住老旧小区，本人病休在家，收入仅基本"
                        "生活费，孩子读初中，情况属实。",
                        visit_verdict="confirmed",
                        housing_photos=[files.store(session, caseworker, "住房.jpg", JPEG).id],
                    ),
                )
    return made


def approvals_open(site: Site, case_ids: list[int]) -> int:
    with site.factory()() as session:
        return session.scalar(
            select(func.count(HumanTask.id)).where(
                HumanTask.case_id.in_(case_ids),
                HumanTask.element_id == "approve_l1",
                HumanTask.status == "open",
            )
        )


def health(site: Site) -> dict:
    return Client(site.url).get("/healthz").json()["timers"]


def test_the_worker_beside_the_web_app_closes_notices_and_outlives_errors(site):
    # It has run: /healthz says so, and the manager sees no warning.
    assert wait_until(lambda: health(site)["state"] == "ok", 60), site.worker.output()[-3000:]
    manager = Client(site.url)
    assert manager.sign_in("manager.nj", PASSWORD).status == 302
    assert "定时任务" not in manager.get("/").text

    # A case whose stored state is broken (as a broken diagram would leave it) falls due
    # among others: it is set aside with its error, the others move on.
    # The broken one falls due only once its state is broken (in one statement), so the
    # worker cannot fire it before.
    (broken,) = archive_cases_in_notice(site, 1, days_ago=25, visited=False)
    due = [broken, *archive_cases_in_notice(site, 3, days_ago=25)]
    with sqlite3.connect(site.database) as conn:
        conn.execute(
            "UPDATE process_instance SET state = ?, next_timer_at = ? WHERE case_id = ?",
            (b"\0", "2000-01-01 00:00:00.000000", broken),
        )

    def parked() -> ProcessInstance | None:
        with site.factory()() as session:
            found = session.scalars(
                select(ProcessInstance).where(ProcessInstance.case_id == broken)
            ).one()
            return found if found.error else None

    assert wait_until(lambda: approvals_open(site, due[1:]) == 3 and parked(), 90), (
        site.worker.output()[-3000:]
    )
    assert "定时器执行出错" in parked().error and parked().next_timer_at > now()
    # The approver sees the three through the web app.
    approver = Client(site.url, api_token(site.url, "approver1.szq1", PASSWORD))
    listed = approver.get("/api/v1/tasks?scope=group&limit=100").json()["items"]
    assert {t["case_id"] for t in listed} >= set(due[1:]) and broken not in {
        t["case_id"] for t in listed
    }

    # A round that fails as a whole (here the database answers "no such table", as a
    # locked database would answer "locked"): noted, and the worker goes on.
    with sqlite3.connect(site.database) as conn:
        conn.execute("ALTER TABLE payment RENAME TO payment_elsewhere")
    try:
        failing = wait_until(lambda: health(site)["failing"] and health(site), 60)
        assert failing and "no such table" in failing["last_error"], site.worker.output()[-3000:]
        assert "round failed" in site.worker.output() and site.worker.alive()
        page = manager.get("/").text
        assert "定时任务最近一轮出错" in page and "no such table" in page
    finally:
        with sqlite3.connect(site.database) as conn:
            conn.execute("ALTER TABLE payment_elsewhere RENAME TO payment")
    # It backed off (2 s, 4 s, …) and comes back by itself.
    later = archive_cases_in_notice(site, 2, days_ago=25)
    assert wait_until(lambda: approvals_open(site, later) == 2, 90), site.worker.output()[-3000:]
    assert wait_until(lambda: not health(site)["failing"], 60)
    assert site.worker.alive() and "定时任务" not in manager.get("/").text


# --- holidays: one process enters them, another counts with them at once ------------------


def home_visit_due(api: Client) -> str:
    number = valid_id(f"51100219980101{next(_serial):03d}")
    started = api.post_json(
        "/api/v1/cases",
        {
            "process": "hardship_archive",
            "data": {
                "worker_name": "测试职工",
                "worker_id_number": number,
                "employer": "内江钢铁厂",
                "hardship_category": "medical",
                "household_size": 3,
                "household_income_fen": 2_600_000,
                "hardship_description": "妻子患尿毒症需长期透析，家庭医疗支出大，收入低。",
            },
        },
    )
    assert started.status == 201, started.text
    case_id = started.json()["case"]["id"]
    (visit,) = api.get(f"/api/v1/cases/{case_id}").json()["open_tasks"]
    return visit["due_at"]


def test_a_holiday_entered_in_one_app_instance_counts_in_the_other_at_once(site):
    """The web app under `flask run` has the calendar cached; a manager enters a holiday
    through another instance of the app (here, in this process): the very next due date
    the first one computes skips it."""
    from webapp import create_app

    restart()
    api = Client(site.url, api_token(site.url, "caseworker.szq1", PASSWORD))
    before = home_visit_due(api)
    assert home_visit_due(api) == before  # the same day, from the cached calendar

    factory = site.factory()
    with factory() as session:
        calendar = workdays.load(session)
    day = local_now().date() + timedelta(days=1)
    while not calendar.is_workday(day):
        day += timedelta(days=1)
    other = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "another-instance",
            "DATABASE_URL": f"sqlite:///{site.database}",
            "WARMFLOW_FILES_DIR": str(site.cwd / "instance" / "files"),
        }
    )
    manager = other.test_client()
    assert login(manager, "manager.nj", PASSWORD).status_code == 302
    url = f"/calendar?year={day.year}"
    saved = manager.post(
        url,
        data={"csrf_token": csrf_from(manager, url), "holidays": day.isoformat(), "workdays": ""},
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)[-2000:]

    after = home_visit_due(api)
    with factory() as session:
        moved = workdays.load(session)
    assert not moved.is_workday(day)
    expected = moved.period_end(now(), 10).astimezone(CST)
    assert after > before and after[:10] == expected.date().isoformat(), (before, after, day)


def test_make_run_again_keeps_the_demo_and_the_diagrams(site):
    """A second `make run` in the same directory: nothing deployed or seeded twice."""
    with sqlite3.connect(site.database) as conn:
        before = conn.execute('SELECT count(*) FROM "case"').fetchone()[0]
    again = subprocess.run(  # noqa: S603 - our own command line
        [str(BIN / "warmflow"), "init-db", "--demo"],
        cwd=site.cwd,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "演示数据已存在，未重复生成" in again.stdout
    assert again.stdout.count("（未变化）") == 8 and "新版本" not in again.stdout
    with sqlite3.connect(site.database) as conn:
        assert conn.execute('SELECT count(*) FROM "case"').fetchone()[0] == before
