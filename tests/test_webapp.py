"""The app factory: builds on any database URL, answers health, and never shows a trace."""

import pytest

from workflows.errors import Forbidden


@pytest.fixture
def app(make_app):
    app = make_app()

    @app.get("/api/boom")
    def boom():
        raise RuntimeError("secret internals /etc/passwd")

    @app.get("/api/forbidden")
    def forbidden():
        raise Forbidden("无权查看该案件")

    return app


def test_health_answers_ok_with_the_database(app):
    answer = app.test_client().get("/healthz")
    body = answer.get_json()
    assert answer.status_code == 200 and (body["status"], body["database"]) == ("ok", "ok")
    assert body["timers"]["state"] == "never"  # no `warmflow worker` has run here


def test_start_page_is_chinese_and_lists_deployed_processes_to_managers(app, as_user):
    page = as_user("mgr").get("/").get_data(as_text=True)
    assert 'lang="zh-CN"' in page and "已部署的流程" in page
    assert "金秋助学" in page and "tuition_grant" in page


@pytest.mark.parametrize("username", ["cw1", "l1", "l2", "l3", "fin"])
def test_start_page_keeps_the_deployed_processes_from_everyone_else(app, as_user, username):
    page = as_user(username).get("/").get_data(as_text=True)
    assert "已部署的流程" not in page and "tuition_grant" not in page


def test_every_page_names_the_favicon_and_the_app_serves_it(app):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    assert 'rel="icon" href="/static/favicon.ico"' in page
    assert 'rel="icon" href="/static/favicon.svg" type="image/svg+xml"' in page
    for url in ("/favicon.ico", "/static/favicon.ico"):
        icon = client.get(url)
        assert icon.status_code == 200
        assert icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    svg = client.get("/static/favicon.svg")
    assert svg.status_code == 200 and svg.data.startswith(b"<svg")


def test_unexpected_error_is_a_chinese_message_without_internals(app):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    answer = app.test_client().get("/api/boom")
    assert answer.status_code == 500
    body = answer.get_json()
    assert body["code"] == "internal_error" and "系统出现错误" in body["message"]
    assert "passwd" not in answer.get_data(as_text=True)


def test_service_errors_map_to_status_codes_and_json(app):
    answer = app.test_client().get("/api/forbidden")
    assert answer.status_code == 403
    assert answer.get_json() == {"code": "forbidden", "message": "无权查看该案件"}
    assert app.test_client().get("/no-such-page").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/cases/99999999999999999999",
        "/tasks/9999999999999",
        "/campaigns/99999999999",
        "/finance/batches/99999999999",
        "/calendar?year=2074382",
    ],
)
def test_out_of_range_ids_and_years_are_not_found_not_a_server_error(as_user, url):
    user = "fin" if url.startswith("/finance") else "mgr"
    answer = as_user(user).get(url)
    assert answer.status_code == 404
    assert "Traceback" not in answer.get_data(as_text=True)
