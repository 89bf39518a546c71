"""困难职工档案 in the browser: a manager imports a file of 2,000 workers in which 5 lines
are bad; the preview lists them with their line numbers and nothing is written; the fixed
file is imported in the background with its progress shown; the manager finds one worker
by whole ID number, opens the worker's page and, after a 冬送温暖 launch, sees the case in
the worker's aid history. The pages fit a 390px phone and a 1366px desktop. No page shows
a whole ID number."""

import time

from archive_helpers import csv_bytes, worker_row
from sqlalchemy import func, select

from workflows import campaigns
from workflows.models import Case, HardshipRecord

WORKERS = 2000
BAD_LINES = {  # index in the file's rows → what is wrong with it
    10: {"身份证号": "511002198001011234"},  # check digit
    250: {"困难类别": "不知道"},
    777: {"单位代码": "nowhere"},
    1500: {"姓名": ""},
    1999: {"有效期至": "2026-01-01"},  # before 建档日期
}


def rows(broken: bool) -> list[dict]:
    made = [worker_row(i, org_code="szq1") for i in range(1, WORKERS + 1)]
    if broken:
        for index, change in BAD_LINES.items():
            made[index].update(change)
    return made


def wait_until(world, check, what: str, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        world.session.expire_all()
        found = check()
        world.session.rollback()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def fits(page, width: int) -> None:
    widest = page.evaluate("document.documentElement.scrollWidth")
    assert widest <= width, f"{page.url} is {widest}px wide at {width}px"


def test_import_find_and_see_history_after_a_launch(
    live_server, browser, world, shot, sign_in, tmp_path
):
    mgr = sign_in("mgr")
    mgr.set_viewport_size({"width": 1366, "height": 900})
    broken = tmp_path / "困难职工档案.csv"
    broken.write_bytes(csv_bytes(rows(broken=True)))
    mgr.goto(live_server + "/archive")
    mgr.click("text=导入已有档案")
    mgr.set_input_files("input[name=file]", str(broken))
    mgr.click("button:has-text('检查并预览')")
    mgr.wait_for_url("**/archive/imports/*")
    table = mgr.locator("table.import-lines")
    for index in BAD_LINES:
        assert table.locator(f"text=第 {index + 2} 行").count() == 1, index
    assert mgr.locator("dd.import-bad").inner_text() == "5"
    shot(mgr, "archive-preview-bad-1366")
    assert world.session.scalar(select(func.count(HardshipRecord.id))) == 0

    # Fixed, and sent again.
    fixed = tmp_path / "困难职工档案（修正）.csv"
    fixed.write_bytes(csv_bytes(rows(broken=False)))
    mgr.click("button:has-text('放弃，重新上传')")
    mgr.wait_for_url("**/archive/import")
    mgr.set_input_files("input[name=file]", str(fixed))
    mgr.click("button:has-text('检查并预览')")
    mgr.wait_for_url("**/archive/imports/*")
    assert mgr.locator("dd.import-bad").inner_text() == "0"
    assert mgr.locator("dd.import-ok").inner_text() == str(WORKERS)
    mgr.click(f"button:has-text('确认导入 {WORKERS} 人')")
    mgr.wait_for_selector("progress[data-field=progress]")
    mgr.wait_for_selector("text=已完成", timeout=60000)
    shot(mgr, "archive-import-done-1366")
    assert world.session.scalar(select(func.count(HardshipRecord.id))) == WORKERS

    # One worker, by whole ID number.
    wanted = rows(broken=False)[1234]
    mgr.goto(live_server + "/archive")
    mgr.fill("#id_number", wanted["身份证号"])
    mgr.click("form.search-form button.primary")
    mgr.wait_for_selector("text=共 1 人")
    assert wanted["身份证号"] not in mgr.url and wanted["身份证号"] not in mgr.content()
    shot(mgr, "archive-search-1366")
    mgr.click("table.archive-list a")
    mgr.wait_for_url("**/archive/*")
    assert "尚无帮扶记录" in mgr.content()
    worker_url = mgr.url

    # A 冬送温暖 launch reaches the imported workers; the case shows in the history.
    launch = campaigns.start_launch(world.session, world.user("mgr"), world.campaigns["winter"].id)
    campaigns.run_launch(world.factory, launch.id)
    key = world.session.scalar(
        select(HardshipRecord.subject_key).where(HardshipRecord.source_line == 1236)
    )
    case = wait_until(
        world,
        lambda: world.session.scalar(select(Case).where(Case.subject_key == key)),
        "the launched case",
    )
    mgr.goto(worker_url)
    assert case.case_no in mgr.content() and "2026年冬送温暖" in mgr.content()
    assert wanted["身份证号"] not in mgr.content()
    shot(mgr, "archive-worker-1366")
    fits(mgr, 1366)

    # The same pages at phone width.
    mgr.set_viewport_size({"width": 390, "height": 844})
    for url, name in (
        ("/archive", "archive-list-390"),
        (worker_url, "archive-worker-390"),
        ("/archive/import", "archive-import-390"),
    ):
        mgr.goto(url if url.startswith("http") else live_server + url)
        fits(mgr, 390)
        shot(mgr, name)
