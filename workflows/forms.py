"""Validate submitted data against a task's (or start event's) `camunda:formData` fields.

Values arrive as JSON from the API or as strings from a web form; what is stored is
typed: long and money as int (money in fen), boolean as bool, date as ISO text.
Readonly fields are never taken from input: they show data the process already holds.

Constraints (`camunda:constraint name=... config=...`) a manager sets in the editor:
required, readonly, min/max (numbers; dates as an ISO date, `today`, `today-7` or
`application_date`), minlength/maxlength (text), min_names (a list of people, e.g. the two
visitors of a home visit), multiple/min_files/max_files (several uploads in one field).
`field_problems` checks them at deploy, `validate` applies them to what is submitted.
"""

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from stdnum import luhn
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

from workflows.clock import CST, now

MAX_STRING = 200
MAX_TEXTAREA = 5000
TRUE_WORDS = {"true", "1", "on", "yes", "y", "是"}
FALSE_WORDS = {"false", "0", "off", "no", "n", "否", ""}
# Whole numbers beyond this are refused (JavaScript and JSON readers lose precision past
# it); file ids are 32-bit in PostgreSQL.
MAX_INTEGER = 2**53 - 1
MAX_FILE_ID = 2**31 - 1
# A field with `multiple` holds at most this many files unless `max_files` says fewer.
MAX_FILES = 20
# What separates the names in a list of people: 张三、李四 / 张三，李四 / 张三 李四.
NAME_SEPARATORS = re.compile(r"[、，,；;/／\s]+")
DATE_BOUND = re.compile(r"^(today|application_date)\s*(?:([+-])\s*(\d{1,4}))?$")

# Constraint name → the field types it applies to (None: any type) and its config:
# "none" (a flag), "int" (a whole number), "count" (a whole number ≥ 1) or "bound" (a
# number, or for dates a date bound). `min`/`max` are checked per type in field_problems.
CONSTRAINTS: dict[str, tuple[frozenset[str] | None, str]] = {
    "required": (None, "none"),
    "readonly": (None, "none"),
    "min": (frozenset({"long", "money", "date"}), "bound"),
    "max": (frozenset({"long", "money", "date"}), "bound"),
    "minlength": (frozenset({"string", "textarea"}), "count"),
    "maxlength": (frozenset({"string", "textarea"}), "count"),
    "min_names": (frozenset({"string", "textarea"}), "count"),
    "multiple": (frozenset({"file"}), "none"),
    "min_files": (frozenset({"file"}), "count"),
    "max_files": (frozenset({"file"}), "count"),
}


@dataclass(frozen=True)
class FormContext:
    """What relative constraints are measured against: today (China time) and the day the
    application was registered, if the form belongs to a case."""

    today: date
    application_date: date | None = None


def _date_bound(config: str, context: FormContext) -> tuple[date, str] | None:
    """The day a date bound names, with how to say it; None when it cannot be known (no
    application yet)."""
    text = str(config).strip()
    match = DATE_BOUND.match(text)
    if match is None:
        day = date.fromisoformat(text)
        return day, day.isoformat()
    base_name, sign, count = match.groups()
    if base_name == "today":
        base, name = context.today, "今天"
    elif context.application_date is not None:
        base, name = context.application_date, "申请登记日期"
    else:
        return None
    days = int(count or 0) * (-1 if sign == "-" else 1)
    day = base + timedelta(days=days)
    if days:
        name = f"{name}{'前' if days < 0 else '后'} {abs(days)} 天"
    return day, f"{name}（{day.isoformat()}）"


def date_bounds(field: dict, context: FormContext) -> tuple[date | None, date | None]:
    """The earliest and latest day a date field takes (for the browser's date picker)."""
    bounds = []
    for name in ("min", "max"):
        found = _date_bound(field[name], context) if field.get(name) else None
        bounds.append(found[0] if found else None)
    return bounds[0], bounds[1]


def field_problems(field: dict) -> list[str]:
    """What is wrong with a field's constraints, in Chinese (checked at deploy)."""
    label, kind = field.get("label") or field.get("id", ""), field.get("type", "string")
    problems = []
    for name in field.get("unknown_constraints", []):
        known = "、".join(CONSTRAINTS)
        problems.append(f"表单字段“{label}”的约束“{name}”无法识别（可用：{known}）")
    for name, (types, config_kind) in CONSTRAINTS.items():
        value = field.get(name)
        if value is None or value is False:
            continue
        if types is not None and kind not in types:
            problems.append(f"表单字段“{label}”（{kind}）不能使用约束“{name}”")
            continue
        text = str(value).strip()
        if config_kind == "count" and not (re.fullmatch(r"\d{1,6}", text) and int(text) >= 1):
            problems.append(f"表单字段“{label}”的 {name} 应为正整数")
        elif config_kind == "bound" and kind == "date":
            try:
                _date_bound(text, FormContext(date.today(), date.today()))
            except ValueError:
                problems.append(
                    f"表单字段“{label}”的 {name} 应为日期（如 2026-09-01）、today、"
                    "today-7 或 application_date"
                )
        elif config_kind == "bound" and not re.fullmatch(r"-?\d+", text):
            problems.append(f"表单字段“{label}”的 {name} 应为整数")
    if field.get("min_files") and field.get("max_files"):
        if int(field["min_files"]) > int(field["max_files"]):
            problems.append(f"表单字段“{label}”的 min_files 不能大于 max_files")
    if kind == "file" and not field.get("multiple"):
        for name in ("min_files", "max_files"):
            if field.get(name):
                problems.append(f"表单字段“{label}”使用 {name} 时须同时设置 multiple")
    return problems


def names_in(text: str) -> list[str]:
    """The distinct names in a list of people (张三、李四), in the order given."""
    names: list[str] = []
    for name in NAME_SEPARATORS.split(text):
        if name and name not in names:
            names.append(name)
    return names


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


def _files(field: dict, value: Any) -> list[int]:
    """The file ids of a `multiple` field: one id, "3,4" or a list; each once, in order."""
    label = field["label"]
    items = value if isinstance(value, list | tuple) else [value]
    if len(items) == 1 and isinstance(items[0], str):
        items = [part for part in re.split(r"[\s,，]+", items[0]) if part]
    limit = min(int(field.get("max_files") or MAX_FILES), MAX_FILES)
    ids: list[int] = []
    for item in items:
        file_id = _int(item, label, MAX_FILE_ID)
        if file_id <= 0:
            raise ValueError(f"{label}的文件编号无效")
        if file_id not in ids:
            ids.append(file_id)
    if len(ids) > limit:
        raise ValueError(f"{label}最多上传 {limit} 个文件")
    if field.get("min_files") and len(ids) < int(field["min_files"]):
        raise ValueError(f"{label}至少上传 {field['min_files']} 个文件")
    return ids


def _date(field: dict, value: Any, context: FormContext) -> str:
    label = field["label"]
    try:
        day = date.fromisoformat(_text(value, label).strip())
    except ValueError:
        raise ValueError(f"{label}应为日期，格式如 2026-09-01") from None
    low = _date_bound(field["min"], context) if field.get("min") else None
    if low is not None and day < low[0]:
        raise ValueError(f"{label}不能早于{low[1]}")
    high = _date_bound(field["max"], context) if field.get("max") else None
    if high is not None and day > high[0]:
        raise ValueError(f"{label}不能晚于{high[1]}")
    return day.isoformat()


def _convert(field: dict, value: Any, context: FormContext) -> Any:
    kind, label = field["type"], field["label"]
    if kind in ("string", "textarea"):
        if not isinstance(value, str | int):
            raise ValueError(f"{label}应为文本")
        text = _text(value, label).strip()
        limit = int(field.get("maxlength") or (MAX_TEXTAREA if kind == "textarea" else MAX_STRING))
        if len(text) > limit:
            raise ValueError(f"{label}不能超过 {limit} 个字")
        if field.get("minlength") and len(text) < int(field["minlength"]):
            raise ValueError(f"{label}至少 {field['minlength']} 个字（现有 {len(text)} 个字）")
        if field.get("min_names") and len(names_in(text)) < int(field["min_names"]):
            wanted = int(field["min_names"])
            raise ValueError(f"{label}应填写至少 {wanted} 人的姓名，用“、”分隔（如：张三、李四）")
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
        return _date(field, value, context)
    if kind == "enum":
        options = [opt[0] for opt in field["options"]]
        if _text(value, label) not in options:
            names = "、".join(opt[1] for opt in field["options"])
            raise ValueError(f"{label}应为以下之一：{names}")
        return str(value)
    if kind == "file" and field.get("multiple"):
        return _files(field, value)
    if kind == "file":
        return _int(value, label, MAX_FILE_ID)
    if kind == "id_number":
        return normalise_id_number(value)
    if kind == "bank_card":
        return normalise_bank_card(value)
    raise ValueError(f"{label}的类型不受支持")


def _blank(field: dict, value: Any) -> bool:
    if field["type"] == "file" and field.get("multiple") and isinstance(value, list | tuple):
        return not value
    return _is_blank(value)


def today_context(application_date: date | None = None) -> FormContext:
    return FormContext(now().astimezone(CST).date(), application_date)


def validate(
    fields: list[dict], data: dict[str, Any], context: FormContext | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Return (clean values, errors by field id). Unknown keys are dropped. Relative
    dates are measured against `context` (today, China time, if not given)."""
    if not isinstance(data, dict):
        return {}, {"": "提交的数据格式不正确"}
    context = context or today_context()
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in fields:
        if field.get("readonly"):
            continue
        fid = field["id"]
        value = data.get(fid)
        if _blank(field, value) or (field["type"] == "boolean" and value is None):
            if field["type"] == "boolean" and field.get("required") and value is None:
                errors[fid] = f"请填写{field['label']}"
            elif field.get("required") and field["type"] == "file":
                errors[fid] = f"请上传{field['label']}"
            elif field.get("required") and field["type"] != "boolean":
                errors[fid] = f"请填写{field['label']}"
            continue
        try:
            clean[fid] = _convert(field, value, context)
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
    ids: list[int] = []
    for f in fields:
        if f["type"] == "file" and f["id"] in clean:
            value = clean[f["id"]]
            ids.extend(value if isinstance(value, list) else [value])
    return ids


def as_file_list(value: Any) -> list[int]:
    """A file field's stored value (one id, or a list of ids) as a list."""
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
    return []
