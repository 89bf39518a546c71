"""统计报表 in Chromium as a city manager sees it: the payments chart is not flattened by
the budget (drawn apart as a percentage), the tables fit a 1366-pixel screen without a
sideways scroll, and the phone layout keeps everything reachable."""

from test_web_reports import _paid_in_part


def _report(page, live_server, world, org="city"):
    page.goto(
        f"{live_server}/reports?campaign={world.campaigns['winter'].id}&org={world.orgs[org].id}"
    )
    page.wait_for_selector("#by-district")


def _overflow(page, selector: str) -> int:
    """How many pixels the element's content is wider than the element."""
    return page.eval_on_selector(selector, "e => e.scrollWidth - e.clientWidth")


def test_report_fits_1366_and_draws_money_and_budget_use_apart(world, sign_in, live_server, shot):
    _paid_in_part(world)
    page = sign_in("mgr")
    page.set_viewport_size({"width": 1366, "height": 768})
    _report(page, live_server, world)

    charts_installed = page.locator("#report-charts").count() == 1
    if charts_installed:
        page.wait_for_function(
            "() => ['chart-money', 'chart-budget', 'chart-helped']"
            ".every(id => window.Chart && Chart.getChart(document.getElementById(id)))"
        )
        money = page.evaluate(
            "() => Chart.getChart(document.getElementById('chart-money'))"
            ".data.datasets.map(d => d.label)"
        )
        assert money == ["已发放金额", "待发放金额", "发放失败金额", "需求金额"]
        budget_axis = page.evaluate(
            "() => Chart.getChart(document.getElementById('chart-budget')).scales.y.max"
        )
        assert budget_axis <= 120  # percentages, not a budget in yuan
        helped_axis = page.evaluate(
            "() => Chart.getChart(document.getElementById('chart-helped'))"
            ".options.scales.x.title.text"
        )
        assert helped_axis == "困难类别"
    for table in ("#by-district", "#by-category"):
        assert _overflow(page, f"{table} >> xpath=..") <= 0, table
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    shot(page, "report-1366")

    page.set_viewport_size({"width": 390, "height": 844})
    _report(page, live_server, world)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "report-phone")


def test_tuition_report_axis_names_education_levels(world, sign_in, live_server, shot):
    page = sign_in("mgr")
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{live_server}/reports?campaign={world.campaigns['tuition'].id}")
    page.wait_for_selector("#by-category")
    assert page.locator("#by-category thead th").first.inner_text() == "学历层次"
    if page.locator("#report-charts").count():
        page.wait_for_function(
            "() => window.Chart && Chart.getChart(document.getElementById('chart-helped'))"
        )
        axis = page.evaluate(
            "() => Chart.getChart(document.getElementById('chart-helped'))"
            ".options.scales.x.title.text"
        )
        assert axis == "学历层次"
