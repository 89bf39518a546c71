"""Production installs warmflow from a wheel: build one from the sources, install it into a
scratch folder, and from a directory outside the source tree serve a page (templates,
static files and bundles, the English catalogue) and run `init-db` (migrations, and the
diagrams it deploys), all from the wheel. Runs once, in the SQLite pass."""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from conftest import BUNDLES, ROOT, require_bundles
from served import Client, free_port, start, user_env, wait_until

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL")),
    reason="builds and installs a wheel on a SQLite file of its own: once, in the SQLite pass",
)
# What a checkout holds that the build reads (the compiled catalogue is left behind: the
# build must make its own).
SOURCES = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "bpmn", "workflows", "webapp"]
LEFT_BEHIND = shutil.ignore_patterns("__pycache__", "*.pyc", "*.mo", "build", "*.egg-info")


def run(command: list, cwd, env=None, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(  # noqa: S603 - our own command lines
        [str(c) for c in command],
        cwd=cwd,
        env=env or user_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from a copy of the sources, installed into its own folder."""
    require_bundles()  # the wheel must carry them; a machine without npm cannot build them
    scratch = tmp_path_factory.mktemp("package")
    source = scratch / "source"
    source.mkdir()
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=LEFT_BEHIND)
        else:
            shutil.copy2(origin, source / name)
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", scratch / "dist", "./source"],
        scratch,
    )
    (wheel,) = (scratch / "dist").glob("warmflow-*.whl")
    site = scratch / "site"
    run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", site, wheel],
        scratch,
    )
    workdir = scratch / "run"
    workdir.mkdir()
    return wheel, site, workdir


def test_the_wheel_carries_templates_static_files_translations_and_diagrams(installed):
    wheel, _, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "webapp/templates/base.html",
        "webapp/templates/tasks/show.html",
        "webapp/static/app.css",
        "webapp/translations/en/LC_MESSAGES/messages.mo",
        "workflows/migrations/env.py",
        "workflows/demo_files/housing_outside.jpg",
        *(f"workflows/bpmn/{p.name}" for p in (ROOT / "bpmn").glob("*.bpmn")),
        *(str(path.relative_to(ROOT)) for path in BUNDLES.values()),
    ):
        assert expected in names, expected
    assert not any(name.startswith(("tests/", "bench/", "frontend/")) for name in names)


def test_an_installed_wheel_serves_pages_and_sets_up_its_database(installed):
    _, site, workdir = installed
    env = user_env(PYTHONPATH=str(site))
    where = run(
        [
            sys.executable,
            "-c",
            "import workflows.cli as c, webapp; print(c.__file__);"
            " print(webapp.__file__); print(c.bpmn_dir())",
        ],
        workdir,
        env,
    ).stdout.split()
    assert all(line.startswith(str(site)) for line in where), where

    migrated = run([sys.executable, "-m", "workflows.cli", "init-db"], workdir, env)
    assert migrated.stdout.count("（新版本）") == 8, migrated.stdout
    assert (workdir / "instance" / "warmflow.sqlite").is_file()

    port = free_port()
    web = start(
        [sys.executable, "-m", "flask", "--app", "webapp:create_app()", "run"]
        + ["--host", "127.0.0.1", "--port", str(port)],
        workdir,
        {**env, "WARMFLOW_INSECURE_COOKIES": "1"},
        "web",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: Client(base).get("/healthz").status == 200, 60), web.output()
        page = Client(base).get("/login")
        assert page.status == 200 and "<h1>登录</h1>" in page.text
        english = Client(base).get("/login?lang=en")
        assert english.status == 200 and "Sign in" in english.text
        for path in ("/static/app.css", "/static/vendor/bpmn-js/bpmn-viewer.production.min.js"):
            assert Client(base).get(path).status == 200, path
        notices = Client(base).get("/notices")
        assert notices.status == 200 and "公示" in notices.text
    finally:
        web.stop()
    assert "Traceback" not in web.output()
