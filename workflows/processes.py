"""Process diagrams: read safely, validate, deploy as versions, and serve parsed specs.

A deploy parses the BPMN once, stores the serialized SpiffWorkflow spec and warmflow's
reading of the Camunda extensions (candidate groups, due dates, form fields) in a new
`process_version`. An unchanged file is not a new version. Running cases keep the
version they started on; specs are cached per version id in memory.
"""

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from workflows import diagram_limits, forms, scripting, serialization
from workflows.audit import record
from workflows.clock import now
from workflows.db import unit_of_work
from workflows.errors import Conflict, Forbidden, NotFound, ValidationFailed
from workflows.models import ProcessDraft, ProcessInstance, ProcessVersion, User

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
NS = {"bpmn": BPMN_NS, "bpmndi": BPMNDI_NS, "camunda": CAMUNDA_NS}
MAX_BPMN_BYTES = 2 * 1024 * 1024

ROLES = {
    "caseworker": "经办人",
    "approver_l1": "基层工会审批人",
    "approver_l2": "县（区）总工会审批人",
    "approver_l3": "市总工会审批人",
    "finance": "财务",
    "manager": "管理员",
}
FIELD_TYPES = {
    "string",
    "long",
    "boolean",
    "date",
    "enum",
    # warmflow's own types (Camunda allows custom type names)
    "money",
    "textarea",
    "file",
    "id_number",
    "bank_card",
}
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# A user task's extension properties warmflow reads. `edits_application="true"` makes the
# task (退回修改 → 按退回意见修改) show the case's application form, prefilled, beside its own
# fields: the caseworker corrects what was returned (workflows/amend.py).
EDITS_APPLICATION = "edits_application"
TASK_PROPERTIES = {EDITS_APPLICATION: ("true", "false")}
FLOW_NODES = (
    "startEvent",
    "endEvent",
    "userTask",
    "scriptTask",
    "serviceTask",
    "task",
    "manualTask",
    "callActivity",
    "subProcess",
    "exclusiveGateway",
    "parallelGateway",
    "inclusiveGateway",
    "eventBasedGateway",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
    "businessRuleTask",
    "sendTask",
    "receiveTask",
)


Finding = diagram_limits.Finding


@dataclass
class ParsedDiagram:
    process_id: str
    name: str
    tree: Any
    meta: dict
    called: list[str]
    findings: list[Finding] = field(default_factory=list)


# --- reading ---------------------------------------------------------------------------


def parse_xml(data: bytes | str) -> Any:
    """Parse uploaded XML with entities, DTDs and the network off, and a size limit."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > MAX_BPMN_BYTES:
        raise ValidationFailed(f"文件过大（超过 {MAX_BPMN_BYTES // 1024 // 1024} MB）")
    lowered = data.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        raise ValidationFailed("文件包含 DOCTYPE 或实体声明，出于安全原因不予接受")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=False,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as err:
        raise ValidationFailed(f"XML 格式错误：{err}") from None
    tree = etree.ElementTree(root)
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        # Another encoding (UTF-16) hides the declaration from the byte check above.
        raise ValidationFailed("文件包含 DOCTYPE 或实体声明，出于安全原因不予接受")
    if root.tag != f"{{{BPMN_NS}}}definitions":
        raise ValidationFailed("不是 BPMN 2.0 文件（根元素应为 bpmn:definitions）")
    return tree


def _local(tag: str) -> str:
    return tag.split("}", 1)[1] if "}" in tag else tag


def _read_fields(node) -> list[dict]:
    fields = []
    for xml_field in node.findall(".//camunda:formData/camunda:formField", NS):
        spec: dict[str, Any] = {
            "id": xml_field.get("id") or "",
            "label": xml_field.get("label") or xml_field.get("id") or "",
            "type": xml_field.get("type") or "string",
            "default": xml_field.get("defaultValue"),
            "required": False,
            "readonly": False,
            "options": [
                [v.get("id"), v.get("name") or v.get("id")]
                for v in xml_field.findall("camunda:value", NS)
            ],
        }
        for constraint in xml_field.findall("camunda:validation/camunda:constraint", NS):
            name, config = (constraint.get("name") or "").strip(), constraint.get("config")
            kind = forms.CONSTRAINTS.get(name, (None, ""))[1]
            if kind == "none":
                spec[name] = True
            elif kind:
                spec[name] = (config or "").strip()
            else:
                spec.setdefault("unknown_constraints", []).append(name)
        for prop in xml_field.findall("camunda:properties/camunda:property", NS):
            if prop.get("id") == "required_when" and prop.get("value"):
                target, _, values = prop.get("value").partition("=")
                spec["required_when"] = {
                    "field": target.strip(),
                    "values": [v.strip() for v in values.split(",")],
                }
        fields.append(spec)
    return fields


def _task_properties(node) -> dict[str, str]:
    """A user task's own `camunda:properties` (not those of its form fields)."""
    found = {}
    for prop in node.findall("bpmn:extensionElements/camunda:properties/camunda:property", NS):
        found[(prop.get("name") or "").strip()] = (prop.get("value") or "").strip()
    return found


def read_diagram(tree) -> ParsedDiagram:
    root = tree.getroot()
    processes = root.findall("bpmn:process", NS)
    executable = [p for p in processes if p.get("isExecutable", "true") != "false"] or processes
    if len(executable) != 1:
        raise ValidationFailed("一个文件应当恰好包含一个可执行流程")
    process = executable[0]
    pid = process.get("id") or ""
    meta: dict[str, Any] = {
        "process_id": pid,
        "name": process.get("name") or pid,
        "elements": {},
        "user_tasks": {},
        "start_form": [],
    }
    called = []
    for node in process.iter():
        if not isinstance(node.tag, str):
            continue
        kind = _local(node.tag)
        if kind not in FLOW_NODES:
            continue
        eid = node.get("id")
        meta["elements"][eid] = {"kind": kind, "name": node.get("name") or eid}
        if kind == "userTask":
            properties = _task_properties(node)
            meta["user_tasks"][eid] = {
                "name": node.get("name") or eid,
                "group": (node.get(f"{{{CAMUNDA_NS}}}candidateGroups") or "").strip(),
                "due": node.get(f"{{{CAMUNDA_NS}}}dueDate") or "",
                "fields": _read_fields(node),
                "properties": properties,
                "edits_application": properties.get(EDITS_APPLICATION, "").lower() == "true",
            }
        elif kind == "startEvent" and node.getparent() is process:
            meta["start_form"] = _read_fields(node)
        elif kind == "callActivity":
            called.append(node.get("calledElement") or "")
    return ParsedDiagram(pid, meta["name"], tree, meta, called)


# --- validation ------------------------------------------------------------------------


def _check_fields(eid: str, fields: list[dict], findings: list[Finding]) -> None:
    seen = set()
    for f in fields:
        fid = f["id"]
        if not IDENTIFIER.match(fid):
            findings.append(
                Finding(
                    eid, f"表单字段标识“{fid}”不合规（小写字母开头，仅含小写字母、数字、下划线）"
                )
            )
            continue
        if fid in seen:
            findings.append(Finding(eid, f"表单字段“{fid}”重复"))
        seen.add(fid)
        if f["type"] not in FIELD_TYPES:
            findings.append(Finding(eid, f"表单字段“{f['label']}”的类型“{f['type']}”不受支持"))
        if f["type"] == "enum" and not f["options"]:
            findings.append(Finding(eid, f"下拉字段“{f['label']}”没有任何选项"))
        findings.extend(Finding(eid, problem) for problem in forms.field_problems(f))


def _check_task_properties(eid: str, task: dict, findings: list[Finding]) -> None:
    for name, value in task.get("properties", {}).items():
        if name not in TASK_PROPERTIES:
            known = "、".join(TASK_PROPERTIES)
            findings.append(
                Finding(eid, f"用户任务“{task['name']}”的扩展属性“{name}”无法识别（可用：{known}）")
            )
        elif value.lower() not in TASK_PROPERTIES[name]:
            allowed = " 或 ".join(TASK_PROPERTIES[name])
            findings.append(Finding(eid, f"扩展属性 {name} 的值应为 {allowed}"))
    if task.get("edits_application") and task["group"].strip() != "caseworker":
        message = f"“{task['name']}”修改申请信息（{EDITS_APPLICATION}），候选组应为 caseworker"
        findings.append(Finding(eid, message))


def _check_expression(
    eid: str, what: str, source: str | None, mode: str, findings: list[Finding]
) -> None:
    if source is None or not source.strip():
        findings.append(Finding(eid, f"{what}为空"))
        return
    for problem in scripting.check(source, mode):
        findings.append(Finding(eid, f"{what}不安全或无效：{problem}"))


@dataclass
class Deployed:
    """The newest version of every deployed process, as the checks on a new diagram
    see the others: whom each calls, and its <bpmn:process>."""

    calls: dict[str, list[str]] = field(default_factory=dict)
    processes: dict[str, Any] = field(default_factory=dict)


_process_trees: dict[str, Any] = {}  # checksum → parsed <bpmn:process> (versions never change)


def _newest_join():
    """The join of a process_version row to its process's newest number: only the newest
    version of each process stays."""
    newest = (
        select(ProcessVersion.process_id, func.max(ProcessVersion.number).label("number"))
        .group_by(ProcessVersion.process_id)
        .subquery()
    )
    return newest, (ProcessVersion.process_id == newest.c.process_id) & (
        ProcessVersion.number == newest.c.number
    )


def deployed(session: Session) -> Deployed:
    rows = session.execute(select(ProcessVersion).join(*_newest_join())).scalars()
    found = Deployed()
    for row in rows:
        found.calls[row.process_id] = [p for p in row.called_processes.split(",") if p]
        tree = _process_trees.get(row.checksum)
        if tree is None:
            tree = parse_xml(row.bpmn_xml).getroot().find("bpmn:process", NS)
            _process_trees[row.checksum] = tree
        found.processes[row.process_id] = tree
    return found


def validate(
    diagram: ParsedDiagram, available: set[str], others: Deployed | None = None
) -> list[Finding]:
    """Every rule a diagram must pass before it is deployed. Messages in Chinese.
    `others`: the deployed processes, for the rules that span processes (call cycles,
    money before approval)."""
    findings: list[Finding] = []
    root = diagram.tree.getroot()
    pid = diagram.process_id
    if not IDENTIFIER.match(pid or ""):
        findings.append(Finding(pid or "", "流程标识应为小写字母开头的英文标识"))
    process = root.find("bpmn:process", NS)
    too_big = diagram_limits.check_size(process)
    if too_big:
        return too_big  # nothing else is read of a diagram that size
    if root.find("bpmndi:BPMNDiagram", NS) is None:
        findings.append(Finding(pid, "缺少图形信息（BPMNDiagram），编辑器无法显示该流程"))

    for eid, task in diagram.meta["user_tasks"].items():
        groups = [g.strip() for g in task["group"].split(",") if g.strip()]
        if len(groups) != 1 or groups[0] not in ROLES:
            findings.append(
                Finding(eid, f"用户任务“{task['name']}”的候选组应为以下之一：{'、'.join(ROLES)}")
            )
        if task["due"]:
            _check_expression(eid, "办理期限表达式", task["due"], "eval", findings)
        _check_fields(eid, task["fields"], findings)
        _check_task_properties(eid, task, findings)
    _check_fields(pid, diagram.meta["start_form"], findings)

    for flow in process.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        cond = flow.find("bpmn:conditionExpression", NS)
        if cond is not None:
            _check_expression(flow.get("id"), "条件表达式", cond.text, "eval", findings)
    for tag in ("timeDate", "timeDuration", "timeCycle"):
        for node in process.iter(f"{{{BPMN_NS}}}{tag}"):
            owner = node.getparent().getparent()
            _check_expression(owner.get("id"), "定时器表达式", node.text, "eval", findings)
    for node in process.iter(f"{{{BPMN_NS}}}scriptTask"):
        script = node.find("bpmn:script", NS)
        _check_expression(
            node.get("id"), "脚本", script.text if script is not None else None, "exec", findings
        )
    for node in process.iter(f"{{{BPMN_NS}}}callActivity"):
        target = node.get("calledElement") or ""
        if target not in available and target != pid:
            findings.append(Finding(node.get("id"), f"调用的流程“{target}”不存在，请先部署它"))

    _check_graph(process, findings)
    others = others or Deployed()
    calls = [
        (n.get("id") or "", n.get("calledElement") or "")
        for n in process.iter(f"{{{BPMN_NS}}}callActivity")
    ]
    findings += diagram_limits.check_markers(process)
    findings += diagram_limits.check_timers(process, now())
    findings += diagram_limits.check_function_arguments(process)
    findings += diagram_limits.check_call_cycles(
        pid, calls, {**others.calls, pid: [callee for _, callee in calls]}
    )
    findings += diagram_limits.misplaced_money(process)
    findings += diagram_limits.check_money(
        pid, {**others.processes, pid: process}, is_programme=_is_programme
    )
    if not findings:
        try:
            parser = CamundaParser()
            parser.add_bpmn_xml(diagram.tree, filename=f"{pid}.bpmn")
            parser.get_spec(pid)
        except RecursionError:
            findings.append(Finding(pid, TOO_DEEP))
        except ValidationException as err:
            message = TOO_DEEP if "RecursionError" in str(err) else f"流程引擎无法解析：{err}"
            findings.append(Finding(getattr(err, "id", "") or pid, message))
        except Exception as err:  # noqa: BLE001 - any parser failure is a finding
            findings.append(Finding(pid, f"流程引擎无法解析：{err}"))
    return findings


def _is_programme(process_id: str) -> bool:
    """Whether cases start on this process (a programme: 金秋助学, 四季送, 建档)."""
    from workflows.cases import PROGRAMMES  # cases imports this module

    return process_id in PROGRAMMES


TOO_DEEP = (
    f"流程图的链条过长，流程引擎无法解析（每个流程图最多 {diagram_limits.MAX_FLOW_NODES} 个环节），"
    "请拆分为几个被调用的流程"
)


def _check_graph(process, findings: list[Finding]) -> None:
    nodes = {}
    for node in process:
        if isinstance(node.tag, str) and _local(node.tag) in FLOW_NODES:
            nodes[node.get("id")] = node
    outgoing: dict[str, list[str]] = {nid: [] for nid in nodes}
    incoming: dict[str, int] = dict.fromkeys(nodes, 0)
    for flow in process.findall("bpmn:sequenceFlow", NS):
        src, dst = flow.get("sourceRef"), flow.get("targetRef")
        if src not in nodes or dst not in nodes:
            findings.append(Finding(flow.get("id"), "连线的起点或终点不存在"))
            continue
        outgoing[src].append(dst)
        incoming[dst] += 1
    for nid, node in nodes.items():
        kind = _local(node.tag)
        if kind == "boundaryEvent":
            attached = node.get("attachedToRef")
            outgoing.setdefault(attached, []).append(nid)
        if kind == "exclusiveGateway" and len(outgoing[nid]) > 1 and not node.get("default"):
            findings.append(Finding(nid, f"排他网关“{node.get('name') or nid}”缺少默认路径"))
        if kind != "endEvent" and not outgoing[nid]:
            name = node.get("name") or nid
            findings.append(Finding(nid, f"“{name}”没有出口连线，流程会停在这里"))
    starts = [nid for nid, n in nodes.items() if _local(n.tag) == "startEvent"]
    if not starts:
        findings.append(Finding("", "流程缺少开始事件"))
    seen, stack = set(), list(starts)
    while stack:
        nid = stack.pop()
        if nid in seen:
            continue
        seen.add(nid)
        stack.extend(outgoing.get(nid, []))
    for nid, node in nodes.items():
        if nid not in seen:
            findings.append(Finding(nid, f"“{node.get('name') or nid}”无法从开始事件到达"))


# --- deploying -------------------------------------------------------------------------


@dataclass
class DeployResult:
    version: ProcessVersion
    created: bool


def deployed_process_ids(session: Session) -> set[str]:
    return set(session.scalars(select(ProcessVersion.process_id).distinct()))


def latest_version(session: Session, process_id: str) -> ProcessVersion:
    """The newest version's row, diagram and all (for what shows or copies it)."""
    version = session.scalars(
        select(ProcessVersion)
        .where(ProcessVersion.process_id == process_id)
        .order_by(ProcessVersion.number.desc())
        .limit(1)
    ).first()
    if version is None:
        raise _undeployed(process_id)
    return version


def _undeployed(process_id: str) -> NotFound:
    return NotFound(f"流程“{process_id}”尚未部署")


def newest_loaded(session: Session, process_id: str) -> "LoadedVersion":
    """The newest version of `process_id`, loaded: only its id is read (the diagram
    and spec come from the cache of loaded versions)."""
    version_id = session.scalar(
        select(ProcessVersion.id)
        .where(ProcessVersion.process_id == process_id)
        .order_by(ProcessVersion.number.desc())
        .limit(1)
    )
    if version_id is None:
        raise _undeployed(process_id)
    return loaded_version(session, version_id)


def newest_version_ids(session: Session) -> dict[str, int]:
    """Process id → the id of its newest version, for every deployed process at once."""
    query = select(ProcessVersion.process_id, ProcessVersion.id).join(*_newest_join())
    return dict(session.execute(query).all())


def newest_with_called(
    session: Session, process_id: str
) -> tuple["LoadedVersion", dict[str, "LoadedVersion"]]:
    """What a new case of `process_id` pins: its newest version and the newest version of
    every process that one calls, transitively, read in one query."""
    newest = newest_version_ids(session)
    if process_id not in newest:
        raise _undeployed(process_id)
    version = loaded_version(session, newest[process_id])
    called = {
        pid: loaded_version(session, vid)
        for pid, vid in pin_called_versions(session, version, newest).items()
    }
    return version, called


def _raise_findings(diagram_id: str, findings: list[Finding]) -> None:
    lines = [f"{f.element or diagram_id}：{f.message}" for f in findings]
    raise ValidationFailed(
        f"流程“{diagram_id}”未通过校验，共 {len(findings)} 个问题：" + "；".join(lines),
        errors={f.element or diagram_id: f.message for f in findings},
        findings=[{"element": f.element, "message": f.message} for f in findings],
    )


def _clashing(task: dict, start_form: list[dict]) -> list[str]:
    own = {f["id"] for f in task["fields"]}
    return sorted(own & {f["id"] for f in start_form})


def application_clashes(session: Session, diagram: ParsedDiagram) -> list[Finding]:
    """A task that edits the application shows the calling process's start form beside
    its own fields: the two must not share a field id, whichever side is deployed now
    (against the newest deployed version of the other side)."""
    findings = []
    for pid in sorted(set(diagram.called)):
        try:
            called = newest_loaded(session, pid)
        except NotFound:
            continue
        for eid, task in called.meta.get("user_tasks", {}).items():
            clash = (
                _clashing(task, diagram.meta["start_form"]) if task.get(EDITS_APPLICATION) else []
            )
            if clash:
                findings.append(
                    Finding(
                        diagram.process_id,
                        f"申请表字段 {'、'.join(clash)} 与流程“{pid}”中“{task['name']}”（{eid}）"
                        "的字段同名，修改申请信息时无法区分，请改用其他字段标识",
                    )
                )
    own_tasks = {e: t for e, t in diagram.meta["user_tasks"].items() if t.get(EDITS_APPLICATION)}
    if own_tasks:
        rows = session.execute(
            select(ProcessVersion.process_id, ProcessVersion.called_processes).where(
                ProcessVersion.called_processes.contains(diagram.process_id)
            )
        )
        callers = {pid for pid, called in rows if diagram.process_id in called.split(",")}
        for caller in sorted(callers):
            start_form = newest_loaded(session, caller).meta.get("start_form", [])
            for eid, task in own_tasks.items():
                clash = _clashing(task, start_form)
                if clash:
                    findings.append(
                        Finding(
                            eid,
                            f"字段 {'、'.join(clash)} 与调用本流程的“{caller}”申请表字段同名，"
                            "修改申请信息时无法区分，请改用其他字段标识",
                        )
                    )
    return findings


def check_diagram(
    session: Session, xml: bytes | str, also_available: set[str] = frozenset()
) -> ParsedDiagram:
    """Parse and validate without deploying; raises ValidationFailed with findings."""
    diagram = read_diagram(parse_xml(xml))
    others = deployed(session)
    diagram.findings = validate(diagram, set(others.calls) | set(also_available), others)
    if not diagram.findings:
        diagram.findings = application_clashes(session, diagram)
    if diagram.findings:
        _raise_findings(diagram.process_id, diagram.findings)
    return diagram


def deploy(
    session: Session,
    actor_id: int | None,
    xml: bytes | str,
    comment: str = "",
    also_available: set[str] = frozenset(),
    commit: bool = True,
) -> DeployResult:
    diagram = check_diagram(session, xml, also_available)
    try:
        text = xml.decode("utf-8") if isinstance(xml, bytes) else xml
    except UnicodeDecodeError:
        raise ValidationFailed("文件应以 UTF-8 编码保存") from None
    checksum = hashlib.sha256(text.encode("utf-8")).hexdigest()
    pid = diagram.process_id
    newest = session.scalars(
        select(ProcessVersion)
        .where(ProcessVersion.process_id == pid)
        .order_by(ProcessVersion.number.desc())
        .limit(1)
    ).first()
    if newest is not None and newest.checksum == checksum:
        return DeployResult(newest, False)
    parser = CamundaParser()
    parser.add_bpmn_xml(diagram.tree, filename=f"{pid}.bpmn")
    spec = parser.get_spec(pid)
    number = (
        session.scalar(
            select(func.max(ProcessVersion.number)).where(ProcessVersion.process_id == pid)
        )
        or 0
    ) + 1
    version = ProcessVersion(
        process_id=pid,
        number=number,
        name=diagram.name,
        bpmn_xml=text,
        checksum=checksum,
        spec_json=serialization.spec_to_json(spec),
        meta_json=json.dumps(diagram.meta, ensure_ascii=False),
        called_processes=",".join(sorted(set(diagram.called))),
        deployed_by_id=actor_id,
        comment=comment[:500],
    )
    session.add(version)
    session.flush()
    record(
        session,
        actor_id,
        None,
        "process.deploy",
        f"部署流程“{diagram.name}”（{pid}）第 {number} 版",
        process_id=pid,
        number=number,
        checksum=checksum,
    )
    if commit:
        session.commit()
    return DeployResult(version, True)


def deploy_files(session: Session, actor_id: int | None, paths: list[Path]) -> list[DeployResult]:
    """Deploy several files in one transaction, called processes before their callers."""
    diagrams = {}
    for path in paths:
        data = Path(path).read_bytes()
        diagram = read_diagram(parse_xml(data))
        diagrams[diagram.process_id] = (diagram, data)
    ordered: list[str] = []

    def visit(pid: str, trail: tuple[str, ...] = ()) -> None:
        if pid in ordered or pid not in diagrams:
            return
        if pid in trail:
            raise ValidationFailed(f"流程之间存在循环调用：{' → '.join(trail + (pid,))}")
        for called in diagrams[pid][0].called:
            visit(called, trail + (pid,))
        ordered.append(pid)

    for pid in sorted(diagrams):
        visit(pid)
    results = [
        deploy(session, actor_id, diagrams[pid][1], also_available=set(diagrams), commit=False)
        for pid in ordered
    ]
    session.commit()
    return results


# --- specs for running -----------------------------------------------------------------


@dataclass(frozen=True)
class LoadedVersion:
    id: int
    process_id: str
    number: int
    spec: Any
    meta: dict
    called: tuple[str, ...]


_versions: dict[int, LoadedVersion] = {}
_versions_lock = threading.Lock()
# A deployed version's meta never changes: read from its row once per process for the
# versions no case runs on here (the step filters of every list page want them all).
_metas: dict[int, dict] = {}


def forget_versions() -> None:
    """Forget the loaded versions and their metas (tests and benchmarks switching
    databases, as a restarted process would)."""
    with _versions_lock:
        _versions.clear()
        _metas.clear()


def loaded_version(session: Session, version_id: int) -> LoadedVersion:
    cached = _versions.get(version_id)
    if cached is not None:
        return cached
    row = session.get(ProcessVersion, version_id)
    if row is None:
        raise NotFound(f"流程版本 {version_id} 不存在")
    loaded = LoadedVersion(
        row.id,
        row.process_id,
        row.number,
        serialization.spec_from_json(row.spec_json),
        json.loads(row.meta_json),
        tuple(p for p in row.called_processes.split(",") if p),
    )
    with _versions_lock:
        _versions[version_id] = loaded
    return loaded


def deployed_metas(session: Session) -> list[dict]:
    """The meta of every deployed version, newest first within a process: from the cache
    where the version is loaded, else parsed from its row (a version no case runs on any
    more is not worth parsing its diagram for)."""
    ids = list(
        session.scalars(
            select(ProcessVersion.id).order_by(
                ProcessVersion.process_id, ProcessVersion.number.desc()
            )
        )
    )
    missing = [i for i in ids if i not in _versions and i not in _metas]
    if missing:
        rows = session.execute(
            select(ProcessVersion.id, ProcessVersion.meta_json).where(
                ProcessVersion.id.in_(missing)
            )
        )
        parsed = {version_id: json.loads(meta) for version_id, meta in rows}
        with _versions_lock:
            _metas.update(parsed)
    found = []
    for version_id in ids:
        cached = _versions.get(version_id)
        found.append(cached.meta if cached is not None else _metas.get(version_id, {}))
    return found


def pin_called_versions(
    session: Session, version: LoadedVersion, newest: dict[str, int] | None = None
) -> dict[str, int]:
    """The newest version of every process `version` calls, transitively (`newest`: the
    caller's `newest_version_ids`, else read here once)."""
    pinned: dict[str, int] = {}
    pending = list(version.called)
    if pending and newest is None:
        newest = newest_version_ids(session)
    while pending:
        pid = pending.pop()
        if pid in pinned or pid == version.process_id:
            continue
        if pid not in newest:
            raise _undeployed(pid)
        called = loaded_version(session, newest[pid])
        pinned[pid] = called.id
        pending.extend(called.called)
    return pinned


# --- managing processes (managers only) ------------------------------------------------
# The 流程管理 area: versions with their cases, drafts, validation findings for the
# editor, deploy, compare and roll back. Every function checks the manager role itself.


def require_manager(user: User) -> None:
    # 流程管理 changes every unit's processes: the city federation's managers only.
    if not (user.is_active and user.has_role("manager") and user.org.parent_id is None):
        raise Forbidden("只有市总工会的管理员可以管理流程")


@dataclass
class VersionSummary:
    version: ProcessVersion
    running: int
    finished: int
    deployed_by: str


@dataclass
class ProcessSummary:
    process_id: str
    name: str
    versions: list[VersionSummary]  # newest first
    draft: ProcessDraft | None

    @property
    def latest(self) -> ProcessVersion:
        return self.versions[0].version


def _case_counts(session: Session, versions: list[ProcessVersion]) -> dict[int, tuple[int, int]]:
    """(running, finished) cases per version: started on it, or calling it (pinned)."""
    counts: dict[int, list[int]] = {v.id: [0, 0] for v in versions}
    rows = session.execute(
        select(ProcessInstance.version_id, ProcessInstance.status, func.count()).group_by(
            ProcessInstance.version_id, ProcessInstance.status
        )
    )
    for version_id, status, count in rows:
        if version_id in counts:
            counts[version_id][0 if status == "running" else 1] += count
    for version in versions:
        if not session.scalar(
            select(func.count(ProcessVersion.id)).where(
                ProcessVersion.called_processes.contains(version.process_id)
            )
        ):
            continue
        pin = f'"{version.process_id}": {version.id}'
        pinned = or_(
            ProcessInstance.subprocess_versions.contains(pin + ","),
            ProcessInstance.subprocess_versions.contains(pin + "}"),
        )
        for status, count in session.execute(
            select(ProcessInstance.status, func.count())
            .where(pinned)
            .group_by(ProcessInstance.status)
        ):
            counts[version.id][0 if status == "running" else 1] += count
    return {vid: (c[0], c[1]) for vid, c in counts.items()}


def list_processes(session: Session, user: User) -> list[ProcessSummary]:
    require_manager(user)
    versions = list(
        session.scalars(
            select(ProcessVersion).order_by(ProcessVersion.process_id, ProcessVersion.number.desc())
        )
    )
    counts = _case_counts(session, versions)
    names = dict(session.execute(select(User.id, User.display_name)).all())
    drafts = {d.process_id: d for d in session.scalars(select(ProcessDraft))}
    summaries: dict[str, ProcessSummary] = {}
    for v in versions:
        summary = summaries.setdefault(
            v.process_id, ProcessSummary(v.process_id, v.name, [], drafts.get(v.process_id))
        )
        running, finished = counts[v.id]
        summary.versions.append(
            VersionSummary(
                v,
                running,
                finished,
                names.get(v.deployed_by_id, "系统") if v.deployed_by_id else "系统",
            )
        )
    return list(summaries.values())


def get_process(session: Session, user: User, process_id: str) -> ProcessSummary:
    for summary in list_processes(session, user):
        if summary.process_id == process_id:
            return summary
    raise NotFound(f"流程“{process_id}”不存在")


def get_version(session: Session, user: User, process_id: str, number: int) -> ProcessVersion:
    require_manager(user)
    version = session.scalars(
        select(ProcessVersion).where(
            ProcessVersion.process_id == process_id, ProcessVersion.number == number
        )
    ).first()
    if version is None:
        raise NotFound(f"流程“{process_id}”没有第 {number} 版")
    return version


def findings_for(session: Session, user: User, xml: bytes | str) -> list[Finding]:
    """Everything wrong with a diagram, for the editor to mark; empty when it may deploy."""
    require_manager(user)
    try:
        diagram = read_diagram(parse_xml(xml))
    except ValidationFailed as err:
        return [Finding("", err.message)]
    others = deployed(session)
    return validate(diagram, set(others.calls), others) or application_clashes(session, diagram)


def save_draft(
    session: Session, user: User, process_id: str, xml: str, lock_version: int | None = None
) -> ProcessDraft:
    """Keep a manager's work without deploying it. A draft saved by someone else since
    `lock_version` is a conflict, not a silent overwrite."""
    require_manager(user)
    diagram = read_diagram(parse_xml(xml))  # well-formed, safe, one process
    if diagram.process_id != process_id:
        raise ValidationFailed(f"草稿中的流程标识是“{diagram.process_id}”，应为“{process_id}”")
    with unit_of_work(session):
        draft = session.scalars(
            select(ProcessDraft).where(ProcessDraft.process_id == process_id)
        ).first()
        if draft is None:
            draft = ProcessDraft(process_id=process_id, bpmn_xml=xml)
            session.add(draft)
        elif lock_version is not None and draft.lock_version != lock_version:
            raise Conflict("其他管理员已修改了该草稿，请重新打开后再编辑")
        draft.bpmn_xml = xml
        draft.saved_by_id = user.id
        draft.saved_at = now()
    return draft


def deploy_xml(
    session: Session, user: User, process_id: str, xml: str, comment: str = ""
) -> DeployResult:
    """Deploy a manager's diagram as the newest version; its draft is done with."""
    require_manager(user)
    diagram = read_diagram(parse_xml(xml))
    if diagram.process_id != process_id:
        raise ValidationFailed(f"文件中的流程标识是“{diagram.process_id}”，应为“{process_id}”")
    with unit_of_work(session):
        result = deploy(session, user.id, xml, comment=comment, commit=False)
        session.execute(delete(ProcessDraft).where(ProcessDraft.process_id == process_id))
    return result


def rollback(session: Session, user: User, process_id: str, number: int) -> DeployResult:
    """Deploy an older version again as the newest; running cases are not touched."""
    old = get_version(session, user, process_id, number)
    if latest_version(session, process_id).id == old.id:
        raise ValidationFailed(f"第 {number} 版已是当前版本")
    with unit_of_work(session):
        result = deploy(
            session, user.id, old.bpmn_xml, comment=f"回滚至第 {number} 版", commit=False
        )
    return result


@dataclass
class Comparison:
    older: ProcessVersion
    newer: ProcessVersion
    added: list[str]
    removed: list[str]
    changed: dict[str, str]  # element id → what changed, in Chinese


def _elements(xml: str) -> dict[str, Any]:
    process = parse_xml(xml).getroot().find("bpmn:process", NS)
    found = {}
    for node in process.iter():
        if isinstance(node.tag, str) and node.get("id") and node is not process:
            kind = _local(node.tag)
            if kind in FLOW_NODES or kind == "sequenceFlow":
                found[node.get("id")] = node
    return found


def compare(session: Session, user: User, process_id: str, older: int, newer: int) -> Comparison:
    """Which elements one version adds, removes or changes against another (by id)."""
    a = get_version(session, user, process_id, older)
    b = get_version(session, user, process_id, newer)
    before, after = _elements(a.bpmn_xml), _elements(b.bpmn_xml)
    changed = {}
    for eid in sorted(set(before) & set(after)):
        old, new = before[eid], after[eid]
        if etree.tostring(old, method="c14n") == etree.tostring(new, method="c14n"):
            continue
        if (old.get("name") or "") != (new.get("name") or ""):
            changed[eid] = f"名称：{old.get('name') or '（无）'} → {new.get('name') or '（无）'}"
        elif _read_fields(old) != _read_fields(new):
            changed[eid] = "表单字段已修改"
        else:
            changed[eid] = "属性已修改"
    return Comparison(
        a, b, sorted(set(after) - set(before)), sorted(set(before) - set(after)), changed
    )
