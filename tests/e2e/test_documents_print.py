"""打印文书 printed by Chromium: the 公示表 from the public board and the staff's page, the
审批表 of one case from its page and of fifty cases at once (the yearly file: one page
each), and a batch's 发放花名册. Each is printed to PDF with page.pdf() (print media,
A4 from the stylesheet), its first pages turned into PNGs (pdftoppm, kept under
tests/e2e/artifacts/) and its text read back (pdftotext) for the assertions: names and
numbers masked, totals, page numbers, page counts, nothing of the toolbar on paper.

poppler-utils (pdftoppm, pdftotext) must be installed: without them these tests fail (the
module is skipped only when Chromium itself is missing, as every browser test)."""

import re
from datetime import datetime
from pathlib import Path

from campaign_helpers import card
from conftest import valid_id
from document_helpers import (
    Printed,
    embedded_cjk_fonts,
    masked,
    paid_tuition_cases,
    pass_notices,
    pay_batch,
    pdf_to_png,
    poppler,
    start_tuition_cases,
    student_name,
    visit_all,
)
from sqlalchemy import select

from workflows import notices
from workflows.clock import CST
from workflows.models import Case, PublicNotice

ARTIFACTS = Path(__file__).parent / "artifacts"
TOOLBAR_TEXT = "打印 / 存为 PDF"


def print_to_pdf(page, name: str) -> Printed:
    """Print the page as the browser would to paper; the PDF and its first pages as PNGs
    stay in the artifacts folder."""
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = ARTIFACTS / f"{name}.pdf"
    for old in ARTIFACTS.glob(f"{name}-*.png"):
        old.unlink()
    page.emulate_media(media="print")
    page.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
    page.emulate_media(media="screen")
    assert pdf_to_png(pdf), "pdftoppm made no PNG"
    return Printed(pdf)


def whole_numbers_absent(world, text: Printed, started: list[Case]) -> None:
    """No applicant's whole name, no whole card or ID number on paper. `started` are the
    cases in the order they were numbered (their cards are card(0), card(1), ...)."""
    for n, case in enumerate(started):
        assert case.applicant_name not in text
        assert card(n) not in text
    for number in world.issued_ids:
        assert number not in text


def _remember_ids(world) -> None:
    """Every ID number the world hands out, to prove none is printed whole."""
    world.issued_ids = [valid_id("51100219800101001")]  # the parents' (fixed) number
    issue = world.next_id

    def next_id(*args, **kwargs):
        number = issue(*args, **kwargs)
        world.issued_ids.append(number)
        return number

    world.next_id = next_id


def test_poppler_utils_are_installed():
    for tool in ("pdftoppm", "pdftotext", "pdffonts"):
        assert poppler(tool)


def test_public_board_prints_its_round_as_a_masked_notice_sheet_with_period_and_objection_ways(
    live_server, browser, sign_in, world, clock, shot
):
    _remember_ids(world)
    g1 = world.orgs["g1"]
    g1.address, g1.phone = "内江市市中区城东街道新华路 12 号", "0832-2201234"
    world.session.commit()
    # Posted on Monday 28 September 2026, before the National Day holidays: the five
    # working days are 29 and 30 September, 8 and 9 October and Saturday 10 October
    # (调休, a working day).
    clock.move_to(datetime(2026, 9, 28, 10, 0, tzinfo=CST))
    started = start_tuition_cases(world, 3)
    visit_all(world, started)
    other = start_tuition_cases(world, 1, username="cw3", first=3)
    visit_all(world, other, username="cw3")
    objected = world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == started[2].id)
    ).one()
    notices.raise_objection(world.session, objected.id, "13900000000", "家庭收入与实际不符")

    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    try:
        public = context.new_page()
        public.goto(live_server + "/notices")
        row = public.locator("tr.org-row", has_text="城东街道帮扶站")
        row.locator("a.print-sheet").click()
        public.wait_for_url("**/documents/notice-sheet?**")
        assert TOOLBAR_TEXT in public.inner_text(".toolbar")
        shot(public, "documents-notice-sheet-public-screen")
        text = print_to_pdf(public, "documents-notice-sheet-public")
    finally:
        context.close()

    assert len(text.pages) == 1
    assert embedded_cjk_fonts(text.pdf), "no Chinese font embedded: the text would be boxes"
    assert "2026年金秋助学拟资助对象公示" in text
    for n in (0, 1):
        assert masked(student_name(n)) in text
    assert masked(student_name(2)) not in text  # under investigation: off the public board
    assert masked(student_name(3)) not in text  # another unit's round
    whole_numbers_absent(world, text, started + other)
    assert re.search(r"511\*+\d\d", text.flat)  # ID numbers, masked
    assert "本科" in text and "合计 2 人" in text and "10,000.00" in text
    assert "2026年9月29日至2026年10月10日，共 5 个工作日" in text
    assert "新华路 12 号" in text and "0832-2201234" in text and "12351" in text
    assert "/notices?org=szq1" in text
    assert "城东街道帮扶站" in text and "2026年9月28日" in text and "（盖章）" in text
    assert "第 1 页，共 1 页" in text
    assert TOOLBAR_TEXT not in text and "返回" not in text

    # The caseworker prints the whole round from the 打印文书 page: the case under
    # investigation is on it, marked.
    cw = sign_in("cw1")
    cw.click("header nav >> text=打印文书")
    cw.locator("#notice-sheets a.button").first.click()
    cw.wait_for_url("**/documents/notice-sheet?**")
    text = print_to_pdf(cw, "documents-notice-sheet-staff")
    assert len(text.pages) == 1 and "合计 3 人" in text
    assert masked(student_name(2)) in text and "异议调查中" in text
    whole_numbers_absent(world, text, started + other)


def test_case_page_prints_one_approval_form_with_visit_notice_each_level_and_payment(
    live_server, sign_in, world, clock, shot
):
    _remember_ids(world)
    started = start_tuition_cases(world, 1)
    case = started[0]
    visit_all(world, started)
    notice = world.session.scalars(select(PublicNotice)).one()
    notices.raise_objection(world.session, notice.id, "13900000000", "听说其家中有两套住房")
    world.do(
        "cw1",
        case,
        "investigate_objection",
        {"objection_finding": "dismissed", "investigation_report": "经核实仅有一套住房"},
    )
    pass_notices(world, clock)
    world.do("l1", case, "approve_l1", {"decision": "approve", "comment": "同意资助"})
    world.do("l2", case, "approve_l2", {"decision": "approve", "comment": "符合条件"})
    pay_batch(world)

    cw = sign_in("cw1")
    cw.goto(f"{live_server}/cases/{case.id}")
    cw.click("text=打印审批表")
    cw.wait_for_url(f"**/cases/{case.id}/approval-form")
    shot(cw, "documents-approval-form-screen")
    text = print_to_pdf(cw, "documents-approval-form")

    assert len(text.pages) == 1
    assert "2026年金秋助学审批表" in text and case.case_no in text
    assert masked(student_name(0)) in text
    whole_numbers_absent(world, text, started)
    assert "****" + card(0)[-4:] in text
    # The home visit, the notice with its objection and outcome, each level, the payment.
    assert "父亲下岗，母亲患病，家庭收入低" in text and "情况属实" in text
    assert "听说其家中有两套住房" in text and "异议不成立" in text
    assert "经核实仅有一套住房" in text and "第 2 次公示" in text
    assert "13900000000" not in text  # the objector's contact stays off paper
    for words in (
        "基层工会审批",
        "李主席",
        "同意资助",
        "县（区）总工会审批",
        "王区审批",
        "符合条件",
    ):
        assert words in text
    assert "5,000.00" in text and "已发放" in text
    assert "基层工会意见" in text and "市总工会意见" in text and "（盖章）" in text
    assert "第 1 页，共 1 页" in text
    assert TOOLBAR_TEXT not in text


def test_yearly_file_of_fifty_cases_prints_one_approval_form_a_page(
    live_server, sign_in, world, clock, shot
):
    _remember_ids(world)
    started = paid_tuition_cases(world, clock, 50)
    pay_batch(world)

    l2 = sign_in("l2")  # 市中区总工会: its grassroots unions' cases
    l2.click("header nav >> text=打印文书")
    l2.select_option("#batch-campaign", label="2026年金秋助学")
    l2.select_option("#batch-org", value="szq")
    l2.click("#approval-forms button.primary")
    l2.wait_for_url("**/documents/approval-forms?**")
    assert "共 50 件" in l2.inner_text(".toolbar")
    text = print_to_pdf(l2, "documents-approval-forms-50")

    assert len(text.pages) == 50
    numbers = sorted(c.case_no for c in started)
    for index, (page_text, number) in enumerate(zip(text.pages, numbers, strict=True), start=1):
        assert re.findall(r"JQ2026\d{6}", page_text) == [number]
        assert f"第 {index} 页，共 50 页" in page_text
        assert page_text.count("2026年金秋助学审批表") == 1
    for n in range(50):
        assert masked(student_name(n)) in text
    whole_numbers_absent(world, text, started)


def test_batch_roster_prints_every_payee_with_total_repeated_headers_and_masked_cards(
    live_server, sign_in, world, clock, shot
):
    _remember_ids(world)
    started = paid_tuition_cases(world, clock, 50)
    batch = pay_batch(world, fail_every=10)

    fin = sign_in("fin")
    fin.goto(f"{live_server}/finance/batches/{batch.id}")
    fin.click("a.print-roster")
    fin.wait_for_url(f"**/documents/batches/{batch.id}/roster")
    shot(fin, "documents-roster-screen")
    text = print_to_pdf(fin, "documents-roster")

    assert len(text.pages) >= 2
    for number, page_text in enumerate(text.pages, start=1):
        # The table's header repeats on every page, and every page is numbered.
        assert re.search(r"序号\s+案件编号\s+受助人\s+收款人\s+银行卡号", page_text)
        assert f"第 {number} 页，共 {len(text.pages)} 页" in page_text
    assert batch.reference in text and "2026年金秋助学发放花名册" in text
    assert "合计 50 笔" in text and "250,000.00" in text
    assert "人民币贰拾伍万元整" in text
    assert "成功 45 笔" in text and "失败 5 笔" in text and "账户已销户" in text
    for n in range(50):
        assert "*" * 15 + card(n)[-4:] in text
    whole_numbers_absent(world, text, started)
    for words in ("制表人", "财务负责人", "分管领导", "主要领导"):
        assert words in text
    assert TOOLBAR_TEXT not in text


def test_documents_fit_a_phone_screen(live_server, browser, world, clock, shot):
    started = start_tuition_cases(world, 2)
    visit_all(world, started)
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True
    )
    try:
        page = context.new_page()
        page.goto(live_server + "/login")
        page.fill("input[name=username]", "cw1")
        page.fill("input[name=password]", "pw-cw1")
        page.click("button[type=submit]")
        page.wait_for_url(live_server + "/")
        for name, url in (
            ("documents-phone-index", "/documents"),
            ("documents-phone-notice-sheet", "/notices"),
            ("documents-phone-approval-form", f"/cases/{started[0].id}/approval-form"),
        ):
            page.goto(live_server + url)
            if url == "/notices":
                page.click("a.print-sheet")
                page.wait_for_url("**/documents/notice-sheet?**")
            shot(page, name)
            widest = page.evaluate("document.documentElement.scrollWidth")
            assert widest <= 390, f"{url} is {widest}px wide on a 390px phone"
    finally:
        context.close()
