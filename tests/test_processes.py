"""Deploying diagrams: versions, running cases pinned to theirs, and every diagram that
must be refused (unsafe expressions, broken graphs, hostile XML). Bad diagrams are made
here by editing the shipped files in bpmn/."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import BPMN, restart, today_iso
from lxml import etree
from sqlalchemy import func, select

from workflows import cases, payments, processes, scripting, timers
from workflows.errors import ValidationFailed
from workflows.models import Payment, ProcessInstance, ProcessVersion, PublicNotice

CHINESE = re.compile(r"[\u4e00-\u9fff]")
NS = processes.NS
VISIT_OK = dict(
    visit_date="2026-09-07",
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病，家庭收入低",
    visit_verdict="confirmed",
)
APPROVE = {"decision": "approve"}
PWNED = Path("/tmp/warmflow-pwned")  # noqa: S108 (the file an escape would create)


# --- building diagrams from the shipped ones -------------------------------------------


def source(name: str) -> str:
    return (BPMN / f"{name}.bpmn").read_text(encoding="utf-8")


def edited(name: str, old: str, new: str, count: int = 1) -> str:
    """The shipped diagram `name` with `old` replaced; fails if `old` is not there."""
    text = source(name)
    assert old in text, f"{old!r} not found in {name}.bpmn"
    return text.replace(old, new, count)


def tree_of(name: str):
    return etree.fromstring(source(name).encode("utf-8"))


def serialized(root) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def element(root, eid: str):
    (node,) = root.xpath("//*[@id=$eid]", eid=eid)
    return node


def add_to_process(root, xml: str) -> None:
    process = root.find("bpmn:process", NS)
    wrapper = etree.fromstring(
        f'<w xmlns:bpmn="{processes.BPMN_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-'
        f'instance">{xml}</w>'
    )
    for child in list(wrapper):
        process.append(child)


def version_count(session) -> int:
    return session.scalar(select(func.count(ProcessVersion.id)))


def refused(session, xml, **kwargs) -> ValidationFailed:
    before = version_count(session)
    with pytest.raises(ValidationFailed) as failure:
        processes.deploy(session, None, xml, **kwargs)
    session.rollback()
    assert version_count(session) == before
    assert CHINESE.search(failure.value.message)
    return failure.value


# --- versions -----------------------------------------------------------------------------


def test_deploying_an_unchanged_file_again_creates_no_new_version(world):
    before = version_count(world.session)
    again = processes.deploy(world.session, None, source("home_visit"))
    assert again.created is False
    assert again.version.number == 1
    assert version_count(world.session) == before


def test_deploying_a_changed_file_creates_the_next_version(world):
    changed = edited(
        "home_visit", 'name="入户核查" camunda:formKey', 'name="入户走访" camunda:formKey'
    )
    result = processes.deploy(world.session, None, changed, comment="改任务名称")
    assert result.created is True
    assert result.version.number == 2
    latest = processes.latest_version(world.session, "home_visit")
    assert latest.id == result.version.id
    loaded = processes.loaded_version(world.session, latest.id)
    assert loaded.meta["user_tasks"]["home_visit_task"]["name"] == "入户走访"


def _new_approval_by_level() -> str:
    budget = (
        '<camunda:formField id="budget_code" label="预算科目" type="string">'
        '<camunda:validation><camunda:constraint name="required" /></camunda:validation>'
        "</camunda:formField>"
    )
    text = edited("approval_by_level", 'name="基层工会审批"', 'name="基层工会初审"')
    # approve_l1 is the first task with a form: its formData comes first in the file.
    assert text.index("<camunda:formData>") < text.index('id="approve_l2"')
    return text.replace("<camunda:formData>", "<camunda:formData>" + budget, 1)


def _new_tuition_grant() -> str:
    school_year = (
        '<camunda:formField id="school_year" label="学年" type="string">'
        '<camunda:validation><camunda:constraint name="required" />'
        "</camunda:validation></camunda:formField>"
    )
    return edited("tuition_grant", "<camunda:formData>", "<camunda:formData>" + school_year)


def _start(world, **overrides):
    return cases.start_case(
        world.session,
        world.user("cw1"),
        "tuition_grant",
        world.tuition_application(**overrides),
        world.campaigns["tuition"].id,
    )


def _through_notice(world, clock, case) -> None:
    world.do("cw1", case, "home_visit_task", dict(VISIT_OK, visit_date=today_iso()))
    notice = world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == case.id)
    ).one()
    clock.move_to(notice.ends_at + timedelta(minutes=1))
    assert timers.fire_due_timers(world.factory) == 1


def test_running_case_keeps_its_versions_while_new_cases_use_the_new_ones(world, clock):
    old_case = _start(world)
    old_instance = world.session.scalars(
        select(ProcessInstance).where(ProcessInstance.case_id == old_case.id)
    ).one()
    old_version_id = old_instance.version_id

    approval = processes.deploy(world.session, None, _new_approval_by_level())
    grant = processes.deploy(world.session, None, _new_tuition_grant())
    assert (approval.created, approval.version.number) == (True, 2)
    assert (grant.created, grant.version.number) == (True, 2)
    restart()
    world.new_session()

    # The old case runs on version 1 of both: old task name, old form.
    _through_notice(world, clock, old_case)
    old_task = world.open_task(old_case, "approve_l1")
    assert old_task.name == "基层工会审批"
    world.do("l1", old_case, "approve_l1", APPROVE)
    world.do("l2", old_case, "approve_l2", APPROVE)
    payment = world.session.scalars(select(Payment).where(Payment.case_id == old_case.id)).one()
    payments.record_result(world.session, world.user("fin"), payment.id, "paid")
    old_case = world.refresh(old_case)
    assert (old_case.status, old_case.outcome) == ("completed", "end_paid")
    assert world.session.get(ProcessInstance, old_instance.id).version_id == old_version_id

    # A new case needs the new start field and gets the new approval step.
    with pytest.raises(ValidationFailed) as missing:
        _start(world)
    assert "school_year" in missing.value.errors
    new_case = _start(world, school_year="2026-2027")
    new_instance = world.session.scalars(
        select(ProcessInstance).where(ProcessInstance.case_id == new_case.id)
    ).one()
    assert new_instance.version_id == grant.version.id
    _through_notice(world, clock, new_case)
    new_task = world.open_task(new_case, "approve_l1")
    assert new_task.name == "基层工会初审"
    with pytest.raises(ValidationFailed) as no_budget:
        world.do("l1", new_case, "approve_l1", APPROVE)
    assert "budget_code" in no_budget.value.errors
    world.do("l1", new_case, "approve_l1", dict(APPROVE, budget_code="2026-JQ-01"))
    assert world.open_task(new_case, "approve_l2")


# --- unsafe expressions ---------------------------------------------------------------------

UNSAFE = {
    "gateway condition imports os": (
        "tuition_grant",
        "visit_verdict == 'confirmed'",
        "__import__('os').system('id')",
        "Flow_gw_visit_to_call_public_notice",
    ),
    "script task reads a file": (
        "tuition_grant",
        "approval_levels = 3 if amount_fen &gt; city_approval_threshold_fen else 2",
        "open('/etc/passwd').read()",
        "set_levels",
    ),
    "condition walks to the class hierarchy": (
        "tuition_grant",
        "notice_result == 'passed'",
        "().__class__.__bases__",
        "Flow_gw_notice_to_call_approval",
    ),
    "timer date imports os": (
        "public_notice",
        ">notice_ends_at</bpmn:timeDate>",
        ">__import__('os')</bpmn:timeDate>",
        "notice_period",
    ),
    "due date calls eval": (
        "public_notice",
        'camunda:dueDate="working_days_after(20)"',
        "camunda:dueDate=\"eval('1')\"",
        "investigate_objection",
    ),
}


@pytest.mark.parametrize("case", UNSAFE.values(), ids=list(UNSAFE))
def test_diagram_with_unsafe_expression_is_refused_naming_the_element(world, case):
    name, old, new, element_id = case
    error = refused(world.session, edited(name, old, new))
    assert element_id in error.errors
    assert CHINESE.search(error.errors[element_id])
    assert "不安全或无效" in error.errors[element_id]


RUN_TIME_TEXTS = [
    "__import__('os').system('id')",
    "open('/etc/passwd').read()",
    "().__class__.__bases__",
    "__import__('os')",
    "eval('1')",
]


@pytest.mark.parametrize("text", RUN_TIME_TEXTS)
def test_unsafe_text_is_refused_at_run_time_too(text):
    environment = scripting.RestrictedEnvironment()
    with pytest.raises(scripting.ScriptRefused):
        environment.evaluate(text, {})
    with pytest.raises(scripting.ScriptRefused):
        environment.execute(text, {})


def test_shell_command_through_import_creates_no_file():
    PWNED.unlink(missing_ok=True)
    text = "__import__('os').system('touch /tmp/warmflow-pwned')"
    environment = scripting.RestrictedEnvironment()
    with pytest.raises(scripting.ScriptRefused):
        environment.evaluate(text, {})
    with pytest.raises(scripting.ScriptRefused):
        environment.execute(text, {})
    with pytest.raises(scripting.ScriptRefused):
        scripting.evaluate(text, {})
    assert not PWNED.exists()


# --- other validation rules ------------------------------------------------------------------


def _unknown_group():
    return (
        edited(
            "approval_by_level",
            'camunda:candidateGroups="approver_l1"',
            'camunda:candidateGroups="boss"',
        ),
        "approve_l1",
        "候选组",
    )


def _bad_field_id():
    return (
        edited("approval_by_level", 'formField id="comment"', 'formField id="Bad-Id"'),
        "approve_l1",
        "Bad-Id",
    )


def _unknown_field_type():
    return (
        edited(
            "approval_by_level", 'label="意见说明" type="textarea"', 'label="意见说明" type="color"'
        ),
        "approve_l1",
        "color",
    )


def _enum_without_options():
    root = tree_of("approval_by_level")
    task = element(root, "approve_l1")
    for value in task.findall(".//camunda:value", NS):
        value.getparent().remove(value)
    return serialized(root), "approve_l1", "没有任何选项"


def _gateway_without_default():
    text = edited(
        "tuition_grant",
        'name="核查结果" default="Flow_gw_visit_to_end_visit_rejected"',
        'name="核查结果"',
    )
    text = text.replace(
        'sourceRef="gw_visit" targetRef="end_visit_rejected" />',
        'sourceRef="gw_visit" targetRef="end_visit_rejected"><bpmn:conditionExpression '
        "xsi:type=\"bpmn:tFormalExpression\">visit_verdict != 'confirmed'"
        "</bpmn:conditionExpression></bpmn:sequenceFlow>",
        1,
    )
    return text, "gw_visit", "缺少默认路径"


def _unreachable_task():
    root = tree_of("tuition_grant")
    add_to_process(
        root,
        '<bpmn:task id="orphan" name="孤立任务">'
        "<bpmn:outgoing>Flow_orphan</bpmn:outgoing></bpmn:task>"
        '<bpmn:sequenceFlow id="Flow_orphan" sourceRef="orphan" '
        'targetRef="end_paid" />',
    )
    return serialized(root), "orphan", "无法从开始事件到达"


def _dead_end():
    root = tree_of("tuition_grant")
    add_to_process(
        root,
        '<bpmn:task id="dead_end" name="死胡同">'
        "<bpmn:incoming>Flow_dead_end</bpmn:incoming></bpmn:task>"
        '<bpmn:sequenceFlow id="Flow_dead_end" sourceRef="gw_visit" '
        'targetRef="dead_end"><bpmn:conditionExpression '
        "xsi:type=\"bpmn:tFormalExpression\">visit_verdict == 'unsure'"
        "</bpmn:conditionExpression></bpmn:sequenceFlow>",
    )
    return serialized(root), "dead_end", "没有出口连线"


def _without_diagram():
    root = tree_of("home_visit")
    root.remove(root.find("bpmndi:BPMNDiagram", NS))
    return serialized(root), "home_visit", "BPMNDiagram"


BROKEN = {
    "unknown candidate group": _unknown_group,
    "form field id not an identifier": _bad_field_id,
    "unknown form field type": _unknown_field_type,
    "enum without options": _enum_without_options,
    "exclusive gateway without default": _gateway_without_default,
    "task with no incoming flow": _unreachable_task,
    "task with no outgoing flow": _dead_end,
    "no BPMNDiagram": _without_diagram,
}


@pytest.mark.parametrize("make", BROKEN.values(), ids=list(BROKEN))
def test_broken_diagram_is_refused_naming_the_element(world, make):
    xml, element_id, phrase = make()
    error = refused(world.session, xml)
    assert element_id in error.errors
    assert phrase in error.errors[element_id]
    assert CHINESE.search(error.errors[element_id])


def test_call_to_a_process_not_deployed_is_refused(session):
    error = refused(session, source("tuition_grant"))
    assert "call_home_visit" in error.errors
    assert "home_visit" in error.errors["call_home_visit"]
    assert "不存在" in error.errors["call_home_visit"]
    assert version_count(session) == 0


# --- hostile XML -----------------------------------------------------------------------------


def _with_doctype(doctype: str, old: str, new: str) -> str:
    return edited(
        "home_visit",
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<?xml version="1.0" encoding="UTF-8"?>\n{doctype}',
    ).replace(old, new, 1)


XXE_DOCTYPE = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'


def _xxe_in_name() -> str:
    return _with_doctype(XXE_DOCTYPE, 'name="入户核查" isExecutable', 'name="&e;" isExecutable')


def _xxe_in_text() -> str:
    # In element text an external entity is well-formed XML: only the parser settings
    # (or the DOCTYPE refusal) keep the file's content out of the diagram.
    return _with_doctype(
        XXE_DOCTYPE,
        'camunda:historyTimeToLive="180">',
        'camunda:historyTimeToLive="180"><bpmn:documentation>&e;</bpmn:documentation>',
    )


def _billion_laughs() -> str:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return _with_doctype(
        f"<!DOCTYPE lolz [{''.join(entities)}]>",
        'name="入户核查" isExecutable',
        'name="&lol9;" isExecutable',
    )


ENTITY_ATTACKS = [_xxe_in_name, _xxe_in_text, _billion_laughs]
ENTITY_IDS = ["xxe-in-name", "xxe-in-text", "billion-laughs"]


@pytest.mark.parametrize("make", ENTITY_ATTACKS, ids=ENTITY_IDS)
def test_entity_attacks_are_refused_without_reading_anything(session, make):
    error = refused(session, make())
    assert "root:" not in error.message
    assert not any("root:" in m for m in error.errors.values())


@pytest.mark.parametrize("make", ENTITY_ATTACKS, ids=ENTITY_IDS)
def test_entity_attacks_in_utf16_read_nothing_and_are_not_deployed(session, make):
    # The DOCTYPE text check does not see UTF-16 bytes: the parser settings must hold.
    data = make().replace('encoding="UTF-8"', 'encoding="UTF-16"', 1).encode("utf-16")
    try:
        seen = etree.tostring(processes.parse_xml(data), encoding="unicode")
    except ValidationFailed as failure:
        seen = failure.message
    assert "root:" not in seen
    error = refused(session, data)
    assert "root:" not in error.message


def test_file_over_the_size_limit_is_refused_even_if_otherwise_valid(session):
    padding = "<!-- " + "x" * (3 * 1024 * 1024) + " -->"
    text = source("home_visit").replace("</bpmn:definitions>", padding + "</bpmn:definitions>")
    assert processes.check_diagram(session, source("home_visit"))  # valid without padding
    error = refused(session, text)
    assert "文件过大" in error.message


def test_oversized_file_is_refused_for_size_before_parsing(session):
    garbage = b"<" * (3 * 1024 * 1024)  # would be an XML syntax error if parsed
    with pytest.raises(ValidationFailed) as failure:
        processes.parse_xml(garbage)
    assert "文件过大" in failure.value.message
    assert "XML" not in failure.value.message


def _gbk() -> bytes:
    text = source("home_visit").replace('encoding="UTF-8"', 'encoding="GBK"', 1)
    return text.encode("gbk")


@pytest.mark.parametrize(
    ("data", "words"),
    [
        pytest.param("这不是一个流程文件，只是一段文字。".encode(), "XML", id="text"),
        pytest.param(
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\xff\xfe", "XML", id="png"
        ),
        pytest.param(_gbk(), "UTF-8", id="valid-diagram-in-gbk"),
    ],
)
def test_bytes_that_are_not_xml_or_not_utf8_are_refused_with_a_chinese_message(
    session, data, words
):
    error = refused(session, data)
    assert words in error.message


def test_xml_that_is_not_bpmn_is_refused(session):
    error = refused(session, b'<?xml version="1.0"?><html><body>hello</body></html>')
    assert "BPMN" in error.message


# --- deploying several files ------------------------------------------------------------------


def test_deploy_files_deploys_called_processes_first_whatever_the_file_order(session):
    paths = sorted(BPMN.glob("*.bpmn"), reverse=True)
    assert paths[0].stem == "tuition_grant"  # the caller comes first in this order
    results = processes.deploy_files(session, None, paths)
    order = [r.version.process_id for r in results]
    assert sorted(order) == sorted(p.stem for p in paths)
    for caller in ("tuition_grant", "seasonal_aid"):
        for called in processes.loaded_version(
            session, processes.latest_version(session, caller).id
        ).called:
            assert order.index(called) < order.index(caller)
    assert all(r.created for r in results)


def test_deploy_files_is_one_transaction(session, tmp_path):
    bad = tmp_path / "tuition_grant.bpmn"
    bad.write_text(
        edited("tuition_grant", "visit_verdict == 'confirmed'", "eval('1')"), encoding="utf-8"
    )
    paths = [p for p in BPMN.glob("*.bpmn") if p.stem != "tuition_grant"] + [bad]
    with pytest.raises(ValidationFailed) as failure:
        processes.deploy_files(session, None, paths)
    assert "Flow_gw_visit_to_call_public_notice" in failure.value.errors
    session.rollback()
    assert version_count(session) == 0


def _caller(process_id: str, calls: str) -> bytes:
    root = tree_of("home_visit")
    element(root, "home_visit").set("id", process_id)
    root.find("bpmndi:BPMNDiagram/bpmndi:BPMNPlane", NS).set("bpmnElement", process_id)
    task = element(root, "home_visit_task")
    task.tag = f"{{{processes.BPMN_NS}}}callActivity"
    for attr in list(task.attrib):
        if attr not in ("id", "name"):
            del task.attrib[attr]
    task.set("calledElement", calls)
    task.remove(task.find("bpmn:extensionElements", NS))
    return serialized(root)


def test_call_cycle_between_files_is_refused(session, tmp_path):
    a, b = tmp_path / "a.bpmn", tmp_path / "b.bpmn"
    a.write_bytes(_caller("cycle_a", "cycle_b"))
    b.write_bytes(_caller("cycle_b", "cycle_a"))
    with pytest.raises(ValidationFailed) as failure:
        processes.deploy_files(session, None, [a, b])
    assert "循环调用" in failure.value.message
    session.rollback()
    assert version_count(session) == 0


def test_call_chain_without_cycle_deploys(session, tmp_path):
    # The same construction, without the cycle, is accepted: the refusal above is the cycle.
    a, b = tmp_path / "a.bpmn", tmp_path / "b.bpmn"
    a.write_bytes(_caller("chain_a", "chain_b"))
    b.write_bytes(_caller("chain_b", "home_visit"))
    paths = [a, b, BPMN / "home_visit.bpmn"]
    order = [r.version.process_id for r in processes.deploy_files(session, None, paths)]
    assert order == ["home_visit", "chain_b", "chain_a"]


# --- the shipped diagrams ---------------------------------------------------------------------

SHIPPED = sorted(BPMN.glob("*.bpmn"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_diagram_passes_validation_without_findings(path):
    diagram = processes.read_diagram(processes.parse_xml(path.read_bytes()))
    assert diagram.process_id == path.stem
    assert processes.validate(diagram, {p.stem for p in SHIPPED}) == []


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_diagram_draws_every_node_and_flow(path):
    root = processes.parse_xml(path.read_bytes()).getroot()
    process = root.find("bpmn:process", NS)
    nodes = {
        n.get("id")
        for n in process.iter()
        if isinstance(n.tag, str) and etree.QName(n).localname in processes.FLOW_NODES
    }
    flows = {f.get("id") for f in process.iter(f"{{{processes.BPMN_NS}}}sequenceFlow")}
    shapes = {s.get("bpmnElement") for s in root.iterfind(".//bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement") for e in root.iterfind(".//bpmndi:BPMNEdge", NS)}
    assert nodes and flows
    assert nodes - shapes == set()
    assert flows - edges == set()
