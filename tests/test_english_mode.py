"""English mode translates the app's own words everywhere: every page each demo role can
reach (crawled from the start page through the links it shows), over the demo's cases at
every stage, holds no Chinese but data.

What counts as data, and stays as it was entered (the issue: "diagram labels stay as the
diagram has them"):
- what people typed: names of people, organisations and campaigns, applications and
  every value in a case's data, comments, reasons, reminders' messages, file names;
- what the diagrams say: process, step and end-event names (a case's outcome), form
  field labels and their options (a case's category, 学历层次 ...);
- what the bank answered (a failure's reason);
- an amount in 大写 (人民币捌仟元整) on a printed finance paper;
- a payment's 用途 (2026年金秋助学金) on the 发放花名册, as the bank file carries it;
- the language switch's "中文" and its "Language / 语言" label, which name Chinese in
  Chinese on purpose, and the column names of the bank's result file (参考号, 状态),
  which the file has in Chinese whatever the page's language; likewise the column names
  and role names of the unit and user import files (上级单位代码 ..., 经办人).
Everything else on a page is the app's and must read in English.
"""

import html
import json
import re
from collections import Counter
from urllib.parse import urlsplit

import pytest
from conftest import BPMN, csrf_from
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from workflows import batches, campaigns, demo, engine, privacy, processes, reminders
from workflows.models import (
    ArchiveImport,
    AuditEvent,
    Campaign,
    Case,
    HardshipRecord,
    Objection,
    Organisation,
    Payment,
    PaymentLine,
    ProcessVersion,
    StoredFile,
    TaskReminder,
    User,
)

HAN = re.compile(r"[\u3400-\u9fff]+")
# An amount in 大写 (人民币捌仟元整): finance papers carry it in Chinese whatever their language.
CAPITAL_AMOUNT = re.compile(r"人民币[零壹贰叁肆伍陆柒捌玖拾佰仟万亿元角分整]+")
ALLOWED = (
    "中文",
    "Language / 语言",
    "with 参考号 and 状态 columns",
    # The import files' column names and role names, which the files have in Chinese.
    "上级单位代码, 单位代码, 单位名称, 层级",
    "用户名, 姓名, 单位代码, 角色, 手机号",
    "经办人、基层工会审批人",
    "a comma or 、",
)
# Links not to follow: actions, downloads, machine answers, the language switch.
SKIP = re.compile(
    r"(/logout|/export|/bank-file|/files/|\.json|\.bpmn|\.csv|\.xlsx|lang=|/static/|/api/)"
)
ROLES = [
    "caseworker.szq1",
    "approver1.szq1",
    "approver2.szq",
    "approver3.nj",
    "finance.nj",
    "manager.nj",
    "manager.szq",  # a district's manager: 单位管理 and 用户管理 of its subtree
    "approver2.zzx",  # the demo's overdue task, reminded
]
PER_PATTERN = 6  # pages of one shape (/tasks/<id>) looked at per role
CASE_PAGES = 40  # but every case page: the demo has a case at every stage
MAX_PAGES = 160


@pytest.fixture
def demo_app(engine, factory, tmp_path, monkeypatch):
    from webapp import create_app

    with factory() as session:
        processes.deploy_files(session, None, sorted(BPMN.glob("*.bpmn")))
        assert demo.seed(session)
        _with_a_batch_and_a_reminder(session)
    monkeypatch.setenv("WARMFLOW_FILES_DIR", str(tmp_path / "files"))
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "RATELIMIT_ENABLED": False,
        }
    )


def _with_a_batch_and_a_reminder(session) -> None:
    """What the demo lacks: a bank batch with a success and a failure, and a reminder."""
    from campaign_helpers import result_file

    def user(name: str) -> User:
        return session.scalars(select(User).where(User.username == name)).one()

    city = session.scalars(select(Organisation).where(Organisation.parent_id.is_(None))).one()
    campaign_id = session.scalars(
        select(Payment.campaign_id).where(Payment.status == "payable")
    ).first()
    fin = user("finance.nj")
    batch = batches.build_batch(session, fin, campaign_id, city.id)
    batches.mark_sent(session, fin, batch.id)
    answer = result_file(session, batch.id, fail_every=2)
    batches.import_results(session, fin, batch.id, "result.csv", answer)
    batches.deliver_results(session)
    overdue = reminders.list_overdue(session, user("manager.nj"))
    assert overdue, "the demo has an overdue task to remind"
    reminders.remind(session, user("manager.nj"), overdue[0].id, "请尽快办理")
    _with_archive_imports(session, user("manager.nj"), city)


def _with_archive_imports(session, manager: User, city: Organisation) -> None:
    """An archive file imported, and another waiting in its preview with bad lines."""
    from archive_helpers import csv_bytes, worker_row

    from workflows import archive_import

    unit = session.scalars(
        select(Organisation).where(Organisation.level == 3).order_by(Organisation.id)
    ).first()
    rows = [worker_row(90000 + i, org_code=unit.code) for i in range(3)]
    done = archive_import.preview(session, manager, "archive.csv", csv_bytes(rows))
    archive_import.confirm(session, manager, done.id)
    archive_import.run_import(sessionmaker(bind=session.get_bind()), done.id)
    bad = [worker_row(91000 + i, org_code=unit.code) for i in range(4)]
    bad[0]["身份证号"] = "511002198001011234"
    bad[1]["困难类别"] = "其它困难"
    bad[2]["单位代码"] = "nowhere"
    bad[3]["银行卡号"] = "6222020200112233440"
    archive_import.preview(session, manager, "archive-2.csv", csv_bytes(bad))


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def data_strings(session) -> list[str]:
    """Every piece of data the pages may show, longest first."""
    found: set[str] = set()
    found.update(session.scalars(select(Organisation.name)))
    found.update(a for a in session.scalars(select(Organisation.address)) if a)
    for user in session.scalars(select(User)):
        found.update((user.display_name, user.username))
    for campaign in session.scalars(select(Campaign)):
        found.update((campaign.name, campaign.goods_name, campaign.code))
        found.add(campaigns.payment_purpose(campaign))
    for case in session.scalars(select(Case)):
        found.update((case.applicant_name, privacy.mask_name(case.applicant_name)))
        found.update((case.cancel_reason, case.outcome_label))
        for text in _strings(engine.case_data(session, case)):
            found.update((text, text[:60], privacy.mask_name(text)))
    for payment in session.scalars(select(Payment)):
        found.update(
            (payment.account_name, privacy.mask_name(payment.account_name)),
        )
        found.add(payment.last_failure_reason)
    found.update(session.scalars(select(PaymentLine.reason)))
    for record in session.scalars(select(HardshipRecord)):
        found.update((record.worker_name, privacy.mask_name(record.worker_name)))
        found.update((record.cause, record.bank_name, record.account_name))
    for row in session.scalars(select(ArchiveImport)):
        report = json.loads(row.report_json or "{}")
        found.update(item["name"] for item in report.get("lines", []))
        found.update(report.get("columns", {}).values())
        for item in report.get("lines", []):  # what the file held, quoted in a reason
            found.update(re.findall(r"“([^”]*)”", item["text"]))
    found.update(session.scalars(select(Objection.reason)))
    found.update(session.scalars(select(Objection.contact)))
    found.update(session.scalars(select(StoredFile.filename)))
    found.update(session.scalars(select(TaskReminder.message)))
    # What was entered at each step, as the history keeps it (a later step may overwrite
    # a field in the case's data); summaries quote comments cut at 60 characters.
    for detail in session.scalars(select(AuditEvent.detail)):
        for text in _strings(json.loads(detail or "{}").get("data") or {}):
            found.update((text, text[:60]))
    for version in session.scalars(select(ProcessVersion)):
        found.update((version.name, version.comment))
        for attr in re.findall(r'\b(?:name|label|value)="([^"]*)"', version.bpmn_xml):
            found.add(html.unescape(attr))
    return sorted((s for s in found if s and HAN.search(s)), key=len, reverse=True)


def visible_text(page: str) -> str:
    page = re.sub(r"(?s)<script.*?</script>|<style.*?</style>|<!--.*?-->", " ", page)
    # Words in attributes a person reads or hears.
    said = re.findall(r'\b(?:title|placeholder|aria-label|alt|label)="([^"]*)"', page)
    buttons = re.findall(r'<(?:button|input)[^>]*\bvalue="([^"]*)"', page)
    text = re.sub(r"(?s)<[^>]+>", " ", page)
    return html.unescape(" ".join([text, *said, *buttons]))


def chinese_left(text: str, data: list[str]) -> list[str]:
    for allowed in ALLOWED:
        text = text.replace(allowed, " ")
    text = CAPITAL_AMOUNT.sub(" ", text)
    for piece in data:
        text = text.replace(piece, " ")
    return HAN.findall(text)


def _pattern(path: str) -> str:
    return re.sub(r"\d+", "N", path)


def crawl(client, start: str = "/"):
    """(url, page) of every page reachable from `start` by following links, a few of
    each shape."""
    queue, seen, shapes = [start], set(), Counter()
    while queue and len(seen) < MAX_PAGES:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        answer = client.get(url)
        if answer.status_code != 200 or not answer.mimetype == "text/html":
            continue
        page = answer.get_data(as_text=True)
        yield url, page
        for href in re.findall(r'href="([^"#]+)"', page):
            href = html.unescape(href)
            parts = urlsplit(href)
            if parts.netloc or not parts.path.startswith("/") or SKIP.search(href):
                continue
            shape = _pattern(parts.path)
            if href in seen or href in queue:
                continue
            if shapes[shape] >= (CASE_PAGES if shape == "/cases/N" else PER_PATTERN):
                continue
            shapes[shape] += 1
            queue.append(href)


def sign_in_english(app, username: str):
    client = app.test_client()
    client.get("/login?lang=en")
    answer = client.post(
        "/login",
        data={
            "username": username,
            "password": demo.PASSWORD,
            "csrf_token": csrf_from(client, "/login"),
        },
    )
    assert answer.status_code == 302, username
    return client


@pytest.mark.parametrize("username", ROLES)
def test_every_page_of_each_role_reads_in_english_but_for_data(demo_app, factory, username):
    with factory() as session:
        data = data_strings(session)
    client = sign_in_english(demo_app, username)
    leftovers: dict[str, set[str]] = {}
    pages = 0
    for url, page in crawl(client):
        pages += 1
        assert '<html lang="en">' in page, url
        for word in chinese_left(visible_text(page), data):
            leftovers.setdefault(word, set()).add(url)
    assert pages >= 8, pages  # the crawl reached the role's pages
    report = {word: sorted(urls)[:3] for word, urls in leftovers.items()}
    assert report == {}, json.dumps(report, ensure_ascii=False, indent=1)


def test_public_pages_read_in_english_but_for_data(demo_app, factory):
    with factory() as session:
        data = data_strings(session)
    client = demo_app.test_client()
    client.get("/notices?lang=en")
    leftovers = {}
    for url, page in crawl(client, "/notices"):
        for word in chinese_left(visible_text(page), data):
            leftovers.setdefault(word, url)
    login = client.get("/login").get_data(as_text=True)
    for word in chinese_left(visible_text(login), data):
        leftovers.setdefault(word, "/login")
    assert leftovers == {}
