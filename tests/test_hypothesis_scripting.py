"""Property tests for the restricted environment (workflows/scripting.py): expressions
and scripts generated from a small hostile grammar (dunder attributes, calls, lambdas,
comprehensions, imports, exec/eval/open/getattr/__import__, f-strings and %-formatting)
never escape: `check` refuses them, or running them raises only the engine's refusal or
an ordinary evaluation error, never hands back a module, a frame, a type or a forbidden
builtin, and never writes a file. And the guards against memory and CPU blow-ups."""

import builtins
import os
import types

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from workflows import scripting
from workflows.engine import ProcessError
from workflows.scripting import (
    FUNCTIONS,
    MAX_SIZE,
    RestrictedEnvironment,
    ScriptRefused,
    check,
    evaluate,
)

PROPERTY = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
DATA = {"data": {"k": 1, "s": "ab"}, "items": [1, 2], "name": "ab", "amount_fen": 100}

NAMES = sorted(
    {
        *DATA,
        "x_unknown",
        "open",
        "eval",
        "exec",
        "compile",
        "getattr",
        "setattr",
        "vars",
        "globals",
        "locals",
        "type",
        "object",
        "__import__",
        "__builtins__",
        "__class__",
        "__loader__",
        "_getattr_",
        "_write_",
        "help",
        "breakpoint",
        *scripting.ALLOWED_BUILTINS,
        *FUNCTIONS,
    }
)
ATTRIBUTES = sorted(
    {
        *scripting.ALLOWED_METHODS,
        "__class__",
        "__base__",
        "__bases__",
        "__mro__",
        "__subclasses__",
        "__globals__",
        "__builtins__",
        "__self__",
        "__dict__",
        "__code__",
        "__closure__",
        "__func__",
        "__init__",
        "__getattribute__",
        "__reduce_ex__",
        "mro",
        "format",
        "format_map",
        "copy",
        "pop",
        "gi_frame",
        "gi_code",
        "f_globals",
        "f_back",
        "func",
        "args",
    }
)
LITERALS = [
    "0",
    "1",
    "-1",
    "999999999",
    "'a'",
    "'k'",
    "''",
    "'os'",
    "'/tmp/escape'",
    "'__class__'",
    "'%s'",
    "'{0.__class__}'",
    "None",
    "True",
    "()",
    "[]",
    "{}",
    "[1, 2]",
    "{'k': 1}",
]
OPERATORS = ["+", "-", "*", "/", "//", "%", "**", "<<", "&", "==", "<", "and", "or", "in", "is"]

expressions = st.recursive(
    st.sampled_from(NAMES) | st.sampled_from(LITERALS),
    lambda inner: (
        st.builds("{}.{}".format, inner, st.sampled_from(ATTRIBUTES))
        | st.builds(lambda f, args: f"{f}({', '.join(args)})", inner, st.lists(inner, max_size=2))
        | st.builds("{}[{}]".format, inner, inner)
        | st.builds("({} {} {})".format, inner, st.sampled_from(OPERATORS), inner)
        | st.builds("(lambda: {})()".format, inner)
        | st.builds("(lambda x: {})({})".format, inner, inner)
        | st.builds("[x for x in {}]".format, inner)
        | st.builds("{{x: {} for x in {}}}".format, inner, inner)
        | st.builds("f'{{{}}}'".format, inner)
        | st.builds("f'{{{}!r}}'".format, inner)
        | st.builds("('%s' % ({},))".format, inner)
        | st.builds("({} if {} else {})".format, inner, inner, inner)
        | st.builds("(y := {})".format, inner)
    ),
    max_leaves=6,
)
statements = st.one_of(
    st.builds("x = {}".format, expressions),
    st.builds("x += {}".format, expressions),
    st.builds("data['k'] = {}".format, expressions),
    st.builds("for y in {}:\n    x = y".format, expressions),
    st.builds("import {}".format, st.sampled_from(["os", "sys", "builtins", "subprocess"])),
    st.builds("from {} import *".format, st.sampled_from(["os", "shutil"])),
    st.builds("def f():\n    return {}".format, expressions),
    st.builds("class A:\n    x = {}".format, expressions),
    st.builds("while {}:\n    pass".format, expressions),
    st.builds("try:\n    x = {}\nexcept Exception as e:\n    x = e".format, expressions),
    st.builds("with open({}) as f:\n    pass".format, expressions),
    st.builds("global {}".format, st.sampled_from(NAMES)),
    st.builds("del {}".format, st.sampled_from(NAMES)),
    st.builds("raise {}".format, expressions),
    st.builds("assert {}".format, expressions),
)
scripts = st.lists(statements, min_size=1, max_size=4).map("\n".join)

# Ordinary evaluation errors of harmless expressions; anything else is a failure.
EXPECTED_ERRORS = (
    ScriptRefused,
    NameError,
    TypeError,
    ValueError,
    KeyError,
    ZeroDivisionError,
    IndexError,
    AttributeError,
    OverflowError,
    ProcessError,  # post_notice & co. outside a running case
)
ALLOWED_OBJECTS = {id(v) for v in [*scripting.BUILTINS.values(), *FUNCTIONS.values()]}
FORBIDDEN_BUILTINS = {
    id(getattr(builtins, name))
    for name in dir(builtins)
    if name not in scripting.ALLOWED_BUILTINS and not name.startswith("__")
}
DANGEROUS = (
    types.ModuleType,
    types.FunctionType,
    types.LambdaType,
    types.MethodType,
    types.CodeType,
    types.FrameType,
    types.GeneratorType,
    types.TracebackType,
    types.CellType,
    types.MappingProxyType,
    type,
    BaseException,
)


def _harmless(value, depth: int = 0) -> bool:
    """Plain data, an allowed builtin or registered function, or an allowed method."""
    if depth > 20 or id(value) in ALLOWED_OBJECTS:
        return True
    if id(value) in FORBIDDEN_BUILTINS or isinstance(value, DANGEROUS):
        return False
    if isinstance(value, types.BuiltinMethodType | types.MethodWrapperType):
        return value.__name__ in scripting.ALLOWED_METHODS
    if isinstance(value, list | tuple | set | frozenset):
        return all(_harmless(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(_harmless(k, depth + 1) and _harmless(v, depth + 1) for k, v in value.items())
    return True  # ints, text, ranges, the guarded str methods (functools.partial)


@pytest.fixture
def empty_dir(tmp_path, monkeypatch):
    """A working directory that must stay empty: nothing a script runs may write a file."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


ESCAPES = [
    "().__class__.__mro__[1].__subclasses__()",
    "().__class__.__base__.__subclasses__()",
    "[c for c in ().__class__.__bases__[0].__subclasses__()]",
    "(1).__class__.__subclasses__()",
    "items.__class__.__mro__",
    "getattr((), '__class__')",
    "__import__('os').system('touch pwned')",
    "open('pwned', 'w').write('x')",
    "eval(\"__import__('os')\")",
    "exec('import os')",
    "compile('1', 'f', 'eval')",
    "(lambda: 1).__globals__",
    "(lambda: 0).__code__",
    "data.get.__self__",
    "max.__self__",
    "len.__self__.open",
    "'{0.__class__}'.format(1)",
    "'{0.__init__.__globals__}'.format(data)",
    "f'{().__class__}'",
    "f'{max.__self__!r}'",
    "'%s' % (data.get.__self__,)",
    "type(1)",
    "vars()",
    "globals()['__builtins__']",
    "__builtins__",
    "_getattr_(data, '__class__')",
    "(x for x in ()).gi_frame.f_back.f_globals",
    "str.join",
    "str.replace('a' * 99999, 'a', 'a' * 99999)",
    "dict.get",
    "sorted(items, key=max.__self__.open)",
    "[y for y in [data] for z in y.__class__.__mro__]",
]


@pytest.mark.filterwarnings("ignore::SyntaxWarning")
@PROPERTY
@given(source=expressions)
@example(source=ESCAPES[0])  # the classic: reach object, then every loaded class
@example(source="'a' * 999999999")
@example(source="[0] * 99999999")
def test_a_generated_expression_is_refused_or_stays_inside(empty_dir, source):
    _assert_stays_inside(source, "eval")


@pytest.mark.parametrize("source", ESCAPES)
def test_known_escape_attempts_are_refused(empty_dir, source):
    assert _assert_stays_inside(source, "eval") == "refused"


@pytest.mark.filterwarnings("ignore::SyntaxWarning")
@PROPERTY
@given(source=scripts)
@example(source="import os\nos.system('touch pwned')")
@example(source="while True:\n    pass")
@example(source="x = 'ab'\nfor i in range(64):\n    x = x + x")
@example(source="x = 'ab'\nfor i in range(64):\n    x += x")
@example(source="x = 9\nfor i in range(64):\n    x = x * x")
@example(source="x = 0\nfor i in range(99999):\n    for j in range(99999):\n        x += 1")
@example(source="def f():\n    return f()\nx = f()")
@example(source="try:\n    x = 1 / 0\nexcept Exception as e:\n    x = e.__traceback__")
def test_a_generated_script_is_refused_or_stays_inside(empty_dir, source):
    _assert_stays_inside(source, "exec")


def _assert_stays_inside(source: str, mode: str) -> str:
    problems = check(source, mode)
    context = {k: (dict(v) if isinstance(v, dict) else v) for k, v in DATA.items()}
    result, outcome = None, "ran"
    try:
        if mode == "eval":
            result = evaluate(source, context)
        else:
            RestrictedEnvironment().execute(source, context)
    except EXPECTED_ERRORS:
        outcome = "refused"
    except AssertionError:  # the script's own `assert`
        assert mode == "exec" and "assert" in source, source
        outcome = "refused"
    assert _harmless(result), (source, result)
    for key, value in context.items():
        assert scripting._storable(value), (source, key, value)
    if problems:  # check refused it, so running it must have been refused too
        assert outcome == "refused", (source, problems)
    assert list(os.scandir(".")) == [], source
    return "refused" if problems or outcome == "refused" else "ran"


# --- blow-ups -----------------------------------------------------------------------------


BLOW_UPS = [
    ("'a' * 999999999", "eval"),
    ("999999999 * 'a'", "eval"),
    ("[0] * 99999999", "eval"),
    ("'a' * 999 * 999 * 999", "eval"),
    ("[[0] * 1000] * 1000", "eval"),
    ("str([[0] * 300] * 300 * 2)", "eval"),
    ("list(range(999999999))", "eval"),
    ("sum(range(99999999999999))", "eval"),
    ("[i for i in range(99999) for j in range(99999)]", "eval"),
    ("'%0999999999d' % 1", "eval"),
    ("'%*d' % (999999999, 1)", "eval"),
    ("'%.999999999f' % 1", "eval"),
    ("('a' * 99999).replace('a', 'a' * 99999)", "eval"),
    ("('a' * 99999).join(['a' * 99999] * 99)", "eval"),
    ("sum([[0] * 99999] * 99999, [])", "eval"),
    ("99999999999999999999 * 99999999999999999999 * 99999999999999999999 * " * 2 + "9", "eval"),
    ("x = 'ab'\nfor i in range(64):\n    x = x + x", "exec"),
    ("x = [0]\nfor i in range(64):\n    x += x", "exec"),
    ("x = 9\nfor i in range(64):\n    x *= x", "exec"),
    ("x = 0\nfor i in range(99999):\n    for j in range(99999):\n        x += 1", "exec"),
]


@pytest.mark.parametrize(("source", "mode"), BLOW_UPS, ids=[s[:40] for s, _ in BLOW_UPS])
def test_memory_and_cpu_blow_ups_are_stopped_with_a_chinese_reason(source, mode):
    assert check(source, mode) == []  # plain arithmetic: only the run can tell
    with pytest.raises(ScriptRefused, match=r"[\u4e00-\u9fff]"):
        if mode == "eval":
            evaluate(source, {})
        else:
            RestrictedEnvironment().execute(source, {})


@pytest.mark.parametrize(
    "source",
    ["while True:\n    pass", "x = f'{1:>999999999}'", "x = f'{1:>{amount_fen}}'"],
)
def test_unbounded_forms_are_refused_at_deploy(source):
    assert check(source, "exec")
    with pytest.raises(ScriptRefused):
        RestrictedEnvironment().execute(source, {"amount_fen": 10**9})


@PROPERTY
@given(
    text=st.text(max_size=20),
    times=st.integers(0, 200),
    items=st.lists(st.integers(), max_size=20),
)
def test_ordinary_sized_repetition_and_joining_still_work(text, times, items):
    context = {"t": text, "n": times, "items": items}
    assert evaluate("t * n", context) == text * times
    assert evaluate("n * items", context) == times * items
    assert evaluate("t + t", context) == text + text
    assert evaluate("'、'.join([t] * n)", context) == "、".join([text] * times)
    assert evaluate("t.replace('a', 'bb')", context) == text.replace("a", "bb")
    assert evaluate("sum(items) + sum(range(n))", context) == sum(items) + sum(range(times))
    assert evaluate("'%s元' % n", context) == f"{times}元"
    assert evaluate("f'{n:>5}'", context) == f"{times:>5}"
    assert evaluate("str(items)", context) == str(items)


@PROPERTY
@given(size=st.integers(MAX_SIZE - 5, MAX_SIZE + 5))
def test_the_size_limit_is_exact(size):
    if size <= MAX_SIZE:
        assert len(evaluate("'a' * n", {"n": size})) == size
        assert len(evaluate("[0] * n", {"n": size})) == size
    else:
        for source in ("'a' * n", "[0] * n", "n * 'a'"):
            with pytest.raises(ScriptRefused):
                evaluate(source, {"n": size})
