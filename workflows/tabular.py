"""Files in, files out (DESIGN.md): the one reader for every spreadsheet an office uploads
(bank results, and later units, users, the worker archive) and the one writer for every
file we hand out (bank file, reports, lists).

Reading is bounded whatever the file declares: its size, the bytes an XLSX unpacks to,
the rows and the columns read. An XLSX sheet is streamed cell by cell (its declared
dimension is never trusted, so a tiny file claiming A1:SM100000 costs nothing). Cells come
back as trimmed strings, with their spreadsheet line numbers, under field names mapped from
the header; a caller checks them and collects every bad line in `BadLines`, which refuses
the whole file listing them.

Writing never lets a spreadsheet run a cell: text cells are strings (XLSX data type "s",
with Excel's quote prefix where the text looks like a formula; a leading apostrophe in
CSV), numbers are numbers, money is fen shown in 元 as "#,##0.00", widths fit the text.

    table = tabular.read_table(name, content, {"reference": ["参考号"], ...},
                               required=["reference"], what="结果文件")
    bad = tabular.BadLines("结果文件")
    for row in table.rows:
        if not row["reference"]:
            bad.add(row.line, "缺少参考号")
    bad.raise_if_any()

    content, mimetype = tabular.write("xlsx", [Column("户名"), Column("金额（元）", MONEY)],
                                      rows, total_label="合计")
"""

import csv
import hashlib
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

from workflows.errors import ValidationFailed

# --- limits ------------------------------------------------------------------------------

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_UNPACKED_BYTES = 150 * 1024 * 1024  # what an XLSX's parts may unpack to, in all
MAX_PART_BYTES = 5 * 1024 * 1024  # a part other than sheets and shared strings (styles, ...)
MAX_SHARED_STRINGS = 2_000_000
MAX_ZIP_ENTRIES = 500
MAX_ROWS = 200_000  # non-empty lines below the header
MAX_COLUMNS = 60
HEADER_SEARCH_LINES = 20  # a title or a note may stand above the header
MAX_LISTED = 200  # bad lines listed in a refusal; the count says how many in all
TOTAL_WORDS = {"合计", "总计", "小计", "total"}  # a total row is not data

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIMETYPE = "text/csv; charset=utf-8"


def sha256(content: bytes) -> str:
    """The file's checksum: the same file imported again is recognised by it."""
    return hashlib.sha256(content or b"").hexdigest()


# --- bad lines ---------------------------------------------------------------------------


class BadLines:
    """Every bad line of a file with its reason, collected so that the whole file is
    refused at once with all of them listed (never the first only)."""

    def __init__(self, what: str = "文件"):
        self.what = what
        self.items: list[tuple[int, str]] = []

    def add(self, line: int, reason: str) -> None:
        self.items.append((line, reason))

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def errors(self) -> dict[str, str]:
        """{"第N行": reason} for the first MAX_LISTED lines (several reasons of one line
        joined), and "其余" saying how many more."""
        listed: dict[str, str] = {}
        for line, reason in sorted(self.items, key=lambda item: item[0]):
            key = f"第{line}行"
            if key in listed:
                listed[key] = f"{listed[key]}；{reason}"
            elif len(listed) < MAX_LISTED:
                listed[key] = reason
        more = len({line for line, _ in self.items}) - len(listed)
        if more > 0:
            listed["其余"] = f"另有 {more} 行有误"
        return listed

    def refuse(self) -> NoReturn:
        lines = len({line for line, _ in self.items})
        raise ValidationFailed(
            f"{self.what}有 {lines} 行有误，整份文件未导入，请核对后重新导入",
            errors=self.errors(),
        )

    def raise_if_any(self) -> None:
        if self.items:
            self.refuse()


# --- reading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One data line: its spreadsheet line number (the header's line counts, as the user
    sees it in Excel) and its cells by field name ("" for an empty cell)."""

    line: int
    values: Mapping[str, str]

    def __getitem__(self, name: str) -> str:
        return self.values.get(name, "")

    def get(self, name: str, default: str | None = None) -> str | None:
        """The cell, or `default` when the file has no such column."""
        return self.values.get(name, default)


@dataclass
class Table:
    kind: str  # "csv" or "xlsx"
    sha256: str
    header_line: int
    header: list[str]  # the header row's texts, as written
    columns: dict[str, int]  # field → column index (from 0)
    rows: list[Row] = field(default_factory=list)

    def has(self, name: str) -> bool:
        return name in self.columns


def header_key(text: str) -> str:
    """A header text compared loosely: full-width brackets and letters as half-width,
    case, spaces and a required-field star ignored."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    return re.sub(r"[\s*:：]", "", text)


def read_table(
    filename: str,
    content: bytes,
    fields: Mapping[str, Iterable[str]],
    required: Iterable[str] = (),
    mapping: Mapping[str, str] | None = None,
    what: str = "文件",
    max_rows: int = MAX_ROWS,
    max_columns: int = MAX_COLUMNS,
    max_bytes: int = MAX_FILE_BYTES,
) -> Table:
    """Read a CSV (UTF-8 with or without BOM, or GB18030) or XLSX (its first sheet).

    `fields` maps each field to the header names it accepts; `mapping` (a user's choice)
    names, for some fields, the one header that holds them. The header is the first of
    the first HEADER_SEARCH_LINES lines that has every required field. Empty lines and a
    total row (合计) are skipped. Anything unreadable or over a limit is refused with a
    Chinese message (ValidationFailed) before any row is looked at."""
    if not content:
        raise ValidationFailed(f"{what}是空的")
    if len(content) > max_bytes:
        raise ValidationFailed(f"{what}超过 {max_bytes // (1024 * 1024)} MB，请分成几个文件导入")
    accepted = _accepted_names(fields, mapping)
    required = list(required)
    kind, lines = _open_lines(filename, content, what, max_rows, max_columns)
    head: list[tuple[int, list[str]]] = []
    for line, cells in lines:
        head.append((line, cells))
        if len(head) >= HEADER_SEARCH_LINES:
            break
    header_at = _find_header(head, accepted, required)
    if header_at is None:
        raise ValidationFailed(_missing_message(head, accepted, required, fields, what))
    header_line, header = head[header_at]
    columns = _columns(header, accepted)
    table = Table(kind, sha256(content), header_line, header, columns)
    count = 0

    def rows_after_header():
        yield from head[header_at + 1 :]
        yield from lines

    for line, cells in rows_after_header():
        if not any(cells) or _is_total(cells):
            continue
        count += 1
        if count > max_rows:
            raise _too_long(what, max_rows)
        values = {
            name: (cells[index] if index < len(cells) else "") for name, index in columns.items()
        }
        table.rows.append(Row(line, values))
    return table


def header_cells(filename: str, content: bytes, what: str = "文件") -> list[str]:
    """The texts of the likeliest header line (the fullest of the first lines): what a
    column-mapping step offers when the usual header names are not found."""
    if not content or len(content) > MAX_FILE_BYTES:
        return []
    try:
        _kind, lines = _open_lines(filename, content, what, MAX_ROWS, MAX_COLUMNS)
        head = []
        for _line, cells in lines:
            head.append(cells)
            if len(head) >= HEADER_SEARCH_LINES:
                break
    except ValidationFailed:
        return []
    best = max(head, key=lambda cells: sum(1 for c in cells if c), default=[])
    return [c for c in best if c]


def _accepted_names(
    fields: Mapping[str, Iterable[str]], mapping: Mapping[str, str] | None
) -> dict[str, list[str]]:
    accepted = {name: [header_key(h) for h in names] for name, names in fields.items()}
    for name, header in (mapping or {}).items():
        if name not in accepted:
            raise ValidationFailed(f"没有名为“{name}”的字段", errors={name: "未知字段"})
        if header:
            accepted[name] = [header_key(header)]
    return accepted


def _columns(header: list[str], accepted: dict[str, list[str]]) -> dict[str, int]:
    keys = [header_key(h) for h in header]
    columns: dict[str, int] = {}
    taken: set[int] = set()
    for name, names in accepted.items():
        # The field's first accepted name wins over a later one ("金额（元）" before "金额").
        for wanted in names:
            index = next((i for i, k in enumerate(keys) if k == wanted and i not in taken), None)
            if index is not None:
                columns[name] = index
                taken.add(index)
                break
    return columns


def _find_header(
    head: list[tuple[int, list[str]]], accepted: dict[str, list[str]], required: list[str]
) -> int | None:
    for at, (_line, cells) in enumerate(head):
        if not any(cells):
            continue
        columns = _columns(cells, accepted)
        if all(name in columns for name in required) and (required or columns):
            return at
    return None


def _missing_message(head, accepted, required, fields, what: str) -> str:
    best: set[str] = set()
    for _line, cells in head:
        found = set(_columns(cells, accepted))
        if len(found & set(required)) > len(best):
            best = found & set(required)
    names = "”“".join(_first_name(fields, name) for name in required if name not in best)
    return f"{what}缺少表头“{names}”列（表头应在前 {HEADER_SEARCH_LINES} 行内）"


def _first_name(fields: Mapping[str, Iterable[str]], name: str) -> str:
    return next(iter(fields.get(name, [name])), name)


def _is_total(cells: list[str]) -> bool:
    first = next((c for c in cells if c), "")
    return header_key(first) in TOTAL_WORDS


def _open_lines(filename: str, content: bytes, what: str, max_rows: int, max_columns: int):
    name = (filename or "").lower()
    if content[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ValidationFailed(f"{what}是旧版 Excel（.xls）或加密的文件，请另存为 XLSX 或 CSV")
    if content[:4] == b"PK\x03\x04" or name.endswith((".xlsx", ".xlsm")):
        return "xlsx", _xlsx_lines(content, what, max_rows, max_columns)
    return "csv", _csv_lines(content, what, max_rows, max_columns)


def _too_wide(what: str, max_columns: int) -> ValidationFailed:
    return ValidationFailed(f"{what}超过 {max_columns} 列，请删去多余的列后重新导入")


def _too_long(what: str, max_rows: int) -> ValidationFailed:
    return ValidationFailed(f"{what}超过 {max_rows:,} 行数据，请分成几个文件导入")


def _csv_lines(content: bytes, what: str, max_rows: int, max_columns: int):
    text = _decode(content, what)
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    line = 0
    filled = 0
    try:
        for record in reader:
            line += 1  # a spreadsheet line: one record, even with a line break in a cell
            cells = [_unquoted(c.strip()).strip() for c in record]
            while cells and not cells[-1]:
                cells.pop()
            if len(cells) > max_columns:
                raise _too_wide(what, max_columns)
            if cells:
                filled += 1
                if filled > max_rows + HEADER_SEARCH_LINES:
                    raise _too_long(what, max_rows)
            yield line, cells
    except csv.Error:
        raise ValidationFailed(
            f"{what}第 {line + 1} 行无法读取（引号不成对或单元格过长），请检查后重新导入"
        ) from None


def _unquoted(text: str) -> str:
    # What `safe_text` wrote comes back as it was: "'=A1" was the text "=A1".
    if text[:1] == "'" and looks_like_formula(text[1:]):
        return text[1:]
    return text


def _decode(content: bytes, what: str) -> str:
    if content[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encodings = ("utf-16",)  # Excel's "Unicode 文本"
    else:
        encodings = ("utf-8-sig", "gb18030")
    for encoding in encodings:
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationFailed(f"无法识别{what}的编码，请另存为 UTF-8 的 CSV 或 XLSX")


def _xlsx_lines(content: bytes, what: str, max_rows: int, max_columns: int):
    """The first sheet's lines, streamed cell by cell. The declared dimension, row spans
    and cell counts are ignored; only cells with a value are kept."""
    from lxml import etree
    from openpyxl.worksheet._reader import CELL_TAG, ROW_TAG, WorkSheetParser

    unreadable = ValidationFailed(f"无法读取该 XLSX {what}，请确认文件未损坏")
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise unreadable from None
    if len(entries) > MAX_ZIP_ENTRIES or sum(e.file_size for e in entries) > MAX_UNPACKED_BYTES:
        raise ValidationFailed(f"该 XLSX {what}解压后过大，请另存为 CSV 或分成几个文件")
    try:
        for entry in entries:
            if entry.file_size > MAX_PART_BYTES and not _is_bulk_part(entry.filename):
                raise ValidationFailed(f"该 XLSX {what}解压后过大，请另存为 CSV 或分成几个文件")
        book, source, shared_strings = _open_first_sheet(content)
    except ValidationFailed:
        raise
    except Exception:  # noqa: BLE001 - any unreadable workbook gets the same answer
        raise unreadable from None
    cells_of = WorkSheetParser(
        None,
        shared_strings,
        data_only=True,
        epoch=book.epoch,
        date_formats=book._date_formats,
        timedelta_formats=book._timedelta_formats,
    )
    try:
        events = etree.iterparse(
            source,
            events=("start", "end"),
            tag=(ROW_TAG, CELL_TAG),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
        )
        line = 0
        cells: dict[int, str] = {}
        filled = 0
        for event, element in events:
            if element.tag == ROW_TAG:
                if event == "start":
                    line = _row_number(element.get("r"), line)
                    cells_of.row_counter, cells_of.col_counter = line, 0
                    cells = {}
                    continue
                element.clear()
                while element.getprevious() is not None:
                    del element.getparent()[0]
                if cells:
                    filled += 1
                    if filled > max_rows + HEADER_SEARCH_LINES:
                        raise _too_long(what, max_rows)
                    width = max(cells)
                    yield line, [cells.get(i, "") for i in range(1, width + 1)]
                continue
            if event == "start":
                continue
            if len(element):  # a cell without a value child is formatting only
                cell = cells_of.parse_cell(element)
                text = cell_text(cell["value"])
                if text:
                    if cell["column"] > max_columns:
                        raise _too_wide(what, max_columns)
                    cells[cell["column"]] = text
            else:
                cells_of.col_counter = _column_of(element.get("r"), cells_of.col_counter)
            element.clear()
            # Drop the cells already read, so a row of millions of empty cells stays small.
            while element.getprevious() is not None:
                del element.getparent()[0]
    except ValidationFailed:
        raise
    except Exception:  # noqa: BLE001 - a malformed sheet gets the same answer as a bad zip
        raise unreadable from None
    finally:
        source.close()


def _is_bulk_part(name: str) -> bool:
    return name.startswith("xl/worksheets/") or name == "xl/sharedStrings.xml"


def _open_first_sheet(content: bytes):
    """The workbook (its styles tell dates from numbers), its first sheet's XML stream and
    its shared strings. openpyxl's own steps, but not its read-only sheet, which walks the
    whole sheet once just to look for a dimension, keeping every element it passes."""
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.styles.stylesheet import apply_stylesheet
    from openpyxl.xml.constants import SHARED_STRINGS

    reader = ExcelReader(io.BytesIO(content), read_only=True, data_only=True)
    reader.read_manifest()
    reader.read_workbook()
    apply_stylesheet(reader.archive, reader.wb)
    strings: list[str] = []
    part = reader.package.find(SHARED_STRINGS)
    if part is not None:
        with reader.archive.open(part.PartName[1:]) as source:
            strings = _shared_strings(source)
    for _sheet, rel in reader.parser.find_sheets():
        if rel.target in reader.valid_files and "chartsheet" not in rel.Type:
            return reader.wb, reader.archive.open(rel.target), strings
    raise ValueError("no worksheet")


def _shared_strings(source) -> list[str]:
    from lxml import etree
    from openpyxl.xml.constants import SHEET_MAIN_NS

    si, text_tag, run, phonetic = (f"{{{SHEET_MAIN_NS}}}{t}" for t in ("si", "t", "r", "rPh"))
    strings: list[str] = []
    for _event, element in etree.iterparse(
        source, tag=si, resolve_entities=False, no_network=True, load_dtd=False
    ):
        parts = []
        for child in element:
            if child.tag == text_tag:
                parts.append(child.text or "")
            elif child.tag == run:
                parts.extend(t.text or "" for t in child.iter(text_tag))
            # rPh: the phonetic guide of East Asian text, not part of the value
        strings.append("".join(parts))
        if len(strings) > MAX_SHARED_STRINGS:
            raise ValueError("too many shared strings")
        element.clear()
        while element.getprevious() is not None:
            del element.getparent()[0]
    return strings


def _row_number(attribute: str | None, previous: int) -> int:
    if attribute is None:
        return previous + 1
    return int(float(attribute))


def _column_of(coordinate: str | None, previous: int) -> int:
    if not coordinate:
        return previous + 1
    letters = coordinate.rstrip("0123456789")
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - 64
    return number


def cell_text(value: Any) -> str:
    """A spreadsheet value as the text a person sees: 12 not 12.0, dates as ISO dates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return ""
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()


# --- cells as values ---------------------------------------------------------------------


def parse_money_fen(text: str) -> int | None:
    """ "1,234.5" 元 as 123450 fen; None when it is not an amount exact to the fen."""
    cleaned = re.sub(r"[,，\s元¥￥]", "", text or "")
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not value.is_finite() or value != value.quantize(Decimal("0.01")):
        return None
    if abs(value) >= Decimal("1e13"):
        return None
    return int(value * 100)


def parse_int(text: str) -> int | None:
    cleaned = (text or "").replace(",", "").strip()
    if not re.fullmatch(r"[+-]?\d{1,15}", cleaned):
        return None
    return int(cleaned)


def parse_date(text: str) -> date | None:
    """2026-09-01, 2026/9/1, 2026.9.1 or 2026年9月1日."""
    found = re.fullmatch(r"\s*(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T].*)?", text or "")
    if not found:
        return None
    try:
        return date(*(int(part) for part in found.groups()))
    except ValueError:
        return None


# --- writing -----------------------------------------------------------------------------

TEXT, MONEY, INTEGER, DATE, DATETIME = "text", "money", "integer", "date", "datetime"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    """A column of an export: its title and kind. Money is given in fen and written in 元;
    `total` columns are summed in the total row."""

    title: str
    kind: str = TEXT
    total: bool = False


def looks_like_formula(text: str) -> bool:
    return text.startswith(FORMULA_STARTS)


def safe_text(text: str) -> str:
    """Text for a CSV cell: one a spreadsheet would run as a formula gets a leading
    apostrophe, which Excel and WPS show as text."""
    return "'" + text if looks_like_formula(text) else text


def _money_text(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def as_text(value: Any, kind: str) -> str:
    """A value as it is written in a CSV cell (text made safe, money in 元)."""
    if value is None or value == "":
        return ""
    if kind == MONEY:
        return _money_text(value)
    if kind == INTEGER:
        return str(int(value))
    if kind == DATETIME and isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if kind in (DATE, DATETIME) and isinstance(value, date):
        return value.isoformat()
    return safe_text(str(value))


def _totals(columns: Sequence[Column], rows: list[Sequence], label: str) -> list:
    row: list[Any] = [None] * len(columns)
    for index, column in enumerate(columns):
        if column.total:
            row[index] = sum(int(r[index] or 0) for r in rows)
    first_free = next((i for i, v in enumerate(row) if v is None), None)
    if first_free is not None:
        row[first_free] = label
    return row


def write_csv(
    columns: Sequence[Column],
    rows: Iterable[Sequence],
    title: str | None = None,
    total_label: str | None = None,
) -> bytes:
    """UTF-8 CSV with a BOM (Excel in China reads it as GBK otherwise), CRLF lines."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if title:
        writer.writerow([safe_text(title)])
    writer.writerow([safe_text(c.title) for c in columns])
    kept: list[Sequence] = []
    for row in rows:
        writer.writerow([as_text(v, c.kind) for v, c in zip(row, columns, strict=False)])
        if total_label:
            kept.append(row)
    if total_label:
        total = _totals(columns, kept, total_label)
        writer.writerow(
            [
                safe_text(str(v)) if v == total_label else as_text(v, c.kind)
                for v, c in zip(total, columns, strict=True)
            ]
        )
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def display_width(text: str) -> int:
    """Columns a text takes in a spreadsheet: CJK and full-width characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


MIN_WIDTH, MAX_WIDTH = 6, 60
NUMBER_FORMATS = {
    MONEY: "#,##0.00",
    INTEGER: "0",
    DATE: "yyyy-mm-dd",
    DATETIME: "yyyy-mm-dd hh:mm:ss",
}


def write_xlsx(
    columns: Sequence[Column],
    rows: Iterable[Sequence],
    title: str | None = None,
    total_label: str | None = None,
    sheet_name: str = "Sheet1",
) -> bytes:
    """An XLSX of one table: an optional title line, the header (bold, frozen), the rows,
    an optional total row; text always as strings, money as numbers in 元."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    rows = list(rows)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=_sheet_name(sheet_name))
    bold = Font(bold=True)
    widths = [display_width(c.title) for c in columns]
    for row in rows:
        for index, (value, column) in enumerate(zip(row, columns, strict=False)):
            shown = as_text(value, column.kind)
            if column.kind == MONEY and shown:
                shown = f"{Decimal(int(value)) / 100:,.2f}"
            widths[index] = max(widths[index], display_width(shown))
    for index, width in enumerate(widths, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = max(MIN_WIDTH, min(MAX_WIDTH, width + 2))
    header_row = 2 if title else 1
    sheet.freeze_panes = f"A{header_row + 1}"

    def text_cell(value: str, font=None) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # never a formula, whatever the text starts with
        cell.number_format = "@"
        if looks_like_formula(value):
            cell.quotePrefix = True
        if font is not None:
            cell.font = font
        return cell

    def cell_of(value: Any, column: Column, font=None):
        if value is None or value == "":
            return None
        if column.kind == TEXT or isinstance(value, str):
            return text_cell(str(value), font)
        if column.kind == MONEY:
            cell = WriteOnlyCell(sheet, value=Decimal(int(value)) / 100)
        elif column.kind == INTEGER:
            cell = WriteOnlyCell(sheet, value=int(value))
        elif column.kind in (DATE, DATETIME):
            if isinstance(value, datetime) and value.tzinfo is not None:
                value = value.replace(tzinfo=None)  # the caller gives local time
            cell = WriteOnlyCell(sheet, value=value)
        else:
            return text_cell(str(value), font)
        cell.number_format = NUMBER_FORMATS[column.kind]
        if font is not None:
            cell.font = font
        return cell

    if title:
        sheet.append([text_cell(title, Font(bold=True, size=13))])
    sheet.append([text_cell(c.title, bold) for c in columns])
    for row in rows:
        sheet.append([cell_of(v, c) for v, c in zip(row, columns, strict=False)])
    if total_label:
        total = _totals(columns, rows, total_label)
        sheet.append([cell_of(v, c, bold) for v, c in zip(total, columns, strict=True)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _sheet_name(name: str) -> str:
    cleaned = re.sub(r"[\[\]:*?/\\]", "_", name or "").strip("'") or "Sheet1"
    return cleaned[:31]


def write(
    fmt: str,
    columns: Sequence[Column],
    rows: Iterable[Sequence],
    title: str | None = None,
    total_label: str | None = None,
    sheet_name: str = "Sheet1",
) -> tuple[bytes, str]:
    """(bytes, MIME type) of the table as "csv" or "xlsx"; another format is refused."""
    if fmt == "csv":
        return write_csv(columns, rows, title, total_label), CSV_MIMETYPE
    if fmt == "xlsx":
        return write_xlsx(columns, rows, title, total_label, sheet_name), XLSX_MIMETYPE
    raise ValidationFailed("文件格式应为 csv 或 xlsx")
