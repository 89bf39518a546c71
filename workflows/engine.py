"""The engine adapter: load an instance, run one SpiffWorkflow step, save it. Small on purpose.

Every action follows the same path (DESIGN.md "A user action, end to end"): load the
instance row with its lock version → restore the workflow onto the cached spec → run the
step and the engine steps after it → apply the effects the diagram's functions asked for
(post a notice, request a payment, ...) → write state, open human tasks and audit → the
caller commits once. If the version moved underneath, the flush fails and the caller
answers "someone else completed this task".
"""

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.specs.defaults import EndEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, exists, func, insert, inspect, literal, select, union_all, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from workflows import access, audit, scripting, serialization, workdays
from workflows.clock import now
from workflows.db import unit_of_work  # noqa: F401 (services use engine.unit_of_work)
from workflows.errors import AlreadyDone, Conflict, ValidationFailed, WarmflowError
from workflows.models import AuditEvent, Case, CaseActor, HumanTask, ProcessInstance
from workflows.processes import LoadedVersion, loaded_version

log = logging.getLogger(__name__)


class ProcessError(WarmflowError):
    """The diagram could not run a step (a bad expression, a missing variable)."""

    code = "process_error"


# Limits of one user action, whatever the diagram (DESIGN.md "Limits that protect
# everyone"): engine steps, wall time, and the data a task may carry on (JSON characters).
# A normal action takes a few dozen steps and milliseconds; past either limit the action
# is refused and rolled back. Nothing is written while the engine runs, so a runaway
# holds no database lock.
MAX_ENGINE_STEPS = 1000
MAX_ENGINE_SECONDS = 5.0
MAX_CALL_DEPTH = 10  # processes calling processes: ours go two deep
MAX_TASK_DATA = 256 * 1024
MAX_STATE = 8 * 1024 * 1024


# --- the run context: what diagram functions may see and ask for ----------------------


@dataclass
class RunContext:
    case: Case
    calendar: workdays.WorkCalendar
    effects: list[tuple[str, dict]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


_run: ContextVar[RunContext | None] = ContextVar("warmflow_run", default=None)


def current_run() -> RunContext:
    ctx = _run.get()
    if ctx is None:
        raise ProcessError("该函数只能在流程运行时调用")
    return ctx


current_data = scripting.current_data


def calendar() -> workdays.WorkCalendar:
    ctx = _run.get()
    return ctx.calendar if ctx else workdays.current()


def ask(effect: str, **payload: Any) -> None:
    """Queue an effect; its handler runs after the engine steps, in the same transaction."""
    current_run().effects.append((effect, payload))


CloseHook = Callable[[Session, "Loaded"], None]
CLOSE_HOOKS: list[CloseHook] = []

# What close hooks read, for many cases at once (a folded set, workflows/fold.py): each
# function reads for the given cases what its hook would read case by case and keeps it
# with `keep_prefetched`; the hook asks `prefetched` first.
CLOSE_PREFETCH: list[Callable[[Session, list[int]], None]] = []
_PREFETCHED = "warmflow.prefetched"


@contextmanager
def closing_many(session: Session, case_ids: list[int]) -> Iterator[None]:
    session.info[_PREFETCHED] = {}
    try:
        for prefetch in CLOSE_PREFETCH:
            prefetch(session, case_ids)
        yield
    finally:
        session.info.pop(_PREFETCHED, None)


def keep_prefetched(session: Session, name: str, by_case: dict[int, Any]) -> None:
    session.info[_PREFETCHED][name] = by_case


def prefetched(session: Session, name: str, case_id: int, read: Callable[[], Any]) -> Any:
    """What a close hook reads for a case: from a folded set's prefetch, else `read()`."""
    kept = session.info.get(_PREFETCHED, {}).get(name)
    return read() if kept is None else kept.get(case_id)


EffectHandler = Callable[[Session, "Loaded", dict], None]
EFFECTS: dict[str, EffectHandler] = {}


def effect_handler(name: str) -> Callable[[EffectHandler], EffectHandler]:
    def decorator(func: EffectHandler) -> EffectHandler:
        EFFECTS[name] = func
        return func

    return decorator


MAX_WORKING_DAYS = 1000  # about four years: any real period or deadline


@scripting.register("working_days_after", "n 个工作日后（当日 24 时，北京时间）的时刻")
def working_days_after(days: int) -> str:
    if isinstance(days, bool) or not isinstance(days, int | float) or days != int(days):
        raise scripting.ScriptRefused("working_days_after 的参数应为整数个工作日")
    if not 0 <= days <= MAX_WORKING_DAYS:
        raise scripting.ScriptRefused(
            f"working_days_after 的参数应在 0 至 {MAX_WORKING_DAYS} 个工作日之间"
        )
    start = now()
    end = calendar().period_end(start, int(days))
    warning = calendar().warning(start.date(), end.date())
    ctx = _run.get()
    if warning and ctx is not None:
        ctx.warnings.append(warning)
    return end.isoformat()


# --- loading and saving -----------------------------------------------------------------


@dataclass
class Loaded:
    instance: ProcessInstance
    case: Case
    version: LoadedVersion
    called: dict[str, LoadedVersion]
    workflow: BpmnWorkflow
    # The instance's open human tasks, when the caller read them with the instance in
    # the same statement (a completion does): `save` then needs no query for them. The
    # instance's version check at the write keeps them true.
    open_rows: list[HumanTask] | None = None
    # The case's unit, when a completion read its path with the rest (models.UnitPath):
    # new tasks are placed from it without loading the unit.
    unit: Any = None
    # A case closed by a folded run (workflows/fold.py) has no workflow restored: its
    # final data for the close hooks (`closing_data`), or how to read it.
    final: dict | Callable[[], dict] | None = None

    def meta_for(self, task) -> dict:
        pid = task.workflow.spec.name
        version = self.version if pid == self.version.process_id else self.called.get(pid)
        return version.meta if version else {}


def _called_versions(session: Session, instance: ProcessInstance) -> dict[str, LoadedVersion]:
    pins = json.loads(instance.subprocess_versions or "{}")
    return {pid: loaded_version(session, vid) for pid, vid in pins.items()}


def new_workflow(version: LoadedVersion, called: dict[str, LoadedVersion]) -> BpmnWorkflow:
    return BpmnWorkflow(
        version.spec,
        {pid: v.spec for pid, v in called.items()},
        script_engine=scripting.script_engine,
    )


def load(session: Session, instance: ProcessInstance) -> Loaded:
    if instance.status != "running":
        raise Conflict("该案件已结束，不能再办理")
    version = loaded_version(session, instance.version_id)
    called = _called_versions(session, instance)
    workflow = serialization.state_from_bytes(
        instance.state, version.spec, {pid: v.spec for pid, v in called.items()}
    )
    return Loaded(instance, instance.case, version, called, workflow)


def load_case(session: Session, case_id: int) -> Loaded:
    instance = session.scalars(
        select(ProcessInstance).where(ProcessInstance.case_id == case_id)
    ).one()
    return load(session, instance)


def expression_sources(
    versions: list[LoadedVersion], only: Callable[[str, str], bool] | None = None
) -> list[str]:
    """The text of every script, condition, timer expression and due date of `versions`:
    all that reads a case's data by name (a campaign launch and a folded run check which
    names they read). With `only`, of the elements (process id, element name) it keeps."""
    sources = []
    for version in versions:
        process_id = version.spec.name
        user_tasks = version.meta.get("user_tasks", {})
        for name, task_spec in version.spec.task_specs.items():
            if only is not None and not only(process_id, name):
                continue
            for attribute in ("script", "prescript", "postscript"):
                script = getattr(task_spec, attribute, None)
                if isinstance(script, str):
                    sources.append(script)
            for condition, _name in getattr(task_spec, "cond_task_specs", None) or []:
                if isinstance(condition, str):
                    sources.append(condition)
            definition = getattr(task_spec, "event_definition", None)
            for each in [definition, *(getattr(definition, "event_definitions", None) or [])]:
                expression = getattr(each, "expression", None)
                if isinstance(expression, str):
                    sources.append(expression)
            if only is not None and user_tasks.get(name, {}).get("due"):
                sources.append(user_tasks[name]["due"])
        if only is None:
            sources.extend(task["due"] for task in user_tasks.values() if task.get("due"))
    return sources


def _element(task) -> str:
    spec = task.task_spec
    return spec.bpmn_name or getattr(spec, "bpmn_id", None) or spec.name


class _Budget:
    """The steps and time one action may still take; checked before every engine step
    (and, through `scripting.deadline`, on every line of diagram code)."""

    def __init__(self) -> None:
        self.steps = 0
        self.until = time.monotonic() + MAX_ENGINE_SECONDS

    def tick(self, task) -> None:
        if getattr(task.workflow, "depth", 0) > MAX_CALL_DEPTH:
            # Name the call activity that went one level too deep, not its start event.
            caller = task.workflow.top_workflow.get_task_from_id(task.workflow.parent_task_id)
            raise ProcessError(
                f"调用流程的层级过深（最多 {MAX_CALL_DEPTH} 层），已停止，本次操作未保存"
                f"（环节：{_element(caller or task)}）。请检查流程是否直接或间接调用了自己"
            )
        self.steps += 1
        if self.steps > MAX_ENGINE_STEPS:
            raise ProcessError(
                f"流程运行步骤过多（一次操作最多 {MAX_ENGINE_STEPS} 步），已停止，本次操作未保存"
                f"（环节：{_element(task)}）。请检查流程图是否有不经等待的循环或循环调用"
            )
        self.check_time(task)

    def check_time(self, task=None) -> None:
        if time.monotonic() > self.until:
            where = f"（环节：{_element(task)}）" if task is not None else ""
            raise ProcessError(
                f"流程运行超时（一次操作最多 {MAX_ENGINE_SECONDS:g} 秒），已停止，本次操作未保存"
                f"{where}"
            )


@contextmanager
def _bounded(ctx: RunContext) -> Iterator[_Budget]:
    budget = _Budget()
    run_token, deadline_token = _run.set(ctx), scripting.deadline.set(budget.until)
    try:
        yield budget
    except (SpiffWorkflowException, scripting.ScriptRefused) as err:
        raise ProcessError(_describe(err)) from None
    except RecursionError:
        raise ProcessError("流程嵌套过深，已停止，本次操作未保存") from None
    finally:
        scripting.deadline.reset(deadline_token)
        _run.reset(run_token)


def run(
    session: Session, loaded: Loaded, step: Callable[[BpmnWorkflow], None] | None = None
) -> RunContext:
    """Run `step`, then engine steps until the workflow waits, in memory only: nothing
    is written and no lock is taken, so a runaway diagram (cut off by the step and time
    limits) holds up nobody else. The effects it asked for are in the returned context."""
    ctx = RunContext(loaded.case, workdays.current(session))
    with _bounded(ctx) as budget:
        if step is not None:
            step(loaded.workflow)
        loaded.workflow.do_engine_steps(will_complete_task=budget.tick)
        budget.check_time()
    check_data_size(loaded.workflow)
    return ctx


def fill_in(loaded: Loaded, ctx: RunContext, placeholder: str, value: str) -> bool:
    """Put `value` wherever a run left `placeholder` as a whole value (in its state and
    its effects). False, changing nothing, if a script built another value from it."""
    quoted = json.dumps(placeholder, ensure_ascii=False)
    text = serialization.state_text(loaded.workflow)
    effects = json.dumps(ctx.effects, ensure_ascii=False, default=str)
    for found in (text, effects):
        if found.count(quoted[1:-1]) != found.count(quoted):
            return False
    real = json.dumps(value, ensure_ascii=False)
    loaded.workflow = serialization.state_from_text(
        text.replace(quoted, real),
        loaded.version.spec,
        {pid: v.spec for pid, v in loaded.called.items()},
    )
    ctx.effects = [(name, payload) for name, payload in json.loads(effects.replace(quoted, real))]
    return True


def check_data_size(workflow: BpmnWorkflow) -> None:
    """What a step leaves in the case for the next ones is capped (as saved, in JSON)."""
    for task in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING):
        size = len(serialization.dumps(task.data))
        if size > MAX_TASK_DATA:
            raise ProcessError(
                f"案件数据过大（{size // 1024} KB，最多 {MAX_TASK_DATA // 1024} KB），"
                f"本次操作未保存（环节：{_element(task)}）"
            )


def commit_run(
    session: Session,
    loaded: Loaded,
    actor_id: int | None,
    ctx: RunContext,
    completed_task_uuid: str | None = None,
) -> None:
    """Write what `run` did (no commit). The instance row goes first: its new state in one
    UPDATE that checks and moves the lock version, so a concurrent action is refused with
    a clear conflict before anything else is written (an effect's row, a human task).
    With it go the rows the action settled before: its task rows (done, cancelled, new)
    and audit rows, and the case's changed columns (one statement on PostgreSQL, see
    `_write_instance`). Then the effects and, for a finished case, its closing."""
    ready = _ready_tasks(loaded.workflow)
    _settle_instance(loaded, ctx, ready)
    _task_rows(session, loaded, ctx, completed_task_uuid, ready)
    _write_instance(session, loaded.instance)
    for name, payload in ctx.effects:
        EFFECTS[name](session, loaded, payload)
    _close(session, loaded, actor_id)


def advance(
    session: Session,
    loaded: Loaded,
    actor_id: int | None,
    step: Callable[[BpmnWorkflow], None] | None = None,
    completed_task_uuid: str | None = None,
) -> None:
    """Run `step`, then engine steps until the workflow waits; save everything (no commit)."""
    ctx = run(session, loaded, step)
    commit_run(session, loaded, actor_id, ctx, completed_task_uuid)


@dataclass
class FirstWait:
    """A new workflow run to its first wait without saving anything: what `save` would
    write for it (a campaign launch uses one of these for many cases)."""

    workflow: BpmnWorkflow
    effects: list[tuple[str, dict]]
    warnings: list[str]
    tasks: list[dict]  # task_uuid, process_id, element_id, name, candidate_group, due_at
    next_timer_at: datetime | None


def first_wait(session: Session, loaded: Loaded, data: dict) -> FirstWait:
    """Seed `loaded.workflow` (new) with `data` and run it to its first wait, in memory."""

    def seed(workflow: BpmnWorkflow) -> None:
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)

    ctx = run(session, loaded, seed)
    workflow = loaded.workflow
    tasks = []
    token = _run.set(ctx)
    try:
        for task in workflow.get_tasks(state=TaskState.READY, manual=True):
            meta = loaded.meta_for(task).get("user_tasks", {}).get(task.task_spec.name, {})
            tasks.append(
                dict(
                    task_uuid=str(task.id),
                    process_id=task.workflow.spec.name,
                    element_id=task.task_spec.name,
                    name=meta.get("name") or task.task_spec.bpmn_name or task.task_spec.name,
                    candidate_group=meta.get("group") or "caseworker",
                    due_at=_task_due(loaded, task, meta.get("due", "")),
                )
            )
    finally:
        _run.reset(token)
    return FirstWait(workflow, ctx.effects, ctx.warnings, tasks, next_timer(workflow))


_INSTANCE = ProcessInstance.__table__
_TASK = HumanTask.__table__
_AUDIT = AuditEvent.__table__
_CASE = Case.__table__
_ACTOR = CaseActor.__table__


def _changed(table, obj) -> dict:
    """The columns of `obj` changed since it was read (as its UPDATE would set them)."""
    state = inspect(obj)
    return {
        key: getattr(obj, key)
        for key in state.committed_state
        if key in table.c and state.attrs[key].history.has_changes()
    }


@dataclass
class _Update:
    """One row's UPDATE: what changed, by id, checking the lock version it was read with
    (and moving it) when the table has one, as the ORM's version column would."""

    table: Any
    row_id: int
    values: dict
    old_version: int | None = None

    @property
    def shape(self) -> tuple:
        return (self.table.name, tuple(self.values), self.old_version is not None)

    def statement(self, prefix: str):
        table = self.table
        where = [table.c.id == bindparam(prefix + "id")]
        if self.old_version is not None:
            where.append(table.c.lock_version == bindparam(prefix + "old"))
        values = {k: bindparam(prefix + k, type_=table.c[k].type) for k in self.values}
        return update(table).where(*where).values(values)

    def params(self, prefix: str) -> dict:
        found = {prefix + k: v for k, v in self.values.items()}
        found[prefix + "id"] = self.row_id
        if self.old_version is not None:
            found[prefix + "old"] = self.old_version
        return found


def _versioned_update(table, obj) -> _Update | None:
    """The UPDATE of what changed in `obj` (a row with a lock_version column); None if
    nothing changed."""
    values = _changed(table, obj)
    if not values:
        return None
    old = inspect(obj).committed_state.get("lock_version", obj.lock_version)
    values["lock_version"] = old + 1
    return _Update(table, obj.id, values, old)


def _default(column):
    default = column.default
    return default.arg if default.is_scalar else default.arg(None)


def _new_row(table, obj) -> dict:
    """The row of a pending object as the flush would insert it: what was set on it
    (None included), the Python defaults for the rest."""
    given = inspect(obj).dict
    values = {}
    for column in table.columns:
        if column.primary_key and given.get(column.key) is None:
            continue  # drawn by the database
        if column.key in given:
            values[column.key] = given[column.key]
        elif column.default is not None:
            values[column.key] = _default(column)
        else:
            values[column.key] = None
    return values


def _plain(obj) -> bool:
    """A pending row given by its columns alone (a related object set on it instead of
    its id is left to the flush, which fills the id in)."""
    state = inspect(obj)
    return not any(state.dict.get(rel.key) is not None for rel in state.mapper.relationships)


def _stale(table: str, matched) -> StaleDataError:
    return StaleDataError(
        f"UPDATE statement on table '{table}' expected to update 1 row(s); {matched} were matched."
    )


@dataclass
class _Writes:
    """What goes with the instance's UPDATE: updates that must each match one row (task
    rows with their version check, the case) and rows to insert, per table."""

    first: _Update
    updates: list[_Update] = field(default_factory=list)
    inserts: list[tuple[Any, list[dict]]] = field(default_factory=list)


def _write_instance(session: Session, instance: ProcessInstance) -> None:
    """Write the instance row now, before anything else: one UPDATE of what changed that
    checks the lock version it was read with and moves it. If someone moved it since,
    StaleDataError, which the unit of work answers as a conflict, with nothing else of the
    action written. With it go what the action settled before: its task rows (changed
    ones version-checked too, new ones inserted), its audit rows and the case's changed
    columns. On PostgreSQL all of that is one statement (the other writes hang on the
    instance's: none if it matched no row); on SQLite they follow it one by one. The
    statements are built once per shape and then only given their values. A new
    instance (no id yet) is inserted by the caller's flush as usual."""
    if instance.id is None:
        return
    first = _versioned_update(_INSTANCE, instance)
    if first is None:
        return
    writes, settled = _Writes(first), [(instance, first)]
    for obj in session.dirty:
        found = None
        if isinstance(obj, HumanTask) and obj.id is not None:
            found = _versioned_update(_TASK, obj)
        elif isinstance(obj, Case) and obj.id is not None:
            values = _changed(_CASE, obj)
            found = _Update(_CASE, obj.id, values) if values else None
        if found is not None:
            writes.updates.append(found)
            settled.append((obj, found))
    pending = sorted(
        (
            obj
            for obj in session.new
            if isinstance(obj, HumanTask | AuditEvent | CaseActor) and _plain(obj)
        ),
        key=lambda obj: inspect(obj).insert_order,
    )
    for table, kind in ((_TASK, HumanTask), (_AUDIT, AuditEvent), (_ACTOR, CaseActor)):
        rows = [_new_row(table, obj) for obj in pending if isinstance(obj, kind)]
        if rows:
            writes.inserts.append((table, rows))
    if session.get_bind().dialect.name == "postgresql":
        _write_together(session, writes)
    else:
        _write_one_by_one(session, writes)
    for obj, written in settled:
        _written(session, obj, written)
    for obj in pending:
        session.expunge(obj)


def _written(session: Session, obj, written: _Update) -> None:
    """`obj` as it is now in the database: nothing left for the flush (an attribute set to
    the value it had stays in the ORM's list of changes, and the flush would go through
    it for nothing)."""
    for key, value in written.values.items():
        set_committed_value(obj, key, value)
    state = inspect(obj)
    if all(key in written.table.c for key in state.committed_state):
        state._commit_all(state.dict, session.identity_map)
    # Told to the transaction as the flush tells it: a savepoint rolled back (bank results
    # go many cases per transaction, each in its own) expires the rows it wrote.
    session._register_altered([state])


_STATEMENTS: dict[tuple, Any] = {}


def _cached(shape: tuple, build: Callable[[], Any]):
    statement = _STATEMENTS.get(shape)
    if statement is None:
        statement = _STATEMENTS[shape] = build()
    return statement


def _write_one_by_one(session: Session, writes: _Writes) -> None:
    connection = session.connection()  # Core statements: the ORM's execute adds nothing
    for one in [writes.first, *writes.updates]:
        statement = _cached(one.shape, lambda one=one: one.statement("b_"))
        done = connection.execute(statement, one.params("b_"))
        if done.rowcount != 1:
            raise _stale(one.table.name, done.rowcount)
    for table, rows in writes.inserts:
        connection.execute(_cached((table.name,), lambda table=table: insert(table)), rows)


def _write_together(session: Session, writes: _Writes) -> None:
    """One statement: the instance UPDATE as a CTE, the other UPDATEs and INSERTs each
    only where it matched its row, and how many rows each UPDATE touched."""
    inserts = tuple((table.name, len(rows), tuple(rows[0])) for table, rows in writes.inserts)
    shape = ("together", writes.first.shape, tuple(u.shape for u in writes.updates), inserts)
    query = _cached(shape, lambda: _together(writes))
    params = writes.first.params("w_")
    for n, one in enumerate(writes.updates):
        params.update(one.params(f"u{n}_"))
    for n, (_table, rows) in enumerate(writes.inserts):
        for r, row in enumerate(rows):
            params.update({f"i{n}_{r}_{k}": v for k, v in row.items()})
    found = session.connection().execute(query, params).one()
    for one, matched in zip([writes.first, *writes.updates], found, strict=True):
        if matched != 1:
            raise _stale(one.table.name, matched)


def _together(writes: _Writes):
    written = writes.first.statement("w_").returning(_INSTANCE.c.id).cte("w_instance")
    matched = exists(select(written.c.id))
    counts = [select(func.count()).select_from(written).scalar_subquery()]
    for n, one in enumerate(writes.updates):
        cte = one.statement(f"u{n}_").where(matched).returning(literal(1)).cte(f"w_update{n}")
        counts.append(select(func.count()).select_from(cte).scalar_subquery())
    query = select(*counts)
    for n, (table, rows) in enumerate(writes.inserts):
        columns = list(rows[0])
        selects = [
            select(*[bindparam(f"i{n}_{r}_{k}", type_=table.c[k].type) for k in columns]).where(
                matched
            )
            for r in range(len(rows))
        ]
        source = selects[0] if len(selects) == 1 else union_all(*selects)
        query = query.add_cte(insert(table).from_select(columns, source).cte(f"w_insert{n}"))
    return query


def _describe(err: Exception) -> str:
    task = getattr(err, "task", None)
    where = ""
    if task is not None:
        where = f"（环节：{task.task_spec.bpmn_name or task.task_spec.name}）"
    inner = getattr(err, "exception", None) or err
    message = str(inner.args[0]) if getattr(inner, "args", None) else str(inner)
    return f"流程无法继续{where}：{message}"


def _task_due(loaded: Loaded, task, expression: str) -> datetime | None:
    if not expression:
        return None
    try:
        value = loaded.workflow.script_engine.evaluate(task, expression)
        return datetime.fromisoformat(str(value))
    except Exception as err:  # noqa: BLE001 - a bad due date must not stop the case
        log.warning(
            "case %s: due date of %s not computed: %s",
            loaded.case.case_no,
            task.task_spec.name,
            err,
        )
        return None


def _ready_tasks(workflow: BpmnWorkflow) -> dict:
    return {str(t.id): t for t in workflow.get_tasks(state=TaskState.READY, manual=True)}


def _settle_instance(loaded: Loaded, ctx: RunContext, ready: dict) -> None:
    """Set what the instance row will hold after this run (state, status, next timer),
    before anything is written, so the row is written first and once."""
    workflow, instance = loaded.workflow, loaded.instance
    instance.next_timer_at = next_timer(workflow)
    if ctx.warnings:
        instance.calendar_warning = ctx.warnings[-1][:300]
    elif instance.next_timer_at is None and not ready:
        instance.calendar_warning = ""
    if workflow.is_completed():
        instance.status = "cancelled" if _end_event(workflow) is None else "completed"
        instance.state = compact_closed_state(workflow)
        instance.next_timer_at = None
    else:
        try:
            instance.state = serialization.state_to_bytes(workflow, limit=MAX_STATE)
        except serialization.StateTooLarge as err:
            size, most = err.size // 1024, MAX_STATE // 1024
            message = f"案件数据过大（{size} KB，最多 {most} KB），本次操作未保存"
            raise ProcessError(message) from None
    instance.updated_at = now()


def save(
    session: Session,
    loaded: Loaded,
    actor_id: int | None,
    ctx: RunContext,
    completed_task_uuid: str | None = None,
    ready: dict | None = None,
) -> None:
    """The human tasks and the case after a run: tasks no longer ready cancelled, new ones
    opened, a finished case closed. Nothing is flushed here."""
    if ready is None:
        ready = _ready_tasks(loaded.workflow)
        _settle_instance(loaded, ctx, ready)
    _task_rows(session, loaded, ctx, completed_task_uuid, ready)
    _close(session, loaded, actor_id)


def _task_rows(
    session: Session,
    loaded: Loaded,
    ctx: RunContext,
    completed_task_uuid: str | None,
    ready: dict,
) -> None:
    """Tasks no longer ready cancelled, new ones opened (added to the session)."""
    instance, case = loaded.instance, loaded.case
    known = set()
    if instance.id is not None:  # a new instance has no rows yet
        open_rows = loaded.open_rows
        if open_rows is None:
            open_rows = session.scalars(
                select(HumanTask).where(
                    HumanTask.instance_id == instance.id, HumanTask.status == "open"
                )
            ).all()
        for row in open_rows:
            known.add(row.task_uuid)
            if row.task_uuid == completed_task_uuid:
                continue
            if row.task_uuid not in ready:
                row.status = "cancelled"
                row.completed_at = now()
    token = _run.set(ctx)
    try:
        new_rows = []
        for uuid, task in ready.items():
            if uuid in known:
                continue
            meta = loaded.meta_for(task).get("user_tasks", {}).get(task.task_spec.name, {})
            group = meta.get("group") or "caseworker"
            new_rows.append(
                HumanTask(
                    instance_id=instance.id,
                    case_id=case.id,
                    task_uuid=uuid,
                    process_id=task.workflow.spec.name,
                    programme=case.programme,
                    element_id=task.task_spec.name,
                    name=meta.get("name") or task.task_spec.bpmn_name or task.task_spec.name,
                    candidate_group=group,
                    org_id=access.task_org_id(loaded.unit or case.org, group),
                    due_at=_task_due(loaded, task, meta.get("due", "")),
                )
            )
        session.add_all(new_rows)
    finally:
        _run.reset(token)


def _close(session: Session, loaded: Loaded, actor_id: int | None) -> None:
    """A finished workflow closes its case (outcome, audit row, close hooks)."""
    workflow = loaded.workflow
    if not workflow.is_completed():
        return
    close_case(session, loaded, actor_id, outcome_of(workflow))


def outcome_of(workflow: BpmnWorkflow) -> tuple[str, str] | None:
    """The end event a finished workflow reached (its id and name), None if cancelled."""
    end = _end_event(workflow)
    if end is None:
        return None
    outcome = end.task_spec.bpmn_id or end.task_spec.name
    return outcome, end.task_spec.bpmn_name or outcome


def close_case(
    session: Session, loaded: Loaded, actor_id: int | None, end: tuple[str, str] | None
) -> None:
    """Close the case at `end` (None: cancelled): outcome, audit row, close hooks. The
    hooks read the final data through `closing_data(loaded)`."""
    case = loaded.case
    if end is None:  # cancelled: no end event was reached
        case.status = "cancelled"
        case.outcome, case.outcome_label = "cancelled", "已撤销"
    else:
        case.status = "completed"
        case.outcome, case.outcome_label = end
    case.closed_at = now()
    session.add(AuditEvent(**closing_event(case.id, actor_id, (case.outcome, case.outcome_label))))
    for hook in CLOSE_HOOKS:
        hook(session, loaded)


def closing_event(case_id: int, actor_id: int | None, end: tuple[str, str]) -> dict:
    """The audit row of a case closing at `end` (outcome, label)."""
    return audit.row(actor_id, case_id, "case.closed", f"结案：{end[1]}", outcome=end[0])


def next_timer(workflow: BpmnWorkflow) -> datetime | None:
    """When the earliest waiting timer falls due. Plain timer events and event-based
    gateways (a MultipleEventDefinition in SpiffWorkflow) keep it as `event_value`."""
    due = []
    for task in workflow.event_manager.tasks.values():
        value = task.internal_data.get("event_value")
        if isinstance(value, dict):
            value = value.get("next")
        if isinstance(value, str):
            try:
                due.append(datetime.fromisoformat(value))
            except ValueError:
                continue
    return min(due, default=None)


def _end_event(workflow: BpmnWorkflow):
    ends = [
        t
        for t in workflow.tasks.values()
        if isinstance(t.task_spec, EndEvent) and t.state == TaskState.COMPLETED
    ]
    return max(ends, key=lambda t: t.last_state_change) if ends else None


def final_data(workflow: BpmnWorkflow) -> dict:
    """The data a finished workflow ended with (at its end event)."""
    end = _end_event(workflow)
    return end.data if end is not None else workflow.data


def closing_data(loaded: Loaded) -> dict:
    """The final data of a case being closed: its workflow's, or what a folded run
    (workflows/fold.py) computed without restoring the workflow (read when asked)."""
    if callable(loaded.final):
        loaded.final = loaded.final()
    if loaded.final is not None:
        return loaded.final
    return final_data(loaded.workflow)


def compact_closed_state(workflow: BpmnWorkflow) -> bytes:
    """A closed case no longer runs: keep its final data and which elements it passed
    through (for the diagram view); the full history is in audit_event and human_task."""
    return serialization.pack(closed_state(workflow))


def closed_state(workflow: BpmnWorkflow) -> dict:
    """What `compact_closed_state` keeps, before it is packed."""
    passed: dict[str, list[str]] = {}
    for task in workflow.get_tasks(state=TaskState.COMPLETED):
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if bpmn_id:
            names = passed.setdefault(task.workflow.spec.name, [])
            if bpmn_id not in names:
                names.append(bpmn_id)
    data = final_data(workflow)
    return {"format": serialization.STATE_FORMAT, "closed": True, "data": data, "passed": passed}


def case_data(session: Session, case: Case) -> dict:
    """The case's current data: the newest task data of a running case, or its final data."""
    instance = session.scalars(
        select(ProcessInstance).where(ProcessInstance.case_id == case.id)
    ).one()
    state = serialization.unpack(instance.state)
    if state.get("closed"):
        return state["data"]
    loaded = load(session, instance)
    tasks = loaded.workflow.get_tasks(state=TaskState.READY | TaskState.WAITING)
    source = tasks[-1] if tasks else loaded.workflow.last_task
    return dict(source.data) if source is not None else {}


# A call activity whose process is running is STARTED; a timer or message catch WAITING.
_CURRENT_STATES = TaskState.READY | TaskState.WAITING | TaskState.STARTED


def diagram_marks(session: Session, case: Case) -> dict[str, dict[str, list[str]]]:
    """Per process id, the BPMN elements the case has passed through ("done") and where it
    stands now ("current"), for marking its diagrams. A closed case has no current step:
    its compact state keeps only the elements passed."""
    instance = session.scalars(
        select(ProcessInstance).where(ProcessInstance.case_id == case.id)
    ).one()
    state = serialization.unpack(instance.state)
    if state.get("closed"):
        return {
            pid: {"done": list(ids), "current": []}
            for pid, ids in (state.get("passed") or {}).items()
        }
    version = loaded_version(session, instance.version_id)
    called = _called_versions(session, instance)
    workflow = serialization.state_from_bytes(
        instance.state, version.spec, {pid: v.spec for pid, v in called.items()}
    )
    marks: dict[str, dict[str, list[str]]] = {}
    for task in workflow.get_tasks():
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if not bpmn_id:
            continue  # SpiffWorkflow's own hidden tasks (start, end join)
        if task.state & _CURRENT_STATES:
            kind = "current"
        elif task.state == TaskState.COMPLETED:
            kind = "done"
        else:
            continue
        entry = marks.setdefault(task.workflow.spec.name, {"done": [], "current": []})
        if bpmn_id not in entry[kind]:
            entry[kind].append(bpmn_id)
    for entry in marks.values():
        # A step done before and open again (rework loop) shows as current only.
        entry["done"] = [e for e in entry["done"] if e not in entry["current"]]
    return marks


def require_ready(loaded: Loaded, task_uuid: str):
    task = loaded.workflow.get_task_from_id(UUID(task_uuid))
    if task is not None and task.state & (TaskState.COMPLETED | TaskState.CANCELLED):
        # Read as open a moment ago, done by someone else since: a conflict, not bad input.
        raise AlreadyDone("其他人已办理了此任务，请刷新后重试")
    if task is None or task.state != TaskState.READY:
        raise ValidationFailed("该环节当前不可办理")
    return task
