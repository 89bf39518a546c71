"""A real federation's day one, in the browser (issue 13): an empty database → 首次设置
makes the city federation and its first manager → the tree imported from a file → the
users imported (their one-time passwords downloaded) → a district manager adds a union
and a caseworker there → the caseworker signs in, replaces the one-time password and
registers an application → once visited and past its notice and the union's sign-off,
the district's approver sees it in 待认领.

The home visit, the notice period and the union's sign-off run through the services
(other browser tests cover those pages); everything a federation does on day one runs
in the browser."""

import csv
import io
import re
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import BPMN, JPEG, today_iso, valid_id
from sqlalchemy import select
from werkzeug.serving import make_server

from workflows import files, processes, tasks, timers
from workflows.models import Case, HumanTask, PublicNotice, User

STRONG = "Tianfu-Gonghui-2026"
TREE = (
    "上级单位代码,单位代码,单位名称,层级\n"
    "lz,lzq,江阳区总工会,2\n"
    "lz,lxx,泸县总工会,2\n"
    "lzq,lzq1,南城街道帮扶站,3\n"
    "lxx,lxx1,玉蟾街道帮扶站,3\n"
)
PEOPLE = (
    "用户名,姓名,单位代码,角色,手机号\n"
    "mgr.lzq,江阳管理,lzq,管理员,13800000001\n"
    "shen.lzq,沈区审批,lzq,县（区）总工会审批人,\n"
    "cw.lzq1,南城经办,lzq1,经办人,\n"
)


@pytest.fixture
def empty_server(engine, factory, clock, tmp_path, monkeypatch):
    """The app on an empty database with the diagrams deployed (as `warmflow init-db`)."""
    from webapp import create_app

    with factory() as session:
        processes.deploy_files(session, None, sorted(BPMN.glob("*.bpmn")))
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "RATELIMIT_ENABLED": False,
        }
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def _sign_in(browser, base: str, username: str, password: str, width: int = 1280):
    context = browser.new_context(locale="zh-CN", viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    return page


def _first_password(page, one_time: str, new: str = STRONG) -> None:
    """Signed in with a one-time password: only the change page opens, then everything."""
    page.wait_for_url("**/account/password")
    page.fill("#current", one_time)
    page.fill("#new", new)
    page.fill("#repeat", new)
    page.click("button.primary")
    page.wait_for_url(lambda url: not url.endswith("/account/password"))


def _upload(page, selector: str, name: str, text: str) -> None:
    page.set_input_files(
        selector, files=[{"name": name, "mimeType": "text/csv", "buffer": text.encode("utf-8")}]
    )


def test_day_one_from_an_empty_database_to_the_district_approvers_queue(
    empty_server, browser, factory, clock, shot
):
    base = empty_server
    # 1. 首次设置: nobody exists, so the start page leads there.
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    admin = context.new_page()
    admin.set_default_timeout(15000)
    admin.goto(base + "/")
    admin.wait_for_url("**/setup")
    admin.fill("#name", "泸州市总工会")
    admin.fill("#code", "lz")
    admin.fill("#display_name", "周管理")
    admin.fill("#username", "admin.lz")
    admin.fill("#password", "password123")  # the policy refuses it
    admin.fill("#repeat", "password123")
    admin.click("button.primary")
    assert admin.locator(".field-error").count() >= 1
    admin.fill("#password", STRONG)
    admin.fill("#repeat", STRONG)
    admin.click("button.primary")
    admin.wait_for_url("**/login")
    assert admin.goto(base + "/setup").status == 404  # closed for good

    # 2. The first manager signs in and imports the tree.
    admin.goto(base + "/login")
    admin.fill("input[name=username]", "admin.lz")
    admin.fill("input[name=password]", STRONG)
    admin.click("button[type=submit]")
    admin.click("text=单位管理")
    _upload(admin, "#org-file", "单位.csv", TREE)
    admin.click("#import-units button.primary")
    admin.wait_for_selector("text=导入完成")
    tree = admin.locator("#org-tree").inner_text()
    for name in ("江阳区总工会", "泸县总工会", "南城街道帮扶站", "玉蟾街道帮扶站"):
        assert name in tree
    shot(admin, "day-one-tree")

    # 3. ... and the people; their one-time passwords come back once, as a download.
    admin.click("text=用户管理")
    _upload(admin, "#user-file", "用户.csv", PEOPLE)
    with admin.expect_download() as download:
        admin.click("#import-users button.primary")
    listed = Path(download.value.path()).read_text(encoding="utf-8-sig")
    passwords = {row["用户名"]: row["一次性密码"] for row in csv.DictReader(io.StringIO(listed))}
    assert set(passwords) == {"mgr.lzq", "shen.lzq", "cw.lzq1"}
    admin.goto(base + "/users")
    assert "沈区审批" in admin.locator("#user-list").inner_text()

    # 4. The district's manager, at phone width: a new union and its caseworker.
    district = _sign_in(browser, base, "mgr.lzq", passwords["mgr.lzq"], width=390)
    _first_password(district, passwords["mgr.lzq"], "Jiangyang-Guanli-2026")
    district.goto(base + "/organisations")
    tree = district.locator("#org-tree").inner_text()
    assert "南城街道帮扶站" in tree and "泸县总工会" not in tree  # its own subtree only
    district.select_option("#parent_id", label="江阳区总工会（lzq）")
    district.fill("#code", "lzq2")
    district.fill("#name", "江阳区华阳街道帮扶站")
    district.click("#add-unit button.primary")
    district.wait_for_selector("text=已新增单位")
    shot(district, "day-one-district-tree-phone")
    for username, name, role in (
        ("cw.lzq2", "华阳经办", "caseworker"),
        ("ap.lzq2", "华阳主席", "approver_l1"),
    ):
        district.goto(base + "/users/new")
        district.fill("#username", username)
        district.fill("#display_name", name)
        district.select_option("#org_id", label="江阳区华阳街道帮扶站（lzq2）")
        district.check(f"input[name=roles][value={role}]")
        district.click("#user-form button.primary")
        passwords[username] = district.locator("#one-time-password").inner_text().strip()
    shot(district, "day-one-one-time-password-phone")
    # At phone width the pages fit; wide tables scroll inside their own box.
    for path in ("/organisations", "/users", "/users/new"):
        district.goto(base + path)
        assert district.evaluate("document.documentElement.scrollWidth") <= 390, path
    district.goto(base + "/users")
    assert "华阳经办" in district.locator("#user-list").inner_text()
    shot(district, "day-one-users-phone")

    # 5. The caseworker signs in, chooses a password and registers an application.
    caseworker = _sign_in(browser, base, "cw.lzq2", passwords["cw.lzq2"])
    _first_password(caseworker, passwords["cw.lzq2"], "Huayang-Jingban-2026")
    caseworker.goto(base + "/apply/hardship_archive")
    caseworker.fill("#worker_name", "钱德贵")
    caseworker.fill("#worker_id_number", valid_id("51050219750312001"))
    caseworker.fill("#employer", "泸州老窖酿酒车间")
    caseworker.select_option("#hardship_category", "medical")
    caseworker.fill("#household_size", "3")
    caseworker.fill("#household_income_fen", "15000")
    caseworker.fill("#hardship_description", "本人患重病，长期治疗，家庭收入微薄")
    caseworker.click("button.primary")
    caseworker.wait_for_selector("text=申请已登记")
    case_no = re.search(r"案件编号 (\S+)", caseworker.inner_text(".flash")).group(1)

    # The visit, the notice and the union's sign-off (pages covered elsewhere).
    with factory() as session:
        case = session.scalars(select(Case).where(Case.case_no == case_no)).one()
        cw = session.scalars(select(User).where(User.username == "cw.lzq2")).one()
        assert case.org.code == "lzq2"
        visit = session.scalars(
            select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open")
        ).one()
        photo = files.store(session, cw, "住房照片.jpg", JPEG).id
        tasks.complete(
            session,
            cw,
            visit.id,
            dict(
                visit_date=today_iso(),
                visitors="华阳经办、社区网格员",
                household_situation="三口之家，本人长期治疗，配偶无业，孩子上学，靠低保生活",
                visit_verdict="confirmed",
                housing_photos=[photo],
            ),
        )
        notice = session.scalars(select(PublicNotice).where(PublicNotice.case_id == case.id)).one()
        clock.move_to(notice.ends_at + timedelta(minutes=1))
    assert timers.fire_due_timers(factory) == 1
    with factory() as session:
        approver = session.scalars(select(User).where(User.username == "ap.lzq2")).one()
        l1 = session.scalars(
            select(HumanTask).where(
                HumanTask.case_id == case.id, HumanTask.element_id == "approve_l1"
            )
        ).one()
        tasks.complete(session, approver, l1.id, {"decision": "approve"})

    # 6. The district's approver (imported) finds it in 待认领.
    l2 = _sign_in(browser, base, "shen.lzq", passwords["shen.lzq"])
    _first_password(l2, passwords["shen.lzq"], "Jiangyang-Shenpi-2026")
    l2.click("text=待认领")
    l2.wait_for_selector(f"text={case_no}")
    shot(l2, "day-one-district-approver-queue")
