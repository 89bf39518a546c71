"""Benchmark: loading a federation's existing 困难职工档案 and reading it back.

- import: a CSV of N workers (default 60,000, every line valid) through the service the
  page and `warmflow import-archive` use: the whole file checked (ID check digits, keyed
  hashes, duplicates in the file and against the archive), then confirmed and applied in
  chunks with numbers encrypted. `archive_import_s` is preview + run, the time a manager
  waits in all;
- list and search at M records (default 100,000; the rest loaded by a second file): the
  archive list's first page with its count, a later page, filters (category, 待回头看),
  for a city manager, a district approver and a union caseworker; and searches by name and
  by whole ID number. p95 over the repeated queries.

    python bench/archive.py [--workers N] [--records M] [--repeat R]
                            [--postgres-url postgresql://postgres@127.0.0.1:5432/NAME]

Without --postgres-url (or BENCH_POSTGRES_URL) only SQLite runs. The last line printed is
one JSON object: per database `<db>_archive_import_s`, `<db>_archive_list_p95_ms`,
`<db>_archive_search_p95_ms`, and the worst of them as `archive_import_s` and
`archive_list_p95_ms`.
"""

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from archive_helpers import csv_bytes, worker_row  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from workflows import archive, archive_import, db, migrate, privacy, processes, runtime, users  # noqa: E402
from workflows.models import HardshipRecord, User  # noqa: E402


def log(message: str) -> None:
    print(message, flush=True)


def setup(factory) -> dict:
    with factory() as session:
        processes.deploy_files(session, None, sorted((ROOT / "bpmn").glob("*.bpmn")))
        city = users.add_organisation(session, "nj", "内江市总工会")
        unions = []
        people = {"mgr": ("manager", city)}
        for d in range(3):
            district = users.add_organisation(session, f"d{d}", f"第{d + 1}区总工会", city)
            people[f"l2_{d}"] = ("approver_l2", district)
            for u in range(2):
                union = users.add_organisation(
                    session, f"d{d}u{u}", f"第{d + 1}区第{u + 1}帮扶站", district
                )
                unions.append(union.code)
                people[f"cw_{d}_{u}"] = ("caseworker", union)
        for name, (role, org) in people.items():
            users.add_user(session, name, "bench-password-1", name, org, [role], check_policy=False)
        session.commit()
    return {"unions": unions}


def archive_file(start: int, count: int, unions: list[str]) -> bytes:
    rows = [
        worker_row(serial, org_code=unions[serial % len(unions)])
        for serial in range(start, start + count)
    ]
    return csv_bytes(rows)


def timed_import(factory, content: bytes, filename: str) -> dict:
    with factory() as session:
        manager = session.scalar(select(User).where(User.username == "mgr"))
        began = time.perf_counter()
        row = archive_import.preview(session, manager, filename, content)
        preview_s = time.perf_counter() - began
        report = archive_import.report(row)
        assert report["bad"] == 0, report["lines"][:5]
        archive_import.confirm(session, manager, row.id)
        import_id = row.id
    began = time.perf_counter()
    archive_import.run_import(factory, import_id)
    run_s = time.perf_counter() - began
    with factory() as session:
        done = session.get(archive_import.ArchiveImport, import_id)
        assert done.status == "done", done.message
        imported = done.imported
    return {"preview_s": preview_s, "run_s": run_s, "imported": imported}


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def timed_reads(factory, repeat: int, id_number: str) -> dict:
    """Milliseconds per archive.search call (count and page, as the page runs it)."""
    lists: list[float] = []
    searches: list[float] = []
    with factory() as session:
        people = {
            name: session.scalar(select(User).where(User.username == name))
            for name in ("mgr", "l2_1", "cw_2_1")
        }
        listing = [
            archive.ArchiveCriteria(),
            archive.ArchiveCriteria(category="medical"),
            archive.ArchiveCriteria(status="due", due_days=400),
            archive.ArchiveCriteria(status="archived", sort="valid_until"),
            archive.ArchiveCriteria(sort="name"),
        ]
        finding = [
            archive.ArchiveCriteria(name="王"),
            archive.ArchiveCriteria(name="李芳"),
            archive.ArchiveCriteria(subject_key=privacy.subject_key(id_number)),
        ]
        for _ in range(repeat):
            for user in people.values():
                for criteria in listing:
                    for offset in (0, 1000):
                        began = time.perf_counter()
                        archive.search(session, user, criteria, 20, offset)
                        lists.append((time.perf_counter() - began) * 1000)
                for criteria in finding:
                    began = time.perf_counter()
                    page = archive.search(session, user, criteria, 20, 0)
                    searches.append((time.perf_counter() - began) * 1000)
                    if criteria.subject_key and user.username == "mgr":
                        assert page.total == 1, page.total
            session.rollback()
    return {
        "list_p95_ms": p95(lists),
        "list_median_ms": statistics.median(lists),
        "search_p95_ms": p95(searches),
        "search_median_ms": statistics.median(searches),
        "queries": len(lists) + len(searches),
    }


def run(url: str, args) -> dict:
    log(f"== {make_url(url).render_as_string(hide_password=True)}")
    processes.forget_versions()
    engine = db.make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(engine)
    factory = db.make_session_factory(engine)
    ids = setup(factory)
    began = time.perf_counter()
    content = archive_file(1, args.workers, ids["unions"])
    log(
        f"  file of {args.workers} workers: {len(content) / 1e6:.1f} MB, made in "
        f"{time.perf_counter() - began:.1f} s"
    )
    first = timed_import(factory, content, "archive.csv")
    import_s = first["preview_s"] + first["run_s"]
    log(
        f"  import: {first['imported']} workers in {import_s:.1f} s "
        f"(preview {first['preview_s']:.1f} s, run {first['run_s']:.1f} s)"
    )
    rest = args.records - args.workers
    if rest > 0:
        more = timed_import(factory, archive_file(args.workers + 1, rest, ids["unions"]), "b.csv")
        log(f"  second file: {more['imported']} in {more['preview_s'] + more['run_s']:.1f} s")
    if engine.dialect.name == "postgresql":
        # What autovacuum does soon after a large insert (its insert threshold): the
        # visibility map lets counts read the indexes alone. Imports ANALYZE themselves.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM hardship_record"))
    with factory() as session:
        total = session.scalar(select(func.count(HardshipRecord.id)))
    reads = timed_reads(factory, args.repeat, worker_row(7)["身份证号"])
    log(
        f"  {total} records: list p95 {reads['list_p95_ms']:.1f} ms "
        f"(median {reads['list_median_ms']:.1f}), search p95 {reads['search_p95_ms']:.1f} ms "
        f"(median {reads['search_median_ms']:.1f}), {reads['queries']} queries"
    )
    engine.dispose()
    return {
        "records": total,
        "archive_import_s": round(import_s, 2),
        "archive_preview_s": round(first["preview_s"], 2),
        "archive_run_s": round(first["run_s"], 2),
        "archive_list_p95_ms": round(reads["list_p95_ms"], 1),
        "archive_search_p95_ms": round(reads["search_p95_ms"], 1),
    }


def main() -> None:
    runtime.tune_gc()  # as the web app and the worker run
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=60000)
    parser.add_argument("--records", type=int, default=100000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL"))
    args = parser.parse_args()
    logging.getLogger("spiff").setLevel(logging.WARNING)
    logging.getLogger("workflows.crypto").setLevel(logging.ERROR)
    figures: dict = {"workers": args.workers}
    with tempfile.TemporaryDirectory() as tmp:
        urls = {"sqlite": f"sqlite:///{tmp}/bench.sqlite"}
        if args.postgres_url:
            urls["postgresql"] = args.postgres_url
        for name, url in urls.items():
            for key, value in run(url, args).items():
                figures[f"{name}_{key}"] = value
    names = list(urls)
    figures["archive_import_s"] = max(figures[f"{n}_archive_import_s"] for n in names)
    figures["archive_list_p95_ms"] = max(figures[f"{n}_archive_list_p95_ms"] for n in names)
    figures["archive_search_p95_ms"] = max(figures[f"{n}_archive_search_p95_ms"] for n in names)
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
