"""The 流程管理 services: versions with their cases, drafts, findings, deploy, compare,
roll back — managers only."""

import pytest
from conftest import BPMN

from workflows import cases, processes
from workflows.errors import Conflict, Forbidden, ValidationFailed


def _renamed(xml: str, old: str, new: str) -> str:
    assert old in xml
    return xml.replace(old, new, 1)


def test_every_management_service_refuses_non_managers(world):
    cw = world.user("cw1")
    xml = (BPMN / "home_visit.bpmn").read_text("utf-8")
    calls = [
        lambda: processes.list_processes(world.session, cw),
        lambda: processes.get_version(world.session, cw, "home_visit", 1),
        lambda: processes.findings_for(world.session, cw, xml),
        lambda: processes.save_draft(world.session, cw, "home_visit", xml),
        lambda: processes.deploy_xml(world.session, cw, "home_visit", xml),
        lambda: processes.rollback(world.session, cw, "home_visit", 1),
        lambda: processes.compare(world.session, cw, "home_visit", 1, 1),
    ]
    for call in calls:
        with pytest.raises(Forbidden):
            call()


def test_versions_count_running_cases_including_called_processes(world):
    cases.start_case(
        world.session,
        world.user("cw1"),
        "tuition_grant",
        world.tuition_application(),
        world.campaigns["tuition"].id,
    )
    listed = {p.process_id: p for p in processes.list_processes(world.session, world.user("mgr"))}
    assert listed["tuition_grant"].versions[0].running == 1
    assert listed["approval_by_level"].versions[0].running == 1  # pinned by the case
    assert listed["seasonal_aid"].versions[0].running == 0


def test_draft_deploy_compare_and_rollback(world):
    mgr = world.user("mgr")
    xml = (BPMN / "approval_by_level.bpmn").read_text("utf-8")
    edited = _renamed(xml, 'name="基层工会审批"', 'name="基层工会初审"')
    draft = processes.save_draft(world.session, mgr, "approval_by_level", edited)
    with pytest.raises(Conflict):
        processes.save_draft(
            world.session, mgr, "approval_by_level", edited, lock_version=draft.lock_version - 1
        )
    with pytest.raises(ValidationFailed):
        processes.save_draft(world.session, mgr, "home_visit", edited)
    assert processes.findings_for(world.session, mgr, edited) == []
    result = processes.deploy_xml(world.session, mgr, "approval_by_level", edited)
    assert result.created and result.version.number == 2
    assert processes.get_process(world.session, mgr, "approval_by_level").draft is None

    diff = processes.compare(world.session, mgr, "approval_by_level", 1, 2)
    assert diff.added == [] and diff.removed == []
    assert diff.changed == {"approve_l1": "名称：基层工会审批 → 基层工会初审"}

    back = processes.rollback(world.session, mgr, "approval_by_level", 1)
    assert back.version.number == 3 and back.version.bpmn_xml == xml
    with pytest.raises(ValidationFailed):
        processes.rollback(world.session, mgr, "approval_by_level", 3)


def test_findings_name_the_element_for_the_editor(world):
    mgr = world.user("mgr")
    xml = (BPMN / "home_visit.bpmn").read_text("utf-8")
    bad = _renamed(xml, 'camunda:candidateGroups="caseworker"', 'camunda:candidateGroups="boss"')
    findings = processes.findings_for(world.session, mgr, bad)
    assert [f.element for f in findings] == ["home_visit_task"]
    assert "候选组" in findings[0].message
    broken = processes.findings_for(world.session, mgr, "<not xml")
    assert broken[0].element == "" and "XML" in broken[0].message
