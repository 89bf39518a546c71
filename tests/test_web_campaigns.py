"""活动管理 in the browser and the API: a manager sets up a campaign in 元 (stored exactly
in fen), edits it without overwriting someone else's change, sets district budgets and
launches it from the archive; everyone else may at most look."""

import json
import re

from campaign_helpers import archive_workers, card, worker_id
from conftest import api_token, csrf_from, login
from sqlalchemy import func, select

from workflows import campaigns
from workflows.models import AuditEvent, Campaign, CampaignBudget, CampaignLaunch, Case

SEASONAL = ("living", "medical", "schooling", "disaster", "other")
# An ID number (18 characters) or a bank card (16 to 19 digits) written out in full.
LONG_NUMBER = re.compile(r"(?<![\d.])\d{16,19}(?![\d.])|\d{17}[Xx]")


def text(answer) -> str:
    return answer.get_data(as_text=True)


def assert_no_full_numbers(content: str, serials=range(0)) -> None:
    assert not LONG_NUMBER.search(content), LONG_NUMBER.search(content).group(0)
    for n in serials:
        assert worker_id(n) not in content and card(n) not in content


def winter_form(token: str, **overrides) -> dict:
    data = {
        "csrf_token": token,
        "code": "dsnw2027",
        "name": "2027年冬送温暖",
        "programme": "seasonal_aid",
        "season": "winter",
        "year": "2027",
        "aid_kind": "cash",
        "goods_name": "",
        "notice_days": "5",
        "city_approval_threshold": "2,000.00",
        "opens_on": "2027-01-04",
        "closes_on": "2027-02-26",
        "status": "open",
        "standards.living": "1234.56",
        "standards.medical": "3000",
        "standards.schooling": "1000.5",
        "standards.disaster": "0.01",
        "standards.other": "500",
    }
    data.update(overrides)
    return data


def campaign_count(world) -> int:
    world.session.expire_all()
    return world.session.scalar(select(func.count(Campaign.id)))


def lock_of(page: str) -> str:
    match = re.search(r'name="lock_version" value="(\d+)"', page)
    assert match, "no lock_version on the edit page"
    return match.group(1)


def signed_in(app, username: str):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


# --- creating and editing in the browser ------------------------------------------------------


def test_manager_creates_a_campaign_in_yuan_stored_exactly_in_fen(app, world, as_user):
    manager = as_user("mgr")
    page = text(manager.get("/campaigns/new"))
    assert "新建活动" in page and "生活困难" in page and "医疗（大病）" in page
    tuition_page = text(manager.get("/campaigns/new?programme=tuition_grant"))
    assert 'name="standards.undergraduate"' in tuition_page
    assert re.search(r'data-programme="seasonal_aid"[^>]*hidden disabled', tuition_page)

    answer = manager.post("/campaigns/new", data=winter_form(csrf_from(manager, "/campaigns/new")))
    assert answer.status_code == 302, text(answer)
    world.session.expire_all()
    saved = world.session.scalars(select(Campaign).where(Campaign.code == "dsnw2027")).one()
    assert campaigns.standards(saved) == {
        "living": 123456,
        "medical": 300000,
        "schooling": 100050,
        "disaster": 1,
        "other": 50000,
    }
    assert saved.city_approval_threshold_fen == 200000
    assert (saved.opens_on.isoformat(), saved.closes_on.isoformat()) == ("2027-01-04", "2027-02-26")
    assert answer.headers["Location"].endswith(f"/campaigns/{saved.id}")

    shown = text(manager.get(f"/campaigns/{saved.id}"))
    assert "1,234.56" in shown and "0.01" in shown and "冬送温暖" in shown
    listing = text(manager.get("/campaigns"))
    assert "2027年冬送温暖" in listing and "四季送" in listing and "新建活动" in listing
    assert f"/campaigns/{saved.id}/edit" in listing


def test_switching_programme_without_javascript_keeps_what_was_typed(app, world, as_user):
    manager = as_user("mgr")
    token = csrf_from(manager, "/campaigns/new")
    form = winter_form(token, programme="tuition_grant", season="autumn", switch="1")
    answer = manager.post("/campaigns/new", data=form)
    assert answer.status_code == 200
    page = text(answer)
    assert 'value="2027年冬送温暖"' in page and 'name="standards.postgraduate"' in page
    assert campaign_count(world) == 3


def test_bad_input_shows_every_message_and_writes_nothing(app, world, as_user):
    manager = as_user("mgr")
    token = csrf_from(manager, "/campaigns/new")
    answer = manager.post(
        "/campaigns/new",
        data=winter_form(
            token,
            opens_on="2027-02-01",
            closes_on="2027-01-01",
            **{"standards.medical": "", "standards.living": "12.345", "standards.other": "-5"},
        ),
    )
    assert answer.status_code == 422
    page = text(answer)
    assert "截止日期不能早于开始日期" in page
    assert "请填写“医疗（大病）”的标准（元）" in page
    assert "“生活困难”的标准最多保留两位小数" in page
    assert "“其他”的标准不能为负数" in page
    assert 'value="12.345"' in page and 'value="2027年冬送温暖"' in page  # kept as typed
    assert campaign_count(world) == 3
    assert not world.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "campaign.create")
    ).first()

    # An amount that is not money at all is a field message too, never a server error.
    other = manager.post(
        "/campaigns/new",
        data=winter_form(token, city_approval_threshold="两千", code="X"),
    )
    assert other.status_code == 422
    assert "报市总审批金额应为金额（元）" in text(other) and "活动代码为" in text(other)
    assert campaign_count(world) == 3


def test_a_stale_edit_is_a_conflict_and_keeps_the_row_and_the_typing(app, world, as_user):
    winter = world.campaigns["winter"]
    manager = as_user("mgr")
    page = text(manager.get(f"/campaigns/{winter.id}/edit"))
    assert 'value="1000.00"' in page and 'value="2000.00"' in page  # living, threshold
    lock = lock_of(page)
    token = csrf_from(manager, f"/campaigns/{winter.id}/edit")

    # Someone else saves first.
    other = as_user("mgr")
    other_page = text(other.get(f"/campaigns/{winter.id}/edit"))
    form = winter_form(
        csrf_from(other, f"/campaigns/{winter.id}/edit"),
        code="dsnw2026",
        name="2026年冬送温暖（已调整）",
        lock_version=lock_of(other_page),
        **{"standards.living": "1100"},
    )
    assert other.post(f"/campaigns/{winter.id}/edit", data=form).status_code == 302

    stale = manager.post(
        f"/campaigns/{winter.id}/edit",
        data=winter_form(token, code="dsnw2026", name="我的改名", lock_version=lock),
    )
    assert stale.status_code == 409
    assert "已被他人修改" in text(stale) and 'value="我的改名"' in text(stale)
    row = world.refresh(winter)
    assert row.name == "2026年冬送温暖（已调整）"
    assert campaigns.standards(row)["living"] == 110000

    # Reading it again and saving works.
    fresh = text(manager.get(f"/campaigns/{winter.id}/edit"))
    again = manager.post(
        f"/campaigns/{winter.id}/edit",
        data=winter_form(token, code="dsnw2026", name="我的改名", lock_version=lock_of(fresh)),
    )
    assert again.status_code == 302
    assert world.refresh(winter).name == "我的改名"


def test_only_managers_change_campaigns_others_may_only_look(app, world, as_user):
    winter = world.campaigns["winter"]
    for username in ("cw1", "fin", "l2"):
        client = as_user(username)
        token = csrf_from(client, "/")
        assert client.get("/campaigns/new").status_code == 403
        assert client.get(f"/campaigns/{winter.id}/edit").status_code == 403
        assert client.post("/campaigns/new", data=winter_form(token)).status_code == 403
        edit = winter_form(token, code="dsnw2026", lock_version="1")
        assert client.post(f"/campaigns/{winter.id}/edit", data=edit).status_code == 403
        d1 = str(world.orgs["d1"].id)
        budget = {"csrf_token": token, d1: "1"}
        assert client.post(f"/campaigns/{winter.id}/budgets", data=budget).status_code == 403
        launch = {"csrf_token": token}
        assert client.post(f"/campaigns/{winter.id}/launch", data=launch).status_code == 403
        assert client.get(f"/campaigns/{winter.id}/launch.json").status_code == 403
    assert as_user("cw1").get("/campaigns").status_code == 403
    assert as_user("cw1").get(f"/campaigns/{winter.id}").status_code == 403
    for username in ("fin", "l2"):
        client = as_user(username)
        listing = text(client.get("/campaigns"))
        assert "2026年冬送温暖" in listing
        assert "新建活动" not in listing and "/edit" not in listing
        page = client.get(f"/campaigns/{winter.id}")
        assert page.status_code == 200
        assert "1,000,000.00" in text(page)  # the district budget, read-only
        assert "保存预算" not in text(page) and "按档案发起" not in text(page)
    assert campaign_count(world) == 3
    assert world.refresh(winter).lock_version == 1
    assert not world.session.scalars(select(CampaignLaunch)).first()


# --- budgets ---------------------------------------------------------------------------------


def test_budgets_are_set_in_yuan_and_never_below_what_is_reserved(app, world, as_user):
    winter = world.campaigns["winter"]
    d1, d2 = world.orgs["d1"].id, world.orgs["d2"].id
    manager = as_user("mgr")
    url = f"/campaigns/{winter.id}"
    page = text(manager.get(url))
    assert "市中区总工会" in page and "东兴区总工会" in page

    token = csrf_from(manager, url)
    answer = manager.post(
        f"{url}/budgets", data={"csrf_token": token, str(d1): "500,000.50", str(d2): ""}
    )
    assert answer.status_code == 302

    def budget(org_id):
        world.session.expire_all()
        return world.session.scalars(
            select(CampaignBudget).where(
                CampaignBudget.campaign_id == winter.id, CampaignBudget.org_id == org_id
            )
        ).one()

    assert budget(d1).budget_fen == 50000050
    assert budget(d2).budget_fen == 100_000_000  # empty: unchanged

    row = budget(d1)
    row.reserved_fen = 300000
    world.session.commit()
    refused = manager.post(
        f"{url}/budgets", data={"csrf_token": token, str(d1): "2999.99", str(d2): "800"}
    )
    assert refused.status_code == 422
    assert "预算不能低于此数" in text(refused) and 'value="2999.99"' in text(refused)
    assert budget(d1).budget_fen == 50000050 and budget(d2).budget_fen == 100_000_000

    bad = manager.post(
        f"{url}/budgets", data={"csrf_token": token, str(d1): "3000", str(d2): "1.234"}
    )
    assert bad.status_code == 422 and "最多保留两位小数" in text(bad)
    assert budget(d1).budget_fen == 50000050  # all or nothing

    # A campaign without budgets yet: the row is created.
    summer = world.campaigns["summer"]
    token = csrf_from(manager, f"/campaigns/{summer.id}")
    manager.post(f"/campaigns/{summer.id}/budgets", data={"csrf_token": token, str(d2): "1.5"})
    assert world.session.scalars(
        select(CampaignBudget.budget_fen).where(CampaignBudget.campaign_id == summer.id)
    ).all() == [150]


# --- launching from the archive ---------------------------------------------------------------


def test_launch_from_the_page_opens_the_cases_once(make_app, world):
    app = make_app(JOBS_INLINE=True)
    archive_workers(world.session, [world.orgs["g1"].id, world.orgs["g3"].id], 12)
    winter = world.campaigns["winter"].id
    manager = signed_in(app, "mgr")
    url = f"/campaigns/{winter}"
    before = text(manager.get(url))
    assert "按档案发起" in before and "最近一次发起" not in before
    assert manager.get(f"{url}/launch.json").get_json() == {"launch": None}

    token = csrf_from(manager, url)
    answer = manager.post(f"{url}/launch", data={"csrf_token": token})
    assert answer.status_code == 302
    progress = manager.get(f"{url}/launch.json")
    launch = progress.get_json()["launch"]
    assert (launch["status"], launch["total"], launch["created"], launch["processed"]) == (
        "done",
        12,
        12,
        12,
    )
    assert_no_full_numbers(text(progress), range(12))
    page = text(manager.get(url))
    assert "<progress" in page and 'data-status="done"' in page
    assert_no_full_numbers(page, range(12))

    again = manager.post(f"{url}/launch", data={"csrf_token": token})
    assert again.status_code == 302
    second = manager.get(f"{url}/launch.json").get_json()["launch"]
    assert (second["created"], second["skipped"], second["id"]) == (0, 12, launch["id"] + 1)
    count = select(func.count(Case.id)).where(Case.campaign_id == winter)
    assert world.session.scalar(count) == 12


def test_a_running_launch_is_followed_and_a_second_one_refused(app, world, as_user):
    archive_workers(world.session, [world.orgs["g1"].id], 3)
    winter = world.campaigns["winter"].id
    row = campaigns.start_launch(world.session, world.user("mgr"), winter)  # not yet run
    manager = as_user("mgr")
    page = text(manager.get(f"/campaigns/{winter}"))
    assert 'data-status="running"' in page and "刷新进度" in page and "campaigns.js" in page
    assert manager.get(f"/campaigns/{winter}/launch.json").get_json()["launch"]["status"] == (
        "running"
    )
    token = csrf_from(manager, "/")
    refused = manager.post(f"/campaigns/{winter}/launch", data={"csrf_token": token})
    assert refused.status_code == 409 and "正在发起中" in text(refused)
    assert world.session.scalar(select(func.count(CampaignLaunch.id))) == 1
    assert world.refresh(row).status == "running"


def test_a_tuition_campaign_is_not_launched_from_the_archive(app, world, as_user):
    tuition = world.campaigns["tuition"].id
    manager = as_user("mgr")
    page = text(manager.get(f"/campaigns/{tuition}"))
    assert "需由本人申请" in page
    token = csrf_from(manager, "/")
    answer = manager.post(f"/campaigns/{tuition}/launch", data={"csrf_token": token})
    assert answer.status_code == 422
    assert not world.session.scalars(select(CampaignLaunch)).first()


# --- the API -----------------------------------------------------------------------------------


def api_body(**overrides) -> dict:
    data = {
        "code": "dsnw2027",
        "name": "2027年冬送温暖",
        "programme": "seasonal_aid",
        "season": "winter",
        "year": 2027,
        "aid_kind": "cash",
        "notice_days": 5,
        "city_approval_threshold_fen": 200000,
        "opens_on": "2027-01-04",
        "closes_on": "2027-02-26",
        "status": "open",
        "standards": {k: 100000 for k in SEASONAL} | {"living": 123456},
    }
    data.update(overrides)
    return data


def test_api_creates_reads_changes_and_budgets_a_campaign(app, world):
    headers = api_token(app, "mgr")
    client = app.test_client()
    listing = client.get("/api/v1/campaigns", headers=headers)
    assert listing.status_code == 200
    codes = [c["code"] for c in listing.get_json()["items"]]
    assert set(codes) == {"jq2026", "dsnw2026", "xsql2026"}
    winter = next(c for c in listing.get_json()["items"] if c["code"] == "dsnw2026")
    assert winter["budget_total_fen"] == 200_000_000 and winter["programme_label"] == "四季送"

    created = client.post("/api/v1/campaigns", headers=headers, json=api_body())
    assert created.status_code == 201, created.get_json()
    answer = created.get_json()
    assert answer["standards"]["living"] == 123456 and answer["lock_version"] == 1
    assert {c["value"] for c in answer["categories"]} == set(SEASONAL)
    assert answer["latest_launch"] is None
    assert all(row["budget_fen"] is None for row in answer["budgets"])
    cid = answer["id"]

    bad = client.post(
        "/api/v1/campaigns",
        headers=headers,
        json=api_body(code="other2027", closes_on="2026-12-31", standards={"living": 12.5}),
    )
    assert bad.status_code == 422
    errors = bad.get_json()["errors"]
    assert "closes_on" in errors and "standards.living" in errors and "standards.medical" in errors
    assert campaign_count(world) == 4

    changed = client.put(
        f"/api/v1/campaigns/{cid}", headers=headers, json=api_body(name="改名", lock_version=1)
    )
    assert changed.status_code == 200 and changed.get_json()["lock_version"] == 2
    stale = client.put(
        f"/api/v1/campaigns/{cid}", headers=headers, json=api_body(name="旧的", lock_version=1)
    )
    assert stale.status_code == 409 and stale.get_json()["code"] == "conflict"
    assert world.refresh(world.session.get(Campaign, cid)).name == "改名"
    missing = client.put(f"/api/v1/campaigns/{cid}", headers=headers, json=api_body())
    assert missing.status_code == 422 and "lock_version" in missing.get_json()["errors"]

    d1 = world.orgs["d1"].id
    budgets = client.put(
        f"/api/v1/campaigns/{cid}/budgets", headers=headers, json={"budgets": {str(d1): 5000000}}
    )
    assert budgets.status_code == 200
    rows = {r["organisation"]["id"]: r for r in budgets.get_json()["budgets"]}
    assert rows[d1]["budget_fen"] == 5000000 and rows[d1]["remaining_fen"] == 5000000
    wrong = client.put(
        f"/api/v1/campaigns/{cid}/budgets",
        headers=headers,
        json={"budgets": {str(world.orgs["g1"].id): 100}},
    )
    assert wrong.status_code == 422
    assert client.get("/api/v1/campaigns/99999", headers=headers).status_code == 404


def test_api_launches_and_reports_progress(make_app, world):
    app = make_app(JOBS_INLINE=True)
    archive_workers(world.session, [world.orgs["g1"].id, world.orgs["g3"].id], 8)
    headers = api_token(app, "mgr")
    client = app.test_client()
    winter = world.campaigns["winter"].id
    started = client.post(f"/api/v1/campaigns/{winter}/launches", headers=headers)
    assert started.status_code == 202
    launch = started.get_json()
    assert (launch["status"], launch["total"], launch["created"]) == ("done", 8, 8)
    progress = client.get(f"/api/v1/campaigns/{winter}/launches/{launch['id']}", headers=headers)
    assert progress.status_code == 200 and progress.get_json()["created"] == 8
    assert (
        client.get(
            f"/api/v1/campaigns/{world.campaigns['summer'].id}/launches/{launch['id']}",
            headers=headers,
        ).status_code
        == 404
    )
    detail = client.get(f"/api/v1/campaigns/{winter}", headers=headers)
    assert detail.get_json()["latest_launch"]["id"] == launch["id"]
    for answer in (started, progress, detail):
        assert_no_full_numbers(json.dumps(answer.get_json(), ensure_ascii=False), range(8))

    again = client.post(f"/api/v1/campaigns/{winter}/launches", headers=headers).get_json()
    assert (again["created"], again["skipped"]) == (0, 8)
    count = select(func.count(Case.id)).where(Case.campaign_id == winter)
    assert world.session.scalar(count) == 8

    tuition = world.campaigns["tuition"].id
    refused = client.post(f"/api/v1/campaigns/{tuition}/launches", headers=headers)
    assert refused.status_code == 422


def test_api_refuses_a_caseworker_and_lets_finance_only_read(app, world):
    client = app.test_client()
    winter = world.campaigns["winter"].id
    caseworker = api_token(app, "cw1")
    assert client.get("/api/v1/campaigns", headers=caseworker).status_code == 403
    assert client.get(f"/api/v1/campaigns/{winter}", headers=caseworker).status_code == 403
    assert client.post("/api/v1/campaigns", headers=caseworker, json=api_body()).status_code == 403
    assert (
        client.post(f"/api/v1/campaigns/{winter}/launches", headers=caseworker).status_code == 403
    )
    finance = api_token(app, "fin")
    assert client.get("/api/v1/campaigns", headers=finance).status_code == 200
    detail = client.get(f"/api/v1/campaigns/{winter}", headers=finance).get_json()
    assert detail["latest_launch"] is None and detail["budgets"]
    assert client.post("/api/v1/campaigns", headers=finance, json=api_body()).status_code == 403
    put = client.put(
        f"/api/v1/campaigns/{winter}",
        headers=finance,
        json=api_body(code="dsnw2026", lock_version=1),
    )
    assert put.status_code == 403
    budgets = {"budgets": {str(world.orgs["d1"].id): 1}}
    answer = client.put(f"/api/v1/campaigns/{winter}/budgets", headers=finance, json=budgets)
    assert answer.status_code == 403
    assert client.post(f"/api/v1/campaigns/{winter}/launches", headers=finance).status_code == 403
    assert campaign_count(world) == 3
    assert world.refresh(world.campaigns["winter"]).lock_version == 1
    assert client.get("/api/v1/campaigns").status_code == 401
