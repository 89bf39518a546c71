"""The process editor in the browser: the manager renames the home visit, adds a form
field in the Camunda properties panel, sees a finding marked on the diagram, and
deploys; the next 金秋助学 case gets the new step. And every shipped diagram comes out of
the modeler (import, then export) still valid and still able to carry a grant to payment.
"""

import json
from datetime import timedelta

from conftest import BPMN, require_bundles
from sqlalchemy import select

from workflows import cases, payments, processes, timers
from workflows.models import Payment, ProcessInstance, ProcessVersion, PublicNotice

require_bundles("bpmn-js", "editor", module=True)

TASK = "[data-element-id=home_visit_task]"
FIELDS = "[data-group-id=group-CamundaPlatform__FormData]"


def open_editor(sign_in, live_server, process_id):
    page = sign_in("mgr")
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{live_server}/processes/{process_id}/edit")
    page.wait_for_selector("#process-editor[data-ready=true]")
    return page, errors


def business_value(page, element_id, prop):
    return page.evaluate(
        "([id, prop]) => window.warmflowEditor.modeler.get('elementRegistry')"
        ".get(id).businessObject.get(prop)",
        [element_id, prop],
    )


def open_group(page, group_id):
    group = page.locator(f"[data-group-id={group_id}]")
    if not group.locator(".bio-properties-panel-group-header.open").count():
        group.locator(".bio-properties-panel-group-header").click()


def test_manager_renames_the_home_visit_adds_a_field_and_deploys(live_server, sign_in, world, shot):
    page, errors = open_editor(sign_in, live_server, "home_visit")
    assert "已载入第 1 版" in page.inner_text(".editor-status")
    page.click(TASK)
    page.wait_for_selector(".bio-properties-panel-header-label >> text=入户核查")

    # A candidate group no one has: validation marks the task and lists the finding.
    open_group(page, "group-CamundaPlatform__UserAssignment")
    page.fill("#bio-properties-panel-candidateGroups", "boss")
    page.wait_for_function(
        "() => window.warmflowEditor.modeler.get('elementRegistry')"
        ".get('home_visit_task').businessObject.get('camunda:candidateGroups') === 'boss'"
    )
    page.click("button[data-action=validate]")
    page.wait_for_selector(f".djs-element.wf-finding{TASK}")
    assert "候选组" in page.inner_text(".findings-list")
    assert "候选组" in page.inner_text(".wf-finding-badge .wf-finding-text")
    assert "发现 1 个问题" in page.inner_text(".editor-status")
    page.click("#process-editor [data-action=deploy]")

    page.wait_for_selector(".editor-status >> text=未能部署")
    page.click(".findings-list button[data-element=home_visit_task]")
    selected = page.evaluate(
        "() => window.warmflowEditor.modeler.get('selection').get().map(e => e.id)"
    )
    assert selected == ["home_visit_task"]
    shot(page, "editor-finding")
    page.fill("#bio-properties-panel-candidateGroups", "caseworker")

    # Rename the task (General → Name) and add a field (Form fields → +).
    open_group(page, "group-general")
    page.fill("#bio-properties-panel-name", "入户核查（两人）")
    page.click(f"{FIELDS} .bio-properties-panel-add-entry")
    new_field = "#bio-properties-panel-home_visit_task-formField-5"
    if not page.is_visible(new_field + "-formFieldID"):
        page.click(
            "[data-entry-id=home_visit_task-formField-5] "
            ".bio-properties-panel-collapsible-entry-header"
        )
    page.fill(new_field + "-formFieldID", "neighbour_opinion")
    page.fill(new_field + "-formFieldLabel", "邻里意见")
    page.select_option(new_field + "-formFieldType", "string")
    page.wait_for_function(
        "() => { const bo = window.warmflowEditor.modeler.get('elementRegistry')"
        ".get('home_visit_task').businessObject;"
        " const fields = bo.extensionElements.values[0].fields;"
        " return bo.name === '入户核查（两人）' && bo.get('camunda:candidateGroups') ==="
        " 'caseworker' && fields.length === 6 && fields[5].label === '邻里意见'"
        " && fields[5].type === 'string'; }"
    )

    # Save a draft, then deploy it (validated first; no findings now).
    page.click("button[data-action=save]")
    page.wait_for_selector(".editor-status.ok >> text=草稿已保存")
    page.fill("input[name=comment]", "入户核查增加邻里意见")
    page.click("button[data-action=deploy]")
    page.wait_for_selector(".editor-status.ok >> text=部署成功")
    assert "第 2 版" in page.inner_text(".editor-status")
    assert not page.is_visible(".editor-findings")
    shot(page, "editor-deployed")
    assert errors == []

    world.session.expire_all()
    newest = processes.latest_version(world.session, "home_visit")
    assert newest.number == 2 and newest.comment == "入户核查增加邻里意见"
    assert processes.get_process(world.session, world.user("mgr"), "home_visit").draft is None

    # A new 金秋助学 case gets the renamed visit with the new field.
    case = cases.start_case(
        world.session,
        world.user("cw1"),
        "tuition_grant",
        world.tuition_application(),
        world.campaigns["tuition"].id,
    )
    task = world.open_task(case, "home_visit_task")
    assert task.name == "入户核查（两人）"
    cw = sign_in("cw1")
    cw.goto(f"{live_server}/tasks/{task.id}")
    cw.wait_for_selector("form.task-form")
    assert "入户核查（两人）" in cw.inner_text("h1")
    assert cw.is_visible("#neighbour_opinion")
    assert "邻里意见" in cw.inner_text("form.task-form")
    shot(cw, "editor-new-field-on-task")

    # The case page still marks where the case stands, in the deployed diagram too.
    cw.goto(f"{live_server}/cases/{case.id}")
    cw.wait_for_selector("#case-diagram svg .wf-current")
    current = cw.eval_on_selector_all(
        "#case-diagram svg .djs-element.wf-current", "els => els.map(e => e.dataset.elementId)"
    )
    assert current == ["call_home_visit"]
    cw.click("[data-process=home_visit]")
    cw.wait_for_selector(f"#case-diagram svg .djs-element.wf-current{TASK}")
    assert cw.text_content(f"#case-diagram {TASK}") == "入户核查（两人）"
    shot(cw, "editor-case-diagram")


def test_a_draft_loads_back_into_the_editor(live_server, sign_in, world):
    xml = (BPMN / "approval_by_level.bpmn").read_text("utf-8")
    edited = xml.replace('name="基层工会审批"', 'name="基层工会初审"', 1)
    processes.save_draft(world.session, world.user("mgr"), "approval_by_level", edited)
    page, errors = open_editor(sign_in, live_server, "approval_by_level")
    assert "草稿" in page.inner_text(".editor-status")
    assert business_value(page, "approve_l1", "name") == "基层工会初审"
    assert errors == []


VISIT_OK = dict(
    visit_date="2026-09-07",
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病，家庭收入低",
    visit_verdict="confirmed",
)


def test_every_shipped_diagram_survives_the_modeler(live_server, sign_in, world, clock):
    page, errors = open_editor(sign_in, live_server, "tuition_grant")
    mgr = world.user("mgr")
    exported = {}
    for path in sorted(BPMN.glob("*.bpmn")):
        original = path.read_text("utf-8")
        xml = page.evaluate(
            "xml => window.warmflowEditor.importXML(xml)"
            ".then(() => window.warmflowEditor.saveXML())",
            original,
        )
        assert processes.findings_for(world.session, mgr, xml) == [], path.name
        before = processes.read_diagram(processes.parse_xml(original))
        after = processes.read_diagram(processes.parse_xml(xml))
        assert after.meta == before.meta, path.name  # tasks, groups, due dates, fields
        assert after.called == before.called, path.name
        exported[before.process_id] = xml
    assert errors == []
    assert len(exported) == len(list(BPMN.glob("*.bpmn")))

    for pid, xml in exported.items():
        result = processes.deploy_xml(world.session, mgr, pid, xml, "导出后重新部署")
        assert result.created and result.version.number == 2, pid

    # A grant run entirely on the exported versions reaches payment.
    case = cases.start_case(
        world.session,
        world.user("cw1"),
        "tuition_grant",
        world.tuition_application(),
        world.campaigns["tuition"].id,
    )
    instance = world.session.scalars(
        select(ProcessInstance).where(ProcessInstance.case_id == case.id)
    ).one()
    assert world.session.get(ProcessVersion, instance.version_id).number == 2
    pinned = json.loads(instance.subprocess_versions)
    assert set(pinned) == {"home_visit", "public_notice", "approval_by_level", "bank_disbursement"}
    assert {world.session.get(ProcessVersion, vid).number for vid in pinned.values()} == {2}
    world.do("cw1", case, "home_visit_task", VISIT_OK)
    notice = world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == case.id)
    ).one()
    clock.move_to(notice.ends_at + timedelta(minutes=1))
    assert timers.fire_due_timers(world.factory) == 1
    world.do("l1", case, "approve_l1", {"decision": "approve"})
    world.do("l2", case, "approve_l2", {"decision": "approve"})
    world.session.expire_all()
    payment = world.session.scalars(select(Payment).where(Payment.case_id == case.id)).one()
    payments.record_result(world.session, world.user("fin"), payment.id, "paid")
    case = world.refresh(case)
    assert (case.status, case.outcome) == ("completed", "end_paid")
