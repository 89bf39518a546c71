"""The load benchmark keeps working: a short run under gunicorn on a PostgreSQL database of
its own prints its JSON line, and loses nothing."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from workflows import db

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get(
    "LOAD_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _postgres_reachable() -> bool:
    engine = db.make_engine(ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


def test_short_load_run_reports_every_figure_and_loses_nothing():
    if importlib.util.find_spec("gunicorn") is None:
        pytest.skip("gunicorn is not installed (pip install -e '.[dev]')")
    if importlib.util.find_spec("psycopg") is None or not _postgres_reachable():
        pytest.skip(f"no PostgreSQL server to create a scratch database on ({ADMIN_URL})")
    command = [sys.executable, str(ROOT / "bench" / "load.py")]
    command += ["--users", "6", "--seconds", "4", "--cases", "60", "--workers", "2"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])

    assert figures["users"] == 6 and figures["web_workers"] == 2
    assert figures["requests_per_s"] > 0 and figures["completions"] > 0
    assert figures["completions_per_s"] > 0
    for kind in ("token", "list_group", "complete"):
        row = figures["latency"][kind]
        assert row["count"] > 0
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
    assert set(figures["errors"]) == {
        "conflict_409",
        "http_4xx",
        "http_5xx",
        "timeout",
        "connection",
    }
    assert figures["errors"]["http_5xx"] == 0 and figures["server_tracebacks"] == 0
    assert figures["answered_200"] == figures["completions"] == figures["completed_tasks"]
    assert figures["lost"] == figures["answered_twice"] == figures["audit_mismatch"] == 0
    assert figures["cases_advanced_wrongly"] == 0
    assert figures["ok"] is True
    # Ceilings at about ten times today's figures with 6 users on a loaded two-core machine
    # (32 requests and 10 approvals a second; p95 256 ms for a task list, 325 ms for an
    # approval; a token takes seconds on purpose: scrypt).
    assert figures["requests_per_s"] > 3 and figures["completions_per_s"] > 1
    assert figures["latency"]["list_group"]["p95_ms"] < 3_000
    assert figures["latency"]["complete"]["p95_ms"] < 3_500
