"""The public side of an objection: a received objection gets a reference number, and
the outcome of its investigation can be looked up with it (nothing personal shown); a
refused submission (rate limit) keeps the text, says how long to wait and leads back to
the notices, not to the staff login."""

import re

import pytest
from conftest import csrf_from, today_iso
from sqlalchemy import select

from workflows import cases, notices
from workflows.errors import NotFound, ValidationFailed
from workflows.models import Objection, PublicNotice

VISIT = dict(
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病，家庭收入低",
    visit_verdict="confirmed",
)
REASON = "该生家庭经营两家商铺，并不困难"
REFERENCE = re.compile(r"YY2026-[A-HJ-NP-Z2-9]{10}")


def on_notice(world):
    case = cases.start_case(
        world.session,
        world.user("cw1"),
        "tuition_grant",
        world.tuition_application(),
        world.campaigns["tuition"].id,
    )
    world.do("cw1", case, "home_visit_task", dict(VISIT, visit_date=today_iso()))
    notice = world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == case.id)
    ).one()
    return case, notice


def investigate(world, case, finding):
    world.do(
        "cw1",
        case,
        "investigate_objection",
        {"objection_finding": finding, "investigation_report": "入户复核，询问邻居与单位"},
    )


def test_a_received_objection_gets_a_reference_shown_to_the_objector(app, world):
    _, notice = on_notice(world)
    client = app.test_client()
    token = csrf_from(client, f"/notices/{notice.id}/objection")
    page = client.post(
        f"/notices/{notice.id}/objection",
        data={"contact": "13900000000", "reason": REASON, "csrf_token": token},
    ).get_data(as_text=True)
    stored = world.session.scalars(select(Objection)).one()
    assert REFERENCE.fullmatch(stored.reference)
    assert stored.reference in page and f"/notices/objections?ref={stored.reference}" in page


def test_references_are_random_not_counted(world):
    _, notice = on_notice(world)
    made = {
        notices.raise_objection(world.session, notice.id, f"1390000000{n}", REASON).reference
        for n in range(5)
    }
    assert len(made) == 5 and all(REFERENCE.fullmatch(r) for r in made)


def test_lookup_follows_the_investigation_and_shows_nothing_personal(app, world, clock):
    case, notice = on_notice(world)
    objection = notices.raise_objection(world.session, notice.id, "13900000000", REASON)
    client = app.test_client()

    page = client.get(f"/notices/objections?ref={objection.reference}").get_data(as_text=True)
    assert "调查核实中" in page and "2026-09-07" in page and "金秋助学" in page
    for personal in ("13900000000", REASON, "王*明", "王小明", case.case_no, "城东街道"):
        assert personal not in page

    investigate(world, case, "dismissed")
    page = client.get(f"/notices/objections?ref={objection.reference.lower()}").get_data(
        as_text=True
    )
    assert "经调查核实异议不成立，已重新公示" in page

    api = client.get(f"/api/v1/notices/objections/{objection.reference}").get_json()
    assert api == {
        "reference": objection.reference,
        "programme": "tuition_grant",
        "received_on": "2026-09-07",
        "outcome": "dismissed",
        "outcome_label": "经调查核实异议不成立，已重新公示",
        "resolved_on": "2026-09-07",
    }


def test_an_upheld_objection_says_the_case_ended(world):
    case, notice = on_notice(world)
    first = notices.raise_objection(world.session, notice.id, "13900000000", REASON)
    second = notices.raise_objection(world.session, notice.id, "13700000000", "收入填报不实")
    investigate(world, case, "upheld")
    for objection in (first, second):
        status = notices.objection_status(world.session, objection.reference)
        assert (status.outcome, status.outcome_label) == (
            "upheld",
            "异议成立，该公示对象已终止办理",
        )


def test_a_mistyped_or_unknown_reference_is_answered_plainly(app, world):
    with pytest.raises(ValidationFailed):
        notices.objection_status(world.session, "12345")
    with pytest.raises(NotFound):
        notices.objection_status(world.session, "YY2026-ABCDEFGH23")
    client = app.test_client()
    bad = client.get("/notices/objections?ref=12345")
    assert bad.status_code == 422 and "格式不正确" in bad.get_data(as_text=True)
    unknown = client.get("/notices/objections?ref=YY2026-ABCDEFGH23")
    assert unknown.status_code == 404 and "未找到该异议编号" in unknown.get_data(as_text=True)
    assert client.get("/api/v1/notices/objections/YY2026-ABCDEFGH23").status_code == 404
    assert client.get("/notices/objections").status_code == 200  # the empty form


def test_the_api_receipt_carries_the_reference(app, world):
    _, notice = on_notice(world)
    answer = app.test_client().post(
        f"/api/v1/notices/{notice.id}/objections",
        json={"contact": "13900000000", "reason": REASON},
    )
    assert answer.status_code == 201
    assert REFERENCE.fullmatch(answer.get_json()["reference"])


@pytest.fixture
def limited_app(make_app):
    return make_app(RATELIMIT_ENABLED=True)


def test_a_refused_objection_keeps_the_text_says_how_long_and_leads_back_to_the_notices(
    limited_app, world
):
    _, notice = on_notice(world)
    client = limited_app.test_client()
    url = f"/notices/{notice.id}/objection"
    for n in range(5):
        token = csrf_from(client, url)
        client.post(url, data={"contact": f"1390000000{n}", "reason": REASON, "csrf_token": token})
    token = csrf_from(client, url)
    answer = client.post(
        url, data={"contact": "13911112222", "reason": "第六次：收入填报不实", "csrf_token": token}
    )
    assert answer.status_code == 429
    page = answer.get_data(as_text=True)
    assert "请在 60 分钟后再提交" in page and "您填写的内容已保留" in page
    assert 'value="13911112222"' in page and "第六次：收入填报不实</textarea>" in page
    assert (
        'href="/notices"' in page
        and 'href="/login"' not in page
        and 'href="/"' not in page.split("<main>")[1]
    )
    assert len(world.session.scalars(select(Objection)).all()) == 5


def test_the_api_says_how_long_to_wait_too(limited_app, world):
    _, notice = on_notice(world)
    client = limited_app.test_client()
    for n in range(5):
        client.post(
            f"/api/v1/notices/{notice.id}/objections",
            json={"contact": f"1390000000{n}", "reason": REASON},
        )
    answer = client.post(
        f"/api/v1/notices/{notice.id}/objections", json={"contact": "139", "reason": REASON}
    )
    assert answer.status_code == 429
    body = answer.get_json()
    assert body["message"] == "操作过于频繁，请在 60 分钟后再试" and body["retry_after"] > 3000
    assert int(answer.headers["Retry-After"]) == body["retry_after"]


def test_looking_up_references_is_rate_limited_too(limited_app, world):
    client = limited_app.test_client()
    for _ in range(30):
        client.get("/notices/objections?ref=YY2026-ABCDEFGH23")
    refused = client.get("/notices/objections?ref=YY2026-ABCDEFGH23")
    assert refused.status_code == 429 and "查询过于频繁" in refused.get_data(as_text=True)
