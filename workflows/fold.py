"""Moving many waiting cases on with one engine run: the bank's answers after an import.

After a bank import thousands of cases wait at the same point of the same diagram for the
same answer ("paid") and differ only in whose case they are. Restoring, stepping and
saving each through SpiffWorkflow costs a few milliseconds a case; a case whose run only
carries its values along to an end event can be closed from one run on a stand-in, as a
campaign launch opens many cases from one run (workflows/campaigns.py).

- Cases are grouped by a key: the diagram versions, the answer (status and reason), the
  shape of their saved state (every task's spec, state, internal data, parent and the
  names of the data it holds, in order) and the values of every name that any script,
  condition, timer or due date of those diagrams reads. Cases with the same key take the
  same path through the engine.
- A key's first case runs for real, one by one. Its saved state, with every value no
  expression reads replaced by a token, then runs in memory once more: the template. It
  is used only if that run finished the workflow at an end event, asked for no effect,
  let no registered function read the data, ran only elements that pass values on
  without looking at them (events, gateways, plain scripts, call activities) and brought
  every token through whole.
- Before any case is closed from the template, the template with the first case's
  values, and then with a second case's (also run for real), must give exactly the state,
  outcome and end the engine saved for them. Otherwise the key is not folded: its cases
  run one by one, as before.
- Every other case of the key is closed from the template: its closed state (its own
  values in the final data, the elements passed), outcome, audit rows and close hooks as
  `engine.close_case` writes them; its instance's lock version is checked by the flush.

The caller (batches.deliver_results) does this many cases per transaction; anything that
goes wrong while closing a folded set sends its cases back one by one.
"""

import ast
import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, insert, update
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from workflows import engine, payments, scripting, serialization
from workflows.clock import now
from workflows.models import AuditEvent, Case, Payment, ProcessInstance
from workflows.processes import LoadedVersion, loaded_version

log = logging.getLogger(__name__)

WITNESSES = 2  # cases run for real, and compared with the template, before folding a key

# Elements a folded run may pass through: they move the data on without reading more of
# it than the names their expressions hold (the grouping key has those values).
PASSING = {
    "BpmnStartTask",
    "SimpleBpmnTask",
    "_EndJoin",
    "StartEvent",
    "EndEvent",
    "IntermediateCatchEvent",
    "ExclusiveGateway",
    "ParallelGateway",
    "InclusiveGateway",
    "ScriptTask",
    "NoneTask",
    "CallActivity",
}
PLAIN_EVENTS = {"NoneEventDefinition", "MessageEventDefinition"}
_MARK = "\x00warmflow:fold:{}\x00"  # a stand-in value
_MARK_IN_TEXT = re.compile(r'"\\u0000warmflow:fold:(\d+)\\u0000"')
_MARK_PREFIX = "\\u0000warmflow:fold:"


@dataclass
class Reads:
    """What the diagrams' expressions read: these names' values must be alike within a
    group; the answer's payment id may stand in as a token only if no expression reads
    it."""

    names: frozenset[str]
    payment_id_read: bool


def _reads(versions: list[LoadedVersion], only=None) -> Reads | None:
    names: set[str] = set()
    payment_id_read = False
    for source in engine.expression_sources(versions, only):
        try:
            tree = ast.parse(source.strip())
        except SyntaxError:
            return None
        subscripted = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
                subscripted.add(id(node.value))
                key = node.slice
                if not (isinstance(key, ast.Constant) and key.value != "payment_id"):
                    if node.value.id == payments.RESULT_VAR:
                        payment_id_read = True
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                names.add(node.id)
                if node.id == payments.RESULT_VAR and id(node) not in subscripted:
                    payment_id_read = True  # the whole answer is used: the id with it
    return Reads(frozenset(names), payment_id_read)


# Where a case stands: tasks waiting, ready or running (a call activity whose process runs).
_UNFINISHED = {int(TaskState.WAITING), int(TaskState.READY), int(TaskState.STARTED)}


def _standing(state: dict, top_process: str) -> frozenset[tuple[str, str]]:
    """(process id, element) of every unfinished task of a saved state."""
    found = set()
    for flow in _workflows(state):
        process_id = flow.get("spec") or top_process
        for task in flow["tasks"].values():
            if task.get("state") in _UNFINISHED:
                found.add((process_id, task["task_spec"]))
    return frozenset(found)


def _ahead(versions: list[LoadedVersion], standing) -> set[tuple[str, str]] | None:
    """The elements a case standing at `standing` may still reach: forward along the
    diagrams' flows (a called process's end returns to its call activity, which stands
    too). None if an element is not found in the versions."""
    specs = {v.spec.name: v.spec for v in versions}
    seen: set[tuple[str, str]] = set()
    todo = list(standing)
    while todo:
        process_id, name = todo.pop()
        if (process_id, name) in seen:
            continue
        spec = specs.get(process_id)
        task_spec = spec.task_specs.get(name) if spec is not None else None
        if task_spec is None:
            return None
        seen.add((process_id, name))
        todo.extend((process_id, out.name) for out in task_spec.outputs)
    return seen


@dataclass
class Shape:
    """A case's saved state seen by the fold: its key and the values the tokens take."""

    key: tuple
    values: list[Any]  # per token position, as saved (the serializer's form)


def _workflows(state: dict) -> list[dict]:
    top = state["workflow"]
    return [top, *top.get("subprocesses", {}).values()]


def _holders(flow: dict):
    """(task index or None, the dict holding values) of a workflow in its saved form: its
    own data, each task's data and the updates of each task's delta (SpiffWorkflow saves
    a task's changes to its parent's data)."""
    yield None, flow.get("data", {})
    for i, task in enumerate(flow["tasks"].values()):
        yield i, task.get("data", {})
        delta = task.get("delta")
        if delta:
            yield i, delta.get("updates", {})


def _positions(state: dict, reads: Reads):
    """The values no expression reads, in a fixed order: (holder, name, value)."""
    for flow in _workflows(state):
        for _i, holder in _holders(flow):
            for name, value in holder.items():
                if name not in reads.names:
                    yield holder, name, value


_SKIPPED = ("id", "parent", "children", "data", "delta", "last_state_change")
_KNOWN = frozenset((*_SKIPPED, "task_spec", "state", "triggered", "internal_data", "typename"))


def shape_of(
    state: dict,
    instance: ProcessInstance,
    payment: Payment,
    reads: Reads,
    names: dict | None = None,
) -> Shape | None:
    """None when the saved state holds what the fold does not know (a newer format).

    `names` (kept by the caller across cases) numbers each holder's list of names: the
    key then carries a number and the values read per holder, not every name again, and
    the values no expression reads are gathered in the same pass (in `_positions`'
    order)."""
    names = {} if names is None else names
    flows = _workflows(state)
    where: dict[str, tuple[int, int]] = {}
    for w, flow in enumerate(flows):
        for i, uuid in enumerate(flow["tasks"]):
            where[uuid] = (w, i)
    values: list[Any] = []
    empty = names.get((reads.names, ()))
    if empty is None:
        empty = names[(reads.names, ())] = (len(names), (), ())

    def outline(holder: dict):
        if not holder:  # most tasks hold nothing of their own: no names to look up
            return empty[0]
        keys = (reads.names, tuple(holder))
        known = names.get(keys)
        if known is None:
            read = tuple(n for n in keys[1] if n in reads.names)
            unread = tuple(n for n in keys[1] if n not in reads.names)
            known = names[keys] = (len(names), read, unread)
        number, read, unread = known
        values.extend([holder[n] for n in unread])
        return [number, [holder[n] for n in read]] if read else number

    shape: list[Any] = []
    for flow in flows:
        shape.append(
            [
                flow.get("spec"),
                where.get(flow.get("parent_task_id")),
                where.get(flow.get("root")),
                where.get(flow.get("last_task")),
                flow.get("completed"),
                flow.get("success"),
                flow.get("correlations"),
                flow.get("bpmn_events"),
                outline(flow.get("data", {})),
            ]
        )
        for task in flow["tasks"].values():
            if not task.keys() <= _KNOWN:
                return None
            delta = task.get("delta") or {}
            shape.append(
                [
                    task.get("task_spec"),
                    task.get("state"),
                    task.get("triggered"),
                    task.get("typename"),
                    task.get("internal_data"),
                    where.get(task.get("parent")),
                    outline(task.get("data", {})),
                    outline(delta.get("updates", {})),
                    delta.get("deletions"),
                    sorted(delta.keys()),
                ]
            )
    digest = hashlib.sha256(serialization.dumps(shape).encode("utf-8")).hexdigest()
    values.append(payment.id)
    key = (
        instance.version_id,
        instance.subprocess_versions or "{}",
        payment.status,
        payments.failure_reason(payment),
        digest,
    )
    return Shape(key, values)


@dataclass
class Template:
    """The closed state a folded case gets, as JSON text split at its tokens."""

    pieces: list[str]
    outcome: tuple[str, str]
    verified: int = 0

    def fill(self, values: list[Any]) -> str:
        pieces = list(self.pieces)
        for n in range(1, len(pieces), 2):
            position = int(pieces[n])
            value = values[position]
            pieces[n] = serialization.dumps(serialization.REGISTRY.restore(value))
        return "".join(pieces)


def _kinds(spec) -> set[str]:
    return {klass.__name__ for klass in type(spec).__mro__}


def _passes_values_on(spec) -> bool:
    if not _kinds(spec) & PASSING:
        return False
    if getattr(spec, "io_specification", None) is not None:
        return False
    if getattr(spec, "data_input_associations", None) or getattr(
        spec, "data_output_associations", None
    ):
        return False
    definition = getattr(spec, "event_definition", None)
    return definition is None or type(definition).__name__ in PLAIN_EVENTS


def build_template(
    session: Session, instance: ProcessInstance, state: dict, payment: Payment, reads: Reads
) -> Template | None:
    """The template of `payment`'s key, from its case's state before the answer, or None
    when the key cannot be folded (see the module's text)."""
    count = 0
    stand_in = serialization.loads(serialization.dumps(state))
    for n, (holder, name, _value) in enumerate(_positions(stand_in, reads)):
        holder[name] = _MARK.format(n)
        count = n + 1
    pid_token = _MARK.format(count)
    version = loaded_version(session, instance.version_id)
    called = engine._called_versions(session, instance)
    before = {
        uuid: task["state"] for flow in _workflows(state) for uuid, task in flow["tasks"].items()
    }
    workflow = serialization.state_from_text(
        serialization.dumps(stand_in), version.spec, {pid: v.spec for pid, v in called.items()}
    )
    loaded = engine.Loaded(instance, instance.case, version, called, workflow)
    event = payments.result_event(payment.status, payments.failure_reason(payment), pid_token)
    reads_of_data: list = []
    marker = scripting.data_reads.set(reads_of_data)
    try:
        ctx = engine.run(session, loaded, lambda wf: wf.send_event(event))
    finally:
        scripting.data_reads.reset(marker)
    if ctx.effects or ctx.warnings or reads_of_data or not workflow.is_completed():
        return None
    outcome = engine.outcome_of(workflow)
    if outcome is None:
        return None
    for flow in [workflow, *workflow.subprocesses.values()]:
        for uuid, task in flow.tasks.items():
            moved = before.get(str(uuid)) != task.state
            if (
                moved
                and task.state == TaskState.COMPLETED
                and not _passes_values_on(task.task_spec)
            ):
                return None
    # As `serialization.pack` writes it; the payment id's token is the last position.
    text = serialization.dumps(engine.closed_state(workflow))
    found = _MARK_IN_TEXT.split(text)
    if text.count(_MARK_PREFIX) != len(found) // 2:
        return None  # a token was taken apart or built into another value
    return Template(found, outcome)


def matches(template: Template, shape: Shape, instance: ProcessInstance) -> bool:
    """Whether the template, with this case's values, gives what the engine saved for it
    (run for real just before)."""
    case = instance.case
    if instance.status != "completed" or (case.outcome, case.outcome_label) != template.outcome:
        return False
    return serialization.loads(template.fill(shape.values)) == serialization.unpack(instance.state)


@dataclass
class Closing:
    """One case closed from a template: what `write` writes for it, with the cases of the
    same set, in a few statements."""

    instance: ProcessInstance
    payment: Payment
    state: bytes
    loaded: engine.Loaded
    outcome: tuple[str, str]


def close(
    session: Session,
    template: Template,
    shape: Shape,
    instance: ProcessInstance,
    payment: Payment,
) -> Closing:
    """Close `payment`'s case from the template: what the engine's run, `commit_run` and
    `close_case` would have written (`write` writes it)."""
    text = template.fill(shape.values)
    version = loaded_version(session, instance.version_id)
    called = engine._called_versions(session, instance)
    loaded = engine.Loaded(instance, instance.case, version, called, None)
    loaded.final = lambda: serialization.loads(text)["data"]
    return Closing(instance, payment, serialization.compress(text), loaded, template.outcome)


_INSTANCES = (
    update(ProcessInstance.__table__)
    .where(
        ProcessInstance.__table__.c.id == bindparam("b_id"),
        ProcessInstance.__table__.c.lock_version == bindparam("b_old"),
    )
    .values(
        state=bindparam("b_state"),
        status="completed",
        next_timer_at=None,
        calendar_warning="",
        updated_at=bindparam("b_at"),
        lock_version=bindparam("b_new"),
    )
)
_CASES = (
    update(Case.__table__)
    .where(Case.__table__.c.id == bindparam("b_id"))
    .values(
        status="completed",
        outcome=bindparam("b_outcome"),
        outcome_label=bindparam("b_label"),
        closed_at=bindparam("b_at"),
    )
)
_PAYMENTS = (
    update(Payment.__table__)
    .where(
        Payment.__table__.c.id == bindparam("b_id"),
        Payment.__table__.c.lock_version == bindparam("b_old"),
    )
    .values(delivery="", lock_version=bindparam("b_new"))
)


# The same writes on PostgreSQL: one statement each over arrays of the set's values.
# An executemany there still parses, plans and runs every row's statement on the server,
# which cost more than the rest of the fold's write.
_INSTANCES_PG = sql_text(
    "UPDATE process_instance AS t SET state = v.state, status = 'completed', "
    "next_timer_at = NULL, calendar_warning = '', updated_at = :at, lock_version = v.old + 1 "
    "FROM unnest(CAST(:ids AS integer[]), CAST(:olds AS integer[]), CAST(:states AS bytea[])) "
    "AS v(id, old, state) WHERE t.id = v.id AND t.lock_version = v.old"
)
_CASES_PG = sql_text(
    "UPDATE \"case\" AS t SET status = 'completed', outcome = v.outcome, "
    "outcome_label = v.label, closed_at = :at "
    "FROM unnest(CAST(:ids AS integer[]), CAST(:outcomes AS varchar[]), "
    "CAST(:labels AS varchar[])) AS v(id, outcome, label) WHERE t.id = v.id"
)
_PAYMENTS_PG = sql_text(
    "UPDATE payment AS t SET delivery = '', lock_version = v.old + 1 "
    "FROM unnest(CAST(:ids AS integer[]), CAST(:olds AS integer[])) AS v(id, old) "
    "WHERE t.id = v.id AND t.lock_version = v.old"
)
_AUDIT_PG = sql_text(
    "INSERT INTO audit_event (at, actor_id, case_id, action, summary, detail) "
    "SELECT :at, v.actor_id, v.case_id, v.action, v.summary, v.detail "
    "FROM unnest(CAST(:actor_ids AS integer[]), CAST(:case_ids AS integer[]), "
    "CAST(:actions AS varchar[]), CAST(:summaries AS varchar[]), CAST(:details AS text[])) "
    "WITH ORDINALITY AS v(actor_id, case_id, action, summary, detail, n) ORDER BY v.n"
)


def _write_rows(connection, closings: list[Closing], at, audit: list[dict]) -> None:
    """The instances (lock versions checked), cases, payments and audit rows of the set."""

    def checked(done, expected: int, table: str) -> None:
        if done.rowcount != expected:
            raise StaleDataError(
                f"UPDATE statement on table '{table}' expected to update {expected} row(s); "
                f"{done.rowcount} were matched."
            )

    n = len(closings)
    if connection.dialect.name == "postgresql":
        instances = [c.instance for c in closings]
        done = connection.execute(
            _INSTANCES_PG,
            dict(
                ids=[i.id for i in instances],
                olds=[i.lock_version for i in instances],
                states=[c.state for c in closings],
                at=at,
            ),
        )
        checked(done, n, "process_instance")
        connection.execute(
            _CASES_PG,
            dict(
                ids=[i.case_id for i in instances],
                outcomes=[c.outcome[0] for c in closings],
                labels=[c.outcome[1] for c in closings],
                at=at,
            ),
        )
        done = connection.execute(
            _PAYMENTS_PG,
            dict(
                ids=[c.payment.id for c in closings],
                olds=[c.payment.lock_version for c in closings],
            ),
        )
        checked(done, n, "payment")
        columns = dict(
            actor_ids="actor_id",
            case_ids="case_id",
            actions="action",
            summaries="summary",
            details="detail",
        )
        values = {key: [row[column] for row in audit] for key, column in columns.items()}
        connection.execute(_AUDIT_PG, dict(values, at=at))
        return
    done = connection.execute(
        _INSTANCES,
        [
            dict(
                b_id=c.instance.id,
                b_old=c.instance.lock_version,
                b_new=c.instance.lock_version + 1,
                b_state=c.state,
                b_at=at,
            )
            for c in closings
        ],
    )
    checked(done, n, "process_instance")
    connection.execute(
        _CASES,
        [
            dict(b_id=c.instance.case_id, b_outcome=c.outcome[0], b_label=c.outcome[1], b_at=at)
            for c in closings
        ],
    )
    done = connection.execute(
        _PAYMENTS,
        [
            dict(b_id=c.payment.id, b_old=c.payment.lock_version, b_new=c.payment.lock_version + 1)
            for c in closings
        ],
    )
    checked(done, n, "payment")
    connection.execute(insert(AuditEvent.__table__), [dict(row, at=at) for row in audit])


def write(session: Session, closings: list[Closing]) -> None:
    """Write `closings` together (the caller's transaction): the instances, their lock
    versions checked (one moved meanwhile: StaleDataError, nothing of the set kept), the
    cases, the payments and the audit rows in one statement each; then each case's close
    hooks, their reads prefetched for the set."""
    at = now()
    audit = []
    for c in closings:
        audit.append(payments.delivery_event(c.payment, None))
        audit.append(engine.closing_event(c.instance.case_id, None, c.outcome))
    _write_rows(session.connection(), closings, at, audit)
    for c in closings:  # the session's rows as they now are in the database
        instance, case, payment = c.instance, c.instance.case, c.payment
        for obj, values in (
            (
                instance,
                dict(
                    state=c.state,
                    status="completed",
                    next_timer_at=None,
                    calendar_warning="",
                    updated_at=at,
                    lock_version=instance.lock_version + 1,
                ),
            ),
            (
                case,
                dict(
                    status="completed",
                    outcome=c.outcome[0],
                    outcome_label=c.outcome[1],
                    closed_at=at,
                ),
            ),
            (payment, dict(delivery="", lock_version=payment.lock_version + 1)),
        ):
            for key, value in values.items():
                set_committed_value(obj, key, value)
    with engine.closing_many(session, [c.instance.case_id for c in closings]):
        for c in closings:
            for hook in engine.CLOSE_HOOKS:
                hook(session, c.loaded)


class Folder:
    """The templates of one round of deliveries, by key (None: that key is not folded)."""

    def __init__(self) -> None:
        self.templates: dict[tuple, Template | None] = {}
        self._reads: dict[tuple, Reads | None] = {}
        self._names: dict[tuple, tuple] = {}  # shape_of's numbering of holders' names

    def reads(self, session: Session, instance: ProcessInstance, state: dict) -> Reads | None:
        """What the expressions a case may still run read, from where it stands."""
        version = loaded_version(session, instance.version_id)
        standing = _standing(state, version.spec.name)
        key = (instance.version_id, instance.subprocess_versions or "{}", standing)
        if key not in self._reads:
            called = engine._called_versions(session, instance)
            versions = [version, *called.values()]
            ahead = _ahead(versions, standing)
            found = None
            if ahead is not None:
                found = _reads(versions, lambda process_id, name: (process_id, name) in ahead)
            self._reads[key] = found
        return self._reads[key]

    def shape(self, session: Session, instance: ProcessInstance, payment: Payment):
        """The case's shape and saved state, or None when it cannot be folded."""
        if instance is None or instance.status != "running":
            return None
        state = serialization.unpack(instance.state)
        if state.get("closed") or "workflow" not in state:
            return None
        reads = self.reads(session, instance, state)
        if reads is None or reads.payment_id_read:
            return None
        shape = shape_of(state, instance, payment, reads, self._names)
        return (shape, state) if shape is not None else None

    def ready(self, key: tuple) -> Template | None:
        template = self.templates.get(key)
        return template if template is not None and template.verified >= WITNESSES else None

    def wants_witness(self, key: tuple) -> bool:
        return self.witnesses_needed(key) > 0

    def witnesses_needed(self, key: tuple) -> int:
        if key in self.templates and self.templates[key] is None:
            return 0  # not folded
        template = self.templates.get(key)
        return WITNESSES - (template.verified if template is not None else 0)

    def witnessed(
        self,
        session: Session,
        shape: Shape,
        state: dict,
        instance: ProcessInstance,
        payment: Payment,
    ) -> None:
        """After `payment`'s case ran for real: build the key's template from its state
        before (first witness) and check it against what the engine saved."""
        key = shape.key
        if key in self.templates and self.templates[key] is None:
            return
        template = self.templates.get(key)
        try:
            if template is None:
                template = build_template(
                    session, instance, state, payment, self.reads(session, instance, state)
                )
            ok = template is not None and matches(template, shape, instance)
        except Exception:  # noqa: BLE001 - the template is an optimisation: cases go one by one
            log.warning("bank results: not folded (template failed)", exc_info=True)
            ok = False
        if not ok:
            if template is not None:
                log.warning("bank results: the template differs from the engine; not folded")
            self.templates[key] = None
            return
        template.verified += 1
        self.templates[key] = template
