"""Validate submitted data against a task's (or start event's) `camunda:formData` fields.

Values arrive as JSON from the API or as strings from a web form; what is stored is
typed: long and money as int (money in fen), boolean as bool, date as ISO text.
Readonly fields are never taken from input: they show data the process already holds.
"""

import re
from datetime import date
from typing import Any

from stdnum import luhn
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

MAX_STRING = 200
MAX_TEXTAREA = 5000
TRUE_WORDS = {"true", "1", "on", "yes", "y", "是"}
FALSE_WORDS = {"false", "0", "off", "no", "n", "否", ""}
# Whole numbers beyond this are refused (JavaScript and JSON readers lose precision past
# it); file ids are 32-bit in PostgreSQL.
MAX_INTEGER = 2**53 - 1
MAX_FILE_ID = 2**31 - 1


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _int(value: Any, label: str, limit: int = MAX_INTEGER) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{label}应为整数")
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
        sign, digits = (-1 if "-" in value else 1), value.strip().lstrip("-").lstrip("0")
        value = sign * int(digits or "0") if len(digits) <= len(str(limit)) else limit + 1
    if isinstance(value, int):
        if abs(value) > limit:
            raise ValueError(f"{label}超出允许的范围")
        return value
    raise ValueError(f"{label}应为整数")


def _text(value: Any, label: str) -> str:
    """str(value), or a Chinese refusal for what has no text (an int of 4300+ digits)."""
    try:
        return str(value)
    except ValueError:
        raise ValueError(f"{label}的内容无法识别") from None


def normalise_id_number(value: str) -> str:
    """A valid 18-digit resident ID number (check digit included), upper-case X."""
    # Length, digits, check digit and birth date; not the region code, which stdnum
    # checks against the birth year although codes are assigned when the card is issued.
    number = ric.compact(_text(value, "身份证号码")).upper()
    try:
        if not re.fullmatch(r"[0-9]{17}[0-9X]", number):
            raise StdnumError()
        if number[-1] != ric.calc_check_digit(number):
            raise StdnumError()
        ric.get_birth_date(number)
    except StdnumError:
        raise ValueError("身份证号码无效，请核对后重新输入") from None
    return number


def normalise_bank_card(value: str) -> str:
    digits = re.sub(r"[\s-]", "", _text(value, "银行卡号"))
    if not re.fullmatch(r"[0-9]{12,19}", digits):
        raise ValueError("银行卡号应为 12 至 19 位数字")
    if not luhn.is_valid(digits):
        raise ValueError("银行卡号校验失败，请核对后重新输入")
    return digits


def _convert(field: dict, value: Any) -> Any:
    kind, label = field["type"], field["label"]
    if kind in ("string", "textarea"):
        if not isinstance(value, str | int):
            raise ValueError(f"{label}应为文本")
        text = _text(value, label).strip()
        limit = int(field.get("maxlength") or (MAX_TEXTAREA if kind == "textarea" else MAX_STRING))
        if len(text) > limit:
            raise ValueError(f"{label}不能超过 {limit} 个字")
        if field.get("minlength") and len(text) < int(field["minlength"]):
            raise ValueError(f"{label}至少 {field['minlength']} 个字")
        return text
    if kind in ("long", "money"):
        number = _int(value, label)
        unit = "分" if kind == "money" else ""
        low = field.get("min")
        if low is None and kind == "money":
            low = 0  # no negative amounts unless the diagram says so
        if low is not None and number < int(low):
            raise ValueError(f"{label}不能小于 {low}{unit}")
        if field.get("max") is not None and number > int(field["max"]):
            raise ValueError(f"{label}不能大于 {field['max']}{unit}")
        return number
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        word = _text(value, label).strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ValueError(f"{label}应为“是”或“否”")
    if kind == "date":
        try:
            return date.fromisoformat(_text(value, label).strip()).isoformat()
        except ValueError:
            raise ValueError(f"{label}应为日期，格式如 2026-09-01") from None
    if kind == "enum":
        options = [opt[0] for opt in field["options"]]
        if _text(value, label) not in options:
            names = "、".join(opt[1] for opt in field["options"])
            raise ValueError(f"{label}应为以下之一：{names}")
        return str(value)
    if kind == "file":
        return _int(value, label, MAX_FILE_ID)
    if kind == "id_number":
        return normalise_id_number(value)
    if kind == "bank_card":
        return normalise_bank_card(value)
    raise ValueError(f"{label}的类型不受支持")


def validate(fields: list[dict], data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Return (clean values, errors by field id). Unknown keys are dropped."""
    if not isinstance(data, dict):
        return {}, {"": "提交的数据格式不正确"}
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in fields:
        if field.get("readonly"):
            continue
        fid = field["id"]
        value = data.get(fid)
        if _is_blank(value) or (field["type"] == "boolean" and value is None):
            if field["type"] == "boolean" and field.get("required") and value is None:
                errors[fid] = f"请填写{field['label']}"
            elif field.get("required") and field["type"] != "boolean":
                errors[fid] = f"请填写{field['label']}"
            continue
        try:
            clean[fid] = _convert(field, value)
        except ValueError as err:
            errors[fid] = str(err)
    for field in fields:
        rule = field.get("required_when")
        if rule and field["id"] not in clean and field["id"] not in errors:
            try:
                trigger = str(clean.get(rule["field"], data.get(rule["field"])))
            except ValueError:  # a number too long to print matches no value
                continue
            if trigger in rule["values"]:
                errors[field["id"]] = f"请填写{field['label']}"
    for field in fields:
        if field["type"] == "boolean" and field.get("required") and clean.get(field["id"]) is False:
            # A required checkbox (e.g. 已签收) must be ticked.
            errors.setdefault(field["id"], f"请确认{field['label']}")
    return clean, errors


def file_ids(fields: list[dict], clean: dict[str, Any]) -> list[int]:
    return [clean[f["id"]] for f in fields if f["type"] == "file" and f["id"] in clean]
