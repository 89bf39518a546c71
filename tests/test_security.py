"""Security headers, cookie flags, no inline script in any template, the login rate
limit, the password policy, and changing one's own password."""

import re
from pathlib import Path

import pytest
from conftest import api_token, csrf_from, login
from sqlalchemy import select

from webapp import security
from workflows import users
from workflows.errors import ValidationFailed
from workflows.models import ApiToken, AuditEvent

TEMPLATES = Path(__file__).resolve().parent.parent / "webapp" / "templates"


def csp(answer) -> dict[str, str]:
    policy = answer.headers["Content-Security-Policy"]
    return {part.split()[0]: " ".join(part.split()[1:]) for part in policy.split("; ")}


# --- headers -------------------------------------------------------------------------------


def assert_common_headers(answer) -> None:
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert "camera=()" in answer.headers["Permissions-Policy"]


def test_a_signed_in_page_has_a_strict_policy_and_is_not_stored(as_user, world):
    answer = as_user("cw1").get("/tasks/mine")
    assert answer.status_code == 200
    assert_common_headers(answer)
    policy = csp(answer)
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"  # no inline script, no eval, no CDN
    assert policy["style-src"] == "'self'" and "style-src-elem" not in policy
    assert policy["style-src-attr"] == "'unsafe-inline'"
    assert policy["img-src"] == "'self' data:" and policy["font-src"] == "'self' data:"
    assert policy["connect-src"] == "'self'" and policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'self'" and policy["form-action"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert answer.headers["Cache-Control"] == "no-store"


def test_the_public_login_page_has_the_headers_too(app, world):
    answer = app.test_client().get("/login")
    assert_common_headers(answer)
    assert csp(answer)["script-src"] == "'self'"
    assert "Strict-Transport-Security" not in answer.headers  # plain http here


def test_https_answers_ask_browsers_to_stay_on_https(app, world):
    answer = app.test_client().get("/login", base_url="https://localhost")
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")


def test_api_answers_and_api_errors_have_the_headers_and_are_not_stored(app, world):
    client = app.test_client()
    for answer in (
        client.get("/api/v1/openapi.json"),
        client.get("/api/v1/tasks"),  # 401 without a token
        client.get("/api/v1/tasks", headers=api_token(app, "cw1")),
    ):
        assert_common_headers(answer)
        assert "no-store" in answer.headers["Cache-Control"]
        assert "Content-Security-Policy" in answer.headers


def test_static_files_have_the_headers_but_keep_their_caching(app, world):
    answer = app.test_client().get("/static/app.css")
    assert answer.status_code == 200
    assert_common_headers(answer)
    assert "no-store" not in answer.headers.get("Cache-Control", "")
    answer.close()


def test_error_pages_have_the_headers(as_user, world):
    answer = as_user("cw1").get("/no-such-page")
    assert answer.status_code == 404
    assert_common_headers(answer)
    assert csp(answer)["script-src"] == "'self'"


def test_the_process_editor_gets_the_same_strict_policy(as_user, world):
    client = as_user("mgr")
    editor = client.get("/processes/tuition_grant/edit")
    assert editor.status_code == 200
    assert editor.headers["Content-Security-Policy"] == security.CSP
    assert "style-src-elem" not in csp(editor) and csp(editor)["style-src"] == "'self'"


def test_no_policy_ever_allows_inline_script_or_eval(as_user, world):
    client = as_user("mgr")
    for url in ("/", "/processes", "/processes/tuition_grant/edit", "/audit", "/calendar"):
        policy = client.get(url).headers["Content-Security-Policy"]
        assert "unsafe-eval" not in policy
        script = next(p for p in policy.split("; ") if p.startswith("script-src"))
        assert "unsafe-inline" not in script and "http" not in script


# --- cookies -------------------------------------------------------------------------------


def session_cookie(app) -> str:
    client = app.test_client()
    answer = login(client, "cw1")
    assert answer.status_code == 302
    cookies = [c for c in answer.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, answer.headers
    return cookies[-1]


def test_cookies_are_secure_httponly_and_lax_in_production(make_app, world, monkeypatch):
    monkeypatch.delenv("WARMFLOW_INSECURE_COOKIES", raising=False)
    app = make_app(TESTING=False)
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    cookie = session_cookie(app)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize(
    "config",
    [
        {"TESTING": True},
        {"TESTING": False, "DEBUG": True},
        {"TESTING": False, "WARMFLOW_INSECURE_COOKIES": True},
    ],
    ids=["testing", "debug", "config-flag"],
)
def test_cookies_lose_secure_only_for_local_http(make_app, world, monkeypatch, config):
    monkeypatch.delenv("WARMFLOW_INSECURE_COOKIES", raising=False)
    app = make_app(**config)
    assert not app.config["SESSION_COOKIE_SECURE"]
    cookie = session_cookie(app)
    assert "Secure" not in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_the_environment_flag_used_by_make_run_allows_http_cookies(make_app, world, monkeypatch):
    monkeypatch.setenv("WARMFLOW_INSECURE_COOKIES", "1")
    assert not make_app(TESTING=False).config["SESSION_COOKIE_SECURE"]
    monkeypatch.setenv("WARMFLOW_INSECURE_COOKIES", "0")
    assert make_app(TESTING=False).config["SESSION_COOKIE_SECURE"]


def test_an_explicit_cookie_setting_wins(make_app, world):
    assert make_app(TESTING=True, SESSION_COOKIE_SECURE=True).config["SESSION_COOKIE_SECURE"]


# --- templates: nothing the policy would block ----------------------------------------------

SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)


def templates() -> list[Path]:
    found = sorted(TEMPLATES.rglob("*.html"))
    assert len(found) > 20  # the directory really is where the templates are
    return found


def test_no_template_has_inline_script_handlers_or_styles():
    problems = []
    for path in templates():
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(TEMPLATES)
        for match in SCRIPT_TAG.finditer(text):
            if "src=" not in match.group(1):
                problems.append(f"{name}: <script> without src")
        if EVENT_HANDLER.search(text):
            problems.append(f"{name}: inline event handler")
        if re.search(r"\sstyle\s*=", text, re.IGNORECASE):
            problems.append(f"{name}: style attribute")
        if re.search(r"<style\b", text, re.IGNORECASE):
            problems.append(f"{name}: <style> element")
        if re.search(r"javascript:", text, re.IGNORECASE):
            problems.append(f"{name}: javascript: URL")
    assert problems == []


def test_the_template_check_catches_what_it_looks_for():
    assert SCRIPT_TAG.search("<script>alert(1)</script>").group(1) == ""
    assert EVENT_HANDLER.search('<button type="button" onclick="go()">')
    assert not EVENT_HANDLER.search('<a href="/x" data-once="1">')


# --- login rate limit ----------------------------------------------------------------------


def test_the_login_form_answers_429_in_chinese_after_twenty_tries_a_minute(make_app, world):
    app = make_app(RATELIMIT_ENABLED=True)
    client = app.test_client()
    token = csrf_from(client, "/login")
    codes = []
    for n in range(21):
        answer = client.post(
            "/login",
            data={"username": f"nobody{n}", "password": "wrong", "csrf_token": token},
        )
        codes.append(answer.status_code)
    assert codes[:20] == [200] * 20 and codes[20] == 429
    assert "操作过于频繁，请稍后再试" in answer.get_data(as_text=True)
    # Even the right password waits out the minute from this address.
    right = client.post(
        "/login", data={"username": "cw1", "password": "pw-cw1", "csrf_token": token}
    )
    assert right.status_code == 429


# --- password policy -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("", "至少需要 10 个字符"),
        ("Ab1!xyz", "至少需要 10 个字符"),
        ("abcdefghij", "至少三类"),  # one kind
        ("abcdefgh12", "至少三类"),  # two kinds, short of 16
        ("ABCDEFGH-!", "至少三类"),
        ("Zhang.cw1-Pass9", "用户名"),  # contains the username, any case
        ("Password2026!", "常见"),  # a common word dressed up
        ("P@ssw0rd", "至少需要 10 个字符"),
        ("Warmflow2026", "常见"),
        ("1234567890", "至少三类"),
        ("aaaaaaaaaaaaaaaaaaaa", "重复"),  # long but one character
        ("x" * 129 + "A1!", "不能超过"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password, reason):
    with pytest.raises(ValidationFailed) as refused:
        users.check_password_policy(password, "cw1")
    assert reason in refused.value.message
    assert refused.value.errors == {"password": refused.value.message}


@pytest.mark.parametrize(
    "password",
    [
        "Hardship-aid7",  # 13 characters, four kinds
        "tuition9grant!",  # lower, digit, other
        "内江市总工会帮扶Ab1",  # Chinese counts as "other"
        "correct horse battery staple",  # 16+ of any kind
        "zhangjingban2026xy",  # 18 lower and digits
    ],
)
def test_good_passwords_pass(password):
    users.check_password_policy(password, "cw1")


def test_common_passwords_are_refused_even_when_long_enough():
    for common in ("1234567890", "123456789a", "qwertyuiop", "1q2w3e4r5t"):
        with pytest.raises(ValidationFailed):
            users.check_password_policy(common, "someone")
    assert "password" in users.COMMON_PASSWORDS and "warmflow" in users.COMMON_PASSWORDS


def test_add_user_applies_the_policy_unless_seeding_says_otherwise(world):
    org = world.orgs["g1"]
    with pytest.raises(ValidationFailed) as refused:
        users.add_user(world.session, "cw9", "pw-cw9", "新经办", org, ["caseworker"])
    assert "至少需要 10 个字符" in refused.value.message
    world.session.rollback()
    made = users.add_user(world.session, "cw9", "Hardship-aid7", "新经办", org, ["caseworker"])
    seeded = users.add_user(
        world.session, "cw10", "pw-cw10", "种子经办", org, ["caseworker"], check_policy=False
    )
    assert made.id and seeded.id


# --- changing one's own password -----------------------------------------------------------

NEW = "Hardship-aid7"


def change(client, current="pw-cw1", new=NEW, repeat=None):
    token = csrf_from(client, "/account/password")
    return client.post(
        "/account/password",
        data={
            "current": current,
            "new": new,
            "repeat": new if repeat is None else repeat,
            "csrf_token": token,
        },
    )


def test_every_page_links_to_the_password_page_for_a_signed_in_user(as_user, app, world):
    page = as_user("cw1").get("/").get_data(as_text=True)
    assert 'href="/account/password"' in page
    assert 'href="/account/password"' not in app.test_client().get("/login").get_data(as_text=True)
    anonymous = app.test_client().get("/account/password")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_a_user_changes_their_password_and_signs_in_with_the_new_one(app, as_user, world):
    headers = api_token(app, "cw1")
    elsewhere = as_user("cw1")  # the same person signed in on another computer
    client = as_user("cw1")
    answer = change(client)
    assert answer.status_code == 302
    assert "密码已修改" in client.get("/").get_data(as_text=True)
    # That other session ends with the change; this browser stays signed in.
    assert elsewhere.get("/tasks/mine").status_code == 302
    assert client.get("/tasks/mine").status_code == 200
    assert login(app.test_client(), "cw1", NEW).status_code == 302
    old = login(app.test_client(), "cw1", "pw-cw1")
    assert old.status_code == 200 and "用户名或密码错误" in old.get_data(as_text=True)
    # Tokens taken with the old password stop working.
    assert app.test_client().get("/api/v1/tasks", headers=headers).status_code == 401
    world.session.expire_all()
    user_id = world.users["cw1"].id
    assert world.session.scalars(select(ApiToken).where(ApiToken.user_id == user_id)).all() == []
    events = world.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.password_change")
    ).all()
    assert [(e.actor_id, e.summary) for e in events] == [(user_id, "修改密码")]
    assert NEW not in events[0].detail and "pw-cw1" not in events[0].detail


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"current": "wrong-one"}, "当前密码不正确"),
        ({"repeat": NEW + "x"}, "两次输入的新密码不一致"),
        ({"new": "pw-cw1", "repeat": "pw-cw1"}, "新密码不能与当前密码相同"),
        ({"new": "short1A!"}, "至少需要 10 个字符"),
        ({"new": "abcdefghijk"}, "至少三类"),
        ({"new": "My-cw1-Secret9"}, "用户名"),
    ],
)
def test_a_refused_change_says_why_and_changes_nothing(app, as_user, world, form, message):
    client = as_user("cw1")
    answer = change(client, **form)
    assert answer.status_code == 422
    assert message in answer.get_data(as_text=True)
    assert login(app.test_client(), "cw1").status_code == 302  # the old password still works
    world.session.expire_all()
    assert world.session.query(AuditEvent).filter_by(action="auth.password_change").count() == 0


def test_changing_a_password_needs_the_csrf_token(as_user, world):
    client = as_user("cw1")
    answer = client.post("/account/password", data={"current": "pw-cw1", "new": NEW, "repeat": NEW})
    assert answer.status_code == 400
    assert "页面已过期" in answer.get_data(as_text=True)


# --- NUL characters ------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/audit?user=a%00b", "/tasks/mine?q=%00", "/cases?a%00=1"])
def test_a_nul_character_in_a_page_query_is_refused_plainly(as_user, world, url):
    answer = as_user("mgr").get(url)
    assert answer.status_code == 400
    assert "请求格式不正确" in answer.get_data(as_text=True)


def test_a_nul_character_in_an_api_query_or_body_is_a_400_not_a_database_error(app, world):
    headers = api_token(app, "mgr")
    client = app.test_client()
    answer = client.get("/api/v1/audit", query_string={"user": "a\x00b"}, headers=headers)
    assert answer.status_code == 400 and answer.get_json()["code"] == "http_error"
    before = client.get("/api/v1/audit", headers=headers).get_json()["total"]
    answer = client.post("/api/v1/token", json={"username": "mgr\x00", "password": "x"})
    assert answer.status_code == 400
    assert client.get("/api/v1/audit", headers=headers).get_json()["total"] == before


def test_a_nul_character_in_a_form_field_changes_nothing(app, as_user, world):
    client = as_user("cw1")
    token = csrf_from(client, "/account/password")
    answer = client.post(
        "/account/password",
        data={"csrf_token": token, "current": "pw-cw1", "new": "Abc\x00defgh12", "repeat": "x"},
    )
    assert answer.status_code == 400
    assert login(app.test_client(), "cw1").status_code == 302  # the old password still works
