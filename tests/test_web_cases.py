"""The case page, its diagram data, file downloads and case search, through the web app:
personal numbers only ever masked, and nothing visible outside the organisation subtree."""

import re
import shutil
import subprocess
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import ROOT, csrf_from, require_bundles, valid_card
from sqlalchemy import select

from workflows import cases, files, privacy, timers
from workflows.models import PublicNotice

VISIT_OK = dict(
    visit_date="2026-09-07",
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病，家庭收入低",
    visit_verdict="confirmed",
)
LETTER = b"%PDF-1.4 admission letter\n%%EOF\n"
# A whole ID number (18) or bank-card number (12-19): no page may carry one.
LONG_NUMBER = re.compile(r"\d{12,}")


def start(world, owner: str = "cw1", **overrides):
    user = world.user(owner)
    letter = files.store(world.session, user, "录取通知书.pdf", LETTER)
    data = world.tuition_application(admission_letter=letter.id, **overrides)
    case = cases.start_case(
        world.session, user, "tuition_grant", data, world.campaigns["tuition"].id
    )
    return case, data, letter


def pass_notice(world, clock, case):
    notice = world.session.scalars(
        select(PublicNotice).where(PublicNotice.case_id == case.id)
    ).one()
    clock.move_to(notice.ends_at + timedelta(minutes=1))
    assert timers.fire_due_timers(world.factory) == 1


def at_level_one(world, clock):
    case, data, letter = start(world)
    world.do("cw1", case, "home_visit_task", VISIT_OK)
    pass_notice(world, clock, case)
    return case, data, letter


def test_case_page_shows_masked_applicant_and_no_whole_id_or_card_number(app, as_user, world):
    case, data, _ = start(world)
    world.do("cw1", case, "home_visit_task", VISIT_OK)

    answer = as_user("l2").get(f"/cases/{case.id}")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert case.case_no in page and "金秋助学" in page and "办理中" in page
    assert "王*明" in page and "王小明" not in page
    assert privacy.mask_id(data["student_id_number"]) in page
    assert "5,000.00" in page and "城东街道帮扶站" in page and "2026年金秋助学" in page
    assert "四川大学" in page and "本科" in page  # the application, with enum labels
    assert privacy.mask_card(data["bank_card"]) in page
    for number in (data["student_id_number"], data["parent_id_number"], data["bank_card"]):
        assert number not in page
    assert not LONG_NUMBER.search(page)
    # The step's entries, and the open task with its group.
    assert "父亲下岗，母亲患病" in page
    assert "公示" in page and "公示中" in page
    assert "录取通知书.pdf" in page


def test_history_lists_each_step_with_who_did_it(app, as_user, world, clock):
    case, _, _ = at_level_one(world, clock)
    world.do("l1", case, "approve_l1", {"decision": "approve", "comment": "同意"})

    page = as_user("cw1").get(f"/cases/{case.id}").get_data(as_text=True)
    history = page[page.index("办理历史") :]
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", history)
    who_did = [(actor, what) for _, actor, what in rows]
    assert who_did[0] == ("张经办", "登记金秋助学申请：王*明")
    assert ("张经办", "入户核查：情况属实") in who_did
    assert any(actor == "系统" and "公示" in what for actor, what in who_did)
    assert any(actor == "李主席" and what.startswith("基层工会审批") for actor, what in who_did)
    assert all(re.fullmatch(r"2026-09-\d\d \d\d:\d\d", when) for when, _, _ in rows)
    # The open task now waits at the district, for its approvers.
    assert "县（区）总工会审批" in page and "县（区）总工会审批人" in page


def test_other_district_gets_403_for_page_diagram_and_file(app, as_user, world):
    case, _, letter = start(world)
    outsider = as_user("l2_d2")
    for url in (f"/cases/{case.id}", f"/cases/{case.id}/diagram.json", f"/files/{letter.id}"):
        answer = outsider.get(url)
        assert answer.status_code == 403, url
        assert "王" not in answer.get_data(as_text=True)
    assert as_user("l2").get(f"/cases/{case.id}").status_code == 200
    assert as_user("l2").get("/cases/999999").status_code == 404


def test_caseworker_downloads_the_admission_letter_and_another_union_cannot(app, as_user, world):
    case, _, letter = start(world)
    answer = as_user("cw1").get(f"/files/{letter.id}")
    assert answer.status_code == 200
    assert answer.data == LETTER
    assert answer.mimetype == "application/pdf"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    disposition = answer.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and ".pdf" in disposition
    assert "no-store" in answer.headers["Cache-Control"]
    page = as_user("cw1").get(f"/cases/{case.id}").get_data(as_text=True)
    assert f'href="/files/{letter.id}"' in page

    assert as_user("cw2").get(f"/files/{letter.id}").status_code == 403


def test_diagram_json_marks_the_current_step_and_the_steps_done(app, as_user, world, clock):
    case, _, _ = at_level_one(world, clock)
    answer = as_user("l1").get(f"/cases/{case.id}/diagram.json")
    assert answer.status_code == 200
    diagrams = answer.get_json()
    assert set(diagrams) == {
        "tuition_grant",
        "home_visit",
        "public_notice",
        "approval_by_level",
        "bank_disbursement",
    }
    for diagram in diagrams.values():
        assert "<bpmndi:BPMNDiagram" in diagram["xml"]
    approval, visit, top = (
        diagrams["approval_by_level"],
        diagrams["home_visit"],
        diagrams["tuition_grant"],
    )
    assert approval["current"] == ["approve_l1"] and "approve_l1" not in approval["done"]
    assert "home_visit_task" in visit["done"] and visit["current"] == []
    assert {"start", "call_home_visit", "call_public_notice"} <= set(top["done"])
    assert top["current"] == ["call_approval"]
    assert diagrams["bank_disbursement"] == dict(diagrams["bank_disbursement"], done=[], current=[])


def test_diagram_json_of_a_closed_case_has_its_end_event_done(app, as_user, world, clock):
    case, _, _ = at_level_one(world, clock)
    world.do("l1", case, "approve_l1", {"decision": "reject", "comment": "家庭收入超过标准"})
    diagrams = as_user("cw1").get(f"/cases/{case.id}/diagram.json").get_json()
    assert "end_rejected" in diagrams["tuition_grant"]["done"]
    assert all(d["current"] == [] for d in diagrams.values())
    assert "approve_l1" in diagrams["approval_by_level"]["done"]

    page = as_user("cw1").get(f"/cases/{case.id}").get_data(as_text=True)
    assert "已结案（不予通过）" in page and "没有待办环节" in page


def test_case_page_loads_the_viewer_from_the_app_and_no_inline_script(app, as_user, world):
    case, _, _ = start(world)
    page = as_user("cw1").get(f"/cases/{case.id}").get_data(as_text=True)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert all(body.strip() == "" and 'src="/static/' in attrs for attrs, body in scripts)
    assert "https://" not in page and "http://" not in page
    assert as_user("cw1").get("/static/case-diagram.js").status_code == 200
    require_bundles("bpmn-js")
    assert 'src="/static/vendor/bpmn-js/bpmn-viewer.production.min.js"' in page
    assert 'src="/static/case-diagram.js"' in page
    assert f'data-url="/cases/{case.id}/diagram.json"' in page


def test_case_page_without_the_viewer_bundle_shows_a_note(app, as_user, world, monkeypatch):
    import webapp.cases

    case, _, _ = start(world)
    monkeypatch.setattr(webapp.cases, "VIEWER_BUNDLE", "vendor/missing/viewer.js")
    answer = as_user("cw1").get(f"/cases/{case.id}")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "流程图组件尚未安装" in page
    assert "bpmn-viewer" not in page and "case-diagram.js" not in page


def _search(client, **criteria):
    return client.get("/cases", query_string=criteria).get_data(as_text=True)


def _finds(client, case, **criteria) -> bool:
    return f'href="/cases/{case.id}"' in _search(client, **criteria)


def test_search_by_number_id_and_name_finds_the_case_only_within_scope(app, as_user, world):
    case, data, _ = start(world)
    other, _, _ = start(world, owner="cw3", student_name="李小红")
    inside, outside = as_user("l2"), as_user("l2_d2")

    assert _finds(inside, case, case_no=case.case_no)
    assert not _finds(outside, case, case_no=case.case_no)
    assert _finds(inside, case, name="小明")
    assert not _finds(outside, case, name="小明")
    assert _finds(outside, other, name="小红")
    assert _finds(inside, case) and not _finds(inside, other)  # listing keeps to the scope

    for client, found in ((inside, True), (outside, False)):
        token = csrf_from(client, "/cases")
        number = data["student_id_number"].lower()  # normalised before hashing
        answer = client.post("/cases", data={"id_number": number, "csrf_token": token})
        assert answer.status_code == 303
        location = answer.headers["Location"]
        assert data["student_id_number"][:17] not in location
        assert set(parse_qs(urlsplit(location).query)) == {"subject"}
        page = client.get(location).get_data(as_text=True)
        assert (f'href="/cases/{case.id}"' in page) is found
        assert not LONG_NUMBER.search(page)
    page = _search(inside, subject=privacy.subject_key(data["student_id_number"]))
    assert privacy.mask_id(data["student_id_number"]) in page and "王*明" in page


def test_search_results_are_masked_paginated_and_linked(app, as_user, world):
    started = [start(world, student_name=f"王小{c}")[0] for c in "甲乙丙"]
    client = as_user("mgr")
    from webapp import cases as web_cases

    web_cases.PAGE_SIZE, saved = 2, web_cases.PAGE_SIZE
    try:
        first = _search(client, name="王小")
        second = _search(client, name="王小", page=2)
    finally:
        web_cases.PAGE_SIZE = saved
    assert "共 3 件" in first and "第 1 / 2 页" in first and "下一页" in first
    assert started[2].case_no in first and started[0].case_no in second
    assert f'href="/cases/{started[2].id}"' in first
    assert "王*甲" in second and "王小甲" not in second
    assert not LONG_NUMBER.search(first + second)


def test_search_refuses_a_bad_id_number_and_foreign_organisations(app, as_user, world):
    client = as_user("l2")
    token = csrf_from(client, "/cases")
    answer = client.post("/cases", data={"id_number": "511002200703020019", "csrf_token": token})
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert "身份证号码无效" in page and "511002200703020019" not in page
    assert client.get("/cases", query_string={"org": world.orgs["d2"].id}).status_code == 403
    assert client.get("/cases", query_string={"org": world.orgs["g1"].id}).status_code == 200


def test_search_service_pages_and_keeps_to_the_user_scope(world):
    for _ in range(3):
        start(world)
    l2 = world.user("l2")
    page = cases.search(world.session, l2, cases.CaseCriteria(programme="tuition_grant"), 2, 0)
    assert page.total == 3 and len(page.cases) == 2
    rest = cases.search(world.session, l2, cases.CaseCriteria(), 2, 2)
    assert len(rest.cases) == 1 and rest.cases[0].id not in {c.id for c in page.cases}
    assert cases.search(world.session, world.user("cw2"), cases.CaseCriteria(), 10, 0).total == 0
    assert cases.search(world.session, world.user("cw1b"), cases.CaseCriteria(), 10, 0).total == 3
    card = valid_card()
    with pytest.raises(Exception, match="身份证号码无效"):
        cases.search(world.session, l2, cases.CaseCriteria(id_number=card), 10, 0)


def test_makefile_installs_the_viewer_before_setup():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^setup:.*\bvendor\b", makefile, re.M)
    assert re.search(r"^vendor:", makefile, re.M)
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(
        [make, "-n", "vendor"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert dry.returncode == 0, dry.stderr


def test_viewer_bundle_is_served_by_the_app(app):
    require_bundles("bpmn-js")
    client = app.test_client()
    answer = client.get("/static/vendor/bpmn-js/bpmn-viewer.production.min.js")
    assert answer.status_code == 200 and "javascript" in answer.mimetype
    assert b"BpmnJS" in answer.data
    for css in ("diagram-js.css", "bpmn-js.css"):
        assert client.get(f"/static/vendor/bpmn-js/{css}").status_code == 200
