"""The one reader and writer for spreadsheets (workflows/tabular.py): bounded reading
whatever a file declares, header names mapped to fields, every bad line collected, and
exports that a spreadsheet can never run as formulas."""

import csv
import hashlib
import io
import tracemalloc
import zipfile
from datetime import date, datetime

import pytest
from openpyxl import Workbook, load_workbook

from workflows import tabular
from workflows.errors import ValidationFailed
from workflows.tabular import DATE, DATETIME, INTEGER, MONEY, BadLines, Column

FIELDS = {
    "reference": ["参考号", "reference"],
    "status": ["状态", "结果"],
    "amount": ["金额（元）", "金额"],
}
REQUIRED = ["reference", "status"]
NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _csv(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


def _workbook(rows: list[list]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _with_sheet(sheet_xml: str, extra: dict[str, bytes] | None = None) -> bytes:
    """A valid workbook whose first sheet's XML is replaced by `sheet_xml`."""
    source = zipfile.ZipFile(io.BytesIO(_workbook([["x"]])))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for entry in source.infolist():
            data = source.read(entry.filename)
            if entry.filename == "xl/worksheets/sheet1.xml":
                data = sheet_xml.encode()
            out.writestr(entry.filename, data)
        for name, data in (extra or {}).items():
            out.writestr(name, data)
    return buffer.getvalue()


def _inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def _values(table) -> list[tuple[int, dict]]:
    return [(row.line, dict(row.values)) for row in table.rows]


# --- reading -----------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_in_utf8_with_or_without_bom_or_gb18030_reads_the_same(encoding):
    content = _csv(
        [["参考号", "状态", "原因"], ["R1", "成功", ""], ["R2", "失败", "销户"]], encoding
    )
    table = tabular.read_table("r.csv", content, FIELDS, REQUIRED)
    assert table.kind == "csv" and table.header_line == 1
    assert _values(table) == [
        (2, {"reference": "R1", "status": "成功"}),
        (3, {"reference": "R2", "status": "失败"}),
    ]
    assert table.has("reference") and not table.has("amount")
    assert table.rows[0].get("amount") is None and table.rows[0]["amount"] == ""


def test_lines_are_numbered_as_a_spreadsheet_shows_them_and_empty_lines_are_skipped():
    content = _csv(
        [
            ["2026年冬送温暖 银行结果"],
            [],
            [" 参考号 ", "状态", "金额(元)"],
            ["R1", " 成功 ", "1,000.00"],
            ["", "", ""],
            ["R2", "失败\n(卡已注销)", "20"],
            ["R3", "成功", "30"],
            ["合计", "", "1050"],
        ]
    )
    table = tabular.read_table("r.csv", content, FIELDS, REQUIRED)
    assert table.header_line == 3
    assert table.header == ["参考号", "状态", "金额(元)"]
    # A line break inside a cell is still one spreadsheet line; the total row is no data.
    assert [(row.line, row["reference"], row["amount"]) for row in table.rows] == [
        (4, "R1", "1,000.00"),
        (6, "R2", "20"),
        (7, "R3", "30"),
    ]
    assert table.rows[0]["status"] == "成功"


def test_a_users_mapping_names_the_column_that_holds_a_field():
    content = _csv([["交易流水", "处理结果", "金额"], ["R1", "成功", "1.00"]])
    with pytest.raises(ValidationFailed, match="缺少表头“参考号”“状态”列"):
        tabular.read_table("r.csv", content, FIELDS, REQUIRED)
    table = tabular.read_table(
        "r.csv", content, FIELDS, REQUIRED, mapping={"reference": "交易流水", "status": "处理结果"}
    )
    assert _values(table) == [(2, {"reference": "R1", "status": "成功", "amount": "1.00"})]
    with pytest.raises(ValidationFailed, match="没有名为"):
        tabular.read_table("r.csv", content, FIELDS, REQUIRED, mapping={"nope": "金额"})


def test_missing_required_columns_are_named_in_the_refusal():
    content = _csv([["序号", "户名"], ["1", "张三"]])
    with pytest.raises(ValidationFailed) as caught:
        tabular.read_table("r.csv", content, FIELDS, REQUIRED, what="结果文件")
    assert caught.value.message.startswith("结果文件缺少表头“参考号”“状态”列")


def test_xlsx_numbers_read_without_float_artefacts_and_dates_as_iso_dates():
    content = _workbook(
        [
            ["参考号", "状态", "金额"],
            [12345, "成功", 1000.0],
            ["R2", True, 12.5],
            [datetime(2026, 9, 1), "成功", 0.1],
            [datetime(2026, 9, 1, 8, 30), "成功", 1e20],
        ]
    )
    table = tabular.read_table("r.xlsx", content, FIELDS, REQUIRED)
    assert table.kind == "xlsx"
    assert [(row["reference"], row["status"], row["amount"]) for row in table.rows] == [
        ("12345", "成功", "1000"),
        ("R2", "是", "12.5"),
        ("2026-09-01", "成功", "0.1"),
        ("2026-09-01 08:30:00", "成功", "100000000000000000000"),
    ]
    assert [row.line for row in table.rows] == [2, 3, 4, 5]


def test_a_declared_sheet_dimension_is_never_trusted():
    # 1.5 KB declaring A1:SM100000: openpyxl's own rows would pad 100,000 lines of 13,000
    # columns. Read cell by cell, it costs what its two real lines cost.
    sheet = (
        f'<worksheet xmlns="{NS}"><dimension ref="A1:SM100000"/><sheetData>'
        f'<row r="1" spans="1:13000">{_inline("A1", "参考号")}{_inline("B1", "状态")}</row>'
        f'<row r="2">{_inline("A2", "R1")}{_inline("B2", "成功")}</row>'
        f'<row r="100000"><c r="SM100000" s="0"/></row>'
        "</sheetData></worksheet>"
    )
    content = _with_sheet(sheet)
    tracemalloc.start()
    try:
        table = tabular.read_table("r.xlsx", content, FIELDS, REQUIRED)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert _values(table) == [(2, {"reference": "R1", "status": "成功"})]
    assert peak < 20 * 1024 * 1024, peak


def test_a_row_of_a_million_empty_cells_stays_small():
    empty = "<c/>" * 1_000_000
    sheet = (
        f'<worksheet xmlns="{NS}"><sheetData>'
        f'<row r="1">{_inline("A1", "参考号")}{_inline("B1", "状态")}</row>'
        f'<row r="2">{_inline("A2", "R1")}{_inline("B2", "成功")}{empty}</row>'
        "</sheetData></worksheet>"
    )
    tracemalloc.start()
    try:
        table = tabular.read_table("r.xlsx", _with_sheet(sheet), FIELDS, REQUIRED)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert _values(table) == [(2, {"reference": "R1", "status": "成功"})]
    assert peak < 40 * 1024 * 1024, peak


def test_rows_and_columns_past_the_caps_refuse_the_file():
    rows = [["参考号", "状态"]] + [[f"R{i}", "成功"] for i in range(30)]
    for content, name in ((_workbook(rows), "r.xlsx"), (_csv(rows), "r.csv")):
        with pytest.raises(ValidationFailed, match="超过 25 行数据"):
            tabular.read_table(name, content, FIELDS, REQUIRED, max_rows=25)
        assert len(tabular.read_table(name, content, FIELDS, REQUIRED, max_rows=30).rows) == 30
    wide = [["参考号", "状态", *[""] * 60, "备注"], ["R1", "成功"]]
    for content, name in ((_workbook(wide), "r.xlsx"), (_csv(wide), "r.csv")):
        with pytest.raises(ValidationFailed, match="超过 60 列"):
            tabular.read_table(name, content, FIELDS, REQUIRED)
    # Empty cells past the last column (formatting, trailing commas) are no columns.
    padded = _csv([["参考号", "状态", *[""] * 100], ["R1", "成功", *[""] * 100]])
    assert len(tabular.read_table("r.csv", padded, FIELDS, REQUIRED).rows) == 1


def test_far_rows_with_values_count_against_the_row_cap_not_their_numbers():
    sheet = (
        f'<worksheet xmlns="{NS}"><sheetData>'
        f'<row r="1">{_inline("A1", "参考号")}{_inline("B1", "状态")}</row>'
        f'<row r="1048576">{_inline("A1048576", "R9")}{_inline("B1048576", "成功")}</row>'
        "</sheetData></worksheet>"
    )
    table = tabular.read_table("r.xlsx", _with_sheet(sheet), FIELDS, REQUIRED)
    assert _values(table) == [(1048576, {"reference": "R9", "status": "成功"})]


def test_an_xlsx_unpacking_past_the_limit_is_refused_before_it_is_parsed(monkeypatch):
    content = _workbook([["参考号", "状态"], ["R1", "成功"]])
    monkeypatch.setattr(tabular, "MAX_UNPACKED_BYTES", 2_000)
    with pytest.raises(ValidationFailed, match="解压后过大"):
        tabular.read_table("r.xlsx", content, FIELDS, REQUIRED)


def test_entities_in_a_sheet_are_not_expanded():
    sheet = (
        '<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY a "AAAAAAAAAA">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        f'<worksheet xmlns="{NS}"><sheetData>'
        f'<row r="1">{_inline("A1", "参考号")}{_inline("B1", "状态")}</row>'
        f'<row r="2">{_inline("A2", "&b;")}{_inline("B2", "成功")}</row>'
        "</sheetData></worksheet>"
    )
    table = tabular.read_table("r.xlsx", _with_sheet(sheet), FIELDS, REQUIRED)
    assert "AAAAAAAAAA" not in table.rows[0]["reference"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("r.csv", b"", "是空的"),
        ("r.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "另存为 XLSX 或 CSV"),
        ("r.xlsx", b"PK\x03\x04 not really a zip", "无法读取该 XLSX"),
        ("r.csv", b'"\xe5\x8f\x82\xe8\x80\x83\xe5\x8f\xb7",\xff\xfe\xfd\x80\x80', "编码"),
        ("r.csv", b"a,b\n" + b"x" * 200_000, "无法读取"),
    ],
)
def test_unreadable_files_get_a_chinese_message(name, content, message):
    with pytest.raises(ValidationFailed, match=message):
        tabular.read_table(name, content, FIELDS, REQUIRED)


def test_a_file_over_the_size_cap_is_refused_unread():
    with pytest.raises(ValidationFailed, match="超过 1 MB"):
        tabular.read_table("r.csv", b"x" * (1024 * 1024 + 1), FIELDS, max_bytes=1024 * 1024)


def test_the_files_checksum_identifies_the_same_file_again():
    content = _csv([["参考号", "状态"], ["R1", "成功"]])
    table = tabular.read_table("r.csv", content, FIELDS, REQUIRED)
    assert table.sha256 == hashlib.sha256(content).hexdigest() == tabular.sha256(content)


def test_bad_lines_are_all_listed_and_refuse_the_whole_file():
    bad = BadLines("结果文件")
    bad.raise_if_any()  # nothing wrong, nothing raised
    bad.add(7, "未知的参考号 X")
    bad.add(3, "缺少参考号")
    bad.add(7, "金额不符")
    with pytest.raises(ValidationFailed) as caught:
        bad.raise_if_any()
    assert caught.value.message == "结果文件有 2 行有误，整份文件未导入，请核对后重新导入"
    assert caught.value.errors == {"第3行": "缺少参考号", "第7行": "未知的参考号 X；金额不符"}
    many = BadLines()
    for line in range(2, 2 + tabular.MAX_LISTED + 5):
        many.add(line, "缺少参考号")
    errors = many.errors()
    assert len(errors) == tabular.MAX_LISTED + 1 and errors["其余"] == "另有 5 行有误"


@pytest.mark.parametrize(
    ("text", "fen"),
    [("1,234.50", 123450), ("1000", 100000), ("￥12.3", 1230), ("0.001", None), ("abc", None)],
)
def test_money_cells_parse_to_fen_exactly(text, fen):
    assert tabular.parse_money_fen(text) == fen


def test_date_and_integer_cells_parse():
    assert tabular.parse_date("2026/9/1") == date(2026, 9, 1)
    assert tabular.parse_date("2026年9月1日") == date(2026, 9, 1)
    assert tabular.parse_date("2026-02-30") is None
    assert tabular.parse_int("1,200") == 1200 and tabular.parse_int("1.5") is None


# --- writing -----------------------------------------------------------------------------

HOSTILE = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
COLUMNS = [
    Column("序号", INTEGER),
    Column("户名"),
    Column("卡号"),
    Column("金额（元）", MONEY, total=True),
    Column("日期", DATE),
    Column("时间", DATETIME),
]


def _rows() -> list[list]:
    rows = [
        [i + 1, name, "6222020200112233445", 100_000 + i, date(2026, 9, 1), None]
        for i, name in enumerate(HOSTILE)
    ]
    rows.append([99, "张三丰张三丰张三丰张三丰", "0012", 5, None, datetime(2026, 9, 1, 8, 5)])
    return rows


def test_csv_export_has_a_bom_crlf_and_no_cell_a_spreadsheet_runs():
    content = tabular.write_csv(COLUMNS, _rows(), total_label="合计")
    assert content.startswith("\ufeff".encode())
    text = content.decode("utf-8-sig")
    assert text.endswith("\r\n")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [c.title for c in COLUMNS]
    assert [r[1] for r in rows[1:7]] == ["'" + h for h in HOSTILE]
    assert rows[1][2] == "6222020200112233445" and rows[7][2] == "0012"
    assert rows[1][3] == "1000.00" and rows[1][4] == "2026-09-01"
    assert rows[7][5] == "2026-09-01 08:05:00"
    total = 100_000 * 6 + 15 + 5
    assert rows[-1] == ["合计", "", "", tabular.as_text(total, MONEY), "", ""]


def test_xlsx_export_writes_text_as_strings_and_money_as_formatted_numbers():
    content = tabular.write_xlsx(COLUMNS, _rows(), title="发放批次 PF1", total_label="合计")
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet["A1"].value == "发放批次 PF1"
    assert [c.value for c in sheet[2]] == [c.title for c in COLUMNS]
    assert sheet.freeze_panes == "A3"
    for index, hostile in enumerate(HOSTILE, start=3):
        cell = sheet.cell(index, 2)
        assert cell.value == hostile and cell.data_type == "s" and cell.quotePrefix
    card = sheet["C3"]
    assert card.value == "6222020200112233445" and card.data_type == "s"
    money = sheet["D3"]
    assert money.data_type == "n" and money.value == 1000 and money.number_format == "#,##0.00"
    assert sheet["A3"].value == 1 and sheet["E3"].value == datetime(2026, 9, 1)
    assert sheet["E3"].number_format == "yyyy-mm-dd"
    total = sheet.cell(sheet.max_row, 4)
    assert sheet.cell(sheet.max_row, 1).value == "合计"
    assert round(total.value * 100) == 100_000 * 6 + 15 + 5 and total.font.b
    # No formula anywhere in the sheet's XML.
    xml = zipfile.ZipFile(io.BytesIO(content)).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in xml


def test_xlsx_column_widths_fit_the_text_counting_cjk_double():
    columns = [Column("户名"), Column("金额（元）", MONEY), Column("说明")]
    rows = [["张三丰张三丰张三丰张三丰", 123_456_789, "abc"]]
    sheet = load_workbook(io.BytesIO(tabular.write_xlsx(columns, rows))).active
    widths = {k: d.width for k, d in sheet.column_dimensions.items()}
    assert widths["A"] == 12 * 2 + 2  # twelve CJK characters
    assert widths["B"] == len("1,234,567.89") + 2
    assert widths["C"] == tabular.MIN_WIDTH  # "说明" is narrow: the minimum
    assert tabular.display_width("金额（元）") == 10 and tabular.display_width("ab") == 2


def test_what_the_writer_writes_the_reader_reads_back():
    fields = {"name": ["户名"], "card": ["卡号"], "amount": ["金额（元）"], "day": ["日期"]}
    for fmt in ("csv", "xlsx"):
        content, mimetype = tabular.write(fmt, COLUMNS, _rows(), total_label="合计")
        assert mimetype in (tabular.CSV_MIMETYPE, tabular.XLSX_MIMETYPE)
        table = tabular.read_table(f"x.{fmt}", content, fields, ["name", "card"])
        assert [row["name"] for row in table.rows][:6] == [h.strip() for h in HOSTILE]
        assert [tabular.parse_money_fen(row["amount"]) for row in table.rows][:2] == [
            100_000,
            100_001,
        ]
        assert table.rows[0]["day"] == "2026-09-01" and table.rows[-1]["card"] == "0012"
        assert len(table.rows) == len(_rows())  # the total row is not read as data
    with pytest.raises(ValidationFailed, match="csv 或 xlsx"):
        tabular.write("pdf", COLUMNS, [])


def _with_shared_strings(rows: list[list[str]]) -> bytes:
    """A workbook as Excel writes it: every text in the shared strings part. The first
    cell is rich text with a phonetic guide (which is not part of its value)."""
    strings: list[str] = []
    xml_rows = []
    for r, row in enumerate(rows, start=1):
        cells = []
        for c, text in enumerate(row):
            strings.append(text)
            cells.append(f'<c r="{chr(65 + c)}{r}" t="s"><v>{len(strings) - 1}</v></c>')
        xml_rows.append(f'<row r="{r}">{"".join(cells)}</row>')
    items = [
        f"<si><r><t>{strings[0][:1]}</t></r><r><t>{strings[0][1:]}</t></r>"
        '<rPh sb="0" eb="1"><t>カン</t></rPh></si>',
        *(f"<si><t>{text}</t></si>" for text in strings[1:]),
    ]
    shared = f'<sst xmlns="{NS}">{"".join(items)}</sst>'
    sheet = f'<worksheet xmlns="{NS}"><sheetData>{"".join(xml_rows)}</sheetData></worksheet>'
    content = _with_sheet(sheet, {"xl/sharedStrings.xml": shared.encode()})
    source = zipfile.ZipFile(io.BytesIO(content))
    buffer = io.BytesIO()
    override = (
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
    )
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for entry in source.infolist():
            data = source.read(entry.filename)
            if entry.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", override.encode())
            out.writestr(entry.filename, data)
    return buffer.getvalue()


def test_xlsx_texts_from_the_shared_strings_part_read_as_excel_shows_them():
    rows = [["参考号", "状态"], *([f"R{i}", "成功"] for i in range(5))]
    table = tabular.read_table("r.xlsx", _with_shared_strings(rows), FIELDS, REQUIRED)
    assert table.header == ["参考号", "状态"]
    assert _values(table) == [(i + 2, {"reference": f"R{i}", "status": "成功"}) for i in range(5)]


def test_an_oversized_styles_part_or_too_many_shared_strings_are_refused(monkeypatch):
    content = _workbook([["参考号", "状态"], ["R1", "成功"]])
    monkeypatch.setattr(tabular, "MAX_PART_BYTES", 100)
    with pytest.raises(ValidationFailed, match="解压后过大"):
        tabular.read_table("r.xlsx", content, FIELDS, REQUIRED)
    monkeypatch.undo()
    content = _with_shared_strings([["参考号", "状态"], *([f"R{i}", "成功"] for i in range(24))])
    assert len(tabular.read_table("r.xlsx", content, FIELDS, REQUIRED).rows) == 24
    monkeypatch.setattr(tabular, "MAX_SHARED_STRINGS", 10)
    with pytest.raises(ValidationFailed, match="无法读取"):
        tabular.read_table("r.xlsx", content, FIELDS, REQUIRED)
