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
import operator
import re
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

# Functions warmflow offers to diagrams; filled by `register` in the owning modules.
FUNCTIONS: dict[str, Callable[..., Any]] = {}
FUNCTION_HELP: dict[str, str] = {}


# The data of the task whose expression is running, for registered functions to read.
_task_data: ContextVar[dict | None] = ContextVar("warmflow_task_data", default=None)


def current_data() -> dict:
    return _task_data.get() or {}


class ScriptRefused(Exception):
    """An expression or script that the restricted environment will not run."""


def register(name: str, help_text: str = "") -> Callable:
    def decorator(func: Callable) -> Callable:
        FUNCTIONS[name] = func
        FUNCTION_HELP[name] = help_text or (func.__doc__ or "").strip()
        return func

    return decorator


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


# The builtins a script sees: the allowed ones, three of them wrapped to cap what they build.
# Naming one (`str`) hands back the wrapper, so this, not ALLOWED_BUILTINS, is what a
# script can reach.
BUILTINS: dict[str, Any] = ALLOWED_BUILTINS | {"range": _range, "sum": _sum, "str": _str}

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


@contextmanager
def _running(context: dict):
    """One run: the task data for registered functions, and a fresh loop-step budget."""
    data, steps = _task_data.set(context), _steps.set([MAX_STEPS])
    try:
        yield
    finally:
        _steps.reset(steps)
        _task_data.reset(data)


def evaluate(source: str, context: dict) -> Any:
    """Evaluate an expression against task data (used outside SpiffWorkflow too)."""
    code = _checked_code(source, "eval")
    with _running(context):
        return eval(code, _globals(context, None))  # noqa: S307 (restricted bytecode)


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    def evaluate(self, expression, context, external_context=None):
        code = _checked_code(expression, "eval")
        with _running(context):
            return eval(code, _globals(context, external_context))  # noqa: S307 (restricted)

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
                context[key] = value
        return True

    def call_service(self, context, **kwargs):
        raise ScriptRefused("服务任务未启用")


script_engine = PythonScriptEngine(environment=RestrictedEnvironment())
