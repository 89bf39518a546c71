"""The process editor's properties panel as a manager sees it: in Chinese, with only the
sections warmflow reads (names, candidate groups and due dates, form fields, conditions,
timers, called processes, scripts), and warmflow's help on expressions instead of
Camunda's `${...}`; in English mode the same sections in English, with the same help."""

from pathlib import Path

import pytest

BUNDLE = Path(__file__).resolve().parents[2] / "webapp/static/vendor/editor/editor.js"
if not BUNDLE.is_file():
    pytest.skip("the editor bundle is not built (make vendor needs npm)", allow_module_level=True)

# Sections the Camunda 7 panel offers that warmflow does not read.
CAMUNDA_ONLY = [
    "documentation",
    "multiInstance",
    "CamundaPlatform__AsynchronousContinuations",
    "CamundaPlatform__ExecutionListener",
    "CamundaPlatform__TaskListener",
    "CamundaPlatform__ExtensionProperties",
    "CamundaPlatform__Input",
    "CamundaPlatform__Output",
    "CamundaPlatform__Form",
    "CamundaPlatform__InMappingPropagation",
    "CamundaPlatform__OutMappingPropagation",
    "CamundaPlatform__JobExecution",
    "CamundaPlatform__HistoryCleanup",
    "CamundaPlatform__Tasklist",
    "CamundaPlatform__CandidateStarter",
]


def open_editor(sign_in, live_server, process_id, lang=""):
    page = sign_in("mgr")
    page.set_viewport_size({"width": 1366, "height": 768})
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(f"{live_server}/processes/{process_id}/edit{lang}")
    page.wait_for_selector("#process-editor[data-ready=true]")
    return page, errors


def select(page, element_id: str) -> None:
    page.evaluate(
        "(id) => { const m = window.warmflowEditor.modeler;"
        " m.get('selection').select(m.get('elementRegistry').get(id)); }",
        element_id,
    )
    page.wait_for_timeout(50)


def groups(page) -> list[str]:
    return page.eval_on_selector_all(
        ".bio-properties-panel-group",
        "gs => gs.map(g => g.getAttribute('data-group-id').replace('group-', ''))",
    )


def headers(page) -> list[str]:
    return page.eval_on_selector_all(
        ".bio-properties-panel-group-header-title", "hs => hs.map(h => h.textContent.trim())"
    )


def open_all(page) -> None:
    page.evaluate(
        "() => document.querySelectorAll('.bio-properties-panel-group-header:not(.open)')"
        ".forEach(h => h.click())"
    )
    page.wait_for_timeout(50)


def panel_text(page) -> str:
    return page.inner_text(".editor-panel")


def test_panel_speaks_chinese_and_keeps_only_warmflows_sections(sign_in, live_server, world, shot):
    page, errors = open_editor(sign_in, live_server, "home_visit")

    select(page, "home_visit_task")
    open_all(page)
    assert groups(page) == [
        "general",
        "CamundaPlatform__UserAssignment",
        "CamundaPlatform__FormData",
    ]
    assert headers(page) == ["基本信息", "办理岗位与期限", "表单字段"]
    # Candidate groups and the due date only: no assignee, candidate users, priority.
    entries = page.eval_on_selector_all(
        "[data-group-id=group-CamundaPlatform__UserAssignment] [data-entry-id]",
        "es => es.map(e => e.getAttribute('data-entry-id'))",
    )
    assert entries == ["candidateGroups", "dueDate"]
    text = panel_text(page)
    assert "候选组（岗位）" in text and "办理期限" in text
    assert "working_days_after(5)" in text and "${" not in text
    assert "approver_l1（基层工会审批人）" in text
    first_field = ".bio-properties-panel-collapsible-entry-header >> nth=0"
    page.click(f"[data-group-id=group-CamundaPlatform__FormData] {first_field}")
    assert "标签" in panel_text(page) and "类型" in panel_text(page)
    assert (
        page.get_attribute('.djs-palette [data-action="create.task"]', "aria-label") == "添加任务"
    )
    shot(page, "editor-panel")

    for process, element, expected in [
        (
            "approval_by_level",
            "Flow_gw_l1_to_approve_l2",
            ["general", "CamundaPlatform__Condition"],
        ),
        ("public_notice", "notice_period", ["general", "timer"]),
        ("tuition_grant", "call_approval", ["general", "CamundaPlatform__CallActivity"]),
        ("public_notice", "post_notice", ["general", "CamundaPlatform__Script"]),
        ("tuition_grant", "tuition_grant", ["general"]),
    ]:
        page, more = open_editor(sign_in, live_server, process)
        errors += more
        select(page, element)
        open_all(page)
        shown = groups(page)
        assert shown == expected, (process, element, shown)
        assert not set(shown) & set(CAMUNDA_ONLY)
        text = panel_text(page)
        assert "${" not in text and "camunda.org" not in page.inner_html(".editor-panel")
        if element == "notice_period":
            assert "定时器" in text and "notice_ends_at" in text
            assert page.input_value("#bio-properties-panel-timerEventDefinitionValue") == (
                "notice_ends_at"
            )
            shot(page, "editor-panel-timer")
        if element == "call_approval":
            assert "调用的流程" in text
            assert page.input_value("#bio-properties-panel-calledElement") == "approval_by_level"
        if element == "Flow_gw_l1_to_approve_l2":
            assert "条件表达式" in text
    assert page.evaluate("() => Object.keys(window.WarmflowModeler.untranslated)") == []
    assert errors == []


def test_called_process_edits_the_diagrams_called_element(sign_in, live_server, world):
    page, errors = open_editor(sign_in, live_server, "tuition_grant")
    select(page, "call_approval")
    open_all(page)

    page.fill("#bio-properties-panel-calledElement", "approval_by_level_v2")
    page.wait_for_function(
        "() => window.warmflowEditor.modeler.get('elementRegistry').get('call_approval')"
        ".businessObject.get('calledElement') === 'approval_by_level_v2'"
    )
    assert errors == []


def test_english_mode_keeps_the_same_sections_with_warmflows_help(sign_in, live_server, world):
    page, errors = open_editor(sign_in, live_server, "home_visit", "?lang=en")
    select(page, "home_visit_task")
    open_all(page)

    assert headers(page) == ["General", "User assignment", "Form fields"]
    text = panel_text(page)
    assert "working_days_after(5)" in text and "${" not in text
    assert (
        page.get_attribute('.djs-palette [data-action="create.task"]', "aria-label")
        == "Create task"
    )
    assert errors == []


def test_a_new_user_task_gets_a_form_and_a_field(sign_in, live_server, world):
    page, errors = open_editor(sign_in, live_server, "home_visit")
    page.evaluate(
        "() => { const m = window.warmflowEditor.modeler;"
        " const task = m.get('elementRegistry').get('home_visit_task');"
        " const added = m.get('modeling').appendShape(task, {type: 'bpmn:UserTask'},"
        " {x: task.x + 200, y: task.y + 140});"
        " m.get('modeling').updateProperties(added, {id: 'new_step'});"
        " m.get('selection').select(added); }"
    )
    page.wait_for_selector("[data-group-id=group-warmflow__AddForm]")
    open_all(page)
    assert headers(page)[-1] == "表单字段"

    page.click("button.wf-add-form")
    page.wait_for_selector("[data-group-id=group-CamundaPlatform__FormData]")
    assert page.locator("[data-group-id=group-warmflow__AddForm]").count() == 0
    page.click("[data-group-id=group-CamundaPlatform__FormData] .bio-properties-panel-add-entry")
    fields = page.evaluate(
        "() => window.warmflowEditor.modeler.get('elementRegistry').get('new_step')"
        ".businessObject.extensionElements.values"
        ".filter(v => v.$type === 'camunda:FormData')[0].fields.length"
    )
    assert fields == 1
    assert errors == []
