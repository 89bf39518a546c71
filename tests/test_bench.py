"""The benchmarks keep working: a tiny run prints its JSON line with every figure, and each
figure stays under a generous ceiling, about ten times what it measures today on a busy
two-core machine (figures in bench/ and the README): a tenfold regression fails. Where a
benchmark measures the raw engine in the same run, the ceiling is on the ratio, which a
slow or loaded machine changes little."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_engine_benchmark_prints_all_figures_as_its_last_line():
    command = [sys.executable, str(ROOT / "bench" / "engine.py"), "--cases", "2"]
    run = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    for key in ("ms_per_task", "raw_ms_per_task", "ratio", "state_bytes_per_case"):
        assert figures[key] > 0
    # The printed figures are rounded to 3 places; the ratio comes from the unrounded ones.
    assert abs(figures["ratio"] - figures["ms_per_task"] / figures["raw_ms_per_task"]) < 0.005
    # Today 1.5 (20 cases, idle) to 4.7 (2 cases, load 9): a step through warmflow costs
    # a few raw engine steps with a JSON round trip.
    assert figures["ratio"] < 15
    assert figures["state_bytes_per_case"] < 7_000  # today 716


def test_campaign_benchmark_prints_all_figures_as_its_last_line():
    command = [
        sys.executable,
        str(ROOT / "bench" / "campaign.py"),
        "--workers",
        "40",
        "--sample",
        "20",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    for key in ("launch_per_s", "raw_launch_per_s", "export_s", "import_s", "deliver_per_s"):
        assert figures[key] > 0
    assert figures["workers"] == 40
    assert (
        abs(figures["launch_ratio"] - figures["raw_launch_per_s"] / figures["launch_per_s"]) < 0.01
    )
    # Today: the launch outruns bare SpiffWorkflow (ratio 0.36 to 0.8); 40 lines export in
    # 0.15 s and import in 0.013 s; cases move on at 84 to 215 a second.
    assert figures["launch_ratio"] < 8
    assert figures["export_s"] < 1.5 and figures["import_s"] < 0.5
    assert figures["deliver_per_s"] > 8


def test_demo_benchmark_prints_its_figures_and_the_seed_stays_lean():
    command = [sys.executable, str(ROOT / "bench" / "demo.py"), "--runs", "1", "--archive", "6"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert figures["cases"] >= 30 and figures["archived_workers"] == 7
    assert figures["logins"] == 21 and figures["seed_s"] > 0  # 21: manager.szq too
    # The seed's SQL, counted (not timed): today 62 statements per case.
    assert figures["statements_per_case"] < 600
