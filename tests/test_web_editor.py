"""The process editor's page and JSON calls (webapp/editor.py): managers only, the draft
or newest version to load, drafts with conflicts, findings keyed by element, and deploy
validated first. Calls carry the CSRF token in the X-CSRFToken header."""

import re

import pytest
from conftest import BPMN, csrf_from

from webapp import editor
from workflows import processes

META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
HOME_VISIT = (BPMN / "home_visit.bpmn").read_text("utf-8")
BAD = HOME_VISIT.replace('camunda:candidateGroups="caseworker"', 'camunda:candidateGroups="boss"')
RENAMED = HOME_VISIT.replace('name="入户核查" camunda', 'name="入户核查（两人）" camunda', 1)


def headers(client, process_id="home_visit") -> dict:
    """The token the editor page hands out in its meta tag, as editor.js sends it."""
    page = client.get(f"/processes/{process_id}/edit")
    assert page.status_code == 200, page.status_code
    return {"X-CSRFToken": META.search(page.get_data(as_text=True)).group(1)}


def test_the_page_has_the_modeler_the_token_and_the_call_urls(as_user, monkeypatch):
    client = as_user("mgr")
    html = client.get("/processes/home_visit/edit").get_data(as_text=True)
    assert META.search(html)
    for url in ("source.json", "draft", "validate", "deploy.json"):
        assert f'"/processes/home_visit/{url}"' in html
    assert "<script>" not in html  # external scripts only
    monkeypatch.setattr(editor, "EDITOR_BUNDLE", "vendor/editor/missing.js")
    html = client.get("/processes/home_visit/edit").get_data(as_text=True)
    assert "make setup" in html and "editor.js" not in html
    assert client.get("/processes/nonesuch/edit").status_code == 404


def test_only_managers_reach_the_editor(app, as_user):
    for username in ("cw1", "l3", "fin"):
        client = as_user(username)
        sent = {"X-CSRFToken": csrf_from(client, "/")}  # a valid token of their own
        assert client.get("/processes/home_visit/edit").status_code == 403
        assert client.get("/processes/home_visit/source.json").status_code == 403
        for url, body in (
            ("draft", {"xml": HOME_VISIT, "lock_version": 0}),
            ("validate", {"xml": HOME_VISIT}),
            ("deploy.json", {"xml": RENAMED}),
        ):
            answer = client.post(f"/processes/home_visit/{url}", json=body, headers=sent)
            assert answer.status_code == 403, (username, url)
            assert answer.get_json()["code"] == "forbidden"
    anonymous = app.test_client()
    assert anonymous.get("/processes/home_visit/edit").status_code == 302
    assert anonymous.get("/processes/home_visit/source.json").status_code == 302


def test_source_is_the_newest_version_then_the_draft(as_user, world):
    client = as_user("mgr")
    sent = headers(client)
    first = client.get("/processes/home_visit/source.json")
    assert first.headers["Cache-Control"] == "private, no-store"
    assert first.get_json() == {
        "xml": HOME_VISIT,
        "lock_version": 0,
        "from": "version",
        "number": 1,
    }
    saved = client.post(
        "/processes/home_visit/draft", json={"xml": RENAMED, "lock_version": 0}, headers=sent
    )
    assert saved.status_code == 200 and saved.get_json() == {"lock_version": 1}
    again = client.get("/processes/home_visit/source.json").get_json()
    assert again == {"xml": RENAMED, "lock_version": 1, "from": "draft", "number": 1}


def test_a_stale_lock_version_is_a_conflict(as_user):
    client = as_user("mgr")
    sent = headers(client)
    url = "/processes/home_visit/draft"
    assert (
        client.post(url, json={"xml": RENAMED, "lock_version": 0}, headers=sent).status_code == 200
    )
    second = client.post(url, json={"xml": BAD, "lock_version": 1}, headers=sent)
    assert second.get_json() == {"lock_version": 2}
    stale = client.post(url, json={"xml": HOME_VISIT, "lock_version": 1}, headers=sent)
    assert stale.status_code == 409
    assert stale.get_json()["code"] == "conflict" and "其他管理员" in stale.get_json()["message"]
    # Opened when there was no draft yet (lock_version 0), but someone saved one since.
    assert (
        client.post(url, json={"xml": HOME_VISIT, "lock_version": 0}, headers=sent).status_code
        == 409
    )
    assert client.get("/processes/home_visit/source.json").get_json()["xml"] == BAD


def test_draft_refuses_another_process_and_bad_bodies(as_user):
    client = as_user("mgr")
    sent = headers(client)
    url = "/processes/home_visit/draft"
    other = (BPMN / "public_notice.bpmn").read_text("utf-8")
    answer = client.post(url, json={"xml": other}, headers=sent)
    assert answer.status_code == 422 and "应为“home_visit”" in answer.get_json()["message"]
    for body in ({}, {"xml": ""}, {"xml": RENAMED, "lock_version": "1"}, [1]):
        assert client.post(url, json=body, headers=sent).status_code == 422, body
    broken = client.post(url, json={"xml": "<not xml"}, headers=sent)
    assert broken.status_code == 422 and broken.get_json()["findings"][0]["element"] == ""


def test_validate_returns_findings_keyed_by_element(as_user):
    client = as_user("mgr")
    sent = headers(client)
    url = "/processes/home_visit/validate"
    bad = client.post(url, json={"xml": BAD}, headers=sent).get_json()["findings"]
    assert [f["element"] for f in bad] == ["home_visit_task"]
    assert "候选组" in bad[0]["message"]
    assert client.post(url, json={"xml": RENAMED}, headers=sent).get_json() == {"findings": []}
    broken = client.post(url, json={"xml": "<not xml"}, headers=sent).get_json()["findings"]
    assert broken[0]["element"] == "" and "XML" in broken[0]["message"]
    other = (BPMN / "public_notice.bpmn").read_text("utf-8")
    wrong = client.post(url, json={"xml": other}, headers=sent).get_json()["findings"]
    assert wrong[0]["element"] == "" and "home_visit" in wrong[0]["message"]


def test_deploy_refuses_a_bad_diagram_and_accepts_a_good_one(as_user, world):
    client = as_user("mgr")
    sent = headers(client)
    url = "/processes/home_visit/deploy.json"
    client.post("/processes/home_visit/draft", json={"xml": RENAMED}, headers=sent)

    refused = client.post(url, json={"xml": BAD, "comment": "试试"}, headers=sent)
    assert refused.status_code == 422
    assert [f["element"] for f in refused.get_json()["findings"]] == ["home_visit_task"]
    world.session.expire_all()
    assert processes.latest_version(world.session, "home_visit").number == 1

    done = client.post(url, json={"xml": RENAMED, "comment": "两人入户"}, headers=sent)
    assert done.status_code == 201 and done.get_json() == {"number": 2, "created": True}
    world.session.expire_all()
    newest = processes.latest_version(world.session, "home_visit")
    assert (newest.number, newest.comment, newest.bpmn_xml) == (2, "两人入户", RENAMED)
    assert processes.get_process(world.session, world.user("mgr"), "home_visit").draft is None
    source = client.get("/processes/home_visit/source.json").get_json()
    assert (source["from"], source["number"], source["xml"]) == ("version", 2, RENAMED)

    same = client.post(url, json={"xml": RENAMED}, headers=sent)
    assert same.status_code == 200 and same.get_json() == {"number": 2, "created": False}


@pytest.mark.parametrize(
    "url, body",
    [
        ("draft", {"xml": RENAMED, "lock_version": 0}),
        ("validate", {"xml": RENAMED}),
        ("deploy.json", {"xml": RENAMED}),
    ],
)
def test_posts_without_the_csrf_header_are_refused(as_user, world, url, body):
    client = as_user("mgr")
    answer = client.post(f"/processes/home_visit/{url}", json=body)
    assert answer.status_code == 400
    assert (
        client.post(
            f"/processes/home_visit/{url}", json=body, headers={"X-CSRFToken": "forged"}
        ).status_code
        == 400
    )
    world.session.expire_all()
    assert processes.latest_version(world.session, "home_visit").number == 1
    assert processes.get_process(world.session, world.user("mgr"), "home_visit").draft is None


def test_the_editor_page_in_english(as_user):
    client = as_user("mgr")
    html = client.get("/processes/home_visit/edit?lang=en").get_data(as_text=True)
    for label in (
        "Edit process: 入户核查",
        "Save draft",
        "Validate",
        "Deploy",
        "Version {number} loaded.",
    ):
        assert label in html, label
    assert "保存草稿" not in html
