"""The restricted environment for gateway conditions, timer and due-date expressions
and script tasks.

Managers edit diagrams; they must not be able to run code on the server. SpiffWorkflow's
default TaskDataEnvironment is `eval`/`exec` with full builtins, so warmflow plugs in
this one: code is compiled by RestrictedPython (names and attributes starting with "_"
refused at compile time), may call only the builtins in ALLOWED_BUILTINS and the
functions warmflow registers, and may read only the few attributes in ALLOWED_METHODS.
The same `check` runs at deploy (refusing the diagram) and at run time (refusing the
step), so text refused at one is refused at the other.
"""

import ast
import builtins
import functools
import operator
import re
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache, partial
from typing import Any

from RestrictedPython import (
    RestrictingNodeTransformer,
    compile_restricted_eval,
    compile_restricted_exec,
)
from RestrictedPython.Eval import default_guarded_getitem
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
)
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import (
    BasePythonScriptEngineEnvironment,
)

ALLOWED_BUILTINS: dict[str, Any] = {
    name: getattr(builtins, name)
    for name in (
        "len",
        "min",
        "max",
        "int",
        "str",
        "bool",
        "abs",
        "round",
        "sum",
        "any",
        "all",
        "sorted",
        "dict",
        "list",
        "range",
        "float",
        "True",
        "False",
        "None",
    )
}
# Methods of dict/str/list that data expressions reasonably need; nothing else.
ALLOWED_METHODS = frozenset(
    {
        "get",
        "keys",
        "values",
        "items",
        "strip",
        "lower",
        "upper",
        "startswith",
        "endswith",
        "split",
        "join",
        "replace",
        "isdigit",
        "count",
        "index",
    }
)
MAX_SOURCE = 5000
# Guards against memory and CPU blow-ups ('x' * 999999999, [0] * 10**8 spelled out, a
# string doubled in a loop, nested loops): no text or list (counted through nesting) may
# grow past MAX_SIZE, no integer past MAX_INT_BITS, and one run may take at most
# MAX_STEPS loop steps. `while` is refused by `check` (no bounded form).
MAX_SIZE = 100_000
MAX_INT_BITS = 256
MAX_STEPS = 100_000
# Arguments of registered functions: numbers within ±MAX_ARGUMENT, texts of at most
# MAX_ARGUMENT_TEXT characters, nothing else. Each function bounds its own further.
MAX_ARGUMENT = 100_000
MAX_ARGUMENT_TEXT = 1_000

# Functions warmflow offers to diagrams; filled by `register` in the owning modules.
FUNCTIONS: dict[str, Callable[..., Any]] = {}
FUNCTION_HELP: dict[str, str] = {}
# Those that move money or budget: allowed only where the programme's rules allow it
# (workflows/diagram_limits.py at deploy, the service itself at run time).
MONEY_FUNCTIONS: set[str] = set()


# The data of the task whose expression is running, for registered functions to read.
_task_data: ContextVar[dict | None] = ContextVar("warmflow_task_data", default=None)


# Set by a caller that must know whether a registered function read the running task's
# data (workflows/fold.py): every read appends to the list.
data_reads: ContextVar[list | None] = ContextVar("warmflow_data_reads", default=None)


def current_data() -> dict:
    reads = data_reads.get()
    if reads is not None:
        reads.append(True)
    return _task_data.get() or {}


class ScriptRefused(Exception):
    """An expression or script that the restricted environment will not run."""


def register(name: str, help_text: str = "", moves_money: bool = False) -> Callable:
    """Offer `func` to diagrams under `name`. Its arguments are bounded (see
    `_bounded_arguments`); `moves_money` marks a function that reserves, releases or
    pays money."""

    def decorator(func: Callable) -> Callable:
        FUNCTIONS[name] = _bounded_arguments(name, func)
        FUNCTION_HELP[name] = help_text or (func.__doc__ or "").strip()
        if moves_money:
            MONEY_FUNCTIONS.add(name)
        return func

    return decorator


def _bounded_arguments(name: str, func: Callable) -> Callable:
    @functools.wraps(func, updated=())
    def bounded(*args: Any, **kwargs: Any) -> Any:
        for value in (*args, *kwargs.values()):
            if value is None or isinstance(value, bool):
                continue
            if isinstance(value, int | float):
                if not -MAX_ARGUMENT <= value <= MAX_ARGUMENT:
                    raise ScriptRefused(f"函数 {name} 的参数 {value} 超出范围（±{MAX_ARGUMENT}）")
            elif isinstance(value, str):
                if len(value) > MAX_ARGUMENT_TEXT:
                    raise ScriptRefused(
                        f"函数 {name} 的参数过长（最多 {MAX_ARGUMENT_TEXT} 个字符）"
                    )
            else:
                raise ScriptRefused(f"函数 {name} 的参数只能是数字或文字")
        return func(*args, **kwargs)

    return bounded


def check(source: str, mode: str = "eval") -> list[str]:
    """Reasons (Chinese) why `source` may not run; empty when it may."""
    if source is None or not source.strip():
        return ["表达式为空"]
    if len(source) > MAX_SOURCE:
        return [f"表达式过长（超过 {MAX_SOURCE} 个字符）"]
    try:
        tree = ast.parse(source.strip() if mode == "eval" else source, mode=mode)
    except SyntaxError as err:
        return [f"语法错误（第 {err.lineno} 行）：{err.msg}"]
    problems: list[str] = []
    callable_names = set(ALLOWED_BUILTINS) | set(FUNCTIONS)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id.startswith("_"):
                problems.append(f"不允许使用以下划线开头的名称 {node.id}")
            elif node.id in _FORBIDDEN_BUILTINS:
                problems.append(f"不允许使用 {node.id}")
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_") or node.attr not in ALLOWED_METHODS:
                problems.append(f"不允许访问属性 .{node.attr}")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id not in callable_names:
                if func.id not in _FORBIDDEN_BUILTINS and not func.id.startswith("_"):
                    problems.append(f"未知函数 {func.id}（可用：{', '.join(sorted(FUNCTIONS))}）")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            problems.append("不允许导入模块")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            problems.append("不允许定义函数或类")
        elif isinstance(node, ast.Global | ast.Nonlocal):
            problems.append("不允许使用 global/nonlocal")
        elif isinstance(node, ast.BinOp | ast.AugAssign) and not isinstance(node.op, _ARITHMETIC):
            # ** can blow up (9**9**9); bit operations have no use in case data.
            problems.append("不支持的运算（仅允许 + - * / // %）")
        elif isinstance(node, ast.While):
            problems.append("不允许使用 while 循环（请用 for ... in range(...)）")
        elif isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            spec = node.format_spec
            if any(isinstance(n, ast.FormattedValue) for n in ast.walk(spec)) or re.search(
                r"\d{6,}", ast.unparse(spec)
            ):
                problems.append("格式说明的宽度或精度过大")
    if not problems:
        try:
            _compile(source, mode)
        except ScriptRefused as err:
            problems.append(str(err))
    # Keep order, drop repeats.
    return list(dict.fromkeys(problems))


_ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod)
_FORBIDDEN_BUILTINS = frozenset(
    name for name in dir(builtins) if name not in ALLOWED_BUILTINS and not name[0].isupper()
) | {
    "exec",
    "eval",
    "open",
    "compile",
    "globals",
    "locals",
    "vars",
    "getattr",
    "setattr",
    "delattr",
    "input",
    "breakpoint",
    "help",
    "exit",
    "quit",
    "memoryview",
    "type",
    "object",
}


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's checks, and `a * b`, `a + b`, `a % b` and f-string values
    routed through the size guards below."""

    _GUARDED = {ast.Mult: "_mul_", ast.Add: "_add_", ast.Mod: "_mod_"}

    def visit_BinOp(self, node: ast.BinOp):
        node = self.node_contents_visit(node)
        guard = self._GUARDED.get(type(node.op))
        if guard is None:
            return node
        call = ast.Call(ast.Name(guard, ast.Load()), [node.left, node.right], [])
        return ast.fix_missing_locations(ast.copy_location(call, node))

    def visit_FormattedValue(self, node: ast.FormattedValue):
        node = self.node_contents_visit(node)
        call = ast.Call(ast.Name("_sized_", ast.Load()), [node.value], [])
        node.value = ast.fix_missing_locations(ast.copy_location(call, node.value))
        return node

    # Every value a script builds in one go (an f-string, a comprehension, a list, tuple,
    # set or dict written out) is measured as a whole, through nesting: [s for i in ...]
    # or [a, a, a] of big values is refused like s * 3 would be.
    def _sized(self, node: ast.AST) -> ast.AST:
        call = ast.Call(ast.Name("_sized_", ast.Load()), [node], [])
        return ast.fix_missing_locations(ast.copy_location(call, node))

    def visit_JoinedStr(self, node: ast.JoinedStr):
        return self._sized(self.node_contents_visit(node))

    def visit_ListComp(self, node: ast.ListComp):
        return self._sized(super().visit_ListComp(node))

    def visit_SetComp(self, node: ast.SetComp):
        return self._sized(super().visit_SetComp(node))

    def visit_DictComp(self, node: ast.DictComp):
        return self._sized(super().visit_DictComp(node))

    def visit_Dict(self, node: ast.Dict):
        return self._sized(self.node_contents_visit(node))

    def visit_Set(self, node: ast.Set):
        return self._sized(self.node_contents_visit(node))

    def visit_List(self, node: ast.List):
        node = self.node_contents_visit(node)
        return self._sized(node) if isinstance(node.ctx, ast.Load) else node

    def visit_Tuple(self, node: ast.Tuple):
        node = self.node_contents_visit(node)
        return self._sized(node) if isinstance(node.ctx, ast.Load) else node


@lru_cache(maxsize=2048)
def _compile(source: str, mode: str):
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(source.strip() if mode == "eval" else source, "<diagram>", policy=_Policy)
    if result.errors:
        raise ScriptRefused("；".join(result.errors))
    return result.code


@lru_cache(maxsize=2048)
def _checked_code(source: str, mode: str):
    problems = check(source, mode)
    if problems:
        raise ScriptRefused("；".join(problems))
    return _compile(source, mode)


def _guarded_getattr(obj: Any, name: str, default: Any = None) -> Any:
    if name.startswith("_") or name not in ALLOWED_METHODS:
        raise ScriptRefused(f"不允许访问属性 .{name}")
    if isinstance(obj, type):  # str.replace(...) would bypass the size guards
        raise ScriptRefused(f"不允许访问类型的属性 .{name}")
    if isinstance(obj, str) and name in _STR_METHODS:
        return partial(_STR_METHODS[name], obj)
    return getattr(obj, name, default) if default is not None else getattr(obj, name)


_CONTAINERS = (list, tuple, dict, set, frozenset)
_SIZED = (str, bytes, *_CONTAINERS)
_steps: ContextVar[list[int] | None] = ContextVar("warmflow_script_steps", default=None)


def _too_big(what: str = "结果") -> ScriptRefused:
    return ScriptRefused(f"{what}过大（文字或列表最多 {MAX_SIZE} 项），已停止运行")


def _size(value: Any, memo: dict[int, int] | None = None) -> int:
    """Characters of text, items of lists and dicts counted through nesting (a list that
    appears n times counts n times), stopping early once past MAX_SIZE."""
    if isinstance(value, str | bytes):
        return len(value)
    if not isinstance(value, _CONTAINERS):
        return 0
    memo = {} if memo is None else memo
    if id(value) in memo:
        return memo[id(value)]
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
    total = len(items)
    for item in items:
        if total > MAX_SIZE:
            break
        if isinstance(item, _SIZED):
            total += _size(item, memo)
    memo[id(value)] = total
    return total


def _sized(value: Any) -> Any:
    if _size(value) > MAX_SIZE:
        raise _too_big()
    return value


def _mul(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        if a.bit_length() + b.bit_length() > MAX_INT_BITS:
            raise ScriptRefused("整数过大，已停止运行")
    elif isinstance(b, int) and b > 0 and _size(a) * b > MAX_SIZE:
        raise _too_big()
    elif isinstance(a, int) and a > 0 and _size(b) * a > MAX_SIZE:
        raise _too_big()
    return a * b


def _add(a: Any, b: Any) -> Any:
    if not isinstance(a, int | float) and _size(a) + _size(b) > MAX_SIZE:
        raise _too_big()
    return a + b


_WIDE_FORMAT = re.compile(r"%[^a-zA-Z%]*(\*|\d{6,})")


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, str):
        if _WIDE_FORMAT.search(a):
            raise ScriptRefused("格式说明的宽度或精度过大")
        _sized(b)
    return a % b


def _guarded_iter(iterable: Any):
    budget = _steps.get()
    for item in iterable:
        if budget is not None:
            budget[0] -= 1
            if budget[0] < 0:
                raise ScriptRefused(f"循环次数过多（最多 {MAX_STEPS} 步），已停止运行")
        yield item


def _range(*args: int) -> range:
    numbers = range(*args)
    try:
        too_long = len(numbers) > MAX_SIZE
    except OverflowError:
        too_long = True
    if too_long:
        raise ScriptRefused(f"range 过长（最多 {MAX_SIZE} 项）")
    return numbers


def _sum(iterable: Any, start: Any = 0) -> Any:
    if not isinstance(start, int | float):
        raise ScriptRefused("sum 只能对数字求和")
    return sum(iterable, start)


def _str(*args: Any) -> str:
    if args:
        _sized(args[0])
    return str(*args)


def _built(make: Callable) -> Callable:
    """A builtin that builds a container (list, dict, sorted), measured like a literal."""

    def built(*args: Any, **kwargs: Any) -> Any:
        return _sized(make(*args, **kwargs))

    # Only the name: functools.wraps would copy the type's own attributes (dict.get, ...).
    built.__name__ = built.__qualname__ = make.__name__
    return built


def _join(separator: str, items: Any) -> str:
    items = list(items)
    if _size(separator) * len(items) + sum(_size(i) for i in items) > MAX_SIZE:
        raise _too_big()
    return separator.join(items)


def _replace(text: str, old: Any, new: Any, count: int = -1) -> str:
    hits = text.count(old) if isinstance(old, str) else 0
    if count >= 0:
        hits = min(hits, count)
    if isinstance(new, str) and len(text) + hits * len(new) > MAX_SIZE:
        raise _too_big()
    return text.replace(old, new, count)


_STR_METHODS = {"join": _join, "replace": _replace}

_INPLACE = {
    "+=": _add,
    "-=": operator.sub,
    "*=": _mul,
    "/=": operator.truediv,
    "//=": operator.floordiv,
    "%=": _mod,
}


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    if op not in _INPLACE:  # check() refuses the others (**=, bit operations) at deploy
        raise ScriptRefused(f"不支持的运算 {op}")
    return _INPLACE[op](x, y)


def _storable(value: Any) -> bool:
    """Task data is saved as JSON: only plain values may come out of a script."""
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple):
        return all(_storable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _storable(v) for k, v in value.items())
    return False


# The builtins a script sees: the allowed ones, six of them wrapped to cap what they build.
# Naming one (`str`) hands back the wrapper, so this, not ALLOWED_BUILTINS, is what a
# script can reach.
BUILTINS: dict[str, Any] = ALLOWED_BUILTINS | {
    "range": _range,
    "sum": _sum,
    "str": _str,
    "list": _built(list),
    "dict": _built(dict),
    "sorted": _built(sorted),
}

_GUARDS = {
    "__builtins__": BUILTINS,
    "_getattr_": _guarded_getattr,
    "_getitem_": default_guarded_getitem,
    "_getiter_": _guarded_iter,
    "_mul_": _mul,
    "_add_": _add,
    "_mod_": _mod,
    "_sized_": _sized,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard,
    "_inplacevar_": _inplacevar,
}


def _globals(context: dict, external_context: dict | None) -> dict:
    scope = dict(_GUARDS)
    scope.update(FUNCTIONS)
    if external_context:
        scope.update(external_context)
    for key, value in context.items():
        if not key.startswith("_"):
            scope[key] = value
    return scope


# When the user action running this code must stop (time.monotonic()); set by the engine.
deadline: ContextVar[float | None] = ContextVar("warmflow_deadline", default=None)
TIMED_OUT = "运行时间过长，已停止运行"


def _watch(until: float) -> Callable:
    """A trace function that stops diagram code (and only it) past `until`: a script's
    single steps are cheap, but 100,000 of them over big values are not."""

    def line(frame, event: str, _arg):
        if event == "line" and time.monotonic() > until:
            raise ScriptRefused(TIMED_OUT)
        return line

    def call(frame, _event: str, _arg):
        return line if frame.f_code.co_filename == "<diagram>" else None

    return call


@contextmanager
def _running(context: dict):
    """One run: the task data for registered functions, a fresh loop-step budget, and
    the action's deadline watched."""
    data, steps = _task_data.set(context), _steps.set([MAX_STEPS])
    until = deadline.get()
    previous = sys.gettrace()
    if until is not None:
        if time.monotonic() > until:
            raise ScriptRefused(TIMED_OUT)
        sys.settrace(_watch(until))
    try:
        yield
    finally:
        if until is not None:
            sys.settrace(previous)
        _steps.reset(steps)
        _task_data.reset(data)


def evaluate(source: str, context: dict) -> Any:
    """Evaluate an expression against task data (used outside SpiffWorkflow too)."""
    code = _checked_code(source, "eval")
    with _running(context):
        result = eval(code, _globals(context, None))  # noqa: S307 (restricted bytecode)
    return _sized(result)


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    def evaluate(self, expression, context, external_context=None):
        code = _checked_code(expression, "eval")
        with _running(context):
            result = eval(code, _globals(context, external_context))  # noqa: S307 (restricted)
        return _sized(result)

    def execute(self, script, context, external_context=None):
        code = _checked_code(script, "exec")
        scope = _globals(context, external_context)
        before = {k: id(v) for k, v in scope.items()}
        with _running(context):
            exec(code, scope)  # noqa: S102 (restricted bytecode)
        for key, value in scope.items():
            if key.startswith("_") or callable(value):
                continue
            if key in context or before.get(key) != id(value):
                if not _storable(value):
                    raise ScriptRefused(
                        f"脚本给 {key} 赋的值无法保存（只能是文字、数字、列表或字典）"
                    )
                if _size(value) > MAX_SIZE:
                    # Built bit by bit (d[k] = s in a loop): measured before it is kept.
                    raise _too_big(f"脚本给 {key} 赋的值")
                context[key] = value
        return True

    def call_service(self, context, **kwargs):
        raise ScriptRefused("服务任务未启用")


# --- timer values ------------------------------------------------------------------------
# SpiffWorkflow turns a timer's value into a due time by itself, with loops over every
# month of a duration (P99999999Y spins for ever) and cycles that may repeat at no
# interval (R/PT0S). So every value is checked first: at deploy where the expression is
# a constant (workflows/diagram_limits.py), and here at run time, before SpiffWorkflow
# sees it.

MAX_TIMER_DAYS = 3653  # ten years
MIN_CYCLE_SECONDS = 3600
_DURATION = re.compile(
    r"P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?",
    re.IGNORECASE,
)
_DAYS_PER = {
    "years": 366,
    "months": 31,
    "weeks": 7,
    "days": 1,
    "hours": 1 / 24,
    "minutes": 1 / 1440,
    "seconds": 1 / 86400,
}
TIMER_KINDS = {"timeDate": "定时器日期", "timeDuration": "定时器时长", "timeCycle": "循环定时器"}


def _duration_days(text: str) -> float | None:
    found = _DURATION.fullmatch(text.strip())
    if found is None or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        return None
    return sum(int(v) * _DAYS_PER[k] for k, v in found.groupdict().items() if v)


def _date_problem(text: str, now: Any) -> str | None:
    from datetime import datetime, timedelta

    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return f"“{text[:40]}”不是有效的日期时间（应为 ISO 8601，如 2026-09-15T00:00:00+08:00）"
    if when.tzinfo is None:
        when = when.replace(tzinfo=now.tzinfo)
    if when > now + timedelta(days=MAX_TIMER_DAYS):
        return f"日期 {text[:40]} 超过十年以后"
    return None


def timer_problem(kind: str, value: Any, now: Any) -> str | None:
    """Why a timer's value may not be used (Chinese), or None. `kind` is timeDate,
    timeDuration or timeCycle; `now` an aware datetime."""
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        return "定时器的值应为 ISO 8601 文字"
    text = value.strip()
    if kind == "timeDate":
        return _date_problem(text, now)
    if kind == "timeDuration":
        days = _duration_days(text)
        if days is None:
            return f"“{text[:40]}”不是有效的时长（如 P5D、PT12H，只用整数）"
        if days > MAX_TIMER_DAYS:
            return f"时长 {text[:40]} 超过十年"
        return None
    parts = text.upper().split("/")
    if not parts[0].startswith("R") or len(parts) not in (2, 3):
        return f"“{text[:40]}”不是有效的循环定时（如 R3/P1D）"
    repeat = parts[0][1:]
    if repeat and (not repeat.isdigit() or int(repeat) > 1000):
        return "循环次数应为不超过 1000 的整数"
    durations = [p for p in parts[1:] if p.startswith("P")]
    starts = [p for p in parts[1:] if not p.startswith("P")]
    if len(durations) != 1:
        return f"“{text[:40]}”应恰好包含一个时长（如 R3/P1D）"
    days = _duration_days(durations[0])
    if days is None:
        return f"“{durations[0][:40]}”不是有效的时长（如 P1D，只用整数）"
    if days * 86400 < MIN_CYCLE_SECONDS:
        return f"循环间隔 {durations[0]} 过短（至少 1 小时）"
    if days > MAX_TIMER_DAYS:
        return f"循环间隔 {durations[0]} 超过十年"
    for start in starts:
        problem = _date_problem(start, now)
        if problem:
            return problem
    return None


def _timer_kind(definition: Any) -> str | None:
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
        CycleTimerEventDefinition,
        DurationTimerEventDefinition,
        TimeDateEventDefinition,
    )

    for cls, kind in (
        (TimeDateEventDefinition, "timeDate"),
        (DurationTimerEventDefinition, "timeDuration"),
        (CycleTimerEventDefinition, "timeCycle"),
    ):
        if isinstance(definition, cls):
            return kind
    return None


class WarmflowScriptEngine(PythonScriptEngine):
    """SpiffWorkflow's script engine on the restricted environment, with every timer's
    value checked before SpiffWorkflow computes a due time from it."""

    def evaluate(self, task, expression, external_context=None):
        value = super().evaluate(task, expression, external_context)
        definition = getattr(task.task_spec, "event_definition", None)
        for each in [definition, *(getattr(definition, "event_definitions", None) or [])]:
            kind = _timer_kind(each)
            if kind is None or each.expression != expression:
                continue
            from workflows.clock import now

            problem = timer_problem(kind, value, now())
            if problem:
                where = task.task_spec.bpmn_name or task.task_spec.bpmn_id or task.task_spec.name
                raise ScriptRefused(f"{TIMER_KINDS[kind]}超出范围（环节：{where}）：{problem}")
        return value


script_engine = WarmflowScriptEngine(environment=RestrictedEnvironment())
