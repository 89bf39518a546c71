"""The bank file and the bank's answer through the shared spreadsheet reader and writer:
no cell a spreadsheet would run, amounts as numbers, and the answer read within bounds."""

import csv
import io
import tracemalloc
import zipfile

from campaign_helpers import approve_all, archive_workers
from openpyxl import load_workbook
from sqlalchemy import select, update

from workflows import batches, campaigns, tabular
from workflows.models import CampaignLaunch, Payment, PaymentLine

FORMULA_NAME = "=cmd|' /C calc'!A0"


def _sent_batch(world, n=3):
    archive_workers(world.session, [world.orgs["g1"].id], n)
    row = campaigns.start_launch(world.session, world.user("mgr"), world.campaigns["winter"].id)
    campaigns.run_launch(world.factory, row.id, chunk=7)
    world.session.expire_all()
    assert world.session.get(CampaignLaunch, row.id).created == n
    approve_all(world.session, [world.user(u) for u in ("l1", "l2", "l3")])
    fin = world.user("fin")
    batch = batches.build_batch(
        world.session, fin, world.campaigns["winter"].id, world.orgs["d1"].id
    )
    return fin, batch


def _name_first_line(world, batch, name: str) -> None:
    world.session.execute(
        update(PaymentLine)
        .where(PaymentLine.batch_id == batch.id, PaymentLine.seq == 1)
        .values(account_name=name)
    )
    world.session.commit()


def test_a_formula_in_an_account_name_never_reaches_the_bank_file_as_a_formula(world):
    fin, batch = _sent_batch(world)
    _name_first_line(world, batch, FORMULA_NAME)
    text = batches.bank_file(world.session, fin, batch.id, "csv").content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][1] == "'" + FORMULA_NAME
    assert not any(cell.startswith(tabular.FORMULA_STARTS) for row in rows for cell in row)
    content = batches.bank_file(world.session, fin, batch.id, "xlsx").content
    sheet = load_workbook(io.BytesIO(content)).active
    cell = sheet["B2"]
    assert cell.value == FORMULA_NAME and cell.data_type == "s" and cell.quotePrefix
    assert b"<f>" not in zipfile.ZipFile(io.BytesIO(content)).read("xl/worksheets/sheet1.xml")


def test_xlsx_bank_file_has_numeric_amounts_a_total_row_and_fitting_widths(world):
    fin, batch = _sent_batch(world)
    payments = list(world.session.scalars(select(Payment).where(Payment.batch_id == batch.id)))
    content = batches.bank_file(world.session, fin, batch.id, "xlsx").content
    sheet = load_workbook(io.BytesIO(content)).active
    assert [c.value for c in sheet[1]] == batches.BANK_FILE_HEADER
    amounts = [sheet.cell(r, 4) for r in range(2, 2 + len(payments))]
    assert all(c.data_type == "n" and c.number_format == "#,##0.00" for c in amounts)
    assert sorted(round(c.value * 100) for c in amounts) == sorted(p.amount_fen for p in payments)
    cards = [sheet.cell(r, 3) for r in range(2, 2 + len(payments))]
    assert all(c.data_type == "s" and len(c.value) >= 16 for c in cards)
    total = sheet[len(payments) + 2]
    assert total[0].value == "合计"
    assert round(total[3].value * 100) == sum(p.amount_fen for p in payments)
    assert total[3].number_format == "#,##0.00"
    widths = {k: d.width for k, d in sheet.column_dimensions.items()}
    reference = sheet["F2"].value
    assert widths["F"] >= len(reference) and widths["C"] >= len(cards[0].value)
    assert widths["E"] >= tabular.display_width(sheet["E2"].value)
    # The CSV stays as banks take it: header and lines, no total row.
    text = batches.bank_file(world.session, fin, batch.id, "csv").content.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == batches.BANK_FILE_HEADER and len(lines) == len(payments) + 1


def test_the_bank_xlsx_with_a_status_column_added_imports_as_it_is(world):
    fin, batch = _sent_batch(world)
    batches.mark_sent(world.session, fin, batch.id)
    content = batches.bank_file(world.session, fin, batch.id, "xlsx").content
    book = load_workbook(io.BytesIO(content))
    sheet = book.active
    sheet.cell(1, 7, "状态")
    for row in range(2, sheet.max_row):  # the last row is the total: left as it is
        sheet.cell(row, 7, "成功")
    buffer = io.BytesIO()
    book.save(buffer)
    report = batches.import_results(world.session, fin, batch.id, "back.xlsx", buffer.getvalue())
    assert (report.paid, report.failed, report.waiting) == (3, 0, 0)


def test_a_result_file_declaring_a_huge_sheet_is_read_by_its_real_cells(world):
    fin, batch = _sent_batch(world)
    batches.mark_sent(world.session, fin, batch.id)
    references = list(
        world.session.scalars(select(PaymentLine.reference).where(PaymentLine.batch_id == batch.id))
    )
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"

    def cell(ref, text):
        return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'

    lines = "".join(
        f'<row r="{i}">{cell(f"A{i}", ref)}{cell(f"B{i}", "成功")}</row>'
        for i, ref in enumerate(references, start=2)
    )
    sheet = (
        f'<worksheet xmlns="{ns}"><dimension ref="A1:SM100000"/><sheetData>'
        f'<row r="1">{cell("A1", "参考号")}{cell("B1", "状态")}</row>{lines}'
        "</sheetData></worksheet>"
    )
    template = zipfile.ZipFile(
        io.BytesIO(batches.bank_file(world.session, fin, batch.id, "xlsx").content)
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for entry in template.infolist():
            data = template.read(entry.filename)
            out.writestr(entry.filename, sheet if entry.filename.endswith("sheet1.xml") else data)
    assert len(buffer.getvalue()) < 10_000
    tracemalloc.start()
    try:
        report = batches.import_results(world.session, fin, batch.id, "r.xlsx", buffer.getvalue())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.paid == len(references)
    assert peak < 30 * 1024 * 1024, peak


def test_tuition_grants_are_paid_as_grants_and_seasonal_aid_as_relief(world, as_user):
    tuition, winter = world.campaigns["tuition"], world.campaigns["winter"]
    assert campaigns.payment_purpose(tuition) == "2026年金秋助学金"
    assert campaigns.payment_purpose(winter) == "2026年冬送温暖慰问金"
    assert "慰问金" not in campaigns.payment_purpose(tuition)
    manager = as_user("mgr")
    page = manager.get(f"/campaigns/{tuition.id}").get_data(as_text=True)
    assert "助学金（银行卡发放）" in page and "慰问金" not in page
    listing = manager.get("/campaigns").get_data(as_text=True)
    assert "助学金（银行卡发放）" in listing and "慰问金（银行卡发放）" in listing


def test_the_bank_file_names_the_purpose_of_the_money(world):
    fin, batch = _sent_batch(world)
    text = batches.bank_file(world.session, fin, batch.id, "csv").content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert {row[4] for row in rows[1:]} == {"2026年冬送温暖慰问金"}
