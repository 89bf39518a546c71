"""The organisation and user import benchmark keeps working: a tiny SQLite run prints its
JSON line."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_orgs_benchmark_prints_its_figures_as_its_last_line():
    command = [sys.executable, str(ROOT / "bench" / "orgs.py"), "--sqlite-only"]
    command += ["--units", "120", "--users", "300", "--requests", "3"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    sqlite = figures["per_database"]["sqlite"]
    assert figures["databases"] == ["sqlite"]
    assert sqlite["counts"] == {"units": 120, "users": 301}  # and the first manager
    assert figures["tree_import_s"] > 0 and figures["users_import_s"] > 0
    assert 0 < sqlite["user_list_p50_ms"] <= figures["user_list_p95_ms"]
