"""The English language switch: Chinese is the source language and the default;
`?lang=en` turns the pages English and is remembered for the session."""

from babel.messages.pofile import read_po
from conftest import ROOT, csrf_from, login

PO = ROOT / "webapp" / "translations" / "en" / "LC_MESSAGES" / "messages.po"


def text(answer) -> str:
    return answer.get_data(as_text=True)


def test_chinese_is_the_default(app):
    html = text(app.test_client().get("/login"))
    assert '<html lang="zh-CN">' in html
    assert "登录" in html
    assert "Sign in" not in html
    assert "English" in html  # the switch offers the other language


def test_english_on_request_and_remembered(app):
    client = app.test_client()
    first = text(client.get("/login?lang=en"))
    assert '<html lang="en">' in first
    assert "Sign in" in first
    assert "Username" in first and "Password" in first
    assert "登录" not in first
    again = text(client.get("/login"))
    assert "Sign in" in again and "登录" not in again
    back = text(client.get("/login?lang=zh_CN"))
    assert "登录" in back and "Sign in" not in back


def test_switch_link_keeps_the_page_and_its_query(app):
    html = text(app.test_client().get("/notices?org=szq"))
    assert 'href="/notices?org=szq&amp;lang=en"' in html


def test_unknown_language_falls_back_to_chinese(app):
    client = app.test_client()
    html = text(client.get("/login?lang=xx"))
    assert '<html lang="zh-CN">' in html
    assert "登录" in html and "Sign in" not in html
    client.get("/login?lang=en")
    assert "登录" in text(client.get("/login?lang=xx"))
    assert "Sign in" in text(client.get("/login"))  # an unknown code does not overwrite it


def test_navigation_in_english_after_login(app):
    client = app.test_client()
    client.get("/login?lang=en")
    answer = login(client, "cw1")
    assert answer.status_code == 302
    html = text(client.get("/", follow_redirects=True))
    for label in ("My tasks", "Unclaimed", "New application", "Case search", "Sign out"):
        assert label in html, label
    assert "我的任务" not in html
    tasks = text(client.get("/tasks/mine"))
    assert "My tasks" in tasks and "Overdue only" in tasks


def test_english_form_errors(app):
    client = app.test_client()
    token = csrf_from(client, "/login?lang=en")
    answer = client.post("/login", data={"username": "", "password": "", "csrf_token": token})
    html = text(answer)
    assert "Please enter your username" in html
    assert "请输入用户名" not in html


def test_public_notices_in_english(app):
    html = text(app.test_client().get("/notices?lang=en"))
    assert "Public notices" in html
    assert "workers' service hotline <strong>12351</strong>" in html
    assert "公示公告" not in html


def test_error_page_in_english(app):
    answer = app.test_client().get("/no-such-page?lang=en")
    assert answer.status_code == 404
    assert "Page not found" in text(answer)


def test_every_message_is_translated():
    with PO.open("rb") as source:
        catalog = read_po(source)
    ids = [m.id for m in catalog if m.id]
    assert len(ids) > 100
    untranslated = [m.id for m in catalog if m.id and not (m.string or "").strip()]
    assert untranslated == []
    assert not [m.id for m in catalog if m.id and m.fuzzy]
    placeholders = [
        m.id for m in catalog if m.id and sorted(_names(m.id)) != sorted(_names(m.string))
    ]
    assert placeholders == []


def _names(message: str) -> list[str]:
    import re

    return re.findall(r"%\((\w+)\)s", message)


def test_every_message_the_templates_and_views_use_has_an_english_translation(tmp_path):
    """Extract like a translator would; a new string without English fails here."""
    import subprocess
    import sys
    from pathlib import Path

    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parent.parent
    pot = tmp_path / "messages.pot"
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run(
        [
            str(pybabel),
            "extract",
            "-F",
            str(root / "babel.cfg"),
            "-k",
            "lazy_gettext",
            "-k",
            "N_",
            "-o",
            str(pot),
            str(root / "webapp"),
        ],
        check=True,
        capture_output=True,
    )
    with (
        pot.open("rb") as extracted,
        (root / "webapp/translations/en/LC_MESSAGES/messages.po").open("rb") as english,
    ):
        wanted, have = read_po(extracted), read_po(english)
    missing = [m.id for m in wanted if m.id and (m.id not in have or not have[m.id].string)]
    assert missing == []
