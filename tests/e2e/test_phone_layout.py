"""A caseworker fills the home-visit form on a phone: one column, nothing wider than
the screen, every input reachable."""

from workflows import cases

VIEWPORT = {"width": 375, "height": 740}


def test_home_visit_form_fits_a_phone_screen(live_server, browser, world, shot):
    case = cases.start_case(
        world.session,
        world.user("cw1"),
        "tuition_grant",
        world.tuition_application(),
        world.campaigns["tuition"].id,
    )
    task = world.open_task(case, "home_visit_task")
    context = browser.new_context(locale="zh-CN", viewport=VIEWPORT, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(live_server + "/login")
    page.fill("input[name=username]", "cw1")
    page.fill("input[name=password]", "pw-cw1")
    page.click("button[type=submit]")
    page.goto(f"{live_server}/tasks/{task.id}")
    widest = page.evaluate("document.documentElement.scrollWidth")
    assert widest <= VIEWPORT["width"], f"page is {widest}px wide on a 375px phone"
    for field in ("#visit_date", "#visitors", "#household_situation", "#visit_verdict"):
        box = page.locator(field).bounding_box()
        assert box is not None and box["x"] >= 0
        assert box["x"] + box["width"] <= VIEWPORT["width"]
    submit = page.locator("button.submit").bounding_box()
    assert submit["height"] >= 40  # a thumb can hit it
    shot(page, "phone-home-visit")
    context.close()


PHONE = {"width": 390, "height": 844}

# Whether a table scrolls sideways inside its box, and the label a cell shows before its
# value (the column's name, from data-label) when the table is laid out as cards.
_FITS = "t => t.scrollWidth <= t.parentElement.clientWidth"
_LABEL = "td => getComputedStyle(td, '::before').content"


def test_a_case_s_tasks_and_payments_read_as_cards_on_a_phone(
    live_server, sign_in, world, clock, shot
):
    """The case page's open tasks and payments are one card per row on a phone, each value
    under its column's name; nothing to scroll sideways (a failed payment's reason is the
    longest line a caseworker meets there)."""
    from document_helpers import paid_tuition_cases, pay_batch

    started = paid_tuition_cases(world, clock, 2)
    pay_batch(world, fail_every=2)
    failed = next(c for c in started if world.refresh(c).status == "running")
    page = sign_in("cw1", width=PHONE["width"])
    page.goto(f"{live_server}/cases/{failed.id}")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for table, first_label in (("table.case-tasks", "环节"), ("table.case-payments", "状态")):
        assert page.locator(f"{table} thead").is_hidden()
        assert page.locator(table).evaluate(_FITS), f"{table} scrolls sideways on a phone"
        assert page.locator(f"{table} td").first.evaluate(_LABEL) == f'"{first_label}"'
    payment = page.locator("table.case-payments tr", has_text="发放失败")
    masked_card = payment.locator("td[data-label='银行卡号']").inner_text()
    assert masked_card.startswith("*") and masked_card[-4:].isdigit(), masked_card
    shot(page, "phone-case-tasks-payments")


def test_a_campaign_s_budget_table_reads_as_cards_on_a_phone(live_server, sign_in, world, shot):
    """A manager reads and sets the districts' budgets on a phone: one card per district,
    its new-budget box as wide as the card and big enough for a thumb."""
    campaign = world.campaigns["tuition"]
    page = sign_in("mgr", width=PHONE["width"])
    page.goto(f"{live_server}/campaigns/{campaign.id}")
    table = page.locator("table.budgets")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert table.evaluate(_FITS), "the budget table scrolls sideways on a phone"
    assert table.locator("td[data-label='剩余（元）']").first.evaluate(_LABEL) == '"剩余（元）"'
    box = table.locator("td.new-budget input").first.bounding_box()
    card = table.locator("tbody tr").first.bounding_box()
    assert box["height"] >= 40 and box["width"] >= card["width"] * 0.8
    shot(page, "phone-campaign-budgets")
