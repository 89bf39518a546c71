"""In a real browser: the login page is Chinese and signing in reaches the start page."""


def test_caseworker_signs_in_and_sees_the_start_page_in_chinese(live_server, page, world, shot):
    page.goto(live_server + "/")
    assert page.url.endswith("/login")
    assert page.locator("h1").inner_text() == "登录"
    shot(page, "login")
    page.fill("input[name=username]", "cw1")
    page.fill("input[name=password]", "pw-cw1")
    page.click("button[type=submit]")
    page.wait_for_url(live_server + "/")
    assert "您好，张经办" in page.locator("h1").inner_text()
    shot(page, "start-page")
