"""Background jobs as the app runs them (no JOBS_INLINE): a campaign launch and moving
cases on after a bank import run in a thread of their own while the pages answer; a job
that raises is logged and leaves no progress row "running"."""

import logging

from campaign_helpers import archive_workers, result_file
from conftest import csrf_from
from served import wait_until
from sqlalchemy import func, select
from test_web_finance import build, launch_and_approve, mark_sent, signed_in, text, upload

from workflows import batches, campaigns
from workflows.models import CampaignLaunch, Case, HumanTask, Payment


def launch_status(client, campaign_id: int) -> dict | None:
    return client.get(f"/campaigns/{campaign_id}/launch.json").get_json()["launch"]


def test_a_launch_from_the_page_runs_in_the_background(make_app, world):
    app = make_app()  # as `make run` and gunicorn run it: jobs in a thread
    archive_workers(world.session, [world.orgs["g1"].id, world.orgs["g3"].id], 40)
    winter = world.campaigns["winter"].id
    manager = signed_in(app, "mgr")
    token = csrf_from(manager, f"/campaigns/{winter}")
    assert manager.post(f"/campaigns/{winter}/launch", data={"csrf_token": token}).status_code == (
        302
    )
    done = wait_until(
        lambda: (s := launch_status(manager, winter)) and s["status"] != "running" and s, 60
    )
    assert done and (done["status"], done["created"], done["total"]) == ("done", 40, 40)
    world.session.expire_all()
    opened = select(func.count(Case.id)).where(Case.campaign_id == winter)
    assert world.session.scalar(opened) == 40


def test_a_launch_that_raises_is_logged_and_marked_failed(make_app, world, monkeypatch, caplog):
    app = make_app()
    archive_workers(world.session, [world.orgs["g1"].id], 5)
    winter = world.campaigns["winter"].id

    def broken(*_args):
        raise RuntimeError("the diagram's copy could not be made")

    monkeypatch.setattr(campaigns, "_run", broken)
    manager = signed_in(app, "mgr")
    token = csrf_from(manager, f"/campaigns/{winter}")
    with caplog.at_level(logging.ERROR):
        manager.post(f"/campaigns/{winter}/launch", data={"csrf_token": token})
        failed = wait_until(
            lambda: (s := launch_status(manager, winter)) and s["status"] != "running" and s, 60
        )
    assert failed["status"] == "failed"
    assert failed["message"] == "发起失败，请联系管理员（已建案件保留，可再次发起）"
    assert "campaign launch" in caplog.text and "could not be made" in caplog.text
    world.session.expire_all()
    statuses = world.session.scalars(select(CampaignLaunch.status)).all()
    assert statuses == ["failed"]
    # The manager may start it again at once (nothing is left "running").
    monkeypatch.undo()
    again = manager.post(f"/campaigns/{winter}/launch", data={"csrf_token": token})
    assert again.status_code == 302
    done = wait_until(lambda: (s := launch_status(manager, winter))["status"] == "done" and s, 60)
    assert done and done["created"] == 5


def test_a_bank_import_moves_cases_on_in_the_background(make_app, world):
    launch_and_approve(world)
    app = make_app()
    fin = signed_in(app, "fin")
    batch = build(fin, world)
    mark_sent(fin, batch.id)
    answer = upload(fin, batch.id, result_file(world.session, batch.id, fail_every=2))
    assert answer.status_code == 200, text(answer)

    def moved_on() -> bool:
        world.session.expire_all()
        pending = world.session.scalar(
            select(func.count(Payment.id)).where(Payment.delivery == "pending")
        )
        return pending == 0

    assert wait_until(moved_on, 60)
    world.session.expire_all()
    paid = world.session.scalars(select(Case).where(Case.outcome == "end_paid")).all()
    fixes = world.session.scalars(
        select(HumanTask).where(
            HumanTask.element_id == "correct_bank_card", HumanTask.status == "open"
        )
    ).all()
    assert len(paid) == 2 and len(fixes) == 2


def test_a_delivery_job_that_raises_is_logged_and_left_for_the_worker(
    make_app, world, monkeypatch, caplog
):
    launch_and_approve(world)
    app = make_app()
    fin = signed_in(app, "fin")
    batch = build(fin, world)
    mark_sent(fin, batch.id)
    deliver = batches.deliver_results

    def broken(_session, limit=None):
        raise RuntimeError("engine unavailable")

    monkeypatch.setattr(batches, "deliver_results", broken)
    with caplog.at_level(logging.ERROR):
        upload(fin, batch.id, result_file(world.session, batch.id, fail_every=2))
        assert wait_until(lambda: "background job deliver failed" in caplog.text, 60)
    assert "engine unavailable" in caplog.text
    world.session.expire_all()
    pending = select(func.count(Payment.id)).where(Payment.delivery == "pending")
    assert world.session.scalar(pending) == 4  # recorded, not lost
    # The timer worker's round delivers them.
    with world.factory() as session:
        assert deliver(session) == 4
    world.session.expire_all()
    assert world.session.scalar(pending) == 0
