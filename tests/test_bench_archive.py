"""bench/archive.py keeps working: a tiny run prints its JSON line with every figure."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_archive_benchmark_prints_all_figures_as_its_last_line():
    command = [
        sys.executable,
        str(ROOT / "bench" / "archive.py"),
        *("--workers", "200", "--records", "300", "--repeat", "1"),
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert figures["sqlite_records"] == 300
    for key in ("archive_import_s", "archive_list_p95_ms", "archive_search_p95_ms"):
        assert figures[key] > 0
    # A tenfold regression fails (60,000 workers import in ~12 s: 200 in well under 5 s).
    assert figures["archive_import_s"] < 5
