"""Browser tests: the app served on a loopback port from this process (so time-machine
moves its clock too), driven by Playwright in Debian's Chromium.

Chromium comes from Debian (`apt-get install chromium fonts-wqy-microhei`; .ci/run does
it); without it these tests are skipped with that reason. Screenshots go to
tests/e2e/artifacts/ (ignored by git).
"""

import os
import shutil
import threading
from pathlib import Path

import pytest
from conftest import skip_or_fail
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("WARMFLOW_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"

if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
    skip_or_fail(  # in CI (.ci/run installs it) a missing browser fails
        f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium fonts-wqy-microhei)",
        module=True,
    )

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture
def shot():
    """shot(page, "name") saves a full-page screenshot under tests/e2e/artifacts/."""

    def take(page, name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    return take


@pytest.fixture
def sign_in(browser, live_server):
    """sign_in("cw1") → a page in its own browser context, signed in as that world user;
    sign_in("cw1", width=390) on a phone's screen."""
    contexts = []

    def open_as(username: str, width: int = 1280):
        phone = width < 600
        context = browser.new_context(
            locale="zh-CN",
            viewport={"width": width, "height": 844 if phone else 900},
            is_mobile=phone,
            has_touch=phone,
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(live_server + "/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", "pw-" + username)
        page.click("button[type=submit]")
        page.wait_for_url(live_server + "/")
        return page

    yield open_as
    for context in contexts:
        context.close()
