"""公示公告 on the web: the public board (masked, filterable, paginated) and objections,
without login, with CSRF and a per-address rate limit."""

from datetime import timedelta

import pytest
from conftest import csrf_from, cst
from sqlalchemy import func, select

from workflows import cases, timers
from workflows.clock import CST, now
from workflows.models import Objection, PublicNotice

VISIT_OK = dict(
    visit_date="2026-09-07",
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病，家庭收入低",
    visit_verdict="confirmed",
)
REASON = "该生家庭经营两家商铺，并不困难"


def start(world, caseworker: str = "cw1", **overrides):
    data = world.tuition_application(admission_letter=world.upload(caseworker), **overrides)
    case = cases.start_case(
        world.session,
        world.user(caseworker),
        "tuition_grant",
        data,
        world.campaigns["tuition"].id,
    )
    return case, data


def noticed(world, caseworker: str = "cw1", **overrides):
    """A case whose home visit is done: its notice is open."""
    case, data = start(world, caseworker, **overrides)
    today = now().astimezone(CST).date().isoformat()
    world.do(caseworker, case, "home_visit_task", dict(VISIT_OK, visit_date=today))
    notice = world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == case.id)
    ).one()
    return case, data, notice


def objections(world) -> int:
    world.session.expire_all()
    return world.session.scalar(select(func.count(Objection.id)))


def post_objection(client, notice_id: int, **fields):
    url = f"/notices/{notice_id}/objection"
    data = {"contact": "13900000000", "reason": REASON, "csrf_token": csrf_from(client, url)}
    data.update(fields)
    return client.post(url, data=data)


def test_board_lists_a_noticed_case_masked_and_without_login(app, world):
    case, data, notice = noticed(world)
    waiting, waiting_data = start(world)  # still at the home visit: not yet on the board
    page = app.test_client().get("/notices")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "王*明" in html
    id_number = data["student_id_number"]
    assert id_number[:3] + "*" * 13 + id_number[-2:] in html
    assert "王小明" not in html and "王大力" not in html
    assert id_number not in html and waiting_data["student_id_number"] not in html
    assert data["parent_id_number"] not in html and data["bank_card"] not in html
    assert "金秋助学" in html and "5,000.00" in html and "城东街道帮扶站" in html
    # Posted Monday 7 September: five working days end on Monday 14 September.
    assert "2026-09-14" in html
    assert "12351" in html and "公示" in html
    assert f"/notices/{notice.id}/objection" in html
    assert html.count("提出异议</a>") == 1  # one open notice; the waiting case is absent


def test_board_shows_the_calendar_warning_of_a_notice(app, world, clock):
    clock.move_to(cst(2026, 12, 28, 10, 0))
    noticed(world)
    html = app.test_client().get("/notices").get_data(as_text=True)
    assert "2027-01-04" in html
    assert "2027年的法定节假日安排尚未录入" in html


def test_board_filters_by_organisation_subtree(app, world):
    noticed(world, "cw1")  # 城东街道帮扶站, under 市中区 (d1)
    client = app.test_client()
    under_d1 = client.get("/notices?org=szq").get_data(as_text=True)
    assert "王*明" in under_d1 and "提出异议</a>" in under_d1
    under_d2 = client.get("/notices?org=dxq").get_data(as_text=True)
    assert "提出异议</a>" not in under_d2 and "暂无正在公示" in under_d2
    whole_city = client.get("/notices?org=nj").get_data(as_text=True)
    assert "提出异议</a>" in whole_city
    unknown = client.get("/notices?org=nowhere")
    assert unknown.status_code == 200 and "未找到所选组织" in unknown.get_data(as_text=True)
    # The select offers the federations and the grassroots union with a notice.
    assert 'value="szq"' in under_d1 and 'value="szq1"' in under_d1
    assert 'value="dxq1"' not in under_d1  # no open notice there


def test_board_is_paginated_fifty_a_page(app, world):
    case, _, notice = noticed(world)
    # Copies of the open notice on other cases are enough for the board.
    for n in range(52):
        other, _ = start(world)
        world.session.add(
            PublicNotice(
                case_id=other.id,
                org_id=notice.org_id,
                programme=notice.programme,
                masked_name="李*" + str(n),
                masked_id=notice.masked_id,
                amount_fen=notice.amount_fen,
                ends_at=notice.ends_at + timedelta(days=1),
            )
        )
    world.session.commit()
    client = app.test_client()
    first = client.get("/notices").get_data(as_text=True)
    assert first.count("提出异议</a>") == 50 and "第 1 / 2 页" in first and "下一页" in first
    second = client.get("/notices?page=2").get_data(as_text=True)
    assert second.count("提出异议</a>") == 3 and "上一页" in second
    beyond = client.get("/notices?page=99").get_data(as_text=True)
    assert "第 2 / 2 页" in beyond


def test_objection_without_csrf_is_refused_and_nothing_stored(app, world):
    _, _, notice = noticed(world)
    answer = app.test_client().post(
        f"/notices/{notice.id}/objection", data={"contact": "13900000000", "reason": REASON}
    )
    assert answer.status_code == 400
    assert "页面已过期" in answer.get_data(as_text=True)
    assert objections(world) == 0
    assert world.refresh(notice).status == "open"


def test_valid_objection_opens_an_investigation_and_leaves_the_board(app, world):
    case, data, notice = noticed(world)
    client = app.test_client()
    form = client.get(f"/notices/{notice.id}/objection")
    assert form.status_code == 200
    html = form.get_data(as_text=True)
    assert "联系方式" in html and "异议理由" in html and "王*明" in html
    assert "王小明" not in html and data["student_id_number"] not in html

    answer = post_objection(client, notice.id)
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert "异议已收到" in html and "调查" in html
    assert "王小明" not in html and data["student_id_number"] not in html
    assert case.case_no not in html

    world.session.expire_all()
    stored = world.session.scalars(select(Objection)).one()
    assert (stored.notice_id, stored.case_id, stored.contact, stored.reason) == (
        notice.id,
        case.id,
        "13900000000",
        REASON,
    )
    assert world.refresh(notice).status == "objection"
    assert world.open_task(case, "investigate_objection")
    board = client.get("/notices").get_data(as_text=True)
    assert "提出异议</a>" not in board and "暂无正在公示" in board


def test_invalid_objection_is_shown_again_with_messages_and_not_stored(app, world):
    _, _, notice = noticed(world)
    client = app.test_client()
    empty = post_objection(client, notice.id, reason="")
    assert empty.status_code == 422
    html = empty.get_data(as_text=True)
    assert "请填写异议理由" in html and 'value="13900000000"' in html
    short = post_objection(client, notice.id, contact="", reason="不符")
    html = short.get_data(as_text=True)
    assert short.status_code == 422
    assert "请填写联系方式" in html and "5 至 2000 字" in html
    assert objections(world) == 0
    assert world.refresh(notice).status == "open"


def test_objection_to_a_passed_notice_is_refused(app, world, clock):
    case, _, notice = noticed(world)
    client = app.test_client()
    token = csrf_from(client, f"/notices/{notice.id}/objection")
    clock.move_to(notice.ends_at + timedelta(minutes=1))
    assert timers.fire_due_timers(world.factory) == 1
    assert world.refresh(notice).status == "passed"
    answer = client.post(
        f"/notices/{notice.id}/objection",
        data={"contact": "13900000000", "reason": REASON, "csrf_token": token},
    )
    assert answer.status_code == 422
    assert "已结束" in answer.get_data(as_text=True)
    assert objections(world) == 0
    page = client.get(f"/notices/{notice.id}/objection")
    assert page.status_code == 422 and "已结束" in page.get_data(as_text=True)


def test_unknown_notice_is_not_found(app, world):
    client = app.test_client()
    missing = client.get("/notices/999999/objection")
    assert missing.status_code == 404 and "不存在" in missing.get_data(as_text=True)


@pytest.fixture
def limited_app(make_app):
    """The app as in production: rate limits on."""
    return make_app(RATELIMIT_ENABLED=True)


def test_sixth_objection_within_an_hour_from_one_address_is_refused(limited_app, world):
    _, _, notice = noticed(world)
    client = limited_app.test_client()
    for _ in range(5):
        assert post_objection(client, notice.id).status_code == 200
    answer = post_objection(client, notice.id)
    assert answer.status_code == 429
    assert "操作过于频繁" in answer.get_data(as_text=True)
    assert objections(world) == 5
    # Reading stays open, and another address may still object.
    assert client.get("/notices").status_code == 200
    other = limited_app.test_client()
    token = csrf_from(other, f"/notices/{notice.id}/objection")
    elsewhere = other.post(
        f"/notices/{notice.id}/objection",
        data={"contact": "13700000000", "reason": REASON, "csrf_token": token},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert elsewhere.status_code == 200
