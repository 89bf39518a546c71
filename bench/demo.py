"""Benchmark: seeding the demo (`warmflow init-db --demo`'s `demo.seed`) on a fresh database.

Migrates and deploys `bpmn/` first (not timed), then times `demo.seed` alone and counts the
SQL statements it sends. The seed replays weeks of case work through the real services, so
this is the time `make run` spends before it serves.

    python bench/demo.py [--database-url URL] [--runs N] [--archive N]

The last line printed is one JSON object: the seed's wall-clock seconds (best and median
of the runs), its statement count, and what it built.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, func, select, text  # noqa: E402

from workflows import db, demo, migrate, processes, runtime  # noqa: E402
from workflows.models import Case, HardshipRecord, User  # noqa: E402


def _fresh(url: str):
    engine = db.make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(engine)
    factory = db.make_session_factory(engine)
    with factory() as session:
        processes.deploy_files(session, None, sorted((ROOT / "bpmn").glob("*.bpmn")))
    return engine, factory


def one_run(url: str, archive: int) -> dict:
    engine, factory = _fresh(url)
    statements = [0]

    def count(*_args) -> None:
        statements[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    processes.forget_versions()  # as a fresh `warmflow init-db` process would start
    with factory() as session:
        started = time.perf_counter()
        demo.seed(session, archive)
        seconds = time.perf_counter() - started
    event.remove(engine, "before_cursor_execute", count)
    with factory() as session:
        built = {
            "cases": session.scalar(select(func.count(Case.id))),
            "archived_workers": session.scalar(
                select(func.count(HardshipRecord.id)).where(HardshipRecord.status == "archived")
            ),
            "logins": session.scalar(select(func.count(User.id))),
        }
    engine.dispose()
    return {"seconds": seconds, "statements": statements[0], **built}


def main() -> None:
    runtime.tune_gc()  # as the web app and the worker run
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a scratch SQLite file")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--archive", type=int, default=demo.ARCHIVE_DRIVE, help="workers of the archive drive"
    )
    args = parser.parse_args()
    os.environ.setdefault("WARMFLOW_FILES_DIR", tempfile.mkdtemp(prefix="warmflow-demo-files-"))
    runs = []
    for n in range(args.runs):
        if args.database_url:
            url = args.database_url
        else:
            url = f"sqlite:///{tempfile.mkdtemp(prefix='warmflow-demo-')}/demo{n}.sqlite"
        runs.append(one_run(url, args.archive))
        print(f"run {n + 1}: {runs[-1]['seconds']:.2f} s, {runs[-1]['statements']} statements")
    seconds = [r["seconds"] for r in runs]
    last = runs[-1]
    print(
        json.dumps(
            {
                "seed_s": round(min(seconds), 3),
                "seed_median_s": round(statistics.median(seconds), 3),
                "statements": last["statements"],
                "statements_per_case": round(last["statements"] / last["cases"], 1),
                "cases": last["cases"],
                "archived_workers": last["archived_workers"],
                "logins": last["logins"],
                "runs": len(runs),
            }
        )
    )


if __name__ == "__main__":
    main()
