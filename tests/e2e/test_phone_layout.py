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
