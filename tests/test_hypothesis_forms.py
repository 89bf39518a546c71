"""Property tests for form validation: whatever JSON-ish value arrives for whatever field,
`workflows.forms.validate` answers (clean values, errors) and never raises; clean values
have the field's declared type; errors are Chinese and keyed by field id. And the web
form's 元 → 分 conversion (`webapp.forms.yuan_to_fen`) for arbitrary text."""

import re
from datetime import date
from decimal import Decimal

from conftest import valid_card, valid_id
from flask import Flask
from flask_babel import Babel
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.cn import ric

from webapp.forms import yuan_to_fen
from workflows import forms

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
CHINESE = re.compile(r"[\u4e00-\u9fff]")
KINDS = [
    "string",
    "textarea",
    "long",
    "boolean",
    "date",
    "enum",
    "money",
    "id_number",
    "bank_card",
    "file",
]
TYPES = {
    "string": str,
    "textarea": str,
    "long": int,
    "money": int,
    "file": int,
    "boolean": bool,
    "date": str,
    "enum": str,
    "id_number": str,
    "bank_card": str,
}

# --- hostile values ---------------------------------------------------------------------


class Huge(int):
    """An int too long for str() (Python refuses more than 4300 digits); hypothesis can
    still print it when it reports an example."""

    def _repr_pretty_(self, printer, cycle):
        printer.text(
            f"Huge(<{len(self.to_bytes((self.bit_length() + 8) // 8, signed=True))} bytes>)"
        )


HUGE = Huge(10**5000)

texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40
) | st.sampled_from(
    [
        "",
        "   ",
        "\x00",
        "\u202e1234",
        "１２３",  # full-width digits
        "٣٤٥",  # Arabic-Indic digits
        "²³",
        "1e3",
        "0x10",
        "-0",
        " 42 ",
        "NaN",
        "Infinity",
        "2026-02-30",
        "2026-09-01",
        "20260901",
        "是",
        "否",
        "true",
        "None",
        "a" * 6000,
        "9" * 5000,
        "-" + "9" * 30,
        valid_id("51100220070302001"),
        valid_card(),
        "6222 0200 1122 3344 " + valid_card()[-1],
    ]
)
numbers = (
    st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.sampled_from([0, -1, 2**31, 2**63, -(2**63) - 1, 10**30, HUGE, Huge(-(10**5000))])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
)
scalars = st.none() | texts | numbers
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)


def _field(kind: str, **extra) -> dict:
    field = {"id": f"f_{kind}", "label": f"字段{kind}", "type": kind}
    if kind == "enum":
        field["options"] = [["a", "甲"], ["b", "乙"], ["1", "一"]]
    field.update(extra)
    return field


constraints = st.fixed_dictionaries(
    {},
    optional={
        "required": st.booleans(),
        "min": st.integers(-5, 5).map(str) | st.integers(-5, 5),
        "max": st.integers(0, 10**6).map(str),
        "minlength": st.integers(0, 5).map(str),
        "maxlength": st.integers(1, 50).map(str),
    },
)
fields = st.builds(lambda kind, extra: _field(kind, **extra), st.sampled_from(KINDS), constraints)


def _assert_well_formed(field_list: list[dict], clean: dict, errors: dict) -> None:
    ids = {f["id"] for f in field_list}
    assert set(clean) <= ids
    assert set(errors) <= ids
    assert not set(clean) & set(errors) or all(
        f["type"] == "boolean" for f in field_list if f["id"] in set(clean) & set(errors)
    )
    for key, message in errors.items():
        assert isinstance(message, str) and CHINESE.search(message), (key, message)
    for field in field_list:
        if field["id"] not in clean:
            continue
        value = clean[field["id"]]
        assert type(value) is TYPES[field["type"]], (field, value)


# --- validate never raises --------------------------------------------------------------


@PROPERTY
@given(
    field_list=st.lists(fields, min_size=1, max_size=4, unique_by=lambda f: f["id"]), data=st.data()
)
def test_validate_answers_any_input_with_typed_values_or_chinese_errors(field_list, data):
    submitted = data.draw(
        st.fixed_dictionaries({}, optional={f["id"]: values for f in field_list})
        | st.dictionaries(texts, values, max_size=3)
    )
    clean, errors = forms.validate(field_list, submitted)
    _assert_well_formed(field_list, clean, errors)


@PROPERTY
@given(kind=st.sampled_from(KINDS), value=values)
@example(kind="string", value=HUGE)
@example(kind="date", value=Huge(-(10**5000)))
@example(kind="boolean", value=[HUGE])
@example(kind="enum", value={"a": HUGE})
@example(kind="long", value="9" * 5000)
@example(kind="money", value="-" + "9" * 30)
@example(kind="file", value=2**40)
@example(kind="id_number", value="51100220070302001²")
@example(kind="id_number", value="٥١١٠٠٢٢٠٠٧٠٣٠٢٠٠١٢")
@example(kind="bank_card", value="١٢٣٤٥٦٧٨٩٠١٢٣")
def test_each_field_type_keeps_its_type_for_a_single_value(kind, value):
    field = _field(kind)
    clean, errors = forms.validate([field], {field["id"]: value})
    _assert_well_formed([field], clean, errors)
    assert field["id"] in clean or field["id"] in errors or forms._is_blank(value)


@PROPERTY
@given(submitted=values)
def test_data_that_is_not_an_object_is_one_chinese_error(submitted):
    clean, errors = forms.validate([_field("string", required=True)], submitted)
    if isinstance(submitted, dict):
        return
    assert clean == {}
    assert list(errors) == [""] and CHINESE.search(errors[""])


@PROPERTY
@given(trigger=values, other=values)
@example(trigger=HUGE, other=None)
@example(trigger={"x": HUGE}, other=None)
def test_required_when_looks_at_any_value_without_raising(trigger, other):
    field_list = [
        _field("enum"),
        _field("string", required_when={"field": "f_enum", "values": ["b"]}),
    ]
    clean, errors = forms.validate(field_list, {"f_enum": trigger, "f_string": other})
    _assert_well_formed(field_list, clean, errors)
    if clean.get("f_enum") == "b" and forms._is_blank(other):
        assert errors["f_string"] == "请填写字段string"


# --- numbers and money ----------------------------------------------------------------------


@PROPERTY
@given(value=numbers | texts)
@example(value=-1)
@example(value="-1")
@example(value=" -500 ")
def test_money_is_whole_fen_and_never_negative_unless_the_field_allows_it(value):
    clean, errors = forms.validate([_field("money")], {"f_money": value})
    if "f_money" in clean:
        assert type(clean["f_money"]) is int
        assert 0 <= clean["f_money"] <= forms.MAX_INTEGER
    allowed, _ = forms.validate([_field("money", min="-100")], {"f_money": value})
    if "f_money" in allowed:
        assert -100 <= allowed["f_money"] <= forms.MAX_INTEGER


@PROPERTY
@given(number=st.integers(-(10**6), 10**6), low=st.integers(-100, 100), high=st.integers(0, 1000))
def test_long_bounds_hold_both_as_number_and_as_text(number, low, high):
    field = _field("long", min=str(low), max=str(high))
    for submitted in (number, str(number), f"  {number} "):
        clean, errors = forms.validate([field], {"f_long": submitted})
        if low <= number <= high:
            assert clean == {"f_long": number} and errors == {}
        else:
            assert clean == {} and set(errors) == {"f_long"}


@PROPERTY
@given(
    number=st.integers(min_value=forms.MAX_INTEGER + 1)
    | st.integers(max_value=-forms.MAX_INTEGER - 1)
)
def test_an_integer_beyond_the_safe_range_is_refused(number):
    for kind in ("long", "money", "file"):
        clean, errors = forms.validate([_field(kind, min="-1" + "0" * 60)], {f"f_{kind}": number})
        assert clean == {} and CHINESE.search(errors[f"f_{kind}"])


# --- ID and card numbers --------------------------------------------------------------------

birth_dates = st.dates(min_value=date(1930, 1, 1), max_value=date(2026, 9, 7))


@PROPERTY
@given(
    region=st.from_regex(r"[1-6][0-9]{5}", fullmatch=True),
    born=birth_dates,
    serial=st.integers(0, 999),
)
def test_a_valid_id_number_round_trips_with_spaces_around_and_lower_case_x(region, born, serial):
    number = valid_id(f"{region}{born:%Y%m%d}{serial:03d}")
    for typed in (number, number.lower(), f"  {number}\t"):
        clean, errors = forms.validate([_field("id_number")], {"f_id_number": typed})
        assert errors == {}
        assert clean == {"f_id_number": number}


@PROPERTY
@given(number=st.from_regex(r"[1-6][0-9]{16}[0-9X]", fullmatch=True))
def test_an_id_number_is_accepted_only_with_its_check_digit(number):
    clean, errors = forms.validate([_field("id_number")], {"f_id_number": number})
    good_digit = number[-1] == ric.calc_check_digit(number)
    if "f_id_number" in clean:
        assert good_digit and clean["f_id_number"] == number
    else:
        assert errors["f_id_number"] == "身份证号码无效，请核对后重新输入"


@PROPERTY
@given(
    body=st.from_regex(r"[1-9][0-9]{10,17}", fullmatch=True), sep=st.sampled_from(["", " ", "-"])
)
def test_a_luhn_valid_card_round_trips_and_a_wrong_digit_is_refused(body, sep):
    card = body + luhn.calc_check_digit(body)
    typed = sep.join(card[i : i + 4] for i in range(0, len(card), 4))
    clean, errors = forms.validate([_field("bank_card")], {"f_bank_card": typed})
    assert errors == {} and clean == {"f_bank_card": card}
    wrong = body + str((int(luhn.calc_check_digit(body)) + 1) % 10)
    clean, errors = forms.validate([_field("bank_card")], {"f_bank_card": wrong})
    assert clean == {} and errors == {"f_bank_card": "银行卡号校验失败，请核对后重新输入"}


@PROPERTY
@given(value=texts)
def test_what_is_kept_as_an_id_or_card_number_is_ascii_digits(value):
    clean, _ = forms.validate(
        [_field("id_number"), _field("bank_card")], {"f_id_number": value, "f_bank_card": value}
    )
    if "f_id_number" in clean:
        assert re.fullmatch(r"[0-9]{17}[0-9X]", clean["f_id_number"])
    if "f_bank_card" in clean:
        assert re.fullmatch(r"[0-9]{12,19}", clean["f_bank_card"])


# --- 元 → 分 on the web form ----------------------------------------------------------------


def _babel_app() -> Flask:
    """yuan_to_fen's messages go through flask_babel: an app context with Babel is all
    it needs (no database)."""
    app = Flask(__name__)
    Babel(app)
    return app


BABEL_APP = _babel_app()


yuan_like = st.one_of(
    texts,
    st.decimals(min_value=-(10**12), max_value=10**12, places=2).map(str),
    st.decimals(min_value=0, max_value=10**9, places=4, allow_nan=False).map(str),
    st.builds(
        lambda whole, cents, sep: f"{whole:,}".replace(",", sep) + (f".{cents}" if cents else ""),
        st.integers(0, 10**9),
        st.sampled_from(["", "0", "5", "50", "05", "99", "999"]),
        st.sampled_from([",", "，", " ", ""]),
    ),
    st.sampled_from(["1e3", "1E2", "NaN", "Infinity", "-Infinity", "0.1", "5000.50元", "１２"]),
)


@PROPERTY
@given(text=yuan_like)
@example(text="1e3")
@example(text="NaN")
@example(text="0.125")
@example(text="١٢٣")
@example(text="9" * 5000)
def test_yuan_to_fen_is_exact_whole_fen_or_a_chinese_refusal(text):
    try:
        with BABEL_APP.app_context():
            fen = yuan_to_fen(text)
    except ValueError as err:
        assert CHINESE.search(str(err)), str(err)
        return
    assert type(fen) is int
    cleaned = re.sub(r"[\s,，]", "", text).removesuffix("元")
    assert re.fullmatch(r"-?\d+(\.\d{1,2})?", cleaned), text  # any script's digits
    assert Decimal(fen) == Decimal(cleaned) * 100  # exact: no float anywhere


@PROPERTY
@given(fen=st.integers(0, 10**14))
def test_yuan_typed_back_from_fen_round_trips(fen):
    text = f"{fen // 100:,}.{fen % 100:02d}"
    with BABEL_APP.app_context():
        assert yuan_to_fen(text) == fen
        assert yuan_to_fen(text + "元") == fen
