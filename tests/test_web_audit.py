"""审计日志: managers read the audit trail by person, case, China-time dates and action,
on the page, in the CSV export and in the API; nobody else may."""

import csv
import io

import pytest
from conftest import api_token, cst, valid_id
from sqlalchemy import select

from workflows import audit, cases, privacy, users
from workflows.errors import Forbidden
from workflows.models import AuditEvent

# A careless summary quoting an ID number whole: everything shown must mask it.
LEAKY_ID = valid_id("51100219800101002")


def at(clock, *when):
    clock.move_to(cst(*when), tick=False)


def event(world, username, action, summary, case_id=None):
    audit.record(world.session, world.users[username].id, case_id, action, summary)
    world.session.commit()


@pytest.fixture
def history(world, clock):
    """Events at known China times; a UTC date differs from the China date for the
    late-evening and just-after-midnight ones."""
    at(clock, 2026, 9, 1, 9, 0)
    event(world, "cw1", "auth.login", "登录")
    at(clock, 2026, 9, 3, 14, 0)
    case = cases.start_case(
        world.session,
        world.user("cw1"),
        "tuition_grant",
        world.tuition_application(admission_letter=world.upload("cw1")),
        world.campaigns["tuition"].id,
    )
    at(clock, 2026, 9, 5, 23, 59)  # 15:59 UTC on the 5th
    event(world, "l1", "task.claim", f"认领：核对身份证号 {LEAKY_ID}", case.id)
    at(clock, 2026, 9, 6, 0, 10)  # 16:10 UTC on the 5th
    event(world, "l1", "auth.login", "登录")
    at(clock, 2026, 9, 7, 10, 0)
    event(world, "cw3", "auth.login", "登录")
    return case


def api(app, username, **query):
    return app.test_client().get(
        "/api/v1/audit", query_string=query, headers=api_token(app, username)
    )


def actions(answer) -> list[tuple[str | None, str]]:
    return [((e["actor"] or {}).get("username"), e["action"]) for e in answer.get_json()["items"]]


def test_the_manager_sees_every_event_newest_first(app, world, history):
    answer = api(app, "mgr")
    assert answer.status_code == 200
    body = answer.get_json()
    times = [e["at"] for e in body["items"]]
    assert times == sorted(times, reverse=True) and times[0].endswith("+08:00")
    # api_token itself signs mgr in: that is the newest event.
    assert actions(answer)[0] == ("mgr", "auth.login")
    assert body["total"] == len(body["items"]) and body["offset"] == 0 and body["limit"] == 50


def test_filter_by_user_on_the_page_and_in_the_api(app, as_user, world, history):
    page = as_user("mgr").get("/audit?user=l1")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "李主席" in text and "task.claim" in text and "张经办" not in text
    assert "共 2 条" in text
    assert actions(api(app, "mgr", user="l1")) == [("l1", "auth.login"), ("l1", "task.claim")]
    # A display name finds the same person; an unknown one finds nothing.
    assert actions(api(app, "mgr", user="李主席")) == actions(api(app, "mgr", user="l1"))
    assert api(app, "mgr", user="nobody").get_json()["items"] == []


def test_filter_by_case_number(app, as_user, world, history):
    case = history
    body = api(app, "mgr", case=case.case_no).get_json()
    assert body["items"] and all(e["case"]["case_no"] == case.case_no for e in body["items"])
    assert {e["action"] for e in body["items"]} >= {"task.claim"}
    assert "auth.login" not in {e["action"] for e in body["items"]}
    page = as_user("mgr").get(f"/audit?case={case.case_no.lower()}").get_data(as_text=True)
    table = page[page.index('id="audit-events"') :]
    assert f'href="/cases/{case.id}"' in table and 'title="task.claim">认领任务<' in table
    assert 'title="auth.login"' not in table


def test_dates_are_china_days_with_both_ends_included(app, world, history):
    day5 = api(app, "mgr", **{"from": "2026-09-05", "to": "2026-09-05"})
    assert actions(day5) == [("l1", "task.claim")]
    day6 = api(app, "mgr", **{"from": "2026-09-06", "to": "2026-09-06"})
    assert actions(day6) == [("l1", "auth.login")]
    early = actions(api(app, "mgr", to="2026-09-03"))
    assert ("cw1", "auth.login") in early and ("l1", "task.claim") not in early
    assert all(a != ("cw3", "auth.login") for a in actions(api(app, "mgr", to="2026-09-06")))
    late = actions(api(app, "mgr", **{"from": "2026-09-07", "user": "cw3"}))
    assert late == [("cw3", "auth.login")]


def test_filter_by_action_prefix_and_combined_filters(app, world, history):
    logins = actions(api(app, "mgr", action="auth.", user="l1"))
    assert logins == [("l1", "auth.login")]
    assert api(app, "mgr", action="task.claim", user="cw1").get_json()["items"] == []
    # A prefix is a prefix, not a pattern.
    assert api(app, "mgr", action="%").get_json()["items"] == []


def test_summaries_are_masked_everywhere(app, as_user, world, history):
    masked = privacy.mask_id(LEAKY_ID)
    client = as_user("mgr")
    page = client.get("/audit?action=task.claim").get_data(as_text=True)
    assert masked in page and LEAKY_ID not in page
    body = api(app, "mgr", action="task.claim").get_data(as_text=True)
    assert masked in body and LEAKY_ID not in body
    exported = client.get("/audit/export.csv?action=task.claim").get_data(as_text=True)
    assert masked in exported and LEAKY_ID not in exported


def test_export_is_the_filtered_list_as_csv_and_is_itself_audited(as_user, world, history):
    client = as_user("mgr")
    answer = client.get("/audit/export.csv?user=l1")
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    assert "no-store" in answer.headers["Cache-Control"]
    assert answer.data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(answer.data.decode("utf-8-sig"))))
    assert rows[0] == audit.EXPORT_HEADER
    assert [(r[2], r[4], r[6]) for r in rows[1:]] == [
        ("l1", "登录", "auth.login"),
        ("l1", "认领任务", "task.claim"),
    ]
    assert rows[2][0] == "2026-09-05 23:59:00" and rows[2][1] == "李主席"
    assert rows[2][3] == history.case_no
    world.session.expire_all()
    exports = world.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "audit.export")
    ).all()
    assert [(e.actor_id, e.summary) for e in exports] == [
        (world.users["mgr"].id, "导出审计日志 2 条")
    ]


def test_export_neutralises_spreadsheet_formulas(as_user, world, clock):
    event(world, "cw1", "case.note", '=HYPERLINK("http://evil.example","点我")')
    rows = list(
        csv.reader(
            io.StringIO(
                as_user("mgr")
                .get("/audit/export.csv?user=cw1&action=case.")
                .data.decode("utf-8-sig")
            )
        )
    )
    assert rows[1][5].startswith("'=HYPERLINK")


def test_export_refuses_more_than_the_limit_rather_than_cutting_it_short(
    as_user, world, history, monkeypatch
):
    monkeypatch.setattr(audit, "MAX_EXPORT_ROWS", 3)
    answer = as_user("mgr").get("/audit/export.csv")
    assert answer.status_code == 422
    assert "超过单次导出上限 3 条" in answer.get_data(as_text=True)
    assert as_user("mgr").get("/audit/export.csv?user=l1").status_code == 200


def test_fifty_a_page(app, as_user, world, clock):
    for n in range(120):
        audit.record(world.session, world.users["cw2"].id, None, "task.claim", f"第{n}条")
    world.session.commit()
    client = as_user("mgr")
    first = client.get("/audit?user=cw2").get_data(as_text=True)
    assert first.count("<tr>") == 51  # the header row and 50 events
    assert "第 1 / 3 页" in first and "下一页" in first and "上一页" not in first
    last = client.get("/audit?user=cw2&page=3").get_data(as_text=True)
    assert last.count("<tr>") == 21 and "上一页" in last and "下一页" not in last
    beyond = client.get("/audit?user=cw2&page=99").get_data(as_text=True)
    assert "第 3 / 3 页" in beyond
    body = api(app, "mgr", user="cw2", offset=100, limit=100).get_json()
    assert body["total"] == 120 and len(body["items"]) == 20


@pytest.mark.parametrize("username", ["cw1", "l2", "l3", "fin"])
def test_nobody_but_a_manager_reads_the_audit_log(app, as_user, world, history, username):
    client = as_user(username)
    assert client.get("/audit").status_code == 403
    assert client.get("/audit/export.csv").status_code == 403
    answer = api(app, username)
    assert answer.status_code == 403 and answer.get_json()["code"] == "forbidden"
    assert "审计日志" not in client.get("/").get_data(as_text=True)
    with pytest.raises(Forbidden):
        audit.search_events(world.session, world.user(username))


def test_the_manager_has_the_menu_entry(as_user, world):
    page = as_user("mgr").get("/").get_data(as_text=True)
    assert 'href="/audit"' in page and "审计日志" in page


def test_anonymous_callers_are_sent_away(app, world):
    assert app.test_client().get("/audit").status_code == 302
    assert app.test_client().get("/api/v1/audit").status_code == 401


@pytest.mark.parametrize(
    "query",
    [
        {"from": "2026-13-01"},
        {"to": "9/7/2026"},
        {"from": "2026-09-07", "to": "2026-09-01"},
        {"from": "0001-01-01"},
        {"to": "9999-12-31"},
    ],
)
def test_bad_dates_are_refused_in_chinese(app, as_user, world, query):
    client = as_user("mgr")
    page = client.get("/audit", query_string=query)
    assert page.status_code == 422
    text = page.get_data(as_text=True)
    assert any(m in text for m in ("格式不正确", "开始日期不能晚于结束日期", "年之间"))
    assert client.get("/audit/export.csv", query_string=query).status_code == 422
    answer = api(app, "mgr", **query)
    assert answer.status_code == 422
    body = answer.get_json()
    assert body["code"] == "invalid" and set(body["errors"]) <= {"from", "to"}
    assert "日期" in body["message"]


def test_bad_paging_is_refused(app, world):
    assert api(app, "mgr", limit=0).status_code == 422
    assert api(app, "mgr", limit=101).status_code == 422
    assert api(app, "mgr", offset=-1).status_code == 422


def test_a_district_manager_sees_only_their_own_subtree(world, history):
    district = users.add_user(
        world.session, "mgr_d2", "Hardship-aid7", "郑管理", world.orgs["d2"], ["manager"]
    )
    world.session.commit()
    seen = audit.search_events(world.session, district)
    assert {(r.actor_username, r.action) for r in seen.rows} == {("cw3", "auth.login")}
    city = audit.search_events(world.session, world.user("mgr"))
    assert city.total > seen.total


def test_the_api_is_documented(app, world):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    operation = doc["paths"]["/audit"]["get"]
    assert operation["tags"] == ["audit"]
    assert {p["name"] for p in operation["parameters"]} == {
        "user",
        "case",
        "from",
        "to",
        "action",
        "offset",
        "limit",
    }
    assert "audit" in {t["name"] for t in doc["tags"]}
    assert "AuditEvent" in doc["components"]["schemas"]


def _recorded_actions() -> set[str]:
    """Every action code the services pass to audit.record (or assign to a variable they
    pass), read from their source."""
    import ast
    import re
    from pathlib import Path

    code = re.compile(r"^[a-z_]+\.[a-z_]+$")
    found = set()
    for path in (Path(__file__).parent.parent / "workflows").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "record":
                args = node.args[3:4] + [k.value for k in node.keywords if k.arg == "action"]
                for arg in args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        found.add(arg.value)
            elif isinstance(node, ast.Assign) and any(
                getattr(t, "id", None) == "action" for t in node.targets
            ):
                if isinstance(node.value, ast.Constant) and code.match(str(node.value.value)):
                    found.add(node.value.value)
    return found


def test_every_recorded_action_has_a_chinese_name():
    recorded = _recorded_actions()
    assert {"task.claim", "campaign.create", "task.remind"} <= recorded
    assert sorted(recorded - set(audit.ACTION_LABELS)) == []
    for prefix, (_group, actions) in audit.ACTION_GROUPS.items():
        assert all(code.startswith(prefix) for code in actions), prefix


def test_page_shows_action_names_and_filters_by_them(app, as_user, world, history):
    client = as_user("mgr")
    page = client.get("/audit").get_data(as_text=True)
    table = page[page.index('id="audit-events"') :]
    assert 'title="task.claim">认领任务<' in table and 'title="auth.login">登录<' in table
    assert '<optgroup label="任务办理">' in page
    assert '<option value="task.">任务办理（全部）</option>' in page
    assert '<option value="task.claim">认领任务</option>' in page

    chosen = client.get("/audit?action=task.claim").get_data(as_text=True)
    assert '<option value="task.claim" selected>认领任务</option>' in chosen
    shown = chosen[chosen.index('id="audit-events"') :]
    assert 'title="task.claim"' in shown and 'title="auth.login"' not in shown


def test_filter_by_the_chinese_name_of_an_action_or_an_area(app, world, history):
    headers, client = api_token(app, "mgr"), app.test_client()  # one token: one more login

    def found(action: str):
        answer = client.get("/api/v1/audit", query_string={"action": action}, headers=headers)
        return actions(answer)

    by_code = found("task.claim")
    assert by_code and found("认领任务") == by_code
    logins = found("登录与账号")
    assert logins == found("auth.") and len(logins) >= 3
    items = client.get(
        "/api/v1/audit", query_string={"action": "认领任务"}, headers=headers
    ).get_json()["items"]
    assert {e["action_label"] for e in items} == {"认领任务"}
