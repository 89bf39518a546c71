"""A runaway step holds up nobody else (issue 12): while one caseworker's registration
runs a diagram's endless script until the engine cuts it off, a second client signs in
and lists tasks, over real HTTP against the threaded server, and gets its answers first.
The runaway is refused with the element named, and nothing of it is saved."""

import threading
import time
from pathlib import Path

import pytest
import requests
from conftest import CSRF_FIELD
from sqlalchemy import func, select
from werkzeug.serving import make_server

from workflows import engine, processes
from workflows.models import Case

HOSTILE = Path(__file__).parent / "data" / "hostile"


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_a_runaway_step_is_cut_off_while_another_client_signs_in_and_lists_tasks(
    world, live_server, monkeypatch
):
    monkeypatch.setattr(engine, "MAX_ENGINE_SECONDS", 3.0)
    slow = (HOSTILE / "home_visit_slow_script.bpmn").read_text(encoding="utf-8")
    processes.deploy(world.session, None, slow)
    cases_before = world.session.scalar(select(func.count(Case.id)))

    running = threading.Event()
    original_run = engine.run

    def run_and_tell(*args, **kwargs):
        running.set()
        return original_run(*args, **kwargs)

    monkeypatch.setattr(engine, "run", run_and_tell)

    token = requests.post(
        f"{live_server}/api/v1/token", json={"username": "cw1", "password": "pw-cw1"}, timeout=30
    ).json()["token"]
    application = world.tuition_application()
    runaway: dict = {}

    def register() -> None:
        answer = requests.post(
            f"{live_server}/api/v1/cases",
            json={
                "process": "tuition_grant",
                "campaign": world.campaigns["tuition"].id,
                "data": application,
            },
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        runaway["answer"], runaway["done_at"] = answer, time.monotonic()

    first = threading.Thread(target=register)
    first.start()
    assert running.wait(timeout=30), "the registration never reached the engine"

    # Meanwhile, someone else signs in on the web, opens their task list, and uses the API.
    other = requests.Session()
    page = other.get(f"{live_server}/login", timeout=30)
    csrf = CSRF_FIELD.search(page.text).group(1)
    signed_in = other.post(
        f"{live_server}/login",
        data={"username": "l1", "password": "pw-l1", "csrf_token": csrf},
        allow_redirects=False,
        timeout=30,
    )
    task_list = other.get(f"{live_server}/tasks/mine", timeout=30)
    api_token = requests.post(
        f"{live_server}/api/v1/token", json={"username": "l1", "password": "pw-l1"}, timeout=30
    )
    api_tasks = requests.get(
        f"{live_server}/api/v1/tasks?scope=group",
        headers={"Authorization": f"Bearer {api_token.json()['token']}"},
        timeout=30,
    )
    others_done_at = time.monotonic()
    still_running = first.is_alive()
    first.join(timeout=60)

    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/"
    assert task_list.status_code == 200 and "我的任务" in task_list.text
    assert api_token.status_code == 200 and api_tasks.status_code == 200
    # They were answered while the runaway still ran, not after it.
    assert still_running and others_done_at < runaway["done_at"]

    answer = runaway["answer"]
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "process_error"
    assert "运行时间过长" in body["message"] and "环节：慢慢算" in body["message"]
    world.session.expire_all()
    assert world.session.scalar(select(func.count(Case.id))) == cases_before
