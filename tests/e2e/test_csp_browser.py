"""The Content-Security-Policy in a real browser: the pages that run bundled code (the
case diagram, the process editor with its properties panel, the compare view, the report
charts) work under it, and the browser reports no violation on any of them."""

from pathlib import Path

import pytest
from conftest import require_bundles
from sqlalchemy import select

from workflows import cases, processes
from workflows.models import ProcessVersion

require_bundles(module=True)  # bpmn-js, the editor and Chart.js

# Collects what the browser refuses, before any page script runs.
WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.effectiveDirective + ' ' + e.blockedURI + ' ' + (e.sample || ''));
});
"""


def watched(page):
    messages = []
    page.add_init_script(WATCH)
    page.on(
        "console",
        lambda m: messages.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.on("pageerror", lambda err: messages.append(str(err)))
    return messages


def violations(page, messages) -> list[str]:
    return page.evaluate("() => window.__csp") + messages


def start(world):
    return cases.start_case(
        world.session,
        world.user("cw1"),
        "tuition_grant",
        world.tuition_application(admission_letter=world.upload("cw1")),
        world.campaigns["tuition"].id,
    )


def test_the_case_diagram_draws_under_the_policy(live_server, sign_in, world):
    case = start(world)
    page = sign_in("cw1")
    messages = watched(page)
    page.goto(f"{live_server}/cases/{case.id}")
    page.wait_for_selector("#case-diagram .djs-element[data-element-id=call_home_visit]")
    assert violations(page, messages) == []


# One element of each kind (type and event definition): the panel's groups depend on it.
ONE_OF_EACH_KIND = """() => {
  const seen = new Map();
  for (const e of window.warmflowEditor.modeler.get('elementRegistry').getAll()) {
    if (e.labelTarget) continue;
    const defs = (e.businessObject && e.businessObject.eventDefinitions) || [];
    const kind = e.type + (defs.length ? ':' + defs[0].$type : '')
      + (e.businessObject && e.businessObject.conditionExpression ? ':condition' : '');
    if (!seen.has(kind)) seen.set(kind, e.id);
  }
  return Array.from(seen.values());
}"""
SELECT = (
    "(id) => { const m = window.warmflowEditor.modeler;"
    " m.get('selection').select(m.get('elementRegistry').get(id)); }"
)
OPEN_GROUPS = (
    "() => { const closed = document.querySelectorAll("
    "'.bio-properties-panel-group-header:not(.open)');"
    " closed.forEach(h => h.click()); return closed.length; }"
)


def open_every_group(page):
    for _ in range(5):  # an opened group may show nested ones
        if not page.evaluate(OPEN_GROUPS):
            return
        page.wait_for_timeout(50)


@pytest.mark.parametrize("process_id", ["tuition_grant", "home_visit", "hardship_archive"])
def test_the_process_editor_and_its_panel_work_under_the_policy(
    live_server, sign_in, world, process_id
):
    """An element of every kind selected, every panel group opened: no <style>
    element (CodeMirror's FEEL fields) and nothing else the policy refuses."""
    page = sign_in("mgr")
    messages = watched(page)
    page.goto(f"{live_server}/processes/{process_id}/edit")
    page.wait_for_selector("#process-editor[data-ready=true]")
    elements = page.evaluate(ONE_OF_EACH_KIND)
    assert len(elements) >= 5
    for element in elements:
        page.evaluate(SELECT, element)
        page.wait_for_timeout(50)
        open_every_group(page)
    assert page.locator(".bio-properties-panel-group-header.open").count() > 0
    assert page.evaluate("() => document.querySelectorAll('style').length") == 0
    assert violations(page, messages) == []


def test_the_compare_view_draws_under_the_policy(live_server, sign_in, world):
    xml = (Path(__file__).resolve().parents[2] / "bpmn/home_visit.bpmn").read_text()
    processes.deploy_xml(
        world.session, world.user("mgr"), "home_visit", xml.replace("入户核查", "入户走访")
    )
    numbers = world.session.scalars(
        select(ProcessVersion.number).where(ProcessVersion.process_id == "home_visit")
    ).all()
    page = sign_in("mgr")
    messages = watched(page)
    page.goto(f"{live_server}/processes/home_visit/compare?a={min(numbers)}&b={max(numbers)}")
    page.wait_for_selector(".djs-element[data-element-id=home_visit_task]")
    page.wait_for_timeout(300)
    assert violations(page, messages) == []


def test_the_report_charts_draw_under_the_policy(live_server, sign_in, world):
    start(world)
    page = sign_in("mgr")
    messages = watched(page)
    page.goto(f"{live_server}/reports?campaign={world.campaigns['tuition'].id}")
    page.wait_for_function("() => window.Chart && window.Chart.getChart('chart-money')")
    assert violations(page, messages) == []
