"""The 流程管理 pages and API: managers only; versions with their cases, download,
compare, roll back, and deploying an uploaded diagram — which new cases use and running
cases do not — with every validation rule and the unsafe files refused."""

import io
import re
from datetime import timedelta

import pytest
from conftest import BPMN, api_token, csrf_from
from flask import url_for
from sqlalchemy import func, select

from workflows import cases, timers
from workflows.errors import ValidationFailed
from workflows.models import HumanTask, Payment, ProcessVersion, PublicNotice

NON_MANAGERS = ("cw1", "l2", "fin")
VISIT_OK = dict(
    visit_date="2026-09-07",
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病，家庭收入低",
    visit_verdict="confirmed",
)
APPROVE = {"decision": "approve"}

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">
  <bpmn:process id="home_visit" name="&e;" isExecutable="true"/>
</bpmn:definitions>"""
LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode()
        for i in range(1, 10)
    )
    + b']>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">'
    b'<bpmn:process id="home_visit" name="&lol9;"/></bpmn:definitions>'
)


def source(process_id: str) -> str:
    return (BPMN / f"{process_id}.bpmn").read_text("utf-8")


def edit(xml: str, old: str, new: str, count: int = 1) -> str:
    assert xml.count(old) >= count, old
    return xml.replace(old, new, count)


def with_audit_step(xml: str) -> str:
    """approval_by_level where level 2's approval passes 审计复核 (approver_l2) before
    `approved`: a new user task with its form, two flows and their shapes in the DI."""
    xml = edit(
        xml,
        '<bpmn:sequenceFlow id="Flow_gw_need_l3_to_approved" name="否" sourceRef="gw_need_l3" '
        'targetRef="approved" />',
        '<bpmn:sequenceFlow id="Flow_gw_need_l3_to_approved" name="否" sourceRef="gw_need_l3" '
        'targetRef="approve_extra" />\n'
        '    <bpmn:sequenceFlow id="Flow_approve_extra_to_approved" sourceRef="approve_extra" '
        'targetRef="approved" />',
    )
    xml = edit(
        xml,
        "      <bpmn:incoming>Flow_gw_need_l3_to_approved</bpmn:incoming>\n",
        "      <bpmn:incoming>Flow_approve_extra_to_approved</bpmn:incoming>\n",
    )
    task = """    <bpmn:userTask id="approve_extra" name="审计复核"
        camunda:formKey="embedded:warmflow" camunda:candidateGroups="approver_l2"
        camunda:dueDate="working_days_after(5)">
      <bpmn:extensionElements>
        <camunda:formData>
          <camunda:formField id="audit_note" label="复核意见" type="textarea">
            <camunda:validation>
              <camunda:constraint name="required" />
            </camunda:validation>
          </camunda:formField>
        </camunda:formData>
      </bpmn:extensionElements>
      <bpmn:incoming>Flow_gw_need_l3_to_approved</bpmn:incoming>
      <bpmn:outgoing>Flow_approve_extra_to_approved</bpmn:outgoing>
    </bpmn:userTask>
"""
    anchor = '    <bpmn:scriptTask id="approved"'
    xml = edit(xml, anchor, task + anchor)
    xml = edit(
        xml,
        """        <di:waypoint x="945" y="200" />
        <di:waypoint x="1170" y="200" />""",
        """        <di:waypoint x="945" y="200" />
        <di:waypoint x="1000" y="200" />""",
    )
    xml = edit(
        xml,
        '<dc:Bounds x="1051" y="183" width="13" height="14" />',
        '<dc:Bounds x="966" y="183" width="13" height="14" />',
    )
    shapes = """      <bpmndi:BPMNShape id="approve_extra_di" bpmnElement="approve_extra">
        <dc:Bounds x="1000" y="160" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="Flow_approve_extra_to_approved_di"
          bpmnElement="Flow_approve_extra_to_approved">
        <di:waypoint x="1100" y="200" />
        <di:waypoint x="1170" y="200" />
      </bpmndi:BPMNEdge>
"""
    return edit(xml, "    </bpmndi:BPMNPlane>", shapes + "    </bpmndi:BPMNPlane>")


def with_household_size(xml: str) -> str:
    """tuition_grant whose application asks for the household size (required)."""
    return edit(
        xml,
        '          <camunda:formField id="phone" label="联系电话" type="string" />\n',
        '          <camunda:formField id="phone" label="联系电话" type="string" />\n'
        '          <camunda:formField id="household_size" label="家庭人口" type="long">\n'
        "            <camunda:validation>\n"
        '              <camunda:constraint name="required" />\n'
        '              <camunda:constraint name="min" config="1" />\n'
        "            </camunda:validation>\n"
        "          </camunda:formField>\n",
    )


def upload(client, process_id: str, data: bytes | str, comment: str = "", name: str = ""):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return client.post(
        f"/processes/{process_id}/deploy",
        data={
            "csrf_token": csrf_from(client, "/processes"),
            "comment": comment,
            "file": (io.BytesIO(data), name or f"{process_id}.bpmn"),
        },
        content_type="multipart/form-data",
    )


def version_count(world, process_id: str | None = None) -> int:
    world.session.expire_all()
    query = select(func.count(ProcessVersion.id))
    if process_id:
        query = query.where(ProcessVersion.process_id == process_id)
    return world.session.scalar(query)


def start(world, **overrides):
    return cases.start_case(
        world.session,
        world.user("cw1"),
        "tuition_grant",
        world.tuition_application(**overrides),
        world.campaigns["tuition"].id,
    )


def text(answer) -> str:
    return answer.get_data(as_text=True)


@pytest.fixture
def mgr(as_user):
    return as_user("mgr")


# --- managers only ----------------------------------------------------------------------


def test_every_page_and_api_call_refuses_non_managers(app, as_user, world):
    xml = source("home_visit")
    for username in NON_MANAGERS:
        client = as_user(username)
        token = csrf_from(client, "/")
        pages = [
            client.get("/processes"),
            client.get("/processes/home_visit/versions/1.bpmn"),
            client.get("/processes/home_visit/versions/1.json"),
            client.get("/processes/home_visit/compare?a=1&b=1"),
            client.get("/processes/home_visit/versions/1/rollback"),
            client.post("/processes/home_visit/versions/1/rollback", data={"csrf_token": token}),
            client.post(
                "/processes/home_visit/deploy",
                data={"csrf_token": token, "file": (io.BytesIO(xml.encode()), "h.bpmn")},
                content_type="multipart/form-data",
            ),
        ]
        for answer in pages:
            assert answer.status_code == 403, (username, answer.request.path)
        assert "流程管理" not in text(client.get("/"))

        headers = api_token(app, username)
        api = app.test_client()
        calls = [
            api.get("/api/v1/processes", headers=headers),
            api.get("/api/v1/processes/home_visit/versions/1", headers=headers),
            api.post("/api/v1/processes/home_visit/validate", json={"xml": xml}, headers=headers),
            api.post("/api/v1/processes/home_visit/versions", json={"xml": xml}, headers=headers),
            api.post("/api/v1/processes/home_visit/versions/1/rollback", headers=headers),
            api.get("/api/v1/processes/home_visit/compare?a=1&b=1", headers=headers),
        ]
        for answer in calls:
            assert answer.status_code == 403, (username, answer.request.path)
            assert answer.get_json()["code"] == "forbidden"
    assert version_count(world, "home_visit") == 1
    assert "流程管理" in text(as_user("mgr").get("/"))


def test_pages_need_a_login(app, world):
    answer = app.test_client().get("/processes")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


# --- deploying a new version ---------------------------------------------------------------


def test_new_versions_apply_to_new_cases_while_running_cases_keep_theirs(mgr, world, clock):
    before = start(world)  # on tuition_grant 1, approval_by_level 1 pinned

    answer = upload(mgr, "approval_by_level", with_audit_step(source("approval_by_level")))
    assert answer.status_code == 303
    page = text(mgr.get("/processes"))
    assert "已部署“逐级审批”第 2 版" in page
    answer = upload(
        mgr, "tuition_grant", with_household_size(source("tuition_grant")), comment="增加家庭人口"
    )
    assert answer.status_code == 303
    page = text(mgr.get("/processes"))
    assert "已部署“金秋助学”第 2 版" in page and "增加家庭人口" in page

    with pytest.raises(ValidationFailed) as refused:
        start(world)
    assert "household_size" in refused.value.errors
    world.session.rollback()
    after = start(world, household_size=4)

    for case in (before, after):
        world.do("cw1", case, "home_visit_task", VISIT_OK)
    world.session.expire_all()
    ends = max(n.ends_at for n in world.session.scalars(select(PublicNotice)))
    clock.move_to(ends + timedelta(minutes=1))
    assert timers.fire_due_timers(world.factory) == 2
    for case in (before, after):
        world.do("l1", case, "approve_l1", APPROVE)
        world.do("l2", case, "approve_l2", APPROVE)

    def payments(case):
        world.session.expire_all()
        return world.session.scalars(select(Payment).where(Payment.case_id == case.id)).all()

    def steps(case):
        world.session.expire_all()
        return {
            t.element_id
            for t in world.session.scalars(select(HumanTask).where(HumanTask.case_id == case.id))
        }

    # The case started before the deploy reached the payment on the old versions.
    assert [p.status for p in payments(before)] == ["payable"]
    assert "approve_extra" not in steps(before)
    # The case started after it waits for 审计复核 after level 2, then is paid.
    assert payments(after) == []
    extra = world.open_task(after, "approve_extra")
    assert extra.name == "审计复核" and extra.candidate_group == "approver_l2"
    world.do("l2", after, "approve_extra", {"audit_note": "复核无误"})
    assert [p.status for p in payments(after)] == ["payable"]


@pytest.mark.parametrize(
    ("process_id", "change", "element", "message"),
    [
        (
            "approval_by_level",
            ('camunda:candidateGroups="approver_l1"', 'camunda:candidateGroups="boss"'),
            "approve_l1",
            "候选组应为以下之一",
        ),
        (
            "approval_by_level",
            (' default="Flow_gw_l1_to_rejected"', ""),
            "gw_l1",
            "缺少默认路径",
        ),
        (
            "tuition_grant",
            ('calledElement="home_visit"', 'calledElement="no_such_process"'),
            "call_home_visit",
            "调用的流程“no_such_process”不存在",
        ),
        (
            "approval_by_level",
            ("decision == 'approve'", "__import__('os')"),
            "Flow_gw_l1_to_approve_l2",
            "条件表达式不安全或无效",
        ),
    ],
)
def test_each_validation_rule_refuses_the_upload_with_its_message(
    mgr, world, process_id, change, element, message
):
    old, new = change
    before = version_count(world)
    answer = upload(mgr, process_id, edit(source(process_id), old, new))
    assert answer.status_code == 422
    page = text(answer)
    assert "文件未部署" in page
    findings = re.findall(
        r'<code class="element">([^<]+)</code> <span class="message">([^<]+)', page
    )
    assert any(e == element and message in m for e, m in findings), findings
    assert version_count(world) == before


def test_wrong_process_id_and_not_a_file_are_refused(mgr, world):
    answer = upload(mgr, "home_visit", source("approval_by_level"))
    assert answer.status_code == 422 and "应为“home_visit”" in text(answer)
    answer = mgr.post(
        "/processes/home_visit/deploy",
        data={"csrf_token": csrf_from(mgr, "/processes")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422 and "请选择要上传的 .bpmn 文件" in text(answer)
    assert upload(mgr, "no_such_process", source("home_visit")).status_code == 404
    assert version_count(world, "home_visit") == 1


def test_an_unchanged_file_makes_no_new_version(mgr, world):
    answer = upload(mgr, "home_visit", source("home_visit"))
    assert answer.status_code == 303
    assert "与当前第 1 版相同" in text(mgr.get("/processes"))
    assert version_count(world, "home_visit") == 1


def test_oversized_and_unsafe_files_are_refused(mgr, world):
    before = version_count(world)
    huge = b"<" + b"x" * (20 * 1024 * 1024)
    answer = upload(mgr, "home_visit", huge)
    assert answer.status_code in (413, 422)
    # Just above the service's own limit, below the request limit: its check refuses it.
    big = source("home_visit").replace(
        "</bpmn:definitions>", "<!--" + "x" * 2_200_000 + "-->\n</bpmn:definitions>"
    )
    answer = upload(mgr, "home_visit", big)
    assert answer.status_code == 422 and "文件过大" in text(answer)
    for bad in (XXE, LAUGHS):
        answer = upload(mgr, "home_visit", bad)
        page = text(answer)
        assert answer.status_code == 422
        assert "DOCTYPE 或实体声明" in page
        assert "root:" not in page and "lollol" not in page
    assert version_count(world) == before


# --- the list, download, compare, roll back --------------------------------------------------


def test_list_shows_versions_with_running_cases_and_the_editor_link(app, mgr, world):
    start(world)
    page = text(mgr.get("/processes"))
    for pid in ("tuition_grant", "approval_by_level", "home_visit", "seasonal_aid"):
        assert f'id="p-{pid}"' in page

    def running(pid: str, number: int) -> str:
        row = re.search(rf'id="v-{pid}-{number}">(.*?)</tr>', page, re.S).group(1)
        return re.search(r'class="num running">(\d+)<', row).group(1)

    assert running("tuition_grant", 1) == "1"
    assert running("home_visit", 1) == "1"  # called by the case, pinned
    assert running("seasonal_aid", 1) == "0"
    assert "系统" in page  # deployed at setup, by nobody
    if "editor.edit" in app.view_functions:  # the editor, once it is there
        with app.test_request_context():
            link = url_for("editor.edit", process_id="tuition_grant")
        assert f'href="{link}"' in page
    else:
        assert ">编辑</a>" not in page


def test_download_compare_and_rollback(mgr, world):
    xml = source("approval_by_level")
    renamed = edit(xml, 'name="基层工会审批"', 'name="基层工会初审"')
    assert upload(mgr, "approval_by_level", renamed).status_code == 303

    answer = mgr.get("/processes/approval_by_level/versions/1.bpmn")
    assert answer.status_code == 200
    assert answer.mimetype == "application/xml"
    assert answer.headers["Content-Disposition"].startswith("attachment")
    assert answer.data == xml.encode("utf-8")
    assert mgr.get("/processes/approval_by_level/versions/2.bpmn").data == renamed.encode("utf-8")
    assert mgr.get("/processes/approval_by_level/versions/9.bpmn").status_code == 404
    assert mgr.get("/processes/approval_by_level/versions/2.json").get_json()["xml"] == renamed

    page = text(mgr.get("/processes/approval_by_level/compare?a=2&b=1"))
    assert "approve_l1" in page and "名称：基层工会审批 → 基层工会初审" in page
    assert 'data-changed="approve_l1"' in page or "流程图组件尚未安装" in page
    assert mgr.get("/processes/approval_by_level/compare?a=x&b=1").status_code == 422

    confirm = mgr.get("/processes/approval_by_level/versions/1/rollback")
    assert confirm.status_code == 200 and "第 3 版" in text(confirm)
    token = csrf_from(mgr, "/processes/approval_by_level/versions/1/rollback")
    answer = mgr.post(
        "/processes/approval_by_level/versions/1/rollback", data={"csrf_token": token}
    )
    assert answer.status_code == 303
    assert "新部署第 3 版" in text(mgr.get("/processes"))
    world.session.expire_all()
    third = world.session.scalars(
        select(ProcessVersion).where(
            ProcessVersion.process_id == "approval_by_level", ProcessVersion.number == 3
        )
    ).one()
    assert third.bpmn_xml == xml and "回滚至第 1 版" in third.comment
    # Rolling back to the current version changes nothing.
    token = csrf_from(mgr, "/processes")
    mgr.post("/processes/approval_by_level/versions/3/rollback", data={"csrf_token": token})
    assert "已是当前版本" in text(mgr.get("/processes"))
    assert version_count(world, "approval_by_level") == 3
    # Without the CSRF token nothing happens.
    assert mgr.post("/processes/approval_by_level/versions/2/rollback").status_code == 400
    assert version_count(world, "approval_by_level") == 3


def test_pages_in_english(mgr, world):
    page = text(mgr.get("/processes?lang=en"))
    assert "Processes" in page and "Deployed by" in page and "Check and deploy" in page
    assert "部署人" not in page


# --- the API ------------------------------------------------------------------------------


def test_api_lists_validates_deploys_compares_and_rolls_back(app, world):
    headers = api_token(app, "mgr")
    api = app.test_client()
    start(world)
    listed = {p["process_id"]: p for p in api.get("/api/v1/processes", headers=headers).get_json()}
    tuition = listed["tuition_grant"]
    assert tuition["name"] == "金秋助学" and tuition["draft"] is None
    first = tuition["versions"][0]
    assert (first["number"], first["running"], first["finished"]) == (1, 1, 0)
    assert first["deployed_by"] == "系统" and first["deployed_at"].endswith("+08:00")

    xml = source("approval_by_level")
    one = api.get("/api/v1/processes/approval_by_level/versions/1", headers=headers).get_json()
    assert one["number"] == 1 and one["xml"] == xml
    assert (
        api.get("/api/v1/processes/approval_by_level/versions/7", headers=headers).status_code
        == 404
    )

    url = "/api/v1/processes/approval_by_level/validate"
    assert api.post(url, json={"xml": xml}, headers=headers).get_json() == {"findings": []}
    bad = edit(xml, 'camunda:candidateGroups="approver_l1"', 'camunda:candidateGroups="boss"')
    found = api.post(url, json={"xml": bad}, headers=headers).get_json()["findings"]
    assert [f["element"] for f in found] == ["approve_l1"]
    other = api.post(
        "/api/v1/processes/home_visit/validate", json={"xml": xml}, headers=headers
    ).get_json()["findings"]
    assert other and "应为“home_visit”" in other[0]["message"]
    xxe = api.post(url, json={"xml": XXE.decode()}, headers=headers).get_json()["findings"]
    assert "DOCTYPE" in xxe[0]["message"] and "root:" not in str(xxe)
    assert api.post(url, json={"xml": 5}, headers=headers).status_code == 422

    deploy_url = "/api/v1/processes/approval_by_level/versions"
    refused = api.post(deploy_url, json={"xml": bad}, headers=headers)
    assert refused.status_code == 422
    assert refused.get_json()["findings"][0]["element"] == "approve_l1"
    renamed = edit(xml, 'name="基层工会审批"', 'name="基层工会初审"')
    made = api.post(deploy_url, json={"xml": renamed, "comment": "改名"}, headers=headers)
    assert made.status_code == 201
    assert (
        made.get_json()["version"]["number"] == 2
        and made.get_json()["version"]["comment"] == "改名"
    )
    same = api.post(deploy_url, json={"xml": renamed}, headers=headers)
    assert same.status_code == 200 and same.get_json()["created"] is False

    diff = api.get(
        "/api/v1/processes/approval_by_level/compare?a=1&b=2", headers=headers
    ).get_json()
    assert diff["added"] == [] and diff["removed"] == []
    assert diff["changed"] == [
        {
            "element": "approve_l1",
            "name": "基层工会初审",
            "change": "名称：基层工会审批 → 基层工会初审",
        }
    ]
    assert (
        api.get("/api/v1/processes/approval_by_level/compare?a=1", headers=headers).status_code
        == 422
    )

    back = api.post("/api/v1/processes/approval_by_level/versions/1/rollback", headers=headers)
    assert back.status_code == 201 and back.get_json()["version"]["number"] == 3
    again = api.post("/api/v1/processes/approval_by_level/versions/3/rollback", headers=headers)
    assert again.status_code == 422
    three = api.get("/api/v1/processes/approval_by_level/versions/3", headers=headers).get_json()
    assert three["xml"] == xml
