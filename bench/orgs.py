"""Benchmark: a real federation's day one at scale — importing a tree of 3,000 units and
10,000 users from files, and 用户管理's user list at that size.

On a fresh database (the city federation and its first manager made as `/setup` does):

- the unit file (CSV: 上级单位代码, 单位代码, 单位名称, 层级) of N units — districts and
  their grassroots unions — imported through `organisations.import_tree` (the whole file
  checked, then applied), then the same file again (nothing changes);
- the user file (CSV: 用户名, 姓名, 单位代码, 角色, 手机号) of M users imported through
  `user_admin.import_users` (checked, then applied, each with a one-time password), then
  again (nothing changes);
- the user list: GET /users through the Flask app in-process (WSGI test client, no
  socket), as the city manager and as a district manager, plain, searched by name, by
  unit with its subtree, by role and a later page, and GET /api/v1/users; p50/p95.

By default on a fresh SQLite file and on a PostgreSQL database of its own (created and
dropped by the script, never `test`):

    python bench/orgs.py [--units N] [--users M] [--requests R] [--sqlite-only]
                         [--postgres-url postgresql://postgres@127.0.0.1:5432/NAME]

The last line printed is one JSON object; import times are in seconds, list times in ms,
the worse of the databases first.
"""

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sqlalchemy import func, select  # noqa: E402
from tasklist import own_postgres  # noqa: E402

from workflows import db, first_run, migrate, organisations, runtime, user_admin  # noqa: E402
from workflows.models import Organisation, User  # noqa: E402

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/warmflow_bench_orgs"
PASSWORD = "Bench-Federation-2026"
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def figures(times: list[float]) -> dict:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(p95 * 1000, 1),
    }


def tree_file(units: int) -> tuple[bytes, list[str], list[str]]:
    """About one district per 75 units; the rest grassroots unions spread over them."""
    districts = max(1, units // 75)
    lines = ["上级单位代码,单位代码,单位名称,层级"]
    district_codes = [f"d{i:03d}" for i in range(districts)]
    for i, code in enumerate(district_codes):
        lines.append(f"city,{code},第{i + 1}区总工会,2")
    unions = []
    for i in range(units - districts):
        code = f"u{i:05d}"
        parent = district_codes[i % districts]
        kind = "帮扶站" if i % 3 == 0 else "企业工会"
        lines.append(f"{parent},{code},第{i + 1}{kind},3")
        unions.append(code)
    return ("\n".join(lines) + "\n").encode("utf-8"), district_codes, unions


def user_file(count: int, districts: list[str], unions: list[str]) -> bytes:
    lines = ["用户名,姓名,单位代码,角色,手机号"]
    for i in range(count):
        name = SURNAMES[i % len(SURNAMES)] + GIVEN[(i // 7) % len(GIVEN)] + GIVEN[i % len(GIVEN)]
        if i % 20 == 0:
            unit, roles = districts[(i // 20) % len(districts)], "县（区）总工会审批人"
        elif i % 3 == 0:
            unit, roles = unions[i % len(unions)], "经办人、基层工会审批人"
        elif i % 3 == 1:
            unit, roles = unions[i % len(unions)], "经办人"
        else:
            unit, roles = unions[i % len(unions)], "基层工会审批人"
        lines.append(f"user{i:05d},{name},{unit},{roles},138{i:08d}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def timed(work):
    start = time.perf_counter()
    result = work()
    return result, time.perf_counter() - start


def run(url: str, args) -> dict:
    kind = "postgresql" if url.startswith("postgresql") else "sqlite"
    log(f"--- {kind}")
    engine = db.make_engine(url)
    migrate.upgrade(engine)
    factory = db.make_session_factory(engine)
    with factory() as session:
        first_run.create_federation(
            session, "city", "第一市总工会", "admin.city", "市管理", PASSWORD
        )
    tree, districts, unions = tree_file(args.units - 1)  # the city itself is the 1st unit
    people = user_file(args.users, districts, unions)

    with factory() as session:
        manager = session.scalars(select(User).where(User.username == "admin.city")).one()
        result, tree_s = timed(
            lambda: organisations.import_tree(session, manager, "units.csv", tree)
        )
        log(f"units: {result.created} created in {tree_s:.2f} s")
        again, tree_again_s = timed(
            lambda: organisations.import_tree(session, manager, "units.csv", tree)
        )
        assert again.created == 0 and again.renamed == 0, again
        made, users_s = timed(
            lambda: user_admin.import_users(session, manager, "users.csv", people)
        )
        log(f"users: {len(made.created)} created in {users_s:.2f} s")
        same, users_again_s = timed(
            lambda: user_admin.import_users(session, manager, "users.csv", people)
        )
        assert not same.created and same.unchanged == args.users, same.unchanged
        counts = {
            "units": session.scalar(select(func.count()).select_from(Organisation)),
            "users": session.scalar(select(func.count()).select_from(User)),
        }
        district = session.scalars(
            select(Organisation).where(Organisation.code == districts[0])
        ).one()
        district_id = district.id
        # A district's own manager, for the scoped list.
        dm, dm_password = user_admin.create_user(
            session, manager, "admin.d000", "区管理", district_id, ["manager"]
        )
        dm.must_change_password = False
        session.commit()

    os.environ["DATABASE_URL"] = url
    from webapp import create_app

    app = create_app(
        {"TESTING": True, "SECRET_KEY": "bench", "DATABASE_URL": url, "RATELIMIT_ENABLED": False}
    )
    lists: dict[str, dict] = {}
    every: list[float] = []
    for who, password in (("admin.city", PASSWORD), ("admin.d000", dm_password)):
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        signed_in = client.post(
            "/login", data={"username": who, "password": password, "csrf_token": token}
        )
        assert signed_in.status_code == 302, who
        urls = [
            "/users",
            "/users?q=王",
            f"/users?org_id={district_id}",
            "/users?role=caseworker&status=active",
            "/users?offset=4000",
        ]
        for path in urls:
            client.get(path)  # warm-up
            times = []
            for _ in range(args.requests):
                start = time.perf_counter()
                answer = client.get(path)
                times.append(time.perf_counter() - start)
                assert answer.status_code == 200, (path, answer.status_code)
            lists[f"{who} {path}"] = figures(times)
            every += times
    api = app.test_client()
    token = api.post("/api/v1/token", json={"username": "admin.city", "password": PASSWORD})
    headers = {"Authorization": "Bearer " + token.get_json()["token"]}
    times = []
    for i in range(args.requests):
        start = time.perf_counter()
        answer = api.get(f"/api/v1/users?limit=50&offset={i * 50}", headers=headers)
        times.append(time.perf_counter() - start)
        assert answer.status_code == 200
    lists["api /api/v1/users"] = figures(times)
    every += times
    overall = figures(every)
    log(f"user list: p50 {overall['p50_ms']} ms, p95 {overall['p95_ms']} ms")
    engine.dispose()
    return {
        "database": kind,
        "tree_import_s": round(tree_s, 2),
        "tree_reimport_s": round(tree_again_s, 2),
        "users_import_s": round(users_s, 2),
        "users_reimport_s": round(users_again_s, 2),
        "user_list_p50_ms": overall["p50_ms"],
        "user_list_p95_ms": overall["p95_ms"],
        "counts": counts,
        "lists": lists,
    }


def main() -> None:
    runtime.tune_gc()  # as the web app and the worker run
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=3000, help="units in the tree, city included")
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=40, help="GETs per list page")
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="warmflow-bench-orgs-") as tmp:
        os.environ.setdefault("WARMFLOW_FILES_DIR", os.path.join(tmp, "files"))
        runs.append(run(f"sqlite:///{tmp}/orgs.sqlite", args))
        if not args.sqlite_only:
            drop = own_postgres(args.postgres_url)
            try:
                runs.append(run(args.postgres_url, args))
            finally:
                drop()
    result = {
        "units": args.units,
        "users": args.users,
        "databases": [r["database"] for r in runs],
        "tree_import_s": max(r["tree_import_s"] for r in runs),
        "users_import_s": max(r["users_import_s"] for r in runs),
        "user_list_p95_ms": max(r["user_list_p95_ms"] for r in runs),
        "per_database": {r["database"]: r for r in runs},
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
