"""One whole flow with the rate limits on, as `make run` serves it (the other tests switch
them off): sign in, the task lists, an API token, a case registered and visited over the
API, a public objection on the notice page, its investigation; and the limits still count
afterwards."""

import io

from conftest import JPEG, PDF, csrf_from, login

VISIT = dict(
    visit_date="2026-09-07",
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病，家庭收入低，住单位老旧宿舍，情况属实。",
    visit_verdict="confirmed",
)


def test_sign_in_tasks_token_and_objection_work_with_the_rate_limits_on(make_app, world):
    app = make_app(RATELIMIT_ENABLED=True)
    assert app.config["RATELIMIT_ENABLED"] is True

    page = app.test_client()
    assert login(page, "cw1").status_code == 302
    for url in ("/", "/tasks/mine", "/tasks/group", "/cases"):
        assert page.get(url).status_code == 200, url

    api = app.test_client()
    token = api.post("/api/v1/token", json={"username": "cw1", "password": "pw-cw1"})
    assert token.status_code == 200
    headers = {"Authorization": "Bearer " + token.get_json()["token"]}
    letter = api.post(
        "/api/v1/files",
        headers=headers,
        data={"file": (io.BytesIO(PDF), "录取通知书.pdf")},
        content_type="multipart/form-data",
    )
    assert letter.status_code == 201
    application = world.tuition_application(admission_letter=letter.get_json()["id"])
    started = api.post(
        "/api/v1/cases",
        headers=headers,
        json={"process": "tuition_grant", "campaign": "jq2026", "data": application},
    )
    assert started.status_code == 201, started.get_json()
    case_id = started.get_json()["case"]["id"]
    (visit,) = api.get(f"/api/v1/cases/{case_id}", headers=headers).get_json()["open_tasks"]
    photo = api.post(
        "/api/v1/files",
        headers=headers,
        data={"file": (io.BytesIO(JPEG), "住房照片.jpg")},
        content_type="multipart/form-data",
    )
    assert photo.status_code == 201
    visit_data = dict(VISIT, housing_photos=[photo.get_json()["id"]])
    done = api.post(
        f"/api/v1/tasks/{visit['id']}/complete", headers=headers, json={"data": visit_data}
    )
    assert done.status_code == 200, done.get_json()

    # The public objects on the notice page (CSRF, the limited POST).
    public = app.test_client()
    (notice,) = public.get("/api/v1/notices").get_json()["items"]
    url = f"/notices/{notice['id']}/objection"
    received = public.post(
        url,
        data={
            "csrf_token": csrf_from(public, url),
            "contact": "群众 13900000000",
            "reason": "该生家中去年购置小轿车一辆，经济条件不像困难家庭。",
        },
    )
    assert received.status_code == 200 and "异议" in received.get_data(as_text=True)

    (investigate,) = api.get(f"/api/v1/cases/{case_id}", headers=headers).get_json()["open_tasks"]
    assert investigate["step"] == "investigate_objection"
    finding = api.post(
        f"/api/v1/tasks/{investigate['id']}/complete",
        headers=headers,
        json={
            "data": {
                "objection_finding": "dismissed",
                "investigation_report": "经再次入户核实，车辆登记在亲属名下，异议不成立。",
            }
        },
    )
    assert finding.status_code == 200, finding.get_json()

    # The limits were on all along: the same address may object four more times this hour.
    objections = f"/api/v1/notices/{notice['id']}/objections"
    payload = {"contact": "13900000000", "reason": "该生家庭并不困难"}
    codes = [public.post(objections, json=payload).status_code for _ in range(5)]
    assert codes == [201] * 4 + [429]
    # Twenty sign-ins a minute per address.
    wrong = app.test_client()
    token = csrf_from(wrong, "/login")
    tries = [
        wrong.post(
            "/login", data={"username": "cw1", "password": "wrong", "csrf_token": token}
        ).status_code
        for _ in range(20)
    ]
    assert tries[-1] == 429 and 429 not in tries[:18]
