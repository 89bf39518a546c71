"""The JSON API under /api/v1: tokens, tasks, cases, notices and its OpenAPI document."""

import json
import re
from datetime import timedelta

import pytest
from conftest import api_token, valid_card
from sqlalchemy import select

from workflows import cases, timers
from workflows.models import Case, HumanTask, PublicNotice, StoredFile

VISIT_OK = dict(
    visit_date="2026-09-07",
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病，家庭收入低",
    visit_verdict="confirmed",
)
APPROVE = {"decision": "approve"}
OFFSET = re.compile(r"[+-]\d\d:\d\d$")
FULL_ID = re.compile(r"\d{17}[\dXx]")


def start(world, username="cw1", **overrides):
    return cases.start_case(
        world.session,
        world.user(username),
        "tuition_grant",
        world.tuition_application(admission_letter=world.upload(username), **overrides),
        world.campaigns["tuition"].id,
    )


def pass_notice(world, clock, case):
    world.session.expire_all()
    notice = world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == case.id)
    ).one()
    clock.move_to(notice.ends_at + timedelta(minutes=1))
    assert timers.fire_due_timers(world.factory) == 1


def task_status(world, task_id: int) -> str:
    world.session.expire_all()
    return world.session.get(HumanTask, task_id).status


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(app):
    cache = {}

    def headers(username: str) -> dict:
        if username not in cache:
            cache[username] = api_token(app, username)
        return cache[username]

    return headers


# --- authentication ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/v1/tasks"),
        ("get", "/api/v1/tasks/1"),
        ("post", "/api/v1/tasks/1/claim"),
        ("post", "/api/v1/tasks/1/unclaim"),
        ("post", "/api/v1/tasks/1/complete"),
        ("post", "/api/v1/cases"),
        ("get", "/api/v1/cases/1"),
    ],
)
def test_every_case_work_call_needs_a_valid_token(client, world, method, url):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic x"}):
        answer = getattr(client, method)(url, headers=headers, json={})
        assert answer.status_code == 401, (url, headers)
        body = answer.get_json()
        assert body["code"] == "unauthorized" and body["message"]


def test_public_calls_need_no_token(client, world):
    assert client.get("/api/v1/notices").status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 200


# --- tasks ------------------------------------------------------------------------------------


def test_task_list_mine_and_group_follow_a_claim(client, world, tokens):
    case = start(world)
    cw1, cw1b = tokens("cw1"), tokens("cw1b")
    assert client.get("/api/v1/tasks", headers=cw1).get_json() == {
        "items": [],
        "total": 0,
        "limit": 50,
        "offset": 0,
        "next_after": None,
    }

    group = client.get("/api/v1/tasks?scope=group", headers=cw1).get_json()
    assert group["total"] == 1
    task = group["items"][0]
    assert task["case_id"] == case.id and task["case_no"] == case.case_no
    assert (task["programme"], task["step"], task["name"]) == (
        "tuition_grant",
        "home_visit_task",
        "入户核查",
    )
    assert task["candidate_group"] == "caseworker" and task["assignee"] is None
    assert task["organisation"]["code"] == "szq1"
    assert task["applicant"] == "王*明" and task["overdue"] is False
    assert OFFSET.search(task["created_at"]) and OFFSET.search(task["due_at"])

    claimed = client.post(f"/api/v1/tasks/{task['id']}/claim", headers=cw1)
    assert claimed.status_code == 200
    assert claimed.get_json()["assignee"]["username"] == "cw1"
    assert client.get("/api/v1/tasks", headers=cw1).get_json()["total"] == 1
    assert client.get("/api/v1/tasks?scope=group", headers=cw1).get_json()["total"] == 0
    assert client.get("/api/v1/tasks?scope=group", headers=cw1b).get_json()["total"] == 0
    assert client.get("/api/v1/tasks?scope=all", headers=cw1).get_json()["total"] == 1

    taken = client.post(f"/api/v1/tasks/{task['id']}/claim", headers=cw1b)
    assert taken.status_code == 409 and taken.get_json()["code"] == "conflict"
    assert "张经办" in taken.get_json()["message"]
    not_hers = client.post(f"/api/v1/tasks/{task['id']}/unclaim", headers=cw1b)
    assert not_hers.status_code == 403

    released = client.post(f"/api/v1/tasks/{task['id']}/unclaim", headers=cw1)
    assert released.status_code == 200 and released.get_json()["assignee"] is None
    assert client.get("/api/v1/tasks?scope=group", headers=cw1b).get_json()["total"] == 1


def test_task_list_filters_and_pages(app, client, world, clock):
    for _ in range(3):
        start(world)
    cw1 = api_token(app, "cw1")

    def total(query: str) -> int:
        answer = client.get(f"/api/v1/tasks?scope=all&{query}", headers=cw1)
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()["total"]

    first = client.get("/api/v1/tasks?scope=all&limit=2", headers=cw1).get_json()
    rest = client.get("/api/v1/tasks?scope=all&limit=2&offset=2", headers=cw1).get_json()
    assert (len(first["items"]), len(rest["items"]), first["total"]) == (2, 1, 3)
    assert {t["id"] for t in first["items"]}.isdisjoint(t["id"] for t in rest["items"])
    assert total("programme=tuition_grant") == 3
    assert total("programme=seasonal_aid") == 0
    assert total("step=home_visit_task") == 3
    assert total("step=approve_l1") == 0
    assert total("overdue=true") == 0
    world.session.expire_all()
    due = world.session.scalars(select(HumanTask.due_at)).first()
    clock.move_to(due + timedelta(hours=1))
    cw1.update(api_token(app, "cw1"))  # tokens last 12 hours
    assert total("overdue=true") == 3
    items = client.get("/api/v1/tasks?scope=all", headers=cw1).get_json()["items"]
    assert all(t["overdue"] for t in items)

    for query, field in [
        ("limit=101", "limit"),
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("offset=-1", "offset"),
        ("overdue=maybe", "overdue"),
    ]:
        answer = client.get(f"/api/v1/tasks?{query}", headers=cw1)
        assert answer.status_code == 422, query
        assert field in answer.get_json()["errors"]
    assert client.get("/api/v1/tasks?scope=everyone", headers=cw1).status_code == 422
    assert client.get("/api/v1/tasks?programme=nope", headers=cw1).status_code == 422


def test_task_list_pages_by_key_without_skipping_when_a_task_is_done_meanwhile(app, client, world):
    for _ in range(5):
        start(world)
    cw1 = api_token(app, "cw1")

    def page(query: str) -> dict:
        answer = client.get(f"/api/v1/tasks?scope=all&limit=2&{query}", headers=cw1)
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()

    first = page("")
    assert first["total"] == 5 and len(first["items"]) == 2
    assert first["next_after"] == first["items"][-1]["id"]
    # A task of the first page is done before the next page is read: by offset the next
    # page would skip one; by key it starts right after the first page's last task.
    done = world.session.get(HumanTask, first["items"][0]["id"])
    world.do(
        "cw1",
        done.case,
        "home_visit_task",
        {
            "visit_date": "2026-09-07",
            "visitors": "张经办、刘经办",
            "household_situation": "父亲下岗，母亲患病，家庭收入低",
            "visit_verdict": "confirmed",
        },
    )
    seen = [t["id"] for t in first["items"]]
    after = first["next_after"]
    while after is not None:
        nxt = page(f"after={after}")
        seen += [t["id"] for t in nxt["items"]]
        after = nxt["next_after"]
    world.session.expire_all()
    open_ids = set(
        world.session.scalars(
            select(HumanTask.id).where(
                HumanTask.status == "open", HumanTask.element_id == "home_visit_task"
            )
        )
    )
    assert len(seen) == len(set(seen)) == 5
    assert open_ids <= set(seen)
    for query in ("after=x", "after=0", "after=99999999"):
        answer = client.get(f"/api/v1/tasks?scope=all&{query}", headers=cw1)
        assert answer.status_code == 422, query
        assert "after" in answer.get_json()["errors"]


def test_task_detail_has_the_form(client, world, tokens):
    case = start(world)
    task = world.open_task(case, "home_visit_task")
    answer = client.get(f"/api/v1/tasks/{task.id}", headers=tokens("cw1"))
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["id"] == task.id and body["step"] == "home_visit_task"
    fields = {f["id"]: f for f in body["form"]["fields"]}
    assert set(fields) >= {"visit_date", "visitors", "household_situation", "visit_verdict"}
    verdict = fields["visit_verdict"]
    assert verdict["type"] == "enum" and verdict["required"] and not verdict["readonly"]
    assert {o["value"] for o in verdict["options"]} >= {"confirmed"}
    assert all(o["label"] for o in verdict["options"])
    assert set(verdict) >= {"id", "label", "type", "required", "readonly", "options", "min", "max"}
    assert body["form"]["values"] == {}


def test_complete_refuses_invalid_data_then_completes_once(client, world, tokens):
    case = start(world)
    task = world.open_task(case, "home_visit_task")
    cw1 = tokens("cw1")
    url = f"/api/v1/tasks/{task.id}/complete"

    bad = client.post(url, headers=cw1, json={"data": {"visit_date": "昨天"}})
    assert bad.status_code == 422
    body = bad.get_json()
    assert body["code"] == "invalid" and body["message"]
    assert {"visit_date", "visitors", "visit_verdict"} <= set(body["errors"])
    assert task_status(world, task.id) == "open"
    assert client.get(f"/api/v1/tasks/{task.id}", headers=cw1).get_json()["status"] == "open"
    not_object = client.post(url, headers=cw1, json={"data": ["x"]})
    assert not_object.status_code == 422 and "data" in not_object.get_json()["errors"]

    visit = dict(VISIT_OK, housing_photos=[world.photo()])
    done = client.post(url, headers=cw1, json={"data": visit})
    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert body["task"]["id"] == task.id and body["task"]["status"] == "completed"
    assert body["task"]["assignee"]["username"] == "cw1"
    assert body["case"] == {"id": case.id, "status": "running"}
    assert task_status(world, task.id) == "completed"

    again = client.post(url, headers=cw1, json={"data": visit})
    assert again.status_code == 409 and again.get_json()["code"] == "already_done"


def test_complete_through_to_a_closed_case(client, world, clock, tokens):
    case = start(world)
    world.do("cw1", case, "home_visit_task", VISIT_OK)
    pass_notice(world, clock, case)
    l1 = world.open_task(case, "approve_l1")
    answer = client.post(
        f"/api/v1/tasks/{l1.id}/complete",
        headers=tokens("l1"),
        json={"data": {"decision": "reject", "comment": "家庭收入超过标准"}},
    )
    assert answer.status_code == 200
    assert answer.get_json()["case"] == {"id": case.id, "status": "completed"}
    detail = client.get(f"/api/v1/cases/{case.id}", headers=tokens("cw1")).get_json()
    assert detail["case"]["outcome"] == "end_rejected" and detail["case"]["outcome_label"]
    assert detail["open_tasks"] == []
    assert detail["data"]["decision"] == "reject"
    assert not FULL_ID.search(json.dumps(detail))


def test_other_district_is_refused_a_task_by_id(client, world, clock, tokens):
    case = start(world)
    world.do("cw1", case, "home_visit_task", VISIT_OK)
    pass_notice(world, clock, case)
    world.do("l1", case, "approve_l1", APPROVE)
    task = world.open_task(case, "approve_l2")
    other = tokens("l2_d2")

    for answer in (
        client.get(f"/api/v1/tasks/{task.id}", headers=other),
        client.post(f"/api/v1/tasks/{task.id}/claim", headers=other),
        client.post(f"/api/v1/tasks/{task.id}/complete", headers=other, json={"data": APPROVE}),
    ):
        assert answer.status_code == 403 and answer.get_json()["code"] == "forbidden"
    assert task_status(world, task.id) == "open"
    assert client.get(f"/api/v1/cases/{case.id}", headers=other).status_code == 403
    assert client.get("/api/v1/tasks?scope=all", headers=other).get_json()["total"] == 0

    own = tokens("l2")
    assert client.get(f"/api/v1/tasks/{task.id}", headers=own).status_code == 200
    listed = client.get("/api/v1/tasks?scope=group&step=approve_l2", headers=own).get_json()
    assert [t["id"] for t in listed["items"]] == [task.id]
    done = client.post(f"/api/v1/tasks/{task.id}/complete", headers=own, json={"data": APPROVE})
    assert done.status_code == 200


def test_unknown_task_and_case_are_404(client, world, tokens):
    cw1 = tokens("cw1")
    for answer in (
        client.get("/api/v1/tasks/999999", headers=cw1),
        client.post("/api/v1/tasks/999999/claim", headers=cw1),
        client.post("/api/v1/tasks/999999/unclaim", headers=cw1),
        client.post("/api/v1/tasks/999999/complete", headers=cw1, json={"data": {}}),
        client.get("/api/v1/cases/999999", headers=cw1),
    ):
        assert answer.status_code == 404 and answer.get_json()["code"] == "not_found"


def test_rework_task_shows_the_return_reason_read_only(client, world, clock, tokens):
    case = start(world)
    world.do("cw1", case, "home_visit_task", VISIT_OK)
    pass_notice(world, clock, case)
    world.do("l1", case, "approve_l1", {"decision": "return", "comment": "请补充缴费通知单"})
    rework = world.open_task(case, "rework")
    body = client.get(f"/api/v1/tasks/{rework.id}", headers=tokens("cw1")).get_json()
    assert body["form"]["values"] == {"return_reason": "请补充缴费通知单"}
    readonly = [f["id"] for f in body["form"]["fields"] if f["readonly"]]
    assert readonly == ["return_reason"]


# --- cases ------------------------------------------------------------------------------------


def test_start_case_and_refuse_a_second_grant_for_the_same_student(client, world, tokens):
    data = world.tuition_application()
    cw1 = tokens("cw1")
    answer = client.post(
        "/api/v1/cases",
        headers=cw1,
        json={"process": "tuition_grant", "campaign": "jq2026", "data": data},
    )
    assert answer.status_code == 201, answer.get_json()
    case = answer.get_json()["case"]
    assert case["case_no"].startswith("JQ2026") and case["status"] == "running"
    assert case["programme"] == "tuition_grant" and case["amount_fen"] == 500000
    assert case["applicant"] == "王*明" and case["organisation"]["code"] == "szq1"
    sid = data["student_id_number"]
    assert case["id_number"] == sid[:3] + "*" * 13 + sid[-2:]
    assert case["outcome"] is None and OFFSET.search(case["created_at"])
    assert sid not in answer.get_data(as_text=True)

    again = client.post(
        "/api/v1/cases",
        headers=tokens("cw2"),
        json={
            "process": "tuition_grant",
            "campaign": world.campaigns["tuition"].id,
            "data": dict(data, admission_letter=world.upload("cw2")),
        },
    )
    assert again.status_code == 422
    body = again.get_json()
    assert "每年只能资助一次" in body["message"] and case["case_no"] in body["message"]
    assert "student_id_number" in body["errors"]


def test_start_case_refusals(client, world, tokens):
    data = world.tuition_application()
    cw1 = tokens("cw1")

    def post(headers, payload):
        return client.post("/api/v1/cases", headers=headers, json=payload)

    bad = post(cw1, {"process": "tuition_grant", "campaign": "jq2026", "data": {}})
    assert bad.status_code == 422 and "student_id_number" in bad.get_json()["errors"]
    money = post(
        cw1,
        {"process": "tuition_grant", "campaign": "jq2026", "data": {**data, "tuition_fen": 5.5}},
    )
    assert money.status_code == 422 and "tuition_fen" in money.get_json()["errors"]
    no_campaign = post(cw1, {"process": "tuition_grant", "data": data})
    assert no_campaign.status_code == 422 and "campaign" in no_campaign.get_json()["errors"]
    unknown = post(cw1, {"process": "nope", "campaign": "jq2026", "data": data})
    assert unknown.status_code == 422
    assert post(cw1, {"campaign": "jq2026", "data": data}).status_code == 422
    assert post(cw1, {"process": "tuition_grant", "data": "x"}).status_code == 422
    not_caseworker = post(tokens("l1"), {"process": "tuition_grant", "campaign": 1, "data": data})
    assert not_caseworker.status_code == 403


def test_case_detail_history_in_order_and_nothing_unmasked(client, world, tokens):
    card = valid_card()
    created = client.post(
        "/api/v1/cases",
        headers=tokens("cw1"),
        json={
            "process": "tuition_grant",
            "campaign": "jq2026",
            "data": world.tuition_application(bank_card=card, major="计算机 511002200703020011"),
        },
    ).get_json()["case"]
    world.session.expire_all()
    task = world.open_task(world.session.get(Case, created["id"]), "home_visit_task")
    done = client.post(
        f"/api/v1/tasks/{task.id}/complete",
        headers=tokens("cw1"),
        json={
            "data": dict(
                VISIT_OK,
                household_situation="身份证 511002200703020011 已核对，家庭情况属实",
                housing_photos=[world.photo()],
            )
        },
    )
    assert done.status_code == 200

    answer = client.get(f"/api/v1/cases/{created['id']}", headers=tokens("l2"))
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    assert not FULL_ID.search(text), FULL_ID.search(text)
    assert card not in text and card[-4:] in text
    body = answer.get_json()
    assert body["case"]["id"] == created["id"] and body["case"]["id_number"].count("*") == 13

    history = body["history"]
    actions = [h["action"] for h in history]
    assert actions[0] == "case.start"
    assert actions.index("task.complete") < actions.index("notice.post")
    assert [h["at"] for h in history] == sorted(h["at"] for h in history)
    assert all(OFFSET.search(h["at"]) for h in history)
    assert history[0]["actor"] == "张经办" and history[0]["summary"]
    assert history[-1]["actor"] is None  # the notice is posted by the process

    data = body["data"]
    assert data["student_id_number"].count("*") == 13
    assert data["parent_id_number"].count("*") == 13
    assert data["bank_card"] == "*" * (len(card) - 4) + card[-4:]
    assert data["student_name"] == "王小明" and data["tuition_fen"] == 560000
    assert [t["step"] for t in body["open_tasks"]] == []  # waiting on the notice timer
    assert client.get(f"/api/v1/cases/{created['id']}", headers=tokens("cw2")).status_code == 403


# --- notices (public) -----------------------------------------------------------------------


def test_notice_list_and_objection_open_an_investigation(client, world, tokens):
    case = start(world)
    world.do("cw1", case, "home_visit_task", VISIT_OK)
    other = start(world, "cw3")
    world.do("cw3", other, "home_visit_task", VISIT_OK)

    everything = client.get("/api/v1/notices").get_json()["items"]
    assert len(everything) == 2
    listed = client.get("/api/v1/notices?org=szq").get_json()["items"]
    assert len(listed) == 1
    notice = listed[0]
    assert notice["applicant"] == "王*明" and notice["id_number"].count("*") == 13
    assert notice["amount_fen"] == 500000 and notice["organisation"]["code"] == "szq1"
    assert OFFSET.search(notice["ends_at"]) and re.fullmatch(r"\d{4}-\d\d-\d\d", notice["last_day"])
    assert set(notice) >= {"id", "programme", "posted_at", "round"}
    assert "case_id" not in notice and "case_no" not in notice
    assert client.get("/api/v1/notices?org=nowhere").get_json() == {"items": []}
    assert not FULL_ID.search(client.get("/api/v1/notices").get_data(as_text=True))

    url = f"/api/v1/notices/{notice['id']}/objections"
    short = client.post(url, json={"contact": "", "reason": "短"})
    assert short.status_code == 422 and set(short.get_json()["errors"]) == {"contact", "reason"}
    answer = client.post(url, json={"contact": "13900000000", "reason": "该生家庭经营两家商铺"})
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["notice_id"] == notice["id"]
    assert (
        client.post(
            "/api/v1/notices/999999/objections", json={"contact": "x", "reason": "理由理由理由"}
        ).status_code
        == 404
    )

    assert client.get("/api/v1/notices?org=szq").get_json()["items"] == []
    detail = client.get(f"/api/v1/cases/{case.id}", headers=tokens("cw1")).get_json()
    assert [t["step"] for t in detail["open_tasks"]] == ["investigate_objection"]
    assert "notice.objection" in [h["action"] for h in detail["history"]]
    task_id = detail["open_tasks"][0]["id"]
    form = client.get(f"/api/v1/tasks/{task_id}", headers=tokens("cw1")).get_json()["form"]
    assert "经营两家商铺" in form["values"]["objection_summary"]


def test_objections_are_rate_limited(make_app, world):
    app = make_app(RATELIMIT_ENABLED=True)
    case = start(world)
    world.do("cw1", case, "home_visit_task", VISIT_OK)
    client = app.test_client()
    notice_id = client.get("/api/v1/notices").get_json()["items"][0]["id"]
    url = f"/api/v1/notices/{notice_id}/objections"
    payload = {"contact": "13900000000", "reason": "该生家庭并不困难"}
    codes = [client.post(url, json=payload).status_code for _ in range(6)]
    assert codes == [201] * 5 + [429]
    limited = client.post(url, json=payload)
    assert limited.status_code == 429 and limited.get_json()["code"] == "http_error"


# --- the OpenAPI document -------------------------------------------------------------------


def _routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((path, method.lower()))
    return routes


def test_openapi_describes_every_route_and_nothing_else(app, client, world):
    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    doc = answer.get_json()
    assert doc["openapi"].startswith("3.1") and doc["servers"] == [{"url": "/api/v1"}]
    documented = {
        (path, method)
        for path, item in doc["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert documented == _routes(app)
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    error = doc["components"]["schemas"]["Error"]
    assert error["required"] == ["code", "message"] and "errors" in error["properties"]

    public = {("/token", "post"), ("/notices", "get"), ("/openapi.json", "get")}
    public.add(("/notices/{notice_id}/objections", "post"))
    public.add(("/notices/objections/{reference}", "get"))
    for path, method in documented:
        operation = doc["paths"][path][method]
        assert operation["responses"], (path, method)
        assert (operation.get("security") == []) == ((path, method) in public), (path, method)
        for name in re.findall(r"{(\w+)}", path):
            assert any(p["name"] == name and p["in"] == "path" for p in operation["parameters"])

    # Every reference resolves.
    text = json.dumps(doc)
    for ref in set(re.findall(r'"\$ref": "#/([^"]+)"', text)):
        node = doc
        for part in ref.split("/"):
            node = node[part]


def test_file_upload_returns_an_id_a_new_application_can_use(app, world):
    import io

    headers = api_token(app, "cw1")
    client = app.test_client()
    upload = client.post(
        "/api/v1/files",
        headers=headers,
        data={"file": (io.BytesIO(b"%PDF-1.4 admission"), "录取通知书.pdf")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 201, upload.get_json()
    file_id = upload.get_json()["id"]
    assert upload.get_json()["content_type"] == "application/pdf"
    data = world.tuition_application(admission_letter=file_id)
    started = client.post(
        "/api/v1/cases",
        headers=headers,
        json={"process": "tuition_grant", "campaign": "jq2026", "data": data},
    )
    assert started.status_code == 201, started.get_json()
    not_pdf = client.post(
        "/api/v1/files",
        headers=headers,
        data={"file": (io.BytesIO(b"MZ\x90\x00"), "virus.pdf")},
        content_type="multipart/form-data",
    )
    assert not_pdf.status_code == 422 and "PDF" in not_pdf.get_json()["message"]


def test_an_uploaded_file_named_after_an_id_number_keeps_it_masked(app, world):
    import io

    id_number = world.next_id()
    upload = app.test_client().post(
        "/api/v1/files",
        headers=api_token(app, "cw1"),
        data={"file": (io.BytesIO(b"%PDF-1.4 id card"), f"{id_number}身份证.pdf")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 201
    name = upload.get_json()["filename"]
    assert id_number not in name and name.endswith("身份证.pdf") and id_number[-2:] in name
    world.session.expire_all()
    stored = world.session.get(StoredFile, upload.get_json()["id"])
    assert id_number not in stored.filename
