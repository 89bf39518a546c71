"""Archive files as a federation exports them, for the import tests and the browser test."""

import io

from conftest import valid_card, valid_id

HEADER = [
    "姓名",
    "身份证号",
    "性别",
    "单位代码",
    "困难类别",
    "家庭人口",
    "家庭月收入",
    "致困原因",
    "银行卡号",
    "开户名",
    "开户行",
    "联系电话",
    "建档日期",
    "有效期至",
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"


def worker_id(serial: int) -> str:
    """A valid ID number, distinct per serial (born 1960-1989, male when serial is odd)."""
    year = 1960 + serial % 30
    month = 1 + serial // 30 % 12
    day = 1 + serial // 360 % 28
    sequence = serial // (360 * 28) % 1000
    body = f"511002{year}{month:02d}{day:02d}{sequence:02d}{serial % 10}"
    return valid_id(body[:17])


def worker_row(serial: int, org_code: str = "szq1", **overrides) -> dict:
    number = worker_id(serial)
    name = SURNAMES[serial % len(SURNAMES)] + GIVEN[serial // 7 % len(GIVEN)] + GIVEN[serial % 11]
    row = {
        "姓名": name,
        "身份证号": number,
        "性别": "男" if int(number[16]) % 2 else "女",
        "单位代码": org_code,
        "困难类别": ("生活困难", "医疗（大病）", "子女就学", "灾害")[serial % 4],
        "家庭人口": str(2 + serial % 4),
        "家庭月收入": f"{800 + serial % 700}.00",
        "致困原因": "本人患病，家庭收入低",
        "银行卡号": valid_card(f"6222020200{serial:08d}"),
        "开户名": name,
        "开户行": "工商银行内江分行",
        "联系电话": f"138{serial:08d}",
        "建档日期": "2026-03-01",
        "有效期至": "2027-03-01",
    }
    row.update(overrides)
    return row


def csv_bytes(
    rows: list[dict], encoding: str = "utf-8-sig", header: list[str] | None = None
) -> bytes:
    header = header or HEADER
    out = io.StringIO()
    out.write(",".join(header) + "\r\n")
    for row in rows:
        out.write(",".join(str(row.get(h, "")) for h in header) + "\r\n")
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: list[dict]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append([row.get(h, "") for h in HEADER])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
