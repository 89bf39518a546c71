"""Signing in and out, CSRF, the start page, and API tokens (throttling and server-side
sessions: tests/test_logins.py)."""

from conftest import api_token, csrf_from, login


def test_login_shows_the_start_page_with_what_waits(app, world, as_user):
    client = as_user("cw1")
    page = client.get("/").get_data(as_text=True)
    assert "您好，张经办" in page and "城东街道帮扶站" in page
    assert "我的任务" in page and "待认领" in page and "已超期" in page


def test_anonymous_visitor_is_sent_to_login(app):
    answer = app.test_client().get("/")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/login")


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(app, world):
    client = app.test_client()
    page = login(client, "cw1", "wrong").get_data(as_text=True)
    assert "用户名或密码错误" in page
    assert "用户名或密码错误" in login(client, "nobody", "wrong").get_data(as_text=True)


def test_post_without_csrf_token_is_refused(app, world):
    client = app.test_client()
    answer = client.post("/login", data={"username": "cw1", "password": "pw-cw1"})
    assert answer.status_code == 400
    assert "页面已过期" in answer.get_data(as_text=True)


def test_logout_needs_a_post_with_csrf_and_ends_the_session(app, as_user):
    client = as_user("cw1")
    assert client.get("/logout").status_code == 405
    token = csrf_from(client, "/")
    answer = client.post("/logout", data={"csrf_token": token})
    assert answer.status_code == 302
    assert client.get("/").headers["Location"].endswith("/login")


def test_open_redirect_after_login_is_refused(app, world):
    client = app.test_client()
    token = csrf_from(client, "/login")
    answer = client.post(
        "/login?next=//evil.example/",
        data={"username": "cw1", "password": "pw-cw1", "csrf_token": token},
    )
    assert answer.headers["Location"] == "/"


def test_api_token_is_issued_for_good_credentials_only(app, world):
    headers = api_token(app, "cw1")
    assert headers["Authorization"].startswith("Bearer ")
    bad = app.test_client().post("/api/v1/token", json={"username": "cw1", "password": "x"})
    assert bad.status_code == 401 and bad.get_json()["code"] == "unauthorized"
    not_json = app.test_client().post("/api/v1/token", data="username=cw1")
    assert not_json.status_code == 422


def test_menu_offers_only_pages_the_role_may_open(app, as_user):
    caseworker = as_user("cw1").get("/").get_data(as_text=True)
    approver = as_user("l2").get("/").get_data(as_text=True)
    manager = as_user("mgr").get("/").get_data(as_text=True)
    assert "登记申请" in caseworker and "流程管理" not in caseworker
    assert "登记申请" not in approver and "流程管理" not in approver
    assert "流程管理" in manager and "登记申请" not in manager
    for page in (caseworker, approver, manager):
        assert "我的任务" in page and "案件查询" in page and "公示" in page
