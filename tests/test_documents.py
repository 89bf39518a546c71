"""打印文书 as pages and through the API: who may print what (scope as everywhere), what
each document holds (masked as the reader's pages are), notice rounds, working days on the
公示表, parts of large documents, the API's self-contained copy and the 大写 amount.
Printing itself (PDF, page counts, page numbers) is proved in
tests/e2e/test_documents_print.py."""

import base64
import hashlib
import re
from datetime import datetime
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import pytest
from campaign_helpers import card
from conftest import api_token, login, valid_id
from document_helpers import (
    masked,
    paid_tuition_cases,
    pass_notices,
    pay_batch,
    start_tuition_cases,
    student_name,
    visit_all,
)
from sqlalchemy import select

from workflows import cases, documents, notices
from workflows.clock import CST
from workflows.models import PublicNotice

PARENT_ID = valid_id("51100219800101001")


def text(answer) -> str:
    return answer.get_data(as_text=True)


def signed_in(app, username: str | None):
    client = app.test_client()
    if username:
        assert login(client, username).status_code == 302
    return client


def sheet_url(org="szq1", posted="2026-09-07", campaign="jq2026", prefix="") -> str:
    return f"{prefix}/documents/notice-sheet?org={org}&campaign={campaign}&posted={posted}"


def sheet_links(html: str) -> set[tuple]:
    """The notice-sheet links on a page, each as its sorted query arguments."""
    hrefs = re.findall(r'href="(/documents/notice-sheet\?[^"]+)"', html)
    return {tuple(sorted(parse_qsl(urlsplit(unescape(h)).query))) for h in hrefs}


def round_args(org="szq1", posted="2026-09-07", campaign="jq2026") -> tuple:
    return tuple(sorted({"org": org, "posted": posted, "campaign": campaign}.items()))


def rows_of(html: str) -> int:
    body = html.split('class="doc notice-list"', 1)[1].split("</table>", 1)[0]
    return len(re.findall(r"<tr>\s*<td class=\"center\">", body))


@pytest.fixture
def visited(world):
    """Three 金秋助学 cases at 城东街道帮扶站 with their notices posted on Monday
    2026-09-07, and one at 西林街道帮扶站 (another district)."""
    started = start_tuition_cases(world, 3)
    visit_all(world, started)
    other = start_tuition_cases(world, 1, username="cw3", first=3)
    visit_all(world, other, username="cw3")
    return started, other


# --- 公示表 --------------------------------------------------------------------------------


def test_public_notice_sheet_lists_the_rounds_running_notices_masked_with_period_and_issuer(
    app, world, visited
):
    started, _ = visited
    objected = world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == started[2].id)
    ).one()
    notices.raise_objection(world.session, objected.id, "13900000000", "家庭收入与实际不符")

    answer = signed_in(app, None).get(sheet_url())
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    html = text(answer)
    assert "2026年金秋助学拟资助对象公示" in html
    assert rows_of(html) == 2  # the one under investigation is off the public board
    assert masked(student_name(0)) in html and masked(student_name(1)) in html
    assert masked(student_name(2)) not in html and masked(student_name(3)) not in html
    for n in range(4):
        assert student_name(n) not in html
    assert "511*************" in html and "本科" in html and "10,000.00" in html
    # Notice posted Monday 7 September: Tuesday 8 to Monday 14 (five working days).
    assert "2026年9月8日至2026年9月14日，共 5 个工作日" in html
    assert "12351" in html and "/notices?org=szq1" in html
    assert "城东街道帮扶站" in html and "2026年9月7日" in html and "（盖章）" in html
    assert "异议调查中" not in html


def test_staff_sheet_lists_every_notice_of_the_round_with_remarks_but_not_outside_their_scope(
    app, world, visited
):
    started, _ = visited
    objected = world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == started[2].id)
    ).one()
    notices.raise_objection(world.session, objected.id, "13900000000", "家庭收入与实际不符")

    for username in ("cw1", "l1", "l2", "l3", "fin"):
        html = text(signed_in(app, username).get(sheet_url()))
        assert rows_of(html) == 3, username
        assert "异议调查中" in html and masked(student_name(2)) in html
    # Another district's staff get what the public gets.
    html = text(signed_in(app, "l2_d2").get(sheet_url()))
    assert rows_of(html) == 2 and "异议调查中" not in html


def test_notice_sheet_shows_the_units_address_and_phone_or_blank_lines_to_fill_in(
    app, world, visited
):
    html = text(signed_in(app, None).get(sheet_url()))
    ways = html.split('class="fields-list objection-ways"', 1)[1].split("</ul>", 1)[0]
    assert ways.count('class="blank') == 2

    g1 = world.orgs["g1"]
    g1.address, g1.phone = "内江市市中区城东街道新华路 12 号", "0832-2201234"
    world.session.commit()
    html = text(signed_in(app, None).get(sheet_url()))
    ways = html.split('class="fields-list objection-ways"', 1)[1].split("</ul>", 1)[0]
    assert "新华路 12 号" in ways and "0832-2201234" in ways and 'class="blank' not in ways


def test_notice_period_into_a_year_without_holiday_arrangement_carries_the_warning(
    app, world, clock
):
    clock.move_to(datetime(2026, 12, 28, 10, 0, tzinfo=CST))
    visit_all(world, start_tuition_cases(world, 1))
    html = text(signed_in(app, None).get(sheet_url(posted="2026-12-28")))
    # Monday 28 December: 29, 30, 31 December, then 1 January 2027 counted as a weekday.
    assert "2026年12月29日至2027年1月4日" in html
    assert "2027年的法定节假日安排尚未录入" in html


def test_notice_sheet_refuses_unknown_rounds_and_bad_arguments_clearly(app, world, visited):
    client = signed_in(app, None)
    assert client.get(sheet_url(posted="2026-09-08")).status_code == 404
    assert client.get(sheet_url(org="nope")).status_code == 404
    assert client.get(sheet_url(campaign="nope")).status_code == 404
    bad = client.get(sheet_url(posted="7.9.2026"))
    assert bad.status_code == 422 and "2026-09-07" in text(bad)
    assert client.get("/documents/notice-sheet?org=szq1&posted=2026-09-07").status_code == 422
    assert client.get(sheet_url(prefix="/api/v1", posted="x")).get_json()["code"] == "invalid"


def test_rounds_are_a_unit_a_campaign_and_a_posting_day(app, world, clock, visited):
    clock.move_to(datetime(2026, 9, 8, 9, 0, tzinfo=CST))
    visit_all(world, start_tuition_cases(world, 2, first=10))
    found = documents.notice_rounds(world.session, world.user("l3"))
    assert [(r.key.org, r.key.posted.isoformat(), r.count) for r in found] == [
        ("szq1", "2026-09-08", 2),
        ("dxq1", "2026-09-07", 1),
        ("szq1", "2026-09-07", 3),
    ]
    assert [r.key.org for r in documents.notice_rounds(world.session, world.user("cw1"))] == [
        "szq1",
        "szq1",
    ]
    page = text(signed_in(app, "cw1").get("/documents"))
    assert sheet_links(page) == {round_args(posted="2026-09-08"), round_args()}


def test_public_board_links_each_round_to_its_notice_sheet(app, world, visited):
    page = text(signed_in(app, None).get("/notices"))
    assert sheet_links(page) == {round_args(), round_args(org="dxq1")}


# --- 审批表 --------------------------------------------------------------------------------


def test_approval_form_holds_visit_notice_each_decision_and_payment_masked_as_the_case_page(
    app, world, clock
):
    started = start_tuition_cases(world, 1)
    case = started[0]
    visit_all(world, started)
    pass_notices(world, clock)
    world.do("l1", case, "approve_l1", {"decision": "approve", "comment": "同意资助"})
    world.do("l2", case, "approve_l2", {"decision": "return", "comment": "请补充学费缴费通知单"})
    world.do("cw1", case, "rework", {"rework_note": "已补充缴费通知单"})
    world.do("l2", case, "approve_l2", {"decision": "approve", "comment": "符合条件"})
    pay_batch(world)

    client = signed_in(app, "cw1")
    assert f'/cases/{case.id}/approval-form"' in text(client.get(f"/cases/{case.id}"))
    html = text(client.get(f"/cases/{case.id}/approval-form"))
    sections = re.findall(r'<h2 class="doc-section">([^<]+)</h2>', html)
    assert sections == [
        "一、申请人基本情况",
        "二、入户核查",
        "三、公示",
        "四、逐级审批",
        "五、银行发放",
    ]
    approvals = html.split("四、逐级审批", 1)[1].split("五、银行发放", 1)[0]
    for words in (
        "李主席",
        "同意资助",
        "退回修改",
        "请补充学费缴费通知单",
        "按退回意见修改",
        "已补充缴费通知单",
        "王区审批",
        "符合条件",
    ):
        assert words in approvals
    assert "2026年9月8日至2026年9月14日" in html and "公示期内无异议" in html
    assert "已发放" in html and "PF2026" in html and "5,000.00" in html
    assert masked(student_name(0)) in html and student_name(0) not in html
    assert card(0) not in html and "*" * 15 + card(0)[-4:] in html
    assert PARENT_ID not in html and "511*************" in html
    assert "录取通知书.pdf（附件）" in html
    assert "基层工会意见" in html and "县（区）总工会意见" in html


def test_approval_form_is_refused_outside_the_readers_subtree(app, world, visited):
    started, other = visited
    url = f"/cases/{started[0].id}/approval-form"
    for username in ("cw2", "l1_g3", "l2_d2", "cw3"):
        assert signed_in(app, username).get(url).status_code == 403, username
    for username in ("cw1", "l1", "l2", "l3", "fin", "mgr"):
        assert signed_in(app, username).get(url).status_code == 200, username
    assert signed_in(app, None).get(url).status_code == 302  # to the login page
    assert signed_in(app, "cw1").get("/cases/999/approval-form").status_code == 404


def test_yearly_file_holds_every_case_of_the_campaign_and_unit_in_case_number_order(
    app, world, clock
):
    started = paid_tuition_cases(world, clock, 4)
    other = start_tuition_cases(world, 1, username="cw3", first=4)

    html = text(signed_in(app, "l2").get("/documents/approval-forms?org=szq&campaign=jq2026"))
    assert re.findall(r'data-case="([^"]+)"', html) == sorted(c.case_no for c in started)
    assert other[0].case_no not in html
    one_unit = text(signed_in(app, "cw1").get("/documents/approval-forms?org=szq1&campaign=jq2026"))
    assert one_unit.count('class="sheet approval-form"') == 4
    for username, org in (("cw1", "szq"), ("cw1", "dxq1"), ("l2", "dxq"), ("l2_d2", "szq1")):
        url = f"/documents/approval-forms?org={org}&campaign=jq2026"
        assert signed_in(app, username).get(url).status_code == 403, (username, org)
    client = signed_in(app, "l3")
    assert client.get("/documents/approval-forms?org=nj&campaign=nope").status_code == 404
    assert client.get("/documents/approval-forms?org=nope&campaign=jq2026").status_code == 404
    assert client.get("/documents/approval-forms?org=nj").status_code == 422


def test_yearly_file_comes_in_parts_when_large(app, world, clock, monkeypatch):
    monkeypatch.setattr(documents, "FORMS_PER_PART", 2)
    started = start_tuition_cases(world, 3)
    client = signed_in(app, "cw1")
    base = "/documents/approval-forms?org=szq1&campaign=jq2026"
    first, second = text(client.get(base)), text(client.get(base + "&part=2"))
    numbers = sorted(c.case_no for c in started)
    assert re.findall(r'data-case="([^"]+)"', first) == numbers[:2]
    assert re.findall(r'data-case="([^"]+)"', second) == numbers[2:]
    assert "分 2 部分打印" in first and "part=2" in first
    assert client.get(base + "&part=3").status_code == 404
    assert client.get(base + "&part=x").status_code == 422


def test_hardship_archive_cases_are_filed_by_year(app, world):
    data = dict(
        worker_name="赵铁柱",
        worker_id_number=world.next_id("19700308"),
        employer="内江钢铁厂",
        phone="13700000000",
        hardship_category="medical",
        household_size=4,
        household_income_fen=1800000,
        hardship_description="本人患尿毒症，长期透析，家庭收入微薄",
    )
    case = cases.start_case(world.session, world.user("cw1"), "hardship_archive", data)
    client = signed_in(app, "cw1")
    html = text(
        client.get("/documents/approval-forms?org=szq1&programme=hardship_archive&year=2026")
    )
    assert re.findall(r'data-case="([^"]+)"', html) == [case.case_no]
    assert "2026年困难职工建档审批表" in html and "赵*柱" in html and "赵铁柱" not in html
    assert "本人患尿毒症" in html
    empty = client.get("/documents/approval-forms?org=szq1&programme=hardship_archive&year=2025")
    assert empty.status_code == 200 and "没有案件" in text(empty)
    missing = client.get("/documents/approval-forms?org=szq1&programme=hardship_archive")
    assert missing.status_code == 422


def test_archive_round_names_the_category_from_the_form(app, world, clock):
    data = dict(
        worker_name="赵铁柱",
        worker_id_number=world.next_id("19700308"),
        employer="内江钢铁厂",
        phone="13700000000",
        hardship_category="medical",
        household_size=4,
        household_income_fen=1800000,
        hardship_description="本人患尿毒症，长期透析，家庭收入微薄",
    )
    case = cases.start_case(world.session, world.user("cw1"), "hardship_archive", data)
    world.do(
        "cw1",
        case,
        "home_visit_task",
        {
            "visit_date": "2026-09-07",
            "visitors": "张经办、刘经办",
            "household_situation": "入户核实：本人长期透析，无固定收入，情况属实",
            "visit_verdict": "confirmed",
        },
    )
    url = "/documents/notice-sheet?org=szq1&programme=hardship_archive&posted=2026-09-07"
    html = text(signed_in(app, None).get(url))
    assert "2026年拟纳入困难职工档案人员公示" in html
    assert "医疗（大病）" in html and "赵*柱" in html
    assert "金额（元）" not in html  # enrolment carries no amount


# --- 发放花名册 ----------------------------------------------------------------------------


def test_roster_lists_every_line_with_masked_cards_total_and_amount_in_words(app, world, clock):
    paid_tuition_cases(world, clock, 3)
    batch = pay_batch(world, fail_every=3)
    client = signed_in(app, "fin")
    assert f"/documents/batches/{batch.id}/roster" in text(
        client.get(f"/finance/batches/{batch.id}")
    )
    html = text(client.get(f"/documents/batches/{batch.id}/roster"))
    body = html.split('class="doc roster-lines"', 1)[1].split("</table>", 1)[0]
    assert len(re.findall(r'<tr>\s*<td class="center">', body)) == 3
    assert "合计 3 笔" in html and "15,000.00" in html and "人民币壹万伍仟元整" in html
    assert "失败：账户已销户" in html and "成功 2 笔" in html
    for n in range(3):
        assert card(n) not in html and "*" * 15 + card(n)[-4:] in html
        assert masked(student_name(n)) in html and student_name(n) not in html
    assert batch.reference in html


def test_roster_is_for_finance_only(app, world, clock):
    paid_tuition_cases(world, clock, 1)
    batch = pay_batch(world)
    for username in ("cw1", "l1", "l2", "l3", "mgr"):
        url = f"/documents/batches/{batch.id}/roster"
        assert signed_in(app, username).get(url).status_code == 403, username
    assert signed_in(app, "fin").get("/documents/batches/999/roster").status_code == 404


def test_roster_comes_in_parts_with_subtotals(app, world, clock, monkeypatch):
    monkeypatch.setattr(documents, "ROSTER_LINES_PER_PART", 2)
    paid_tuition_cases(world, clock, 3)
    batch = pay_batch(world)
    client = signed_in(app, "fin")
    second = text(client.get(f"/documents/batches/{batch.id}/roster?part=2"))
    assert "本部分小计 1 笔" in second and "合计 3 笔" in second and "15,000.00" in second
    assert client.get(f"/documents/batches/{batch.id}/roster?part=3").status_code == 404


# --- the 打印文书 page, the menu, English ----------------------------------------------------


def test_documents_page_is_in_the_menu_of_staff_and_offers_what_each_may_print(app, world, clock):
    paid_tuition_cases(world, clock, 1)
    batch = pay_batch(world)
    cw = text(signed_in(app, "cw1").get("/documents"))
    assert 'href="/documents"' in cw and "打印公示表" in cw and "打印审批表" in cw
    assert 'id="rosters"' not in cw
    fin = text(signed_in(app, "fin").get("/documents"))
    assert f"/documents/batches/{batch.id}/roster" in fin
    assert signed_in(app, None).get("/documents").status_code == 302


def test_documents_print_in_english_too(app, world, clock):
    started = paid_tuition_cases(world, clock, 1)
    client = signed_in(app, "cw1")
    html = text(client.get(f"/cases/{started[0].id}/approval-form?lang=en"))
    assert '<html lang="en">' in html
    assert "Applicant" in html and "Print / save as PDF" in html
    sheet = text(client.get(sheet_url() + "&lang=en"))
    assert "Notice period" in sheet and "2026-09-08" in sheet


# --- the API -------------------------------------------------------------------------------


def test_api_returns_the_same_documents_as_self_contained_html(app, world, clock):
    started = paid_tuition_cases(world, clock, 2)
    batch = pay_batch(world)
    client = app.test_client()
    headers = api_token(app, "fin")
    for url in (
        f"/api/v1/cases/{started[0].id}/approval-form",
        "/api/v1/documents/approval-forms?org=szq1&campaign=jq2026",
        f"/api/v1/batches/{batch.id}/roster",
    ):
        answer = client.get(url, headers=headers)
        assert answer.status_code == 200, url
        assert answer.content_type == "text/html; charset=utf-8"
        html = text(answer)
        assert "<script" not in html and 'class="toolbar"' not in html
        assert "<link" not in html  # nothing to fetch: the stylesheet is inside
        style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        policy = answer.headers["Content-Security-Policy"]
        assert f"style-src 'sha256-{digest}'" in policy and "default-src 'none'" in policy
        for n in range(2):
            assert card(n) not in html and student_name(n) not in html
    forms = text(
        client.get("/api/v1/documents/approval-forms?org=szq1&campaign=jq2026", headers=headers)
    )
    assert forms.count('class="sheet approval-form"') == 2
    assert client.get(f"/api/v1/cases/{started[0].id}/approval-form").status_code == 401
    assert (
        client.get(f"/api/v1/batches/{batch.id}/roster", headers=api_token(app, "cw1")).status_code
        == 403
    )


def test_api_notice_sheet_is_public_and_rounds_are_listed_for_staff(app, world, visited):
    client = app.test_client()
    public = client.get(sheet_url(prefix="/api/v1"))
    assert public.status_code == 200 and rows_of(text(public)) == 3
    bad = client.get(sheet_url(prefix="/api/v1"), headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    staff = client.get("/api/v1/documents/notice-rounds", headers=api_token(app, "l2"))
    assert staff.get_json()["items"] == [
        {
            "org": "szq1",
            "posted": "2026-09-07",
            "campaign": "jq2026",
            "title": "2026年金秋助学拟资助对象公示",
            "organisation": {
                "id": world.orgs["g1"].id,
                "code": "szq1",
                "name": "城东街道帮扶站",
            },
            "count": 3,
            "last_day": "2026-09-14",
        }
    ]
    assert client.get("/api/v1/documents/notice-rounds").status_code == 401


# --- 大写 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fen", "words"),
    [
        (0, "人民币零元整"),
        (50, "人民币伍角整"),
        (105, "人民币壹元零伍分"),
        (500000, "人民币伍仟元整"),
        (25000000, "人民币贰拾伍万元整"),
        (1234567, "人民币壹万贰仟叁佰肆拾伍元陆角柒分"),
        (10001000, "人民币壹拾万零壹拾元整"),
        (10000000100, "人民币壹亿零壹元整"),
        (96780000, "人民币玖拾陆万柒仟捌佰元整"),
    ],
)
def test_amounts_are_written_out_in_capital_numerals(fen, words):
    assert documents.rmb_upper(fen) == words
