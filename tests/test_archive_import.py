"""Loading an existing 困难职工档案 from a file: the whole file checked and previewed with
line numbers before anything is written, provenance on every record, the same file twice
changing nothing, numbers encrypted at rest, and imported workers reached by a launch and
re-checked (回头看) on their valid-until date."""

import pytest
from archive_helpers import csv_bytes, worker_id, worker_row, xlsx_bytes
from conftest import cst
from sqlalchemy import func, select, text

from workflows import archive, archive_import, campaigns, organisations, timers
from workflows.errors import Conflict, Forbidden, ValidationFailed
from workflows.models import ArchiveImport, AuditEvent, Case, HardshipRecord, HumanTask, User


def count(session) -> int:
    return session.scalar(select(func.count(HardshipRecord.id))) or 0


def do_import(world, content: bytes, filename: str = "档案.csv", skip_bad=False, **kw):
    row = archive_import.preview(world.session, world.user("mgr"), filename, content, **kw)
    archive_import.confirm(world.session, world.user("mgr"), row.id, skip_bad)
    archive_import.run_import(world.factory, row.id, chunk=3)
    world.session.expire_all()
    return world.session.get(ArchiveImport, row.id)


def test_a_clean_file_is_imported_with_provenance_and_numbers_only_encrypted(world):
    rows = [worker_row(i) for i in range(1, 8)]
    done = do_import(world, csv_bytes(rows))
    assert (done.status, done.imported, done.skipped, done.processed) == ("done", 7, 0, 7)
    assert done.content is None
    records = world.session.scalars(
        select(HardshipRecord).order_by(HardshipRecord.source_line)
    ).all()
    assert [r.source_line for r in records] == list(range(2, 9))
    first = records[0]
    assert first.case_id is None and first.status == "archived"
    assert first.import_id == done.id and done.filename == "档案.csv"
    assert done.created_by_id == world.users["mgr"].id and len(done.sha256) == 64
    assert first.id_number == rows[0]["身份证号"]
    assert first.subject_id_masked.startswith("511") and "*" in first.subject_id_masked
    assert first.category == "medical" and first.household_size == 3
    assert first.valid_until == cst(2027, 3, 1)
    # No plain ID or card number in any column of any table.
    number, card = rows[0]["身份证号"], rows[0]["银行卡号"]
    for table in ("hardship_record", "archive_import", "audit_event"):
        for dump in world.session.execute(text(f"SELECT * FROM {table}")):  # noqa: S608
            joined = " ".join(str(v) for v in dump)
            assert number not in joined and card not in joined


def test_whole_file_is_checked_with_line_numbers_and_nothing_written_before_confirm(world):
    rows = [worker_row(i) for i in range(1, 10)]
    rows[1]["身份证号"] = rows[1]["身份证号"][:-1] + (
        "0" if rows[1]["身份证号"][-1] != "0" else "1"
    )
    rows[2]["身份证号"] = rows[0]["身份证号"]  # duplicate in the file
    rows[3]["单位代码"] = "nowhere"
    rows[4]["困难类别"] = "穷"
    rows[5]["银行卡号"] = "6222020200112233440"  # fails its check: warning only
    rows[6]["姓名"] = ""
    rows[7]["建档日期"] = "2030-01-01"
    rows[8]["有效期至"] = "2026-02-01"  # before 建档日期
    row = archive_import.preview(world.session, world.user("mgr"), "档案.csv", csv_bytes(rows))
    assert count(world.session) == 0
    report = archive_import.report(row)
    by_line = {item["line"]: item for item in report["lines"]}
    assert "身份证号无效" in by_line[3]["text"]
    assert "与第 2 行重复" in by_line[4]["text"]
    assert "nowhere" in by_line[5]["text"]
    assert "未知的困难类别" in by_line[6]["text"]
    assert by_line[7]["level"] == "warning" and "银行卡号" in by_line[7]["text"]
    assert "缺少姓名" in by_line[8]["text"]
    assert "建档日期晚于今天" in by_line[9]["text"]
    assert "有效期至应晚于建档日期" in by_line[10]["text"]
    assert (report["total"], report["bad"], report["ok"]) == (9, 7, 2)
    with pytest.raises(ValidationFailed, match="跳过有误的行"):
        archive_import.confirm(world.session, world.user("mgr"), row.id)
    assert count(world.session) == 0
    # Only when the manager says so explicitly: the good lines, the warned one included.
    archive_import.confirm(world.session, world.user("mgr"), row.id, skip_bad=True)
    archive_import.run_import(world.factory, row.id)
    world.session.expire_all()
    assert count(world.session) == 2
    assert sorted(world.session.scalars(select(HardshipRecord.source_line))) == [2, 7]


def test_a_closed_unit_takes_no_new_archive_records(world):
    organisations.close_unit(world.session, world.user("mgr"), world.orgs["g2"].id, None)
    rows = [worker_row(1), worker_row(2, org_code="szq2")]
    row = archive_import.preview(world.session, world.user("mgr"), "档案.csv", csv_bytes(rows))
    by_line = {item["line"]: item for item in archive_import.report(row)["lines"]}
    assert by_line[3]["level"] == "error" and "已撤销" in by_line[3]["text"]
    assert 2 not in by_line


def test_the_same_file_again_changes_nothing(world):
    content = csv_bytes([worker_row(i) for i in range(1, 5)])
    do_import(world, content)
    with pytest.raises(Conflict, match="再次导入不会有任何改变"):
        archive_import.preview(world.session, world.user("mgr"), "again.csv", content)
    assert count(world.session) == 4
    # Another file with some of the same workers: those are already archived, skipped.
    more = do_import(world, csv_bytes([worker_row(i) for i in range(3, 7)]), "more.csv")
    assert (more.imported, more.skipped) == (2, 2)
    assert count(world.session) == 6


def test_an_interrupted_import_goes_on_where_it_stopped_without_doubles(world):
    rows = [worker_row(i) for i in range(1, 11)]
    row = archive_import.preview(world.session, world.user("mgr"), "a.csv", csv_bytes(rows))
    archive_import.confirm(world.session, world.user("mgr"), row.id)
    original = archive_import._record_values
    calls = {"n": 0}

    def dies_on_second_chunk(ln, imp):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("server stopped")
        return original(ln, imp)

    archive_import._record_values = dies_on_second_chunk
    try:
        archive_import.run_import(world.factory, row.id, chunk=4)
    finally:
        archive_import._record_values = original
    world.session.expire_all()
    failed = world.session.get(ArchiveImport, row.id)
    assert failed.status == "failed" and failed.processed == 4 and count(world.session) == 4
    # Started again by the manager: the rest, each line once.
    archive_import.confirm(world.session, world.user("mgr"), row.id)
    archive_import.run_import(world.factory, row.id, chunk=4)
    world.session.expire_all()
    again = world.session.get(ArchiveImport, row.id)
    assert again.status == "done" and count(world.session) == 10
    lines = world.session.scalars(select(HardshipRecord.source_line)).all()
    assert sorted(lines) == list(range(2, 12))


def test_gb18030_csv_and_xlsx_read_alike_and_units_may_be_named(world):
    rows = [worker_row(i) for i in range(1, 3)]
    done = do_import(world, csv_bytes(rows, encoding="gb18030"), "gbk.csv")
    assert done.imported == 2
    xlsx = do_import(world, xlsx_bytes([worker_row(i) for i in range(3, 5)]), "档案.xlsx")
    assert xlsx.imported == 2
    header = ["姓名", "身份证号", "单位名称", "困难类别"]
    named = csv_bytes([{**worker_row(9), "单位名称": "西林街道帮扶站"}], header=header)
    by_name = do_import(world, named, "named.csv")
    assert by_name.imported == 1
    record = world.session.scalar(
        select(HardshipRecord).where(HardshipRecord.import_id == by_name.id)
    )
    assert record.org_id == world.orgs["g3"].id
    # No 有效期至: a year after 建档日期.
    assert record.valid_until.year == 2027


def test_the_column_mapping_is_remembered_for_the_next_file(world):
    header = ["职工名字", "证件", "基层工会编码", "类别"]
    rows = [{"职工名字": "王大", "证件": worker_id(1), "基层工会编码": "szq1", "类别": "生活困难"}]
    with pytest.raises(ValidationFailed, match="列对应"):
        archive_import.preview(
            world.session, world.user("mgr"), "a.csv", csv_bytes(rows, header=header)
        )
    mapping = {
        "name": "职工名字",
        "id_number": "证件",
        "org_code": "基层工会编码",
        "category": "类别",
    }
    row = archive_import.preview(
        world.session, world.user("mgr"), "a.csv", csv_bytes(rows, header=header), mapping=mapping
    )
    assert archive_import.report(row)["ok"] == 1
    rows[0]["证件"] = worker_id(2)
    again = archive_import.preview(
        world.session, world.user("mgr"), "b.csv", csv_bytes(rows, header=header)
    )
    assert archive_import.report(again)["ok"] == 1


def test_only_managers_import_and_only_into_their_subtree(world):
    content = csv_bytes([worker_row(1, org_code="dxq1")])
    with pytest.raises(Forbidden):
        archive_import.preview(world.session, world.user("cw1"), "a.csv", content)
    row = archive_import.preview(world.session, world.user("mgr"), "a.csv", content, org_code="szq")
    # A unit outside the named subtree is unknown there.
    assert "不在本单位范围内" in archive_import.report(row)["lines"][0]["text"]


def test_a_launch_reaches_imported_workers(world):
    do_import(world, csv_bytes([worker_row(i) for i in range(1, 4)]))
    launch = campaigns.start_launch(world.session, world.user("mgr"), world.campaigns["winter"].id)
    campaigns.run_launch(world.factory, launch.id)
    world.session.expire_all()
    opened = world.session.scalars(select(Case).where(Case.programme == "seasonal_aid")).all()
    assert len(opened) == 3
    keys = set(world.session.scalars(select(HardshipRecord.subject_key)))
    assert {c.subject_key for c in opened} == keys


def test_recheck_opens_on_the_valid_until_date(world, clock):
    do_import(world, csv_bytes([worker_row(1, 有效期至="2026-10-01")]))
    record = world.session.scalar(select(HardshipRecord))
    clock.move_to(cst(2026, 9, 30, 23, 0), tick=False)
    assert archive.open_due_rechecks(world.factory) == 0
    clock.move_to(cst(2026, 10, 1, 0, 30), tick=False)
    timers.run_round(world.factory)
    world.session.expire_all()
    record = world.session.get(HardshipRecord, record.id)
    assert record.case_id is not None
    task = world.session.scalar(
        select(HumanTask).where(HumanTask.case_id == record.case_id, HumanTask.status == "open")
    )
    assert task.element_id == "annual_recheck" and task.org_id == world.orgs["g1"].id
    # Once only.
    assert archive.open_due_rechecks(world.factory) == 0
    assert (
        world.session.scalar(
            select(func.count(AuditEvent.id)).where(AuditEvent.action == "archive.recheck_open")
        )
        == 1
    )


def test_the_recheck_of_an_imported_worker_renews_the_record_and_keeps_the_card(world, clock):
    do_import(world, csv_bytes([worker_row(1, 有效期至="2026-10-01")]))
    clock.move_to(cst(2026, 10, 8, 9, 0), tick=False)
    assert archive.open_due_rechecks(world.factory) == 1
    world.session.expire_all()
    record = world.session.scalar(select(HardshipRecord))
    card = record.bank_card
    case = world.session.get(Case, record.case_id)
    assert case.programme == "archive_recheck" and case.case_no.startswith("HK")
    world.do(
        "cw1",
        case,
        "annual_recheck",
        dict(
            recheck_date="2026-10-08", recheck_finding="入户复核，仍然困难", recheck_result="keep"
        ),
    )
    world.session.expire_all()
    record = world.session.get(HardshipRecord, record.id)
    assert record.status == "archived" and record.valid_until.year == 2027
    assert record.bank_card == card and card


def test_an_import_whose_job_died_with_the_server_can_be_resumed(world, clock):
    content = csv_bytes([worker_row(i) for i in range(1, 4)])
    row = archive_import.preview(world.session, world.user("mgr"), "a.csv", content)
    archive_import.confirm(world.session, world.user("mgr"), row.id)
    # The thread never ran (the server stopped): a second confirm is refused until the
    # heartbeat is stale, then resumes.
    with pytest.raises(Conflict):
        archive_import.confirm(world.session, world.user("mgr"), row.id)
    clock.move_to(cst(2026, 9, 7, 10, 5), tick=False)
    stale = archive_import.get_import(world.session, world.user("mgr"), row.id)
    assert "中断" in stale.message
    archive_import.confirm(world.session, world.user("mgr"), row.id)
    archive_import.run_import(world.factory, row.id)
    world.session.expire_all()
    assert world.session.get(ArchiveImport, row.id).status == "done" and count(world.session) == 3


def test_the_list_filters_by_category_due_recheck_programme_received_and_name(world, clock):
    from test_received_this_year import earlier_aid

    rows = [worker_row(i) for i in range(1, 6)]
    rows[0]["有效期至"] = "2026-09-20"  # due within 30 days
    rows[1]["有效期至"] = "2026-12-01"
    rows[2]["姓名"] = "欧阳明月"
    do_import(world, csv_bytes(rows))
    earlier_aid(world, rows[3]["身份证号"], cst(2026, 2, 1, 10, 0))
    mgr = world.user("mgr")

    def found(**criteria) -> set[int]:
        page = archive.search(world.session, mgr, archive.ArchiveCriteria(**criteria))
        assert page.total == len(page.records)
        return {r.source_line for r in page.records}

    assert found() == {2, 3, 4, 5, 6}
    assert found(status="due") == {2}
    assert found(status="due", due_days=90) == {2, 3}
    assert found(category="medical") == {2, 6}  # workers 1 and 5: 医疗（大病）
    assert found(programme="seasonal_aid") == {5}
    assert found(name="欧阳") == {4}
    assert found(id_number=rows[4]["身份证号"]) == {6}
    assert found(org_id=world.orgs["d2"].id) == set()
    with pytest.raises(ValidationFailed):
        archive.search(world.session, mgr, archive.ArchiveCriteria(status="whatever"))
    with pytest.raises(ValidationFailed):
        archive.search(world.session, mgr, archive.ArchiveCriteria(id_number="123"))
    with pytest.raises(Forbidden):
        archive.search(
            world.session, world.user("l2"), archive.ArchiveCriteria(org_id=world.orgs["d2"].id)
        )


def test_two_managers_confirming_the_same_preview_start_it_once(world):
    content = csv_bytes([worker_row(i) for i in range(1, 4)])
    row = archive_import.preview(world.session, world.user("mgr"), "a.csv", content)
    other = world.factory()
    try:
        archive_import.get_import(other, other.get(User, world.users["mgr"].id), row.id)
        archive_import.confirm(world.session, world.user("mgr"), row.id)
        with pytest.raises(Conflict):
            archive_import.confirm(other, other.get(User, world.users["mgr"].id), row.id)
    finally:
        other.close()


def test_the_timer_worker_resumes_an_import_the_server_stopped(world, clock):
    content = csv_bytes([worker_row(i) for i in range(1, 4)])
    row = archive_import.preview(world.session, world.user("mgr"), "a.csv", content)
    archive_import.confirm(world.session, world.user("mgr"), row.id)  # its thread never ran
    timers.run_round(world.factory)
    assert count(world.session) == 0  # not stale yet: the job may still be working
    clock.move_to(cst(2026, 9, 7, 10, 5), tick=False)
    timers.run_round(world.factory)
    world.session.expire_all()
    assert world.session.get(ArchiveImport, row.id).status == "done" and count(world.session) == 3
