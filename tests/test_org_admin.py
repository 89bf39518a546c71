"""单位管理 and 用户管理 (issue 13): a district manager's scope by page and API, a manager
cannot raise their own rights, deactivation ends sessions and tokens and returns claimed
tasks, moving a union with open approval tasks, whole-file import refusal with line
numbers, idempotent re-import, one-time passwords, the first-run page."""

import io
import re

import openpyxl
import pytest
from conftest import api_token, csrf_from, login
from sqlalchemy import func, select
from test_api import APPROVE, VISIT_OK, pass_notice, start

from workflows import first_run, logins, organisations, tasks, user_admin, users
from workflows.errors import Forbidden, ValidationFailed
from workflows.models import ApiToken, AuditEvent, HumanTask, LoginSession, Organisation, User


@pytest.fixture
def district_manager(world):
    """manager.szq: a manager at 市中区总工会 (d1), whose subtree is szq1 and szq2."""
    person = users.add_user(
        world.session,
        "mgr_d1",
        "pw-mgr_d1",
        "市中区管理",
        world.orgs["d1"],
        ["manager"],
        check_policy=False,
    )
    world.session.commit()
    world.users["mgr_d1"] = person
    return person


def _audited(world, action: str) -> list[str]:
    world.session.expire_all()
    return list(
        world.session.scalars(select(AuditEvent.summary).where(AuditEvent.action == action))
    )


# --- scope -----------------------------------------------------------------------------------


def test_district_manager_sees_and_changes_only_its_subtree_by_page_and_api(
    app, as_user, world, district_manager
):
    page = as_user("mgr_d1")
    tree = page.get("/organisations").get_data(as_text=True)
    assert "城东街道帮扶站" in tree and "内江钢铁厂工会" in tree
    assert "西林街道帮扶站" not in tree and "东兴区总工会" not in tree
    listed = page.get("/users").get_data(as_text=True)
    assert "cw1" in listed and "cw3" not in listed and "l2_d2" not in listed

    g3, cw3 = world.orgs["g3"], world.users["cw3"]
    assert page.get(f"/organisations/{g3.id}").status_code == 403
    assert page.get(f"/users/{cw3.id}").status_code == 403
    token = csrf_from(page, "/users")
    assert page.post(f"/users/{cw3.id}/deactivate", data={"csrf_token": token}).status_code == 403
    # City-wide settings are the city's managers' only.
    assert page.get("/processes").status_code == 403
    assert page.get("/calendar").status_code == 403
    nav = page.get("/").get_data(as_text=True)
    assert "单位管理" in nav and "流程管理" not in nav and "节假日安排" not in nav

    api, headers = app.test_client(), api_token(app, "mgr_d1")
    items = api.get("/api/v1/organisations", headers=headers).get_json()["items"]
    assert {i["code"] for i in items} == {"szq", "szq1", "szq2"}
    assert api.get(f"/api/v1/organisations/{g3.id}", headers=headers).status_code == 403
    assert api.get(f"/api/v1/users/{cw3.id}", headers=headers).status_code == 403
    refused = api.post(
        "/api/v1/users",
        headers=headers,
        json={"username": "cw3b", "display_name": "外区", "org_id": g3.id, "roles": ["caseworker"]},
    )
    assert refused.status_code == 403
    moved = api.post(
        f"/api/v1/organisations/{world.orgs['g1'].id}/move",
        headers=headers,
        json={"parent_id": world.orgs["d2"].id},
    )
    assert moved.status_code == 403
    users_api = api.get("/api/v1/users", headers=headers).get_json()
    assert "cw3" not in {u["username"] for u in users_api["items"]}
    # Inside its subtree it works.
    created = api.post(
        "/api/v1/users",
        headers=headers,
        json={
            "username": "cw1c",
            "display_name": "王新",
            "org_id": world.orgs["g1"].id,
            "roles": ["caseworker", "approver_l1"],
        },
    )
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["user"]["must_change_password"] is True


def test_a_manager_cannot_raise_their_own_rights(world, district_manager):
    me = world.user("mgr_d1")
    with pytest.raises(Forbidden):
        user_admin.update_user(
            world.session, me, me.id, version=None, roles=["manager", "approver_l2"]
        )
    with pytest.raises(Forbidden):
        user_admin.update_user(world.session, me, me.id, version=None, org_id=world.orgs["city"].id)
    with pytest.raises(Forbidden):
        user_admin.deactivate_user(world.session, me, me.id, None)
    with pytest.raises(Forbidden):  # its own unit is not its to move or close
        organisations.close_unit(world.session, me, world.orgs["d1"].id, None)
    with pytest.raises(Forbidden):
        organisations.move_unit(
            world.session, me, world.orgs["d1"].id, world.orgs["city"].id, version=None
        )
    # Nor may it hand out a city role to someone it administers.
    with pytest.raises(ValidationFailed):
        user_admin.update_user(
            world.session, me, world.users["l2"].id, version=None, roles=["approver_l3"]
        )
    assert world.user("mgr_d1").roles == "manager"


def test_a_role_must_fit_the_unit_and_one_person_may_hold_two(world):
    mgr = world.user("mgr")
    with pytest.raises(ValidationFailed) as refused:
        user_admin.create_user(
            world.session, mgr, "cwx", "错层", world.orgs["d1"].id, ["caseworker"]
        )
    assert "经办人" in refused.value.message
    person, password = user_admin.create_user(
        world.session, mgr, "both1", "一人两岗", world.orgs["g1"].id, "经办人、基层工会审批人"
    )
    assert person.role_set == {"caseworker", "approver_l1"} and person.must_change_password
    assert password and person.password_hash != password


def test_four_eyes_holds_for_one_person_with_both_roles(world, clock):
    """A small 帮扶站's one person, both 经办人 and 基层审批人: the case they registered is
    neither offered to them in 待认领 nor theirs to approve."""
    mgr = world.user("mgr")
    both, _ = user_admin.create_user(
        world.session, mgr, "both2", "一人两岗", world.orgs["g1"].id, ["caseworker", "approver_l1"]
    )
    world.users["both2"] = both
    case = start(world, "both2")
    world.do("both2", case, "home_visit_task", VISIT_OK)
    pass_notice(world, clock, case)
    task = world.open_task(case, "approve_l1")
    offered = tasks.list_tasks(world.session, world.user("both2"), "group")
    assert task.id not in {t.id for t in offered}
    with pytest.raises(Forbidden):
        tasks.claim(world.session, world.user("both2"), task.id)
    assert task.id in {t.id for t in tasks.list_tasks(world.session, world.user("l1"), "group")}


# --- deactivation -----------------------------------------------------------------------------


def test_deactivation_ends_sessions_and_tokens_and_returns_claimed_tasks(
    app, as_user, world, clock
):
    case = start(world, "cw1")
    task = world.open_task(case, "home_visit_task")
    tasks.claim(world.session, world.user("cw1b"), task.id)
    browser = as_user("cw1b")
    headers = api_token(app, "cw1b")
    assert browser.get("/tasks/mine").status_code == 200

    manager = as_user("mgr")
    cw1b = world.users["cw1b"]
    token = csrf_from(manager, f"/users/{cw1b.id}")
    answer = manager.post(
        f"/users/{cw1b.id}/deactivate", data={"csrf_token": token, "version": "1"}
    )
    assert answer.status_code == 302

    world.session.expire_all()
    assert world.session.get(HumanTask, task.id).assignee_id is None
    assert not world.session.get(User, cw1b.id).is_active
    count = func.count()
    assert world.session.scalar(select(count).where(ApiToken.user_id == cw1b.id)) == 0
    assert world.session.scalar(select(count).where(LoginSession.user_id == cw1b.id)) == 0
    assert browser.get("/tasks/mine").status_code == 302  # back to the sign-in page
    assert app.test_client().get("/api/v1/tasks", headers=headers).status_code == 401
    assert login(app.test_client(), "cw1b").status_code == 200  # refused, the form again
    # The task is in the group's queue again, for the others of the union.
    assert task.id in {t.id for t in tasks.list_tasks(world.session, world.user("cw1"), "group")}
    assert any("退回已认领任务 1 个" in s for s in _audited(world, "user.deactivate"))
    # Reactivated, the person signs in again; the name stayed in the history all along.
    user_admin.reactivate_user(world.session, world.user("mgr"), cw1b.id, None)
    assert login(app.test_client(), "cw1b").status_code == 302


def test_reset_password_gives_a_one_time_password_that_must_be_changed(app, as_user, world):
    manager = as_user("mgr")
    cw1 = world.users["cw1"]
    token = csrf_from(manager, f"/users/{cw1.id}")
    page = manager.post(f"/users/{cw1.id}/reset-password", data={"csrf_token": token})
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    password = re.search(r'id="one-time-password">([^<]+)<', page.get_data(as_text=True)).group(1)
    assert login(app.test_client(), "cw1").status_code == 200  # the old one is gone
    browser = app.test_client()
    signed_in = login(browser, "cw1", password)
    assert signed_in.headers["Location"].endswith("/account/password")
    assert browser.get("/tasks/mine").headers["Location"].endswith("/account/password")
    refused = app.test_client().post(
        "/api/v1/token", json={"username": "cw1", "password": password}
    )
    assert refused.status_code == 403 and refused.get_json()["code"] == "password_change_required"
    token = csrf_from(browser, "/account/password")
    new = "Neu-Passwort-2026"
    changed = browser.post(
        "/account/password",
        data={"csrf_token": token, "current": password, "new": new, "repeat": new},
    )
    assert changed.status_code == 302
    assert browser.get("/tasks/mine").status_code == 200
    world.session.expire_all()
    assert not world.session.get(User, cw1.id).must_change_password


def test_unlock_clears_the_accounts_failed_sign_ins(app, world):
    client = app.test_client()
    for _ in range(logins.CHALLENGE_AFTER):
        login(client, "cw2", "wrong-password")
    person = world.user("cw2")
    assert user_admin.is_locked(world.session, person)
    user_admin.unlock_user(world.session, world.user("mgr"), person.id)
    assert not user_admin.is_locked(world.session, world.user("cw2"))
    assert login(app.test_client(), "cw2").status_code == 302
    assert _audited(world, "user.unlock")


def test_concurrent_edits_of_one_user_conflict(app, world):
    headers, client = api_token(app, "mgr"), app.test_client()
    cw2 = world.users["cw2"]
    first = client.patch(
        f"/api/v1/users/{cw2.id}", headers=headers, json={"version": 1, "display_name": "陈一"}
    )
    assert first.status_code == 200 and first.get_json()["user"]["version"] == 2
    stale = client.patch(
        f"/api/v1/users/{cw2.id}", headers=headers, json={"version": 1, "display_name": "陈二"}
    )
    assert stale.status_code == 409
    assert "姓名：陈经办 → 陈一" in _audited(world, "user.update")[0]


# --- organisations ------------------------------------------------------------------------------


def test_moving_a_union_with_open_approval_tasks_needs_confirmation_and_moves_them(
    app, as_user, world, clock
):
    case = start(world, "cw1")
    world.do("cw1", case, "home_visit_task", VISIT_OK)
    pass_notice(world, clock, case)
    world.do("l1", case, "approve_l1", APPROVE)
    task = world.open_task(case, "approve_l2")
    tasks.claim(world.session, world.user("l2"), task.id)
    g1, d1, d2 = world.orgs["g1"], world.orgs["d1"], world.orgs["d2"]
    assert task.org_id == d1.id

    page = as_user("mgr")
    token = csrf_from(page, f"/organisations/{g1.id}")
    preview = page.post(
        f"/organisations/{g1.id}/move", data={"csrf_token": token, "parent_id": d2.id, "version": 1}
    )
    text = preview.get_data(as_text=True)
    assert preview.status_code == 200 and 'id="move-confirm"' in text
    assert "王区审批" in text and "郑区审批" in text  # who sees the task before and after
    world.session.expire_all()
    assert world.session.get(Organisation, g1.id).parent_id == d1.id  # nothing moved yet

    api, headers = app.test_client(), api_token(app, "mgr")
    unconfirmed = api.post(
        f"/api/v1/organisations/{g1.id}/move", headers=headers, json={"parent_id": d2.id}
    )
    assert unconfirmed.status_code == 422
    assert unconfirmed.get_json()["preview"]["moving_tasks"] == 1
    assert unconfirmed.get_json()["preview"]["claimed_tasks"] == 1
    moved = api.post(
        f"/api/v1/organisations/{g1.id}/move",
        headers=headers,
        json={"parent_id": d2.id, "confirm": True, "version": 1},
    )
    assert moved.status_code == 200, moved.get_json()

    world.session.expire_all()
    unit = world.session.get(Organisation, g1.id)
    assert unit.parent_id == d2.id and unit.path == f"{d2.path}{g1.id}/"
    moved_task = world.session.get(HumanTask, task.id)
    assert moved_task.org_id == d2.id and moved_task.assignee_id is None
    assert task.id in {t.id for t in tasks.list_tasks(world.session, world.user("l2_d2"), "group")}
    assert task.id not in {t.id for t in tasks.list_tasks(world.session, world.user("l2"), "all")}
    assert _audited(world, "org.move")


def test_a_closed_unit_takes_no_new_users_or_cases_and_keeps_its_history(world):
    mgr = world.user("mgr")
    g2 = world.orgs["g2"]
    organisations.close_unit(world.session, mgr, g2.id, None)
    with pytest.raises(ValidationFailed):
        user_admin.create_user(world.session, mgr, "cw2b", "新人", g2.id, ["caseworker"])
    with pytest.raises(ValidationFailed) as refused:
        start(world, "cw2")
    assert "已撤销" in refused.value.message
    with pytest.raises(ValidationFailed):  # a district with an open union is not closed
        organisations.close_unit(world.session, mgr, world.orgs["d1"].id, None)
    organisations.reopen_unit(world.session, mgr, g2.id, None)
    assert start(world, "cw2").id


def test_unit_codes_stay_unique_and_edits_are_audited_before_and_after(app, world):
    headers, client = api_token(app, "mgr"), app.test_client()
    g1 = world.orgs["g1"]
    taken = client.patch(f"/api/v1/organisations/{g1.id}", headers=headers, json={"code": "SZQ2"})
    assert taken.status_code == 422 and "已被使用" in taken.get_json()["message"]
    renamed = client.patch(
        f"/api/v1/organisations/{g1.id}",
        headers=headers,
        json={"version": 1, "name": "城东街道工会帮扶站", "phone": "0832-1234567"},
    )
    assert renamed.status_code == 200
    line = _audited(world, "org.update")[0]
    assert (
        "单位名称：城东街道帮扶站 → 城东街道工会帮扶站" in line and "电话：— → 0832-1234567" in line
    )


# --- imports ----------------------------------------------------------------------------------

TREE_HEADER = "上级单位代码,单位代码,单位名称,层级\n"


def test_a_tree_file_with_bad_lines_is_refused_whole_with_every_line_listed(world):
    mgr = world.user("mgr")
    content = (
        TREE_HEADER
        + "nj,lxq,隆昌市总工会,2\n"  # line 2: good
        + "zzz,x1,无名,3\n"  # line 3: unknown parent
        + "lxq,lxq1,古湖街道帮扶站,3\n"  # line 4: good
        + "lxq,lxq1,重复的,3\n"  # line 5: duplicate code
        + "nj,y1,层级不对,3\n"  # line 6: a union straight under the city
        + "c2,c1,甲,2\n"  # line 7 and 8: a cycle
        + "c1,c2,乙,2\n"
    ).encode("utf-8")
    before = world.session.scalar(select(func.count()).select_from(Organisation))
    with pytest.raises(ValidationFailed) as refused:
        organisations.import_tree(world.session, mgr, "units.csv", content)
    errors = refused.value.errors
    assert set(errors) == {"第3行", "第5行", "第6行", "第7行", "第8行"}
    assert "zzz" in errors["第3行"] and "重复" in errors["第5行"] and "循环" in errors["第7行"]
    assert world.session.scalar(select(func.count()).select_from(Organisation)) == before


def _xlsx(rows: list[list[str]]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_a_good_tree_file_is_applied_at_once_and_again_changes_nothing(app, world):
    content = _xlsx(
        [
            ["上级单位代码", "单位代码", "单位名称", "层级"],
            ["lxq", "lxq1", "古湖街道帮扶站", "基层工会"],  # its parent comes later in the file
            ["nj", "lxq", "隆昌市总工会", "县（区）总工会"],
            ["szq", "szq3", "市中区机关工会", "3"],
        ]
    )
    headers, client = api_token(app, "mgr"), app.test_client()

    def send():
        return client.post(
            "/api/v1/organisations/import",
            headers=headers,
            data={"file": (io.BytesIO(content), "units.xlsx")},
            content_type="multipart/form-data",
        )

    first = send()
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["created"] == 3
    world.session.expire_all()
    lxq1 = world.session.scalars(select(Organisation).where(Organisation.code == "lxq1")).one()
    assert lxq1.level == 3 and lxq1.parent.code == "lxq" and lxq1.path.startswith(lxq1.parent.path)
    count = world.session.scalar(select(func.count()).select_from(Organisation))
    again = send()
    assert again.get_json() | {"sha256": ""} == {
        "created": 0,
        "renamed": 0,
        "unchanged": 3,
        "sha256": "",
    }
    assert world.session.scalar(select(func.count()).select_from(Organisation)) == count


def test_a_district_manager_imports_only_into_its_subtree(world, district_manager):
    content = (TREE_HEADER + "szq,szq9,新帮扶站,3\ndxq,dxq9,外区帮扶站,3\n").encode("gb18030")
    with pytest.raises(ValidationFailed) as refused:
        organisations.import_tree(world.session, world.user("mgr_d1"), "units.csv", content)
    assert set(refused.value.errors) == {"第3行"}


USER_HEADER = "用户名,姓名,单位代码,角色,手机号\n"


def test_a_user_file_with_bad_lines_is_refused_whole_with_every_line_listed(world):
    content = (
        USER_HEADER
        + "new.cw,新经办,szq1,经办人,13800000001\n"
        + "cw1,冒名,szq1,经办人,\n"  # taken by someone else
        + "new.x,某人,nope,经办人,\n"  # unknown unit
        + "new.y,某人,szq1,会计,\n"  # unknown role
        + "new.z,某人,szq,经办人,\n"  # role does not fit a district
        + "new.cw,又一个,szq1,经办人,\n"  # duplicate username
        + "new.p,某人,szq1,经办人,12345\n"  # bad phone
    ).encode("utf-8-sig")
    with pytest.raises(ValidationFailed) as refused:
        user_admin.import_users(world.session, world.user("mgr"), "users.csv", content)
    assert set(refused.value.errors) == {f"第{n}行" for n in range(3, 9)}
    assert world.session.scalar(select(User.id).where(User.username == "new.cw")) is None


def test_imported_users_get_one_time_passwords_once_and_reimport_changes_nothing(
    app, as_user, world
):
    content = (
        USER_HEADER
        + "zhang.san,张三,szq1,经办人、基层工会审批人,13800000001\n"
        + "li.si,李四,szq,县（区）总工会审批人,\n"
    ).encode("utf-8")
    page = as_user("mgr")
    token = csrf_from(page, "/users")
    answer = page.post(
        "/users/import",
        data={"csrf_token": token, "file": (io.BytesIO(content), "users.csv")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    lines = answer.get_data().decode("utf-8-sig").strip().splitlines()
    assert lines[0] == "用户名,姓名,单位,一次性密码" and len(lines) == 3
    username, _, _, password = lines[1].split(",")
    assert username == "zhang.san"
    person = world.session.scalars(select(User).where(User.username == "zhang.san")).one()
    assert person.role_set == {"caseworker", "approver_l1"} and person.must_change_password
    assert password not in person.password_hash
    signed_in = login(app.test_client(), "zhang.san", password)
    assert signed_in.headers["Location"].endswith("/account/password")

    token = csrf_from(page, "/users")
    again = page.post(
        "/users/import",
        data={"csrf_token": token, "file": (io.BytesIO(content), "users.csv")},
        content_type="multipart/form-data",
    )
    assert again.status_code == 302
    world.session.expire_all()
    assert world.session.scalar(select(func.count()).where(User.username == "zhang.san")) == 1
    assert len(_audited(world, "user.import")) == 1


def test_refused_import_page_lists_the_lines(as_user, world):
    page = as_user("mgr")
    token = csrf_from(page, "/organisations")
    answer = page.post(
        "/organisations/import",
        data={
            "csrf_token": token,
            "file": (io.BytesIO((TREE_HEADER + "zzz,a1,甲,3\n").encode()), "u.csv"),
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422
    assert "第2行" in answer.get_data(as_text=True)


# --- first run --------------------------------------------------------------------------------


@pytest.fixture
def empty_app(engine, factory, tmp_path, monkeypatch):
    from webapp import create_app

    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "RATELIMIT_ENABLED": False,
        }
    )


def test_first_run_page_creates_the_federation_and_closes_for_good(empty_app, factory):
    client = empty_app.test_client()
    assert client.get("/").headers["Location"].endswith("/setup")
    token = csrf_from(client, "/setup")
    weak = client.post(
        "/setup",
        data={
            "csrf_token": token,
            "code": "lz",
            "name": "泸州市总工会",
            "username": "admin.lz",
            "display_name": "赵管理",
            "password": "password1",
            "repeat": "password1",
        },
    )
    assert weak.status_code == 422 and "密码" in weak.get_data(as_text=True)
    strong = "Luzhou-Gonghui-2026"
    done = client.post(
        "/setup",
        data={
            "csrf_token": token,
            "code": "lz",
            "name": "泸州市总工会",
            "username": "admin.lz",
            "display_name": "赵管理",
            "password": strong,
            "repeat": strong,
        },
    )
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")
    assert client.get("/setup").status_code == 404
    assert client.post("/setup", data={"csrf_token": token, "code": "x"}).status_code == 404
    signed_in = login(client, "admin.lz", strong)
    assert signed_in.status_code == 302
    assert "单位管理" in client.get("/").get_data(as_text=True)
    with factory() as session:
        city = session.scalars(select(Organisation)).one()
        assert (city.code, city.level, city.parent_id) == ("lz", 1, None)


def test_first_run_page_does_not_exist_once_anyone_does(app, world):
    client = app.test_client()
    assert client.get("/setup").status_code == 404
    assert client.post("/setup", data={"code": "x"}).status_code in (400, 404)
    assert client.get("/").headers["Location"].endswith("/login")
    with pytest.raises(Forbidden):
        first_run.create_federation(
            world.session, "x1", "另一个市总工会", "admin.x", "某人", "Another-Strong-2026"
        )


def test_a_district_manager_sees_its_own_districts_budget_and_changes_no_campaign(
    app, world, district_manager
):
    client, headers = app.test_client(), api_token(app, "mgr_d1")
    tuition = world.campaigns["tuition"]
    detail = client.get(f"/api/v1/campaigns/{tuition.id}", headers=headers).get_json()
    assert [b["organisation"]["id"] for b in detail["budgets"]] == [world.orgs["d1"].id]
    city = client.get(f"/api/v1/campaigns/{tuition.id}", headers=api_token(app, "mgr")).get_json()
    assert len(city["budgets"]) == 2
    budgets = {str(world.orgs["d1"].id): 1}
    changed = client.put(
        f"/api/v1/campaigns/{tuition.id}/budgets", headers=headers, json={"budgets": budgets}
    )
    assert changed.status_code == 403


def test_in_a_large_tree_a_person_is_put_in_a_unit_by_its_code(as_user, world, monkeypatch):
    monkeypatch.setattr(organisations, "CHOICE_LIMIT", 3)
    page = as_user("mgr")
    form = page.get("/users/new").get_data(as_text=True)
    assert 'id="org_code"' in form and 'id="org_id"' not in form
    token = csrf_from(page, "/users/new")
    data = {"csrf_token": token, "username": "cw.code", "display_name": "按代码"}
    unknown = page.post("/users/new", data=data | {"org_code": "nope", "roles": "caseworker"})
    assert unknown.status_code == 422 and "nope" in unknown.get_data(as_text=True)
    made = page.post("/users/new", data=data | {"org_code": "SZQ2", "roles": "caseworker"})
    assert made.status_code == 200 and 'id="one-time-password"' in made.get_data(as_text=True)
    person = world.session.scalars(select(User).where(User.username == "cw.code")).one()
    assert person.org_id == world.orgs["g2"].id


def test_a_campaign_launch_opens_no_case_in_a_closed_unit(world):
    from campaign_helpers import archive_workers

    from workflows import campaigns
    from workflows.models import CampaignLaunch, Case

    archive_workers(world.session, [world.orgs["g1"].id, world.orgs["g3"].id], 10)
    organisations.close_unit(world.session, world.user("mgr"), world.orgs["g3"].id, None)
    row = campaigns.start_launch(world.session, world.user("mgr"), world.campaigns["winter"].id)
    campaigns.run_launch(world.factory, row.id, chunk=4)
    world.session.expire_all()
    done = world.session.get(CampaignLaunch, row.id)
    assert (done.created, done.failed) == (5, 5) and "已撤销" in done.message
    opened = world.session.scalars(select(Case.org_id).where(Case.campaign_id == row.campaign_id))
    assert set(opened) == {world.orgs["g1"].id}
