"""The collector's thresholds are the web app's, the worker's and the CLI's alike
(workflows/runtime.py), and the benchmarks run with them too."""

import gc
import re
from pathlib import Path

import pytest

from workflows import runtime

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def default_thresholds():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_the_web_app_sets_the_collectors_thresholds(default_thresholds, tmp_path):
    from webapp import create_app

    create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite'}", "SECRET_KEY": "x"})
    assert gc.get_threshold() == runtime.GC_THRESHOLDS


def test_the_command_line_sets_the_collectors_thresholds(default_thresholds, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from workflows import cli

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite'}")
    assert CliRunner().invoke(cli.main, ["migrate"]).exit_code == 0
    assert gc.get_threshold() == runtime.GC_THRESHOLDS


def test_every_benchmark_runs_with_the_services_thresholds():
    for script in sorted((ROOT / "bench").glob("*.py")):
        text = script.read_text(encoding="utf-8")
        main = re.search(r"^def main\(\) -> None:\n(.*)$", text, re.MULTILINE)
        if main is None:
            continue  # a helper module, not a benchmark
        assert main.group(1).strip().startswith("runtime.tune_gc()"), script.name
