"""统计报表: a campaign paid in part (some lines failed, one batch still with the bank) is
reported on the page, in the CSV and XLSX exports and in the API with the very figures
the payments table holds; reporters see only their own subtree; charts are optional."""

import csv
import html
import io
import json
import re
from decimal import Decimal

import pytest
from campaign_helpers import approve_all, archive_workers, result_file
from conftest import api_token, require_bundles
from openpyxl import load_workbook
from sqlalchemy import select

from webapp.filters import yuan
from workflows import batches, campaigns, reports
from workflows.budgets import yuan as plain_yuan  # the exports: 1234.56, no separators
from workflows.models import Case, Payment


def _paid_in_part(world) -> None:
    """12 winter cases over g1, g2 (district d1) and g3 (d2): d1's batch comes back with
    every third line failed, d2's batch is still with the bank."""
    s = world.session
    archive_workers(s, [world.orgs[k].id for k in ("g1", "g2", "g3")], 12)
    launch = campaigns.start_launch(s, world.user("mgr"), world.campaigns["winter"].id)
    campaigns.run_launch(world.factory, launch.id)
    s.expire_all()
    approve_all(s, [world.user(u) for u in ("l1", "l1_g3", "l2", "l2_d2", "l3")])
    fin = world.user("fin")
    winter = world.campaigns["winter"].id
    d1 = batches.build_batch(s, fin, winter, world.orgs["d1"].id)
    batches.mark_sent(s, fin, d1.id)
    answer = batches.import_results(s, fin, d1.id, "r.csv", result_file(s, d1.id, fail_every=3))
    assert answer.paid and answer.failed
    d2 = batches.build_batch(s, fin, winter, world.orgs["d2"].id)
    batches.mark_sent(s, fin, d2.id)
    batches.deliver_results(s)
    s.expire_all()


def _ledger(world, *org_keys) -> dict[str, int]:
    """Fen by status straight from the payment table (all orgs, or those named)."""
    query = select(Payment).where(Payment.campaign_id == world.campaigns["winter"].id)
    if org_keys:
        query = query.where(Payment.org_id.in_([world.orgs[k].id for k in org_keys]))
    sums = {"paid": 0, "pending": 0, "failed": 0, "paid_count": 0}
    for p in world.session.scalars(query):
        key = "pending" if p.status in ("payable", "in_batch") else p.status
        sums[key] = sums.get(key, 0) + p.amount_fen
        sums["paid_count"] += p.status == "paid"
    return sums


@pytest.fixture
def paid(world):
    _paid_in_part(world)
    sums = _ledger(world)
    assert sums["paid"] and sums["pending"] and sums["failed"]
    return sums


def _url(world, path="/reports", org="city"):
    return f"{path}?campaign={world.campaigns['winter'].id}&org={world.orgs[org].id}"


def _row(page: str, table: str, label: str) -> list[str]:
    """The cells of one row (by its first cell) of the table with that id."""
    section = page[page.index(f'id="{table}"') :]
    section = section[: section.index("</table>")]
    for row in re.findall(r"<tr>(.*?)</tr>", section, re.S):
        cells = [
            re.sub(r'<span class="count-line">.*?</span>', "", c, flags=re.S).strip()
            for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        if cells and cells[0] == label:
            return cells
    raise AssertionError(f"no row {label} in {table}")


def test_page_figures_are_the_payment_table_in_yuan(world, as_user, paid):
    answer = as_user("mgr").get(_url(world))
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    for key in ("paid", "pending", "failed"):
        assert f'data-figure="{key}">{yuan(paid[key])}</span>' in page, key
    helped = world.session.scalars(
        select(Case).where(Case.campaign_id == world.campaigns["winter"].id)
    ).all()
    assert f'data-figure="helped">{sum(c.outcome == "end_paid" for c in helped)}<' in page
    # Columns: name, cases, helped, paid, pending, failed (each with its count below), need,
    # budget, reserved, budget use.
    total = _row(page, "by-district", "总计")
    assert (total[3], total[4], total[5]) == (
        yuan(paid["paid"]),
        yuan(paid["pending"]),
        yuan(paid["failed"]),
    )
    assert f'{yuan(paid["paid"])}<span class="count-line">{paid["paid_count"]} 笔</span>' in page
    assert total[7] == yuan(2 * 100_000_000) == "2,000,000.00"
    need = sum(c.amount_fen for c in helped if c.status == "running" or c.outcome == "end_paid")
    assert total[6] == yuan(need) and need > paid["paid"]
    d1, d2 = _ledger(world, "d1", "g1", "g2"), _ledger(world, "d2", "g3")
    row = _row(page, "by-district", "市中区总工会")
    assert (row[3], row[4], row[5]) == (yuan(d1["paid"]), yuan(d1["pending"]), yuan(d1["failed"]))
    row = _row(page, "by-district", "东兴区总工会")
    assert (row[3], row[4], row[5]) == (yuan(d2["paid"]), yuan(d2["pending"]), yuan(d2["failed"]))
    # By category the same money, split otherwise.
    assert _row(page, "by-category", "总计")[3] == yuan(paid["paid"])
    report = reports.campaign_report(world.session, world.user("mgr"), world.campaigns["winter"].id)
    for f in report.by_category:
        assert _row(page, "by-category", f.label)[3] == yuan(f.paid_fen)
    # Export links for the same campaign and organisation.
    assert 'href="/reports/export.csv?campaign=' in page
    assert 'href="/reports/export.xlsx?campaign=' in page


def test_the_chooser_lists_campaigns_and_only_the_users_own_subtree(world, as_user):
    page = as_user("l2").get("/reports").get_data(as_text=True)
    assert "2026年冬送温暖" in page and "2026年金秋助学" in page
    options = re.findall(r'<option value="(\d+)"', page[page.index('id="org"') :])
    assert options == [str(world.orgs[k].id) for k in ("d1", "g1", "g2")]
    city = as_user("mgr").get("/reports").get_data(as_text=True)
    assert "东兴区总工会" in city and "西林街道帮扶站" in city


def test_csv_export_rows_are_the_service_figures(world, as_user, paid):
    answer = as_user("fin").get(_url(world, "/reports/export.csv"))
    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"] == "attachment; filename=report-dsnw2026-nj.csv"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.mimetype == "text/csv"
    text = answer.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    report = reports.campaign_report(world.session, world.user("fin"), world.campaigns["winter"].id)
    assert rows[0] == reports.EXPORT_HEADER
    assert rows[1:] == [[str(v) for v in r] for r in reports.export_rows(report)]
    total = dict(zip(rows[0], rows[-1], strict=True))
    assert total["分组"] == "合计"
    assert total["已发放金额（元）"] == plain_yuan(paid["paid"])
    assert total["待发放金额（元）"] == plain_yuan(paid["pending"])
    assert total["发放失败金额（元）"] == plain_yuan(paid["failed"])


def test_xlsx_export_reads_back_with_the_same_totals(world, as_user, paid):
    answer = as_user("mgr").get(_url(world, "/reports/export.xlsx"))
    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"] == "attachment; filename=report-dsnw2026-nj.xlsx"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    content = answer.get_data()
    assert content[:2] == b"PK"
    sheet = load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
    rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == reports.EXPORT_HEADER
    total = dict(zip(rows[0], rows[-1], strict=True))
    assert total["分组"] == "合计"
    for column, key in (
        ("已发放金额（元）", "paid"),
        ("待发放金额（元）", "pending"),
        ("发放失败金额（元）", "failed"),
    ):
        # Amounts are numbers in the workbook (Excel can sum them), exact to the fen.
        assert Decimal(total[column]) == Decimal(plain_yuan(paid[key])), column
    assert total["已发放笔数"] == str(paid["paid_count"])


def test_unknown_export_format_is_not_found_and_a_campaign_is_needed(world, as_user):
    client = as_user("mgr")
    assert client.get(_url(world, "/reports/export.pdf")).status_code == 404
    assert client.get("/reports/export.csv").status_code == 422


def test_api_report_totals_equal_the_payment_table(app, world, paid):
    client = app.test_client()
    headers = api_token(app, "l3")
    winter = world.campaigns["winter"].id
    answer = client.get(f"/api/v1/reports/campaigns/{winter}", headers=headers)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["campaign"]["code"] == "dsnw2026" and body["org"]["code"] == "nj"
    assert body["grouped_by"] == "district"
    total = body["total"]
    assert (total["paid_fen"], total["pending_fen"], total["failed_fen"]) == (
        paid["paid"],
        paid["pending"],
        paid["failed"],
    )
    assert total["paid_count"] == paid["paid_count"]
    assert [d["label"] for d in body["by_district"]] == ["市中区总工会", "东兴区总工会"]
    assert sum(d["paid_fen"] for d in body["by_district"]) == paid["paid"]
    assert sum(c["failed_fen"] for c in body["by_category"]) == paid["failed"]
    assert body["by_district"][1]["pending_fen"] == _ledger(world, "d2", "g3")["pending"]

    inside = client.get(
        f"/api/v1/reports/campaigns/{winter}?org={world.orgs['d1'].id}", headers=headers
    ).get_json()
    assert inside["grouped_by"] == "union"
    assert [d["label"] for d in inside["by_district"]] == ["城东街道帮扶站", "内江钢铁厂工会"]
    assert inside["total"]["paid_fen"] == _ledger(world, "d1", "g1", "g2")["paid"]


def test_api_export_in_both_formats(app, world, paid):
    client = app.test_client()
    headers = api_token(app, "fin")
    winter = world.campaigns["winter"].id
    answer = client.get(f"/api/v1/reports/campaigns/{winter}/export?format=xlsx", headers=headers)
    assert answer.status_code == 200 and answer.get_data()[:2] == b"PK"
    assert "report-dsnw2026-nj.xlsx" in answer.headers["Content-Disposition"]
    answer = client.get(f"/api/v1/reports/campaigns/{winter}/export", headers=headers)
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert plain_yuan(paid["paid"]) in answer.get_data().decode("utf-8")
    bad = client.get(f"/api/v1/reports/campaigns/{winter}/export?format=pdf", headers=headers)
    assert bad.status_code == 422 and bad.get_json()["code"] == "invalid"
    assert client.get("/api/v1/reports/campaigns/9999", headers=headers).status_code == 404


def test_district_approver_reports_on_own_district_only(app, world, as_user, paid):
    client = as_user("l2")
    own = client.get(_url(world, org="d1"))
    assert own.status_code == 200
    page = own.get_data(as_text=True)
    assert "城东街道帮扶站" in page and "西林街道帮扶站" not in page
    d1 = _ledger(world, "d1", "g1", "g2")
    assert f'data-figure="paid">{yuan(d1["paid"])}</span>' in page
    # By default the user's own district.
    assert f'data-figure="paid">{yuan(d1["paid"])}</span>' in client.get(
        f"/reports?campaign={world.campaigns['winter'].id}"
    ).get_data(as_text=True)
    for org in ("d2", "g3", "city"):
        assert client.get(_url(world, org=org)).status_code == 403, org
        assert client.get(_url(world, "/reports/export.csv", org=org)).status_code == 403
    api = app.test_client()
    headers = api_token(app, "l2")
    winter = world.campaigns["winter"].id
    for path in (
        f"/api/v1/reports/campaigns/{winter}",
        f"/api/v1/reports/campaigns/{winter}/export",
    ):
        assert api.get(f"{path}?org={world.orgs['d2'].id}", headers=headers).status_code == 403
        assert api.get(f"{path}?org={world.orgs['d1'].id}", headers=headers).status_code == 200


def test_caseworkers_and_level_one_approvers_get_403(app, world, as_user):
    winter = world.campaigns["winter"].id
    for name in ("cw1", "l1"):
        client = as_user(name)
        assert client.get("/reports").status_code == 403
        assert client.get(_url(world, org="g1")).status_code == 403
        assert client.get(_url(world, "/reports/export.csv", org="g1")).status_code == 403
        headers = api_token(app, name)
        api = app.test_client()
        assert api.get(f"/api/v1/reports/campaigns/{winter}", headers=headers).status_code == 403
        assert (
            api.get(f"/api/v1/reports/campaigns/{winter}/export", headers=headers).status_code
            == 403
        )
    assert app.test_client().get(f"/api/v1/reports/campaigns/{winter}").status_code == 401
    assert app.test_client().get("/reports").status_code == 302  # to the login page


def _scripts(page: str) -> list[tuple[str, str]]:
    return re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)


def test_the_report_page_loads_the_real_chartjs_bundle_from_the_app(world, as_user, paid):
    require_bundles("Chart.js")  # `make vendor` built it
    client = as_user("mgr")
    page = client.get(_url(world)).get_data(as_text=True)
    assert 'src="/static/vendor/chartjs/chart.umd.min.js"' in page
    bundle = client.get("/static/vendor/chartjs/chart.umd.min.js")
    assert bundle.status_code == 200 and b"Chart" in bundle.data


def test_charts_get_their_data_and_chartjs_from_the_app(world, as_user, paid, monkeypatch):
    import webapp.reports

    client = as_user("mgr")
    # With a bundle in place (any file stands in for it here) the page loads it and the
    # chart script, both external, and hands them the figures as data.
    monkeypatch.setattr(webapp.reports, "CHART_BUNDLE", "app.css")
    page = client.get(_url(world)).get_data(as_text=True)
    scripts = _scripts(page)
    assert [re.search(r'src="([^"]+)"', a).group(1) for a, _ in scripts] == [
        "/static/app.css",
        "/static/reports.js",
    ]
    assert all(body.strip() == "" and "defer" in attrs for attrs, body in scripts)
    assert "https://" not in page and "http://" not in page
    data = re.search(r'data-chart="([^"]*)"', page).group(1)
    report = reports.campaign_report(world.session, world.user("mgr"), world.campaigns["winter"].id)
    assert json.loads(html.unescape(data)) == reports.chart_data(report)
    assert json.loads(html.unescape(data))["paid"] == [f.paid_fen for f in report.by_district]
    labels = json.loads(html.unescape(re.search(r'data-labels="([^"]*)"', page).group(1)))
    assert labels["yuan"] == "元" and labels["paid"] == "已发放金额"
    assert "图表组件尚未安装" not in page
    assert client.get("/static/reports.js").status_code == 200


def test_without_chartjs_the_tables_remain_and_a_note_says_so(world, as_user, paid, monkeypatch):
    import webapp.reports

    monkeypatch.setattr(webapp.reports, "CHART_BUNDLE", "vendor/missing/chart.js")
    answer = as_user("mgr").get(_url(world))
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "图表组件尚未安装" in page and "<script" not in page and "data-chart" not in page
    assert _row(page, "by-district", "总计")[3] == yuan(paid["paid"])
    assert 'id="by-category"' in page


def test_report_page_in_english(world, as_user):
    client = as_user("mgr")
    page = client.get(_url(world) + "&lang=en").get_data(as_text=True)
    assert "Export CSV" in page and "People helped" in page and "By district" in page
    assert "导出 CSV" not in page


def test_a_goods_campaign_without_cases_shows_empty_tables_and_a_goods_column(world, as_user):
    summer = world.campaigns["summer"].id
    answer = as_user("mgr").get(f"/reports?campaign={summer}")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert 'data-figure="goods">0<' in page and "物资数量" in page
    assert page.count("暂无数据") == 2
    assert _row(page, "by-district", "总计")[3] == "0.00"
    winter = as_user("mgr").get(_url(world)).get_data(as_text=True)
    assert 'data-figure="goods"' not in winter
    assert as_user("mgr").get("/reports?campaign=9999").status_code == 404


def test_budget_is_drawn_apart_as_a_percentage_used(world, as_user, paid):
    report = reports.campaign_report(world.session, world.user("mgr"), world.campaigns["winter"].id)
    chart = reports.chart_data(report)

    # The money chart carries no budget (a 1,000,000-yuan budget flattened the payments).
    assert "budget" not in chart
    d1 = report.by_district[0]
    assert chart["budget_use"]["paid"][0] == round(d1.paid_fen * 1000 / d1.budget_fen) / 10
    assert chart["budget_use"]["reserved"][0] == round(d1.reserved_fen * 1000 / d1.budget_fen) / 10
    assert reports.budget_use(1, None) is None and reports.budget_use(250, 1000) == 25.0
    page = as_user("mgr").get(_url(world)).get_data(as_text=True)
    assert "预算使用率" in page
    share = reports.budget_use(d1.reserved_fen, d1.budget_fen)
    assert _row(page, "by-district", d1.label)[9] == f"{share:.1f}%"


def test_a_union_level_report_has_no_budget_chart(world, as_user, paid, monkeypatch):
    import webapp.reports

    monkeypatch.setattr(webapp.reports, "CHART_BUNDLE", "app.css")
    page = as_user("mgr").get(_url(world, org="d1")).get_data(as_text=True)
    assert 'id="chart-money"' in page and 'id="chart-budget"' not in page
    city = as_user("mgr").get(_url(world)).get_data(as_text=True)
    assert 'id="chart-budget"' in city


def test_tuition_report_says_its_categories_are_education_levels(app, world, as_user):
    tuition = world.campaigns["tuition"].id
    report = reports.campaign_report(world.session, world.user("mgr"), tuition)
    assert report.category_label == "学历层次"
    assert reports.chart_data(report)["category_label"] == "学历层次"
    page = as_user("mgr").get(f"/reports?campaign={tuition}").get_data(as_text=True)
    assert "<h2>按学历层次</h2>" in page and "<th>学历层次</th>" in page
    assert "按困难类别" not in page
    answer = app.test_client().get(
        f"/api/v1/reports/campaigns/{tuition}", headers=api_token(app, "mgr")
    )
    assert answer.get_json()["category_label"] == "学历层次"
    winter = reports.campaign_report(world.session, world.user("mgr"), world.campaigns["winter"].id)
    assert winter.category_label == "困难类别"


def test_amounts_on_the_page_have_thousands_separators(world, as_user, paid):
    page = as_user("mgr").get(_url(world)).get_data(as_text=True)
    assert f'data-figure="budget">{yuan(2 * 100_000_000)}</span>' in page
    assert "2,000,000.00" in page and "2000000.00" not in page
