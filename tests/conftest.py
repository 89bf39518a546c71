"""Shared fixtures: a database (SQLite by default, PostgreSQL with TEST_DATABASE_URL)
migrated once per run, emptied before each test; the diagrams deployed; a small
federation with one user per role; campaigns; and the clock under time-machine.
"""

import json
import os
import re
import struct
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import select, text
from stdnum import luhn
from stdnum.cn import ric
from werkzeug.security import generate_password_hash

from workflows import db, files, migrate, paths, processes, tasks, users, workdays
from workflows.clock import CST
from workflows.models import Campaign, CampaignBudget, Case, HumanTask, User

ROOT = Path(__file__).resolve().parent.parent
BPMN = ROOT / "bpmn"
VENDOR = ROOT / "webapp" / "static" / "vendor"
# The browser bundles `make vendor` builds from npm (make setup runs it).
BUNDLES = {
    "bpmn-js": VENDOR / "bpmn-js" / "bpmn-viewer.production.min.js",
    "editor": VENDOR / "editor" / "editor.js",
    "Chart.js": VENDOR / "chartjs" / "chart.umd.min.js",
}


def require_bundles(*names: str, module: bool = False) -> None:
    """Skip (saying why) when a browser bundle is not built, as on a machine without npm;
    CI sets WARMFLOW_REQUIRE_BROWSER=1 (.ci/run), and there a missing bundle fails."""
    missing = [name for name in names or BUNDLES if not BUNDLES[name].is_file()]
    if missing:
        skip_or_fail(
            f"{'、'.join(missing)} not built: run `make vendor` (make setup does; needs npm)",
            module,
        )


def skip_or_fail(reason: str, module: bool = False) -> None:
    """What the browser side lacks: a skip on a developer's machine, a failure in CI."""
    if os.environ.get("WARMFLOW_REQUIRE_BROWSER"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=module)


# Every property test draws the same examples on every run and machine: a failure in CI
# is a failure on a developer's machine too (and no example database is left behind).
# A test's own @settings inherit this profile; `--hypothesis-seed` has no effect under it.
hypothesis_settings.register_profile("warmflow", derandomize=True, database=None)
hypothesis_settings.load_profile("warmflow")

# Small real files of each accepted kind, as an office would upload them.
DEMO_FILES = ROOT / "workflows" / "demo_files"
PDF = (DEMO_FILES / "admission_letter.pdf").read_bytes()
JPEG = (DEMO_FILES / "housing_outside.jpg").read_bytes()


def _png(width: int = 4, height: int = 3) -> bytes:
    """A small grey PNG, chunk by chunk (no imaging library needed)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG = _png()


def _url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'warmflow-test.sqlite'}"


@pytest.fixture(scope="session", autouse=True)
def _compiled_translations():
    """The English pages need the compiled catalogue; `make setup` builds it, and so does
    this when the tests run without make (or after the .po changed)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    po = ROOT / "webapp" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
    mo = po.with_suffix(".mo")
    if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
        with po.open("rb") as source:
            catalog = read_po(source, locale="en")
        with mo.open("wb") as target:
            write_mo(target, catalog)


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    engine = db.make_engine(_url(tmp_path_factory))
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(engine):
    tables = [t.name for t in reversed(db.Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
                )
            )
            # Each test plans on empty tables, as the session's first did: a large launch
            # analyses its tables (campaigns._analyze_grown), and statistics outlive a
            # TRUNCATE. Tests that assert a plan would otherwise see an earlier test's data.
            conn.execute(
                text(
                    "DELETE FROM pg_statistic WHERE starelid IN "
                    "(SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)"
                )
            )
        else:
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))  # noqa: S608 (our table names)
    restart()
    return db.make_session_factory(engine)


def restart() -> None:
    """Forget every in-process cache, as a restarted server would."""
    processes.forget_versions()
    workdays.invalidate()


@pytest.fixture(autouse=True)
def _files_dir(tmp_path, monkeypatch):
    """Each test's uploads in a folder of its own, resolved as at start-up; a test that
    wants the default configuration deletes WARMFLOW_FILES_DIR and configures again."""
    monkeypatch.setenv("WARMFLOW_FILES_DIR", str(tmp_path / "files"))
    paths.configure()
    yield tmp_path / "files"
    paths.reset()


@pytest.fixture(autouse=True)
def _cheap_password_hash(monkeypatch):
    """scrypt makes every user cost ~0.1 s; tests that log in still check real hashes."""
    monkeypatch.setattr(
        users,
        "generate_password_hash",
        lambda password: generate_password_hash(password, "pbkdf2:sha256:1"),
    )


@pytest.fixture
def session(factory):
    with factory() as session:
        yield session


@pytest.fixture
def clock(time_machine):
    """Monday 2026-09-07, 10:00 China time; tests move it with clock.move_to(...)."""
    time_machine.move_to(datetime(2026, 9, 7, 10, 0, tzinfo=CST), tick=False)
    return time_machine


def cst(*args) -> datetime:
    return datetime(*args, tzinfo=CST)


def today_iso() -> str:
    """Today in China time as the forms take dates (a visit date may not be in the future
    nor before the application)."""
    return datetime.now(CST).date().isoformat()


def valid_id(prefix17: str) -> str:
    return prefix17 + ric.calc_check_digit(prefix17 + "0")


def valid_card(prefix: str = "622202020011223344") -> str:
    return prefix + luhn.calc_check_digit(prefix)


@dataclass
class World:
    session: object
    factory: object
    orgs: dict = field(default_factory=dict)
    users: dict = field(default_factory=dict)
    campaigns: dict = field(default_factory=dict)
    _serial: int = 0

    def user(self, name: str) -> User:
        return self.session.get(User, self.users[name].id)

    def next_id(self, birth: str = "20070302") -> str:
        self._serial += 1
        return valid_id(f"511002{birth}{self._serial:03d}")

    def upload(
        self, owner: str = "cw1", filename: str = "录取通知书.pdf", data: bytes = PDF
    ) -> int:
        """A file stored as an upload stores it (bytes on disk, a row), by `owner`."""
        return files.store(self.session, self.user(owner), filename, data).id

    def photo(self, owner: str = "cw1", filename: str = "住房照片.jpg") -> int:
        """A stored JPEG (a housing photo of a home visit), not yet attached to a case."""
        return self.upload(owner, filename, JPEG)

    def tuition_application(self, **overrides) -> dict:
        data = dict(
            student_name="王小明",
            student_id_number=self.next_id(),
            parent_name="王大力",
            parent_id_number=valid_id("51100219800101001"),
            university="四川大学",
            major="计算机科学与技术",
            education_level="undergraduate",
            admission_letter=self.upload(),
            tuition_fen=560000,
            bank_card=valid_card(),
            account_name="王大力",
            phone="13800000000",
        )
        data.update(overrides)
        return data

    def open_task(self, case: Case, element_id: str | None = None) -> HumanTask:
        self.session.expire_all()
        rows = self.session.scalars(
            select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open")
        ).all()
        if element_id is not None:
            rows = [r for r in rows if r.element_id == element_id]
        assert len(rows) == 1, f"expected one open task {element_id}, found {rows}"
        return rows[0]

    def do(self, username: str, case: Case, element_id: str, data: dict | None = None):
        task = self.open_task(case, element_id)
        data = dict(data or {})
        if element_id == "home_visit_task" and "housing_photos" not in data:
            # Every visit brings housing photos (the diagram requires one); tests that are
            # about something else need not say so each time.
            data["housing_photos"] = [self.photo(username)]
        return tasks.complete(self.session, self.user(username), task.id, data)

    def new_session(self):
        """Drop this session and open another, as the next request would."""
        self.session.close()
        self.session = self.factory()
        return self.session

    def refresh(self, obj):
        self.session.expire_all()
        return self.session.get(type(obj), obj.id)


def build_world(session, factory) -> World:
    processes.deploy_files(session, None, sorted(BPMN.glob("*.bpmn")))
    world = World(session, factory)
    add = users.add_organisation
    city = add(session, "nj", "内江市总工会")
    d1 = add(session, "szq", "市中区总工会", city)
    d2 = add(session, "dxq", "东兴区总工会", city)
    g1 = add(session, "szq1", "城东街道帮扶站", d1)
    g2 = add(session, "szq2", "内江钢铁厂工会", d1)
    g3 = add(session, "dxq1", "西林街道帮扶站", d2)
    world.orgs = dict(city=city, d1=d1, d2=d2, g1=g1, g2=g2, g3=g3)
    people = [
        ("cw1", "张经办", g1, ["caseworker"]),
        ("cw1b", "刘经办", g1, ["caseworker"]),
        ("cw2", "陈经办", g2, ["caseworker"]),
        ("cw3", "周经办", g3, ["caseworker"]),
        ("l1", "李主席", g1, ["approver_l1"]),
        ("l1_g3", "吴主席", g3, ["approver_l1"]),
        ("l2", "王区审批", d1, ["approver_l2"]),
        ("l2_d2", "郑区审批", d2, ["approver_l2"]),
        ("l3", "赵市审批", city, ["approver_l3"]),
        ("fin", "钱财务", city, ["finance"]),
        ("mgr", "孙管理", city, ["manager"]),
    ]
    for username, name, org, roles in people:
        world.users[username] = users.add_user(  # short test passwords: no policy
            session, username, "pw-" + username, name, org, roles, check_policy=False
        )
    tuition = Campaign(
        code="jq2026",
        name="2026年金秋助学",
        programme="tuition_grant",
        season="autumn",
        year=2026,
        aid_kind="cash",
        owner_org_id=city.id,
        standards_json=json.dumps(
            {"college": 300000, "undergraduate": 500000, "postgraduate": 800000}
        ),
        city_approval_threshold_fen=500000,
        notice_days=5,
    )
    winter = Campaign(
        code="dsnw2026",
        name="2026年冬送温暖",
        programme="seasonal_aid",
        season="winter",
        year=2026,
        aid_kind="cash",
        owner_org_id=city.id,
        standards_json=json.dumps(
            {
                "living": 100000,
                "medical": 300000,
                "schooling": 100000,
                "disaster": 200000,
                "other": 50000,
            }
        ),
        city_approval_threshold_fen=200000,
        notice_days=5,
    )
    summer = Campaign(
        code="xsql2026",
        name="2026年夏送清凉",
        programme="seasonal_aid",
        season="summer",
        year=2026,
        aid_kind="goods",
        owner_org_id=city.id,
        standards_json=json.dumps(
            {k: 0 for k in ("living", "medical", "schooling", "disaster", "other")}
        ),
        city_approval_threshold_fen=0,
        notice_days=5,
    )
    session.add_all([tuition, winter, summer])
    session.flush()
    for campaign in (tuition, winter):
        for org in (d1, d2):
            session.add(
                CampaignBudget(campaign_id=campaign.id, org_id=org.id, budget_fen=100_000_000)
            )
    world.campaigns = dict(tuition=tuition, winter=winter, summer=summer)
    session.commit()
    return world


@pytest.fixture
def world(session, factory, clock):
    world = build_world(session, factory)
    yield world
    world.session.close()  # a test may have swapped in a new session (restart)


@pytest.fixture(scope="session")
def utc():
    return UTC


# --- the web app -----------------------------------------------------------------------

CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def make_app(engine, world, tmp_path, monkeypatch):
    """make_app(**config) → the web app on the test database; rate limits off unless asked.
    The shared limiter is switched off again afterwards so no other test inherits it."""
    from webapp import create_app
    from webapp.extensions import limiter

    def make(**config):
        settings = {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "RATELIMIT_ENABLED": False,
        }
        settings.update(config)
        return create_app(settings)

    yield make
    limiter.enabled = False


@pytest.fixture
def app(make_app):
    return make_app()


def csrf_from(client, url: str) -> str:
    """The CSRF token a page hands out, as a browser would read it from the form."""
    page = client.get(url).get_data(as_text=True)
    match = CSRF_FIELD.search(page)
    assert match, f"no csrf_token on {url}"
    return match.group(1)


def login(client, username: str, password: str | None = None):
    token = csrf_from(client, "/login")
    return client.post(
        "/login",
        data={"username": username, "password": password or "pw-" + username, "csrf_token": token},
    )


@pytest.fixture
def as_user(app):
    """as_user("cw1") → a test client signed in as that world user."""

    def make(username: str):
        client = app.test_client()
        answer = login(client, username)
        assert answer.status_code == 302, answer.get_data(as_text=True)
        return client

    return make


def api_token(app, username: str) -> dict:
    answer = app.test_client().post(
        "/api/v1/token", json={"username": username, "password": "pw-" + username}
    )
    assert answer.status_code == 200, answer.get_json()
    return {"Authorization": "Bearer " + answer.get_json()["token"]}
