"""What a deployed diagram may not do, whatever a manager draws (DESIGN.md "Limits that
protect everyone"), checked before a diagram is deployed; each finding names its element.

- size: at most MAX_FLOW_NODES steps (tasks, events, gateways) per diagram: SpiffWorkflow's
  parser recurses along the flow, and a 5,000-step chain would exhaust Python's stack;
- called processes never form a cycle (a process calling itself, directly or through
  others, would start new copies of itself for ever);
- timers: a constant date, duration or cycle is bounded (ten years at most, cycles at
  least an hour apart); values computed at run time are checked then
  (scripting.timer_problem);
- no multi-instance or loop markers (one step could start any number of tasks);
- money: the functions that move money or budget (scripting.MONEY_FUNCTIONS) are called
  from script tasks only, and only where every path from a programme's start passes an
  approval step first (a user task whose form offers 通过, or a called process that has
  one). The run-time check (payments.require_final_approval) stays the last line: it
  also wants every approval level the case's rules require, for the amount approved.
"""

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workflows import scripting

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
NS = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS}
MAX_FLOW_NODES = 300
FLOW_NODES = frozenset(
    {
        "startEvent",
        "endEvent",
        "userTask",
        "scriptTask",
        "serviceTask",
        "task",
        "manualTask",
        "callActivity",
        "subProcess",
        "transaction",
        "exclusiveGateway",
        "parallelGateway",
        "inclusiveGateway",
        "eventBasedGateway",
        "complexGateway",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "businessRuleTask",
        "sendTask",
        "receiveTask",
    }
)
# Where warmflow's cases start (cases.PROGRAMMES, which processes.validate passes in):
# money reached from these without an approval is refused.
PROGRAMME_PROCESSES = frozenset({"tuition_grant", "seasonal_aid", "hardship_archive"})


@dataclass
class Finding:
    element: str
    message: str


def _local(tag: Any) -> str:
    return tag.split("}", 1)[1] if isinstance(tag, str) and "}" in tag else str(tag)


def _name(node) -> str:
    return node.get("name") or node.get("id") or ""


# --- size and markers -------------------------------------------------------------------


def check_size(process) -> list[Finding]:
    count = sum(1 for node in process.iter() if _local(node.tag) in FLOW_NODES)
    if count > MAX_FLOW_NODES:
        return [
            Finding(
                process.get("id") or "",
                f"流程图过大：共 {count} 个环节（任务、事件、网关），"
                f"每个流程图最多 {MAX_FLOW_NODES} 个，请拆分为几个被调用的流程",
            )
        ]
    return []


def check_markers(process) -> list[Finding]:
    findings = []
    for marker in ("multiInstanceLoopCharacteristics", "standardLoopCharacteristics"):
        for node in process.iter(f"{{{BPMN_NS}}}{marker}"):
            owner = node.getparent()
            findings.append(
                Finding(
                    owner.get("id") or "",
                    f"“{_name(owner)}”使用了多实例或循环标记，暂不支持（一个环节不能生成任意多个任务）",
                )
            )
    return findings


# --- timers ------------------------------------------------------------------------------


def check_timers(process, now) -> list[Finding]:
    """Constant timer values, checked as run time would check them."""
    findings = []
    for kind, label in scripting.TIMER_KINDS.items():
        for node in process.iter(f"{{{BPMN_NS}}}{kind}"):
            owner = node.getparent().getparent()
            try:
                body = ast.parse((node.text or "").strip(), mode="eval").body
            except SyntaxError:
                continue  # the expression check reports it
            if isinstance(body, ast.Constant):
                problem = scripting.timer_problem(kind, body.value, now)
                if problem:
                    findings.append(
                        Finding(
                            owner.get("id") or "", f"“{_name(owner)}”的{label}超出范围：{problem}"
                        )
                    )
    return findings


def _expressions(process):
    """(element, text, mode) of every expression and script in the process."""
    for flow in process.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        cond = flow.find("bpmn:conditionExpression", NS)
        if cond is not None:
            yield flow, cond.text, "eval"
    for kind in scripting.TIMER_KINDS:
        for node in process.iter(f"{{{BPMN_NS}}}{kind}"):
            yield node.getparent().getparent(), node.text, "eval"
    for node in process.iter(f"{{{BPMN_NS}}}userTask"):
        due = node.get(f"{{{CAMUNDA_NS}}}dueDate")
        if due:
            yield node, due, "eval"
    for node in process.iter(f"{{{BPMN_NS}}}scriptTask"):
        script = node.find("bpmn:script", NS)
        yield node, script.text if script is not None else "", "exec"


def check_function_arguments(process) -> list[Finding]:
    """A registered function called with constant arguments outside its bounds (e.g.
    working_days_after(2000000)): refused now rather than when a case runs it."""
    findings = []
    for owner, text, mode in _expressions(process):
        try:
            tree = ast.parse((text or "").strip() if mode == "eval" else text or "", mode=mode)
        except SyntaxError:
            continue
        for call in ast.walk(tree):
            problem = _constant_argument_problem(call)
            if problem:
                findings.append(Finding(owner.get("id") or "", f"“{_name(owner)}”：{problem}"))
    return findings


def _constant_argument_problem(node) -> str | None:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return None
    if node.func.id not in scripting.FUNCTIONS:
        return None
    if not all(isinstance(arg, ast.Constant) for arg in node.args):
        return None
    try:
        _bounds_only(node.func.id, [arg.value for arg in node.args])
    except scripting.ScriptRefused as err:
        return str(err)
    return None


def _bounds_only(name: str, args: list) -> None:
    """The argument bounds of a registered function, without calling it."""
    for value in args:
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float) and not (
            -scripting.MAX_ARGUMENT <= value <= scripting.MAX_ARGUMENT
        ):
            raise scripting.ScriptRefused(f"函数 {name} 的参数 {value} 超出范围")
        if name == "working_days_after" and isinstance(value, int | float):
            from workflows.engine import MAX_WORKING_DAYS

            if not 0 <= value <= MAX_WORKING_DAYS:
                raise scripting.ScriptRefused(
                    f"working_days_after 的参数应在 0 至 {MAX_WORKING_DAYS} 个工作日之间"
                )


# --- called processes --------------------------------------------------------------------


def check_call_cycles(
    process_id: str, calls: list[tuple[str, str]], deployed: Mapping[str, list[str]]
) -> list[Finding]:
    """A finding on each call activity of `process_id` (its calls: (element, callee))
    that leads back to `process_id`, through the newest versions of the others."""
    findings = []
    for element, callee in calls:
        path = _path_back(callee, process_id, deployed, (process_id,))
        if path is not None:
            chain = " → ".join(path)
            findings.append(
                Finding(
                    element,
                    f"调用的流程形成循环：{chain}。流程不能直接或间接调用自己，否则案件会无休止地运行",
                )
            )
    return findings


def _path_back(
    current: str, target: str, deployed: Mapping[str, list[str]], trail: tuple[str, ...]
) -> tuple[str, ...] | None:
    if current == target:
        return (*trail, current)
    if current in trail:
        return None  # a cycle among the others (an old deploy): not this diagram's
    for callee in deployed.get(current, []):
        found = _path_back(callee, target, deployed, (*trail, current))
        if found is not None:
            return found
    return None


# --- money -------------------------------------------------------------------------------


def _calls_of(source: str | None) -> set[str]:
    try:
        tree = ast.parse((source or "").strip() or "None", mode="exec")
    except SyntaxError:
        return set()
    return {
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }


def _is_approval(node) -> bool:
    """A user task whose form offers 通过 (`decision` enum with an `approve` value), as
    tasks.is_approval_form reads it."""
    if _local(node.tag) != "userTask":
        return False
    for form_field in node.iterfind(".//camunda:formData/camunda:formField", NS):
        if form_field.get("id") == "decision" and (form_field.get("type") or "") == "enum":
            values = {v.get("id") for v in form_field.iterfind("camunda:value", NS)}
            if "approve" in values:
                return True
    return False


@dataclass
class ProcessMoney:
    """A process as money sees it."""

    approves: bool = False  # holds an approval step (here or in what it calls)
    # The elements where money is moved before any approval step, as chains of
    # (process id, element id, element name) from this process down.
    unguarded: list[list[tuple[str, str, str]]] = field(default_factory=list)


def misplaced_money(process) -> list[Finding]:
    """Money functions anywhere but in a script task's script (a condition, timer or due
    date runs again and again, and is no step of the flow)."""
    findings = []
    for owner, text, mode in _expressions(process):
        calls = _calls_of(text)
        if mode == "eval" and calls & scripting.MONEY_FUNCTIONS:
            findings.append(Finding(owner.get("id") or "", _only_in_scripts(calls)))
    return findings


def _only_in_scripts(calls: set[str]) -> str:
    names = "、".join(sorted(calls & scripting.MONEY_FUNCTIONS))
    return f"{names} 动用资金或预算，只能在审批通过之后的脚本任务中调用"


def analyse_money(
    process_id: str, diagrams: Mapping[str, Any], memo: dict | None = None
) -> ProcessMoney:
    """Where `process_id` (its <bpmn:process> in `diagrams`, the newest version of each)
    moves money before an approval step, through the processes it calls."""
    memo = {} if memo is None else memo
    if process_id in memo:
        return memo[process_id] or ProcessMoney()  # None while in progress: a cycle
    memo[process_id] = None
    process = diagrams.get(process_id)
    result = (
        ProcessMoney() if process is None else _analyse_scope(process_id, process, diagrams, memo)
    )
    memo[process_id] = result
    return result


def _analyse_scope(process_id: str, scope, diagrams, memo) -> ProcessMoney:
    nodes = {}
    for node in scope:
        if _local(node.tag) in FLOW_NODES and node.get("id"):
            nodes[node.get("id")] = node
    outgoing: dict[str, list[str]] = {nid: [] for nid in nodes}
    for flow in scope.iterfind("bpmn:sequenceFlow", NS):
        src, dst = flow.get("sourceRef"), flow.get("targetRef")
        if src in outgoing and dst in nodes:
            outgoing[src].append(dst)
    during: dict[str, list[str]] = {nid: [] for nid in nodes}  # boundary events fire during
    for nid, node in nodes.items():
        attached = node.get("attachedToRef")
        if _local(node.tag) == "boundaryEvent" and attached in during:
            during[attached].append(nid)

    inner: dict[str, ProcessMoney] = {}
    approves = False
    guards: set[str] = set()
    for nid, node in nodes.items():
        kind = _local(node.tag)
        if kind in ("subProcess", "transaction"):
            inner[nid] = _analyse_scope(process_id, node, diagrams, memo)
        elif kind == "callActivity":
            inner[nid] = analyse_money(node.get("calledElement") or "", diagrams, memo)
        if _is_approval(node) or (nid in inner and inner[nid].approves):
            approves = True
            guards.add(nid)

    # Every node reachable from a start without passing through an approval step. An
    # event sub-process may start at any time: its starts count as starts.
    starts = [
        nid
        for nid, node in nodes.items()
        if _local(node.tag) == "startEvent"
        and (node.getparent() is scope or node.getparent().get("triggeredByEvent") == "true")
    ]
    reached: set[str] = set()
    pending = list(starts)
    for nid, node in nodes.items():
        if _local(node.tag) == "subProcess" and node.get("triggeredByEvent") == "true":
            pending.append(nid)
    while pending:
        nid = pending.pop()
        if nid in reached:
            continue
        reached.add(nid)
        pending.extend(during[nid])
        if nid not in guards:
            pending.extend(outgoing[nid])

    unguarded: list[list[tuple[str, str, str]]] = []
    for nid in sorted(reached):
        node = nodes[nid]
        here = (process_id, nid, _name(node))
        if _local(node.tag) == "scriptTask":
            script = node.find("bpmn:script", NS)
            if _calls_of(script.text if script is not None else "") & scripting.MONEY_FUNCTIONS:
                unguarded.append([here])
        if nid in inner:
            unguarded.extend([here, *chain] for chain in inner[nid].unguarded)
    return ProcessMoney(approves, unguarded)


def check_money(
    process_id: str,
    diagrams: Mapping[str, Any],
    is_programme: Callable[[str], bool] = PROGRAMME_PROCESSES.__contains__,
) -> list[Finding]:
    """Findings on the elements of `process_id` through which a programme's case would
    move money before its approval (with the newest version of every other process)."""
    findings: dict[str, Finding] = {}
    memo: dict = {}
    for top in sorted(p for p in diagrams if is_programme(p)):
        for chain in analyse_money(top, diagrams, memo).unguarded:
            mine = [step for step in chain if step[0] == process_id]
            if not mine:
                continue
            element = mine[-1]
            route = " → ".join(f"{pid}（{name}）" for pid, _eid, name in chain)
            findings.setdefault(
                element[1],
                Finding(
                    element[1],
                    f"“{element[2]}”会在审批通过之前动用资金或预算（{route}）。"
                    f"{'、'.join(sorted(scripting.MONEY_FUNCTIONS))} 只能在审批通过之后调用",
                ),
            )
    return list(findings.values())
