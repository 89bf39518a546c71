"""Case work as people do it in Chromium, at an office PC's 1366×768 and at phone width:
the approver judges the evidence (photos large, previewed in the page) and is asked to
confirm a return naming the case; the caseworker corrects the returned application on
the rework page and the approver sees old → new; the browser refuses a file over the
limit before sending anything, with everything typed kept."""

import struct
import zlib
from datetime import timedelta

import pytest
from conftest import today_iso
from sqlalchemy import select

from workflows import cases, engine, files, timers
from workflows.models import PublicNotice

DESK = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
VISIT = dict(
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病常年服药，住单位老旧宿舍，家庭收入低",
    visit_verdict="confirmed",
)


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG (a shaded rectangle) without an imaging library."""
    rows = b"".join(
        b"\x00"
        + bytes(
            channel
            for x in range(width)
            for channel in (
                min(255, rgb[0] + x * 60 // width),
                min(255, rgb[1] + y * 60 // height),
                rgb[2],
            )
        )
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def at_level_one(world, clock, education_level="undergraduate"):
    cw = world.user("cw1")
    letter = files.store(world.session, cw, "录取通知书.pdf", b"%PDF-1.4\n% letter\n%%EOF\n")
    case = cases.start_case(
        world.session,
        cw,
        "tuition_grant",
        world.tuition_application(admission_letter=letter.id, education_level=education_level),
        world.campaigns["tuition"].id,
    )
    visitor = world.user("cw1b")
    photos = [
        files.store(world.session, visitor, "客厅.png", png(320, 240, (180, 120, 60))).id,
        files.store(world.session, visitor, "厨房.png", png(320, 240, (60, 140, 180))).id,
        files.store(world.session, visitor, "卧室.png", png(240, 320, (120, 170, 90))).id,
    ]
    world.do(
        "cw1b",
        case,
        "home_visit_task",
        dict(VISIT, visit_date=today_iso(), housing_photos=photos),
    )
    notice = world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == case.id)
    ).one()
    clock.move_to(notice.ends_at + timedelta(minutes=1))
    timers.fire_due_timers(world.factory)
    world.session.expire_all()
    return world.refresh(case)


def signed_in(browser, live_server, username, viewport):
    context = browser.new_context(locale="zh-CN", viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(live_server + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-" + username)
    page.click("button[type=submit]")
    page.wait_for_url(live_server + "/")
    return context, page


@pytest.fixture
def opened(browser, live_server):
    contexts = []

    def open_as(username, viewport=DESK):
        context, page = signed_in(browser, live_server, username, viewport)
        contexts.append(context)
        return page

    yield open_as
    for context in contexts:
        context.close()


def test_the_approver_judges_the_evidence_and_confirms_a_return(
    live_server, opened, world, clock, shot
):
    case = at_level_one(world, clock, education_level="postgraduate")
    world.do("l1", case, "approve_l1", {"decision": "approve"})
    task = world.open_task(case, "approve_l2")

    l2 = opened("l2")
    l2.goto(f"{live_server}/tasks/{task.id}")
    photos = l2.locator(".evidence .file-list.large img")
    assert photos.count() == 3  # the housing photos; the letter is a link to the PDF
    assert l2.locator(".evidence a.file-doc", has_text="录取通知书.pdf").count() == 1
    l2.wait_for_function(
        "() => [...document.querySelectorAll('.evidence img')].every(i => i.naturalWidth > 0)"
    )
    box = photos.first.bounding_box()
    assert box["width"] >= 250, box  # large enough to judge the housing
    assert "金额 8,000.00 元超过 5,000.00 元，通过后将报市总工会审批。" in l2.inner_text(".outcome")
    shot(l2, "approval-page-desk")

    # A photo opens large in the page.
    photos.first.click()
    dialog = l2.locator("#file-preview-dialog")
    dialog.wait_for(state="visible")
    assert dialog.locator("img").evaluate("i => i.naturalWidth") == 320
    shot(l2, "approval-page-preview")
    dialog.locator("button").click()
    dialog.wait_for(state="hidden")

    # 退回修改 asks first, naming the case and what follows; cancelling stays.
    l2.fill("#comment", "学历层次与录取通知书不符，请核对")
    asked = []
    l2.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    l2.click("button.decision.return")
    assert asked and case.case_no in asked[0] and "按退回意见修改" in asked[0]
    assert world.open_task(case, "approve_l2").status == "open"
    l2.once("dialog", lambda d: d.accept())
    l2.click("button.decision.return")
    l2.wait_for_url("**/tasks/mine")
    assert world.open_task(case, "rework")


def test_the_approval_page_at_phone_width(live_server, opened, world, clock, shot):
    case = at_level_one(world, clock)
    task = world.open_task(case, "approve_l1")
    l1 = opened("l1", PHONE)
    l1.goto(f"{live_server}/tasks/{task.id}")
    assert l1.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    photo = l1.locator(".evidence .file-list.large img").first.bounding_box()
    assert photo["width"] >= PHONE["width"] * 0.7
    assert "本级不是终审" in l1.inner_text(".outcome")
    shot(l1, "approval-page-phone")


def test_the_caseworker_corrects_the_returned_application_and_the_approver_sees_it(
    live_server, opened, world, clock, shot, tmp_path
):
    case = at_level_one(world, clock)
    world.do(
        "l1",
        case,
        "approve_l1",
        {"decision": "return", "comment": "录取通知书为研究生，学历层次填错，请更正并补充学费单"},
    )
    task = world.open_task(case, "rework")
    bill = tmp_path / "学费单.png"
    bill.write_bytes(png(200, 280, (230, 230, 200)))

    cw = opened("cw1")
    cw.goto(f"{live_server}/tasks/{task.id}")
    assert cw.input_value("#university") == "四川大学"
    assert cw.input_value("#education_level") == "undergraduate"
    assert cw.input_value("#tuition_fen") == "5600.00"
    assert cw.input_value("#student_id_number") == ""  # never written into the page
    shot(cw, "rework-page-desk")
    cw.select_option("#education_level", "postgraduate")
    cw.fill("#rework_note", "已按录取通知书改为研究生，补充学费单")
    cw.set_input_files("#supplementary_files", str(bill))
    cw.click("button.submit")
    cw.wait_for_load_state()
    assert cw.locator(".form-error").count() == 0, cw.inner_text(".task-main")
    cw.wait_for_url("**/tasks/mine")

    world.session.expire_all()
    case = world.refresh(case)
    assert case.amount_fen == 800000

    l1 = opened("l1")
    l1.goto(f"{live_server}/tasks/{world.open_task(case, 'approve_l1').id}")
    report = l1.inner_text(".rework-report")
    assert "已按录取通知书改为研究生" in report
    assert "学历层次" in report and "本科" in report and "研究生" in report
    assert "8,000.00 元" in report
    assert l1.locator(".evidence img[alt='学费单.png']").count() == 1
    shot(l1, "approval-after-rework")


def test_the_rework_page_at_phone_width(live_server, opened, world, clock, shot):
    case = at_level_one(world, clock)
    world.do("l1", case, "approve_l1", {"decision": "return", "comment": "请补充材料"})
    task = world.open_task(case, "rework")
    cw = opened("cw1", PHONE)
    cw.goto(f"{live_server}/tasks/{task.id}")
    assert cw.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(cw, "rework-page-phone")


def test_the_browser_refuses_a_file_over_the_limit_and_keeps_what_was_typed(
    live_server, opened, world, shot, tmp_path
):
    case = cases.start_case(
        world.session,
        world.user("cw1"),
        "tuition_grant",
        world.tuition_application(),
        world.campaigns["tuition"].id,
    )
    task = world.open_task(case, "home_visit_task")
    big = tmp_path / "客厅全景.jpg"
    big.write_bytes(b"\xff\xd8\xff" + b"\0" * (30 * 1024 * 1024))
    small = tmp_path / "厨房.png"
    small.write_bytes(png(160, 120, (200, 100, 50)))

    cw = opened("cw1")
    cw.goto(f"{live_server}/tasks/{task.id}")
    cw.fill("#visitors", "张经办、刘经办")
    cw.fill("#household_situation", VISIT["household_situation"])
    posts = []
    cw.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    cw.set_input_files("#housing_photos", [str(big), str(small)])
    message = cw.locator(".size-error")
    message.wait_for(state="visible")
    assert "“客厅全景.jpg”有 30.0 MB，超过 10 MB 的上限" in message.inner_text()
    assert cw.evaluate("document.querySelector('#housing_photos').files.length") == 0
    assert cw.input_value("#visitors") == "张经办、刘经办"
    assert posts == []
    shot(cw, "upload-too-big")

    # The small photo alone goes through.
    cw.set_input_files("#housing_photos", str(small))
    assert not cw.locator(".size-error").is_visible()
    cw.fill("#visit_date", today_iso())
    cw.select_option("#visit_verdict", "confirmed")
    cw.click("button.submit")
    cw.wait_for_url("**/tasks/mine")
    world.session.expire_all()
    assert len(engine.case_data(world.session, world.refresh(case))["housing_photos"]) == 1
