"""The app's own words from `workflows` (labels, composed lines, the audit trail's stored
summaries) are shown in the reader's language; data inside them stays as written."""

import chinese_calendar
import pytest
from babel.messages.pofile import read_po
from conftest import ROOT

from webapp import app_text
from workflows import audit, batches, campaigns, cases, worklists
from workflows.processes import ROLES

PO = ROOT / "webapp" / "translations" / "en" / "LC_MESSAGES" / "messages.po"

# Every label `workflows` hands to a page, by where it comes from.
REGISTRIES = {
    "roles": ROLES.values(),
    "case statuses": cases.STATUS_LABELS.values(),
    "payment statuses": cases.PAYMENT_STATUS_LABELS.values(),
    "notice statuses": cases.NOTICE_STATUS_LABELS.values(),
    "programmes": [p.label for p in cases.PROGRAMMES.values()],
    "seasons": campaigns.SEASONS.values(),
    "aid kinds": campaigns.AID_KINDS.values(),
    "campaign statuses": campaigns.STATUSES.values(),
    "batch statuses": batches.BATCH_STATUS_LABELS.values(),
    "payment results": batches.LINE_RESULT_LABELS.values(),
    "waiting reasons": [worklists.RUNNING],
    "audit actions": audit.ACTION_LABELS.values(),
    "audit areas": [label for label, _ in audit.ACTION_GROUPS.values()],
    "festivals": [h.chinese for h in chinese_calendar.Holiday],
    "no actor": [cases.SYSTEM_ACTOR],
}


def test_every_label_workflows_produces_has_an_english_translation():
    with PO.open("rb") as source:
        catalog = read_po(source)
    missing = {
        name: [label for label in labels if not (catalog.get(label) and catalog[label].string)]
        for name, labels in REGISTRIES.items()
    }
    assert {name: found for name, found in missing.items() if found} == {}


@pytest.fixture
def english(app):
    with app.test_request_context("/?lang=en"):
        yield


@pytest.fixture
def chinese(app):
    with app.test_request_context("/"):
        yield


def test_labels_and_composed_labels_in_english(english):
    assert app_text.tr("办理中") == "In progress"
    assert (app_text.tr("成功"), app_text.tr("失败")) == ("Paid", "Failed")
    # The outcome is the diagram's end event: it stays as the diagram has it.
    assert app_text.tr("已结案（助学金已发放）") == "Closed (助学金已发放)"
    assert app_text.tr("经办人（未认领）") == "Caseworker (unclaimed)"
    warning = (
        "2027年、2028年的法定节假日安排尚未录入，期限暂按周一至周五计算，录入后以实际安排为准。"
    )
    assert app_text.tr(warning).startswith("The public holidays of 2027, 2028 are not entered")
    assert app_text.tr("某个没人登记的说法") == "某个没人登记的说法"


def test_audit_lines_in_english_keep_their_data(english):
    line = app_text.tr_line("case.start", "登记金秋助学申请：王*明")
    assert line == "Registered an application for Autumn tuition grant: 王*明"
    assert app_text.tr_line("task.complete", "基层工会审批：通过；同意上报") == (
        "基层工会审批: 通过；同意上报"  # the step and what was entered are data
    )
    assert app_text.tr_line("notice.post", "发布公示（第 2 轮），公示期至 2026-09-21") == (
        "Public notice posted (round 2), until 2026-09-21"
    )
    assert app_text.tr_line("task.remind", "催办：入户核查 → 基层工会审批人（未认领）") == (
        "Reminder: 入户核查 → Union approver (unclaimed)"
    )
    # Templates belong to their action; a line nobody registered stays as written.
    notice = "发布公示（第 2 轮），公示期至 2026-09-21"
    assert app_text.tr_line("task.claim", notice) == notice
    assert app_text.tr_line("case.withdraw", "撤回：理由") == "撤回：理由"


def test_chinese_readers_see_what_was_written(chinese):
    assert app_text.tr("办理中") == "办理中"
    assert app_text.tr_line("case.start", "登记金秋助学申请：王*明") == "登记金秋助学申请：王*明"


def test_every_action_has_templates_for_its_lines():
    """Each action recorded by the services has its summary templates registered, so its
    lines read in English (a new action without them stays Chinese there)."""
    assert set(audit.ACTION_LABELS) <= set(app_text.LINES)
