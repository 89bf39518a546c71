"""The benchmark keeps working: a tiny run prints its JSON line with every figure."""

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
