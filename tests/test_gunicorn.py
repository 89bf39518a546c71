"""gunicorn.conf.py as production runs it: `gunicorn -c gunicorn.conf.py 'webapp:create_app()'`.

It refuses to start without SECRET_KEY; behind a reverse proxy (WARMFLOW_TRUSTED_PROXIES=1)
the public objection limit counts each client's address from X-Forwarded-For, and without
one a forged X-Forwarded-For changes nothing. Runs once, in the SQLite pass, on a database
of its own."""

import os
import subprocess

import pytest
from conftest import JPEG, ROOT, restart, valid_id
from served import BIN, Client, free_port, start, user_env, wait_until
from sqlalchemy import select

from workflows import cases, db, files, tasks, users
from workflows.clock import local_now
from workflows.models import HumanTask, PublicNotice

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL")),
    reason="starts gunicorn on a SQLite file of its own: once, in the SQLite pass",
)
GUNICORN = [BIN / "gunicorn", "-c", ROOT / "gunicorn.conf.py", "webapp:create_app()"]
OBJECTION = {"contact": "群众 13800000000", "reason": "该户家中经营门面出租，收入不低。"}


@pytest.fixture(scope="module")
def notice(tmp_path_factory):
    """A SQLite database with one notice open now (real time), and its folder."""
    cwd = tmp_path_factory.mktemp("gunicorn")
    url = f"sqlite:///{cwd / 'warmflow.sqlite'}"
    made = subprocess.run(  # noqa: S603 - our own command line
        [str(BIN / "warmflow"), "init-db"],
        cwd=cwd,
        env=user_env(DATABASE_URL=url),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert made.returncode == 0, made.stderr[-2000:]
    restart()
    with db.make_session_factory(db.make_engine(url))() as session:
        city = users.add_organisation(session, "nj", "内江市总工会")
        unit = users.add_organisation(
            session,
            "szq1",
            "城东街道帮扶站",
            users.add_organisation(session, "szq", "市中区", city),
        )
        caseworker = users.add_user(
            session, "cw", "pw-cw", "张敏", unit, ["caseworker"], check_policy=False
        )
        session.commit()
        case = cases.start_case(
            session,
            caseworker,
            "hardship_archive",
            dict(
                worker_name="王建国",
                worker_id_number=valid_id("51100219700101001"),
                employer="城东物业公司",
                hardship_category="living",
                household_size=2,
                household_income_fen=2_000_000,
                hardship_description="本人长期病休，仅领取基本生活费，独自抚养孩子。",
            ),
            None,
        )
        visit = session.scalars(select(HumanTask).where(HumanTask.case_id == case.id)).one()
        tasks.complete(
            session,
            caseworker,
            visit.id,
            dict(
                visit_date=local_now().date().isoformat(),
                visitors="张敏、李强",
                household_situation="入户核实：租住老旧小区，本人病休在家，收入仅基本生活费。",
                visit_verdict="confirmed",
                housing_photos=[files.store(session, caseworker, "住房.jpg", JPEG).id],
            ),
        )
        notice_id = session.scalars(select(PublicNotice.id)).one()
    return cwd, url, notice_id


def serve(cwd, url: str, name: str, **env: str):
    port = free_port()
    server = start(
        GUNICORN,
        cwd,
        user_env(
            DATABASE_URL=url,
            SECRET_KEY="one-key-for-every-worker",
            WARMFLOW_BIND=f"127.0.0.1:{port}",
            # One worker: the limits count in each process's memory by default (README).
            WEB_CONCURRENCY="1",
            **env,
        ),
        name,
    )
    base = f"http://127.0.0.1:{port}"
    up = wait_until(lambda: Client(base).get("/healthz").status == 200, 60)
    assert up, server.output()[-3000:]
    return server, base


def objections(base: str, notice_id: int, address: str, count: int) -> list[int]:
    client = Client(base, {"X-Forwarded-For": address})
    return [
        client.post_json(f"/api/v1/notices/{notice_id}/objections", OBJECTION).status
        for _ in range(count)
    ]


def test_gunicorn_refuses_to_start_without_a_secret_key(tmp_path):
    refused = subprocess.run(  # noqa: S603 - our own command line
        [str(c) for c in GUNICORN],
        cwd=tmp_path,
        env=user_env(WARMFLOW_BIND=f"127.0.0.1:{free_port()}"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "SECRET_KEY" in refused.stdout + refused.stderr
    assert "Booting worker" not in refused.stdout + refused.stderr


def test_behind_a_proxy_each_client_has_its_own_objection_limit(notice):
    cwd, url, notice_id = notice
    server, base = serve(cwd, url, "proxied", WARMFLOW_TRUSTED_PROXIES="1")
    try:
        # 5 an hour per address: the sixth from this client is refused ...
        assert objections(base, notice_id, "203.0.113.5", 6) == [201] * 5 + [429]
        # ... while another client behind the same proxy still gets through.
        assert objections(base, notice_id, "198.51.100.7", 1) == [201]
    finally:
        server.stop()


def test_without_a_proxy_a_forged_forwarded_address_changes_nothing(notice):
    cwd, url, notice_id = notice
    server, base = serve(cwd, url, "direct", WARMFLOW_TRUSTED_PROXIES="0")
    try:
        assert objections(base, notice_id, "192.0.2.1", 6) == [201] * 5 + [429]
        # Claiming to be someone else does not reset the count of this address.
        assert objections(base, notice_id, "192.0.2.99", 1) == [429]
    finally:
        server.stop()
