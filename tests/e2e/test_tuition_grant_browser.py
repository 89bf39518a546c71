"""A 金秋助学 case carried through the browser, in Chinese, by the people who do the work:
the caseworker files the application with the admission letter and does the home visit,
the notice period passes (clock moved, timer worker run), level 1 approves on the task
page and level 2 through batch approval; the case reaches the payment step and its page
draws the diagram with the finished and current steps marked."""

from datetime import timedelta

from conftest import cst, valid_card, valid_id
from sqlalchemy import select

from workflows import timers
from workflows.models import Case, Payment, PublicNotice


def open_first_task(page, live_server, case_no):
    page.goto(live_server + "/tasks/group")
    page.click(f"text={case_no}")
    page.wait_for_selector("form.task-form")


def test_grant_goes_from_application_to_payment_in_the_browser(
    live_server, browser, sign_in, world, clock, tmp_path, shot
):
    letter = tmp_path / "录取通知书.pdf"
    letter.write_bytes(b"%PDF-1.4\n% admission letter\n%%EOF\n")
    student_id = valid_id("51100220070302123")

    # The caseworker files the application.
    cw = sign_in("cw1")
    cw.goto(live_server + "/apply")
    shot(cw, "apply-choose")
    cw.click("text=2026年金秋助学")
    cw.fill("#student_name", "王小明")
    cw.fill("#student_id_number", student_id)
    cw.fill("#parent_name", "王大力")
    cw.fill("#parent_id_number", valid_id("51100219800101001"))
    cw.fill("#university", "四川大学")
    cw.fill("#major", "计算机科学与技术")
    cw.select_option("#education_level", "undergraduate")
    cw.set_input_files("#admission_letter", str(letter))
    cw.fill("#tuition_fen", "5600")
    cw.fill("#bank_card", valid_card())
    cw.fill("#account_name", "王大力")
    shot(cw, "application-form")
    cw.click("button.submit")
    cw.wait_for_url("**/cases/*")
    assert "王*明" in cw.content() and student_id not in cw.content()
    shot(cw, "case-page-new")
    world.session.expire_all()
    case = world.session.scalars(select(Case)).one()
    assert case.amount_fen == 500000 and case.status == "running"

    # The home visit, on the task page.
    open_first_task(cw, live_server, case.case_no)
    cw.fill("#visit_date", "2026-09-07")
    cw.fill("#visitors", "张经办、刘经办")
    cw.fill("#household_situation", "父亲下岗，母亲患病，家庭年收入低于当地最低生活标准")
    photo = tmp_path / "住房照片.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    cw.set_input_files("#housing_photos", str(photo))
    cw.select_option("#visit_verdict", "confirmed")
    shot(cw, "task-form")
    cw.click("button.submit")
    cw.wait_for_url("**/tasks/**")
    assert "已提交" in cw.content()
    notice = world.session.scalars(select(PublicNotice)).one()
    world.session.refresh(notice)
    assert notice.status == "open"

    # The public sees the notice, masked.
    public = browser.new_context(locale="zh-CN").new_page()
    public.goto(live_server + "/notices")
    assert "王*明" in public.content() and student_id not in public.content()
    shot(public, "notices")

    # Five working days pass; the timer worker ends the notice.
    clock.move_to(notice.ends_at + timedelta(minutes=1))
    assert timers.fire_due_timers(world.factory) == 1

    # Level 1 approves on the task page.
    l1 = sign_in("l1")
    open_first_task(l1, live_server, case.case_no)
    shot(l1, "approval-form")
    l1.click("button.decision.approve")
    l1.wait_for_url("**/tasks/**")

    # Level 2 approves through batch approval, after seeing count and total.
    l2 = sign_in("l2")
    l2.goto(live_server + "/tasks/group")
    shot(l2, "task-list")
    l2.check(f"input[aria-label='选择 {case.case_no}']")
    l2.click("text=批量通过所选")
    assert "5,000.00" in l2.content()
    shot(l2, "batch-confirm")
    l2.click("text=确认通过 1 件")
    l2.wait_for_selector("text=" + case.case_no)
    shot(l2, "batch-result")

    world.session.expire_all()
    payment = world.session.scalars(select(Payment).where(Payment.case_id == case.id)).one()
    assert (payment.status, payment.amount_fen) == ("payable", 500000)

    # Level 2 finds the case by the student's ID number; the number never shows.
    l2.goto(live_server + "/cases")
    l2.fill("#id_number", student_id)
    l2.click("form button.primary")
    l2.wait_for_selector("text=" + case.case_no)
    assert student_id not in l2.content() and student_id not in l2.url
    shot(l2, "case-search")

    # The case page draws the diagram: visit, notice and approval done, payment current.
    l2.goto(f"{live_server}/cases/{case.id}")
    l2.wait_for_selector("#case-diagram svg .wf-current")
    done = l2.eval_on_selector_all(
        "#case-diagram svg .djs-element.wf-done", "els => els.map(e => e.dataset.elementId)"
    )
    current = l2.eval_on_selector_all(
        "#case-diagram svg .djs-element.wf-current", "els => els.map(e => e.dataset.elementId)"
    )
    assert {"call_home_visit", "call_public_notice", "call_approval"} <= set(done)
    assert current == ["call_disbursement"]
    shot(l2, "case-page-diagram")


def test_the_moved_clock_is_the_one_the_world_started_on(world, clock):
    # Guards the scenario above: the notice is posted on a Monday in the 2026 calendar.
    from datetime import datetime

    from workflows.clock import CST

    assert datetime.now(CST) == cst(2026, 9, 7, 10, 0)
