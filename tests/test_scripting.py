"""The restricted environment for diagram expressions and scripts: what data expressions
may do, what is refused (by `check` at deploy and again at run time), and what a script
hands back to the task data."""

import re
import types

import pytest
from conftest import cst, restart
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflows import scripting
from workflows.engine import ProcessError
from workflows.scripting import FUNCTIONS, RestrictedEnvironment, ScriptRefused, check, evaluate

CHINESE = re.compile(r"[\u4e00-\u9fff]")
DATA = {
    "amount_fen": 500000,
    "threshold": 300000,
    "name": "  wang ",
    "items": [3, 1, 2],
    "data": {"k": 7, "level": "undergraduate"},
    "flags": [True, False],
    "decision": "approve",
}


# --- allowed ----------------------------------------------------------------------------------

ALLOWED = [
    ("amount_fen * 2 + 1", 1000001),
    ("amount_fen // 100 - threshold // 100", 2000),
    ("amount_fen > threshold and decision == 'approve'", True),
    ("3 if amount_fen > threshold else 2", 3),
    ("not (amount_fen <= threshold)", True),
    ("data.get('k') + data.get('missing', 5)", 12),
    ("data['level']", "undergraduate"),
    ("items[0] + items[-1]", 5),
    ("len(items)", 3),
    ("min(items) + max(items)", 4),
    ("sum(items)", 6),
    ("round(amount_fen / 3, 2)", 166666.67),
    ("sorted(items)", [1, 2, 3]),
    ("any(flags) and not all(flags)", True),
    ("name.strip().upper()", "WANG"),
    ("'、'.join(sorted(data.keys()))", "k、level"),
    ("decision in ['approve', 'return']", True),
]


@pytest.mark.parametrize(("source", "expected"), ALLOWED, ids=[s for s, _ in ALLOWED])
def test_data_expression_is_accepted_and_evaluates_on_task_data(source, expected):
    assert check(source) == []
    assert evaluate(source, dict(DATA)) == expected
    assert RestrictedEnvironment().evaluate(source, dict(DATA)) == expected


def test_every_registered_function_is_callable_by_name():
    assert {
        "working_days_after",
        "post_notice",
        "close_notice",
        "request_payment",
        "archive_worker",
        "leave_archive",
    } <= set(FUNCTIONS)
    for name in FUNCTIONS:
        assert check(f"{name}(5)") == [], name
        assert check(f"x = {name}(5)", "exec") == [], name


def test_working_days_after_runs_inside_an_expression(clock):
    restart()  # no managers' calendar entries cached from another test
    # Monday 2026-09-07: five working days → through Monday 14 September.
    assert evaluate("working_days_after(5)", {}) == cst(2026, 9, 15, 0, 0).isoformat()


# --- refused ----------------------------------------------------------------------------------

REFUSED = [
    # (source, mode, words the reason must contain)
    ("__name__", "eval", "下划线"),
    ("data.__class__", "eval", "__class__"),
    ("items.__len__()", "eval", "__len__"),
    ("open('/etc/passwd')", "eval", "open"),
    ("eval('1 + 1')", "eval", "eval"),
    ("exec('x = 1')", "eval", "exec"),
    ("compile('1', 'f', 'eval')", "eval", "compile"),
    ("getattr(data, 'get')", "eval", "getattr"),
    ("globals()", "eval", "globals"),
    ("vars()", "eval", "vars"),
    ("type(data)", "eval", "type"),
    ("__import__('os')", "eval", "__import__"),
    ("import os", "exec", "导入"),
    ("from os import path", "exec", "导入"),
    ("def f():\n    return 1", "exec", "定义函数或类"),
    ("lambda: 1", "eval", "定义函数或类"),
    ("class A:\n    pass", "exec", "定义函数或类"),
    ("'x'.format(data)", "eval", ".format"),
    ("data.keys.__self__", "eval", "__self__"),
    ("data.copy()", "eval", ".copy"),
    ("data.pop('k')", "eval", ".pop"),
    ("shutil_rmtree('/')", "eval", "未知函数"),
    ("amount_fen >", "eval", "语法错误（第 1 行）"),
    ("x = 1\ny = (", "exec", "语法错误（第 2 行）"),
    ("1 + " * 2000 + "1", "eval", "过长"),
    ("   ", "eval", "为空"),
]


@pytest.mark.parametrize(("source", "mode", "words"), REFUSED, ids=[s[:30] for s, _, _ in REFUSED])
def test_refused_by_check_with_a_chinese_reason(source, mode, words):
    problems = check(source, mode)
    assert problems
    assert words in "；".join(problems)
    assert all(CHINESE.search(p) for p in problems)


@pytest.mark.parametrize(("source", "mode", "words"), REFUSED, ids=[s[:30] for s, _, _ in REFUSED])
def test_refused_at_run_time_as_well(source, mode, words):
    environment = RestrictedEnvironment()
    with pytest.raises(ScriptRefused) as failure:
        environment.execute(source, {"data": {}, "amount_fen": 1})
    assert words in str(failure.value)
    if mode == "eval":
        for run in (environment.evaluate, evaluate):
            with pytest.raises(ScriptRefused):
                run(source, {"data": {}, "amount_fen": 1})


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x += 4", 14),
        ("x -= 4", 6),
        ("x *= 4", 40),
        pytest.param("x /= 4", 2.5),
        pytest.param("x //= 4", 2),
        pytest.param("x %= 4", 2),
    ],
)
def test_script_accepted_by_check_is_not_refused_when_it_runs(source, expected):
    assert check(source, "exec") == []
    context = {"x": 10}
    RestrictedEnvironment().execute(source, context)
    assert context["x"] == expected


# --- what a script hands back ------------------------------------------------------------------


def test_script_assignments_come_back_into_task_data_but_functions_do_not():
    context = {"amount_fen": 500000, "name": "wang", "_private": "kept"}
    RestrictedEnvironment().execute(
        "amount_fen = amount_fen + 1\n"
        "levels = 3 if amount_fen > 300000 else 2\n"
        "label = name.upper()\n"
        "counter = len\n"
        "when = working_days_after\n",
        context,
    )
    assert context["amount_fen"] == 500001
    assert context["levels"] == 3
    assert context["label"] == "WANG"
    assert context["_private"] == "kept"
    assert "counter" not in context and "when" not in context
    assert not set(context) & (set(FUNCTIONS) | set(scripting.ALLOWED_BUILTINS))
    assert [k for k in context if k.startswith("_")] == ["_private"]


def test_task_data_keys_starting_with_underscore_are_not_visible_to_expressions():
    # Were they visible, these would replace the builtins and the attribute guard.
    hostile = {"name": "ab", "__builtins__": {"len": lambda _: 99}, "_getattr_": getattr}
    assert evaluate("len(name.upper())", dict(hostile)) == 2
    assert RestrictedEnvironment().evaluate("len(name.upper())", dict(hostile)) == 2
    context = dict(hostile)
    RestrictedEnvironment().execute("size = len(name)", context)
    assert context["size"] == 2


def test_underscore_names_cannot_be_read_even_when_in_task_data():
    assert check("_secret") != []
    with pytest.raises(ScriptRefused):
        evaluate("_secret", {"_secret": "s3cret"})


# --- property: whatever check accepts stays inside the sandbox ---------------------------------

NAMES = sorted(
    {
        "data",
        "items",
        "name",
        "amount_fen",
        "x_unknown",
        "open",
        "type",
        "getattr",
        "vars",
        "globals",
        "__import__",
        "__builtins__",
        "__class__",
        *scripting.ALLOWED_BUILTINS,
        *FUNCTIONS,
    }
)
ATTRIBUTES = sorted(
    {
        *scripting.ALLOWED_METHODS,
        "__class__",
        "__globals__",
        "__subclasses__",
        "__mro__",
        "__self__",
        "__dict__",
        "__code__",
        "mro",
        "format",
        "copy",
        "gi_frame",
        "f_globals",
        "f_back",
        "func_globals",
        "im_func",
    }
)
LITERALS = [
    "0",
    "1",
    "2",
    "-1",
    "'a'",
    "'k'",
    "''",
    "None",
    "True",
    "[]",
    "{}",
    "[1, 2]",
    "{'k': 1}",
    "'os'",
]

expressions = st.recursive(
    st.sampled_from(NAMES) | st.sampled_from(LITERALS),
    lambda inner: (
        st.builds("{}.{}".format, inner, st.sampled_from(ATTRIBUTES))
        | st.builds(lambda f, args: f"{f}({', '.join(args)})", inner, st.lists(inner, max_size=2))
        | st.builds("{}[{}]".format, inner, inner)
        | st.builds(
            "({} {} {})".format,
            inner,
            st.sampled_from(["+", "-", "*", "==", "<", "and", "or", "in"]),
            inner,
        )
    ),
    max_leaves=8,
)

EXPECTED_ERRORS = (
    ScriptRefused,
    NameError,
    TypeError,
    ValueError,
    KeyError,
    ZeroDivisionError,
    IndexError,
    AttributeError,
    ProcessError,
)  # post_notice & co. outside a running case
DANGEROUS = (
    types.ModuleType,
    types.FunctionType,
    types.MethodType,
    types.CodeType,
    types.FrameType,
    types.GeneratorType,
    types.TracebackType,
    type,
)
# What a script can name: the builtins as it sees them (`str`, `range`, `sum`,
# `list`, `dict` and `sorted` are wrapped) and the registered functions.
ALLOWLISTED = {id(v) for v in [*scripting.BUILTINS.values(), *FUNCTIONS.values()]}


@pytest.mark.filterwarnings("ignore::SyntaxWarning")  # "'str' object is not callable"
@settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(expressions)
def test_text_accepted_by_check_never_escapes_the_sandbox(source):
    if check(source) != []:
        return
    try:
        result = evaluate(
            source, {"data": {"k": 1}, "items": [1, 2], "name": "ab", "amount_fen": 100}
        )
    except EXPECTED_ERRORS:
        return
    # Naming an allowed builtin or registered function gives that very object back
    # (`str` is a type, `working_days_after` a function); nothing else of these kinds.
    if id(result) in ALLOWLISTED:
        return
    assert not isinstance(result, DANGEROUS), (source, result)


@pytest.mark.parametrize("source", ["x = 9 ** 9 ** 9", "x **= 2", "x = 1 << 40", "x = 3 ^ 1"])
def test_power_and_bit_operations_are_refused_at_deploy_and_at_run_time(source):
    assert check(source, "exec")
    with pytest.raises(ScriptRefused):
        RestrictedEnvironment().execute(source, {"x": 2})


def test_a_script_cannot_put_a_function_into_task_data():
    context = {}
    with pytest.raises(ScriptRefused, match="无法保存"):
        RestrictedEnvironment().execute("x = [len]", context)
    assert "x" not in context


# --- sizes of what a script builds, arguments, time (issue 12) ------------------------------

BIG = "x" * 60_000
BUILT_TOO_BIG = [
    ("[s for i in range(3000)]", "eval"),
    ("{i: s for i in range(3000)}", "eval"),
    ("{s + str(i) for i in range(3)}", "eval"),
    ("f'{s}{s}'", "eval"),
    ("[s, s]", "eval"),
    ("(s, s)", "eval"),
    ("{'a': s, 'b': s}", "eval"),
    ("list(s for i in range(3))", "eval"),
    ("sorted([s] + [s])", "eval"),
    ("d = {}\nfor i in range(3):\n    d[str(i)] = s", "exec"),
    ("rows = [[s]]\nrows = [rows, rows]", "exec"),
]


@pytest.mark.parametrize(("source", "mode"), BUILT_TOO_BIG, ids=[s for s, _ in BUILT_TOO_BIG])
def test_every_value_a_script_builds_is_measured_as_a_whole(source, mode):
    assert check(source, mode) == []
    with pytest.raises(ScriptRefused, match="过大"):
        if mode == "eval":
            evaluate(source, {"s": BIG})
        else:
            RestrictedEnvironment().execute(source, {"s": BIG})


def test_ordinary_comprehensions_and_literals_still_work():
    context = {"items": [3, 1, 2], "name": "wang"}
    assert evaluate("[i * 2 for i in items]", context) == [6, 2, 4]
    assert evaluate("{'n': len(items), 'who': f'{name}!'}", context) == {"n": 3, "who": "wang!"}
    assert evaluate("sorted({i for i in items})", context) == [1, 2, 3]


def test_registered_functions_take_bounded_arguments_only(clock):
    with pytest.raises(ScriptRefused, match="超出范围"):
        evaluate("working_days_after(n)", {"n": 2_000_000})
    with pytest.raises(ScriptRefused, match="0 至 1000"):
        evaluate("working_days_after(5000)", {})
    with pytest.raises(ScriptRefused, match="过长"):
        evaluate("close_notice(t)", {"t": "x" * 5000})
    with pytest.raises(ScriptRefused, match="只能是数字或文字"):
        evaluate("working_days_after(items)", {"items": [1]})


def test_diagram_code_past_the_actions_deadline_is_stopped():
    import time

    token = scripting.deadline.set(time.monotonic() + 0.2)
    try:
        with pytest.raises(ScriptRefused, match="运行时间过长"):
            RestrictedEnvironment().execute(
                "seen = list(range(100000))\nfor i in range(100000):\n    hit = -i in seen", {}
            )
        import sys

        assert sys.gettrace() is None  # the watch is gone with the run
    finally:
        scripting.deadline.reset(token)
