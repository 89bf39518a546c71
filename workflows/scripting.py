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
from collections.abc import Callable
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
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


@lru_cache(maxsize=2048)
def _compile(source: str, mode: str):
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(source.strip() if mode == "eval" else source, "<diagram>")
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
    return getattr(obj, name, default) if default is not None else getattr(obj, name)


_INPLACE = {
    "+=": operator.add,
    "-=": operator.sub,
    "*=": operator.mul,
    "/=": operator.truediv,
    "//=": operator.floordiv,
    "%=": operator.mod,
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


_GUARDS = {
    "__builtins__": ALLOWED_BUILTINS,
    "_getattr_": _guarded_getattr,
    "_getitem_": default_guarded_getitem,
    "_getiter_": default_guarded_getiter,
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


def evaluate(source: str, context: dict) -> Any:
    """Evaluate an expression against task data (used outside SpiffWorkflow too)."""
    return eval(_checked_code(source, "eval"), _globals(context, None))  # noqa: S307 (restricted bytecode)


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    def evaluate(self, expression, context, external_context=None):
        code = _checked_code(expression, "eval")
        token = _task_data.set(context)
        try:
            return eval(code, _globals(context, external_context))  # noqa: S307 (restricted)
        finally:
            _task_data.reset(token)

    def execute(self, script, context, external_context=None):
        code = _checked_code(script, "exec")
        scope = _globals(context, external_context)
        before = {k: id(v) for k, v in scope.items()}
        token = _task_data.set(context)
        try:
            exec(code, scope)  # noqa: S102 (restricted bytecode)
        finally:
            _task_data.reset(token)
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
