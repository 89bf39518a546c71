"""银行发放 in the browser: three approved 冬送温暖 cases are paid by bank file. Finance
builds the batch, downloads the file, marks it sent and uploads the bank's answer, in which
one line failed; the case moves on in the background and the caseworker corrects the card
on the 更正银行卡 task; finance pays it in the next batch and the case page shows it paid
and closed. No page shows a whole card number."""

import csv
import io
import time

from campaign_helpers import approve_all, archive_workers, card, result_file
from conftest import valid_card
from sqlalchemy import select

from workflows import batches, campaigns
from workflows.models import Case, HumanTask, Payment, PaymentBatch, PaymentLine

WORKERS = 3


def seed(world) -> None:
    """Approved cash cases at 城东街道帮扶站 (cw1's union), through the services."""
    archive_workers(world.session, [world.orgs["g1"].id], WORKERS)
    row = campaigns.start_launch(world.session, world.user("mgr"), world.campaigns["winter"].id)
    campaigns.run_launch(world.factory, row.id)
    approve_all(world.session, [world.user(u) for u in ("l1", "l2", "l3")])
    world.session.expire_all()
    statuses = [p.status for p in world.session.scalars(select(Payment))]
    assert statuses == ["payable"] * WORKERS


def wait_until(world, check, what: str, seconds: float = 20):
    """The deliver job runs in the live server's own thread: poll the database for it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        world.session.expire_all()
        found = check()
        world.session.rollback()  # hold no snapshot while the job writes
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def open_task(world, case_id: int, element_id: str):
    return world.session.scalars(
        select(HumanTask).where(
            HumanTask.case_id == case_id,
            HumanTask.element_id == element_id,
            HumanTask.status == "open",
        )
    ).first()


def no_whole_card(html: str) -> None:
    for n in range(WORKERS):
        assert card(n) not in html


def build_and_send(fin, live_server, world, shot, name: str) -> PaymentBatch:
    fin.goto(live_server + "/finance")
    shot(fin, f"finance-{name}-payables")
    fin.click("button.build")
    fin.wait_for_url("**/finance/batches/*")
    world.session.expire_all()
    batch = world.session.scalars(select(PaymentBatch).order_by(PaymentBatch.id.desc())).first()
    assert batch.reference in fin.content() and batch.status == "draft"
    no_whole_card(fin.content())
    shot(fin, f"finance-{name}-draft")

    # The bank file, downloaded as the officer would.
    with fin.expect_download() as caught:
        fin.click("text=下载银行文件（CSV）")
    download = caught.value
    assert download.suggested_filename == f"{batch.reference}.csv"
    with open(download.path(), encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["序号", "户名", "卡号", "金额（元）", "用途", "参考号"]
    assert len(rows) == batch.line_count + 1
    assert all(r[5].startswith(batch.reference + "-") for r in rows[1:])

    fin.click("button.mark-sent")
    fin.wait_for_selector("text=已标记为已发送银行")
    world.session.expire_all()
    assert world.session.get(PaymentBatch, batch.id).status == "sent"
    return batch


def upload_result(fin, world, tmp_path, batch, name: str, fail_every=None) -> None:
    path = tmp_path / f"{name}.csv"
    path.write_bytes(result_file(world.session, batch.id, fail_every=fail_every))
    fin.set_input_files("#result-file", str(path))
    fin.click("button.import")
    fin.wait_for_selector("section.report")


def test_a_failed_payment_is_corrected_and_paid_in_the_next_batch(
    live_server, sign_in, world, tmp_path, shot
):
    seed(world)

    # Finance builds the first batch, downloads it and marks it sent.
    fin = sign_in("fin")
    first = build_and_send(fin, live_server, world, shot, "first")
    assert first.line_count == WORKERS

    # The bank answers: the third line failed (account closed).
    upload_result(fin, world, tmp_path, first, "result-1", fail_every=3)
    report = fin.inner_text("section.report")
    assert "成功：2 笔" in report and "失败：1 笔" in report
    no_whole_card(fin.content())
    shot(fin, "finance-first-imported")
    world.session.expire_all()
    failed_line = world.session.scalars(
        select(PaymentLine).where(PaymentLine.batch_id == first.id, PaymentLine.result == "failed")
    ).one()
    case_id = world.session.get(Payment, failed_line.payment_id).case_id
    case_no = world.session.get(Case, case_id).case_no

    # The background job moves the cases on: the failed one to 更正银行卡.
    wait_until(world, lambda: open_task(world, case_id, "correct_bank_card"), "更正银行卡")
    wait_until(
        world,
        lambda: (
            world.session.scalars(select(Payment).where(Payment.delivery == "pending")).first()
            is None
        ),
        "every result delivered",
    )
    fin.goto(f"{live_server}/finance/batches/{first.id}?result=failed")
    assert "账户已销户" in fin.content() and case_no in fin.content()
    shot(fin, "finance-first-failed-lines")

    # The caseworker finds the task among the unclaimed ones and enters a new card.
    new_card = valid_card("622202020099887766")
    cw = sign_in("cw1")
    cw.goto(live_server + "/tasks/group")
    assert "更正银行卡" in cw.content()
    shot(cw, "caseworker-correct-card-list")
    cw.click(f"text={case_no}")
    cw.wait_for_selector("form.task-form")
    assert "账户已销户" in cw.content()
    cw.fill("#bank_card", new_card)
    cw.fill("#account_name", "改正后户名")
    shot(cw, "caseworker-correct-card-form")
    cw.click("button.submit")
    cw.wait_for_url("**/tasks/**")
    assert "已提交" in cw.content() and new_card not in cw.content()
    world.session.expire_all()
    payment = world.session.get(Payment, failed_line.payment_id)
    assert (payment.status, payment.bank_card) == ("payable", new_card)

    # Finance pays it in the next batch; the bank answers success.
    second = build_and_send(fin, live_server, world, shot, "second")
    assert second.line_count == 1
    upload_result(fin, world, tmp_path, second, "result-2")
    assert "成功：1 笔" in fin.inner_text("section.report")
    shot(fin, "finance-second-imported")
    fin.goto(live_server + "/finance")
    assert "目前没有待发放的付款" in fin.content()
    assert fin.content().count("已对账") == 2
    shot(fin, "finance-batches")

    # The case closes as paid, as its page shows.
    wait_until(
        world, lambda: world.session.get(Case, case_id).status == "completed", "the case to close"
    )
    cw.goto(f"{live_server}/cases/{case_id}")
    page = cw.content()
    assert "已结案" in page and "已发放" in page
    assert new_card not in page
    shot(cw, "case-paid-and-closed")
    world.session.expire_all()
    assert {p.status for p in world.session.scalars(select(Payment))} == {"paid"}
    assert {c.outcome for c in world.session.scalars(select(Case)) if c.campaign_id} == {"end_paid"}


def test_the_batch_page_fits_a_phone(live_server, browser, world, shot):
    seed(world)
    batch = batches.build_batch(
        world.session, world.user("fin"), world.campaigns["winter"].id, world.orgs["d1"].id
    )
    viewport = {"width": 375, "height": 740}
    context = browser.new_context(locale="zh-CN", viewport=viewport, is_mobile=True)
    try:
        page = context.new_page()
        page.goto(live_server + "/login")
        page.fill("input[name=username]", "fin")
        page.fill("input[name=password]", "pw-fin")
        page.click("button[type=submit]")
        page.wait_for_url(live_server + "/")
        for url in ("/finance", f"/finance/batches/{batch.id}"):
            page.goto(live_server + url)
            widest = page.evaluate("document.documentElement.scrollWidth")
            assert widest <= viewport["width"], f"{url} is {widest}px wide on a 375px phone"
        assert page.locator("button.mark-sent").bounding_box()["height"] >= 40
        shot(page, "phone-finance-batch")
    finally:
        context.close()


def test_the_result_file_the_test_uploads_is_the_banks_format(world):
    # Guards the scenario above: the helper writes the columns the import reads.
    header = io.StringIO(result_file(world.session, 0).decode()).readline().strip()
    assert header == "参考号,金额（元）,状态,原因"
