"""Benchmark: a 冬送温暖 campaign at city scale.

- launch: one case per archived worker (default 60,000) through `campaigns.run_launch`,
  each case run by SpiffWorkflow to its first wait (level-1 approval) and saved;
- export: the bank file for one batch of that many payments (CSV and XLSX);
- import: the bank's result file for it, 5% failed (CSV and XLSX), checked whole and
  recorded;
- deliver: moving real cases on after an import (the part that runs in the background),
  on a sample of approved cases.

Raw engine figure measured in the same run: bare SpiffWorkflow starting the same diagram
with the same data and running it to its first wait, then serializing it to JSON (the
least a durable start needs); `launch_ratio` = raw per second / warmflow per second.

The payments for export/import are inserted in bulk: approving 60,000 cases through the
engine would measure approvals, which bench/engine.py already does.

    python bench/campaign.py [--workers N] [--database-url URL]

The last line printed is one JSON object.
"""

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from campaign_helpers import approve_all, archive_workers, card, result_file  # noqa: E402
from SpiffWorkflow.bpmn import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment  # noqa: E402
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer  # noqa: E402
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser  # noqa: E402
from SpiffWorkflow.camunda.serializer import DEFAULT_CONFIG  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402
from sqlalchemy import func, insert, select, update  # noqa: E402

from workflows import batches, campaigns, db, migrate, processes, runtime, users  # noqa: E402
from workflows.models import (  # noqa: E402
    Campaign,
    CampaignBudget,
    Case,
    HumanTask,
    Payment,
    PaymentBatch,
    User,
)

STANDARDS = {"living": 100000, "medical": 300000, "schooling": 100000, "disaster": 200000}
STANDARDS["other"] = 50000


def setup(factory) -> dict:
    with factory() as session:
        processes.deploy_files(session, None, sorted((ROOT / "bpmn").glob("*.bpmn")))
        city = users.add_organisation(session, "nj", "内江市总工会")
        ids = {"city": city.id, "districts": [], "unions": []}
        people = {"mgr": ("manager", city), "fin": ("finance", city), "l3": ("approver_l3", city)}
        for d in range(3):
            district = users.add_organisation(session, f"d{d}", f"第{d + 1}区总工会", city)
            ids["districts"].append(district.id)
            people[f"l2_{d}"] = ("approver_l2", district)
            for u in range(2):
                union = users.add_organisation(
                    session, f"d{d}u{u}", f"第{d + 1}区第{u + 1}帮扶站", district
                )
                ids["unions"].append(union.id)
                people[f"l1_{d}_{u}"] = ("approver_l1", union)
        for name, (role, org) in people.items():
            users.add_user(session, name, "bench-password-1", name, org, [role], check_policy=False)
        campaign = Campaign(
            code="dsnw2026",
            name="2026年冬送温暖",
            programme="seasonal_aid",
            season="winter",
            year=2026,
            aid_kind="cash",
            owner_org_id=city.id,
            standards_json=json.dumps(STANDARDS),
            city_approval_threshold_fen=200000,
        )
        session.add(campaign)
        session.flush()
        for district in ids["districts"]:
            session.add(CampaignBudget(campaign_id=campaign.id, org_id=district, budget_fen=10**13))
        session.commit()
        ids["campaign"] = campaign.id
        ids["users"] = {u.username: u.id for u in session.scalars(select(User))}
    return ids


def timed_launch(factory, ids: dict) -> tuple[float, int]:
    with factory() as session:
        manager = session.get(User, ids["users"]["mgr"])
        launch = campaigns.start_launch(session, manager, ids["campaign"])
        launch_id = launch.id
    began = time.perf_counter()
    campaigns.run_launch(factory, launch_id)
    elapsed = time.perf_counter() - began
    with factory() as session:
        row = campaigns.get_launch(session, session.get(User, ids["users"]["mgr"]), launch_id)
        assert row.status == "done" and row.failed == 0, (row.status, row.message)
        return elapsed, row.created


def raw_launch_per_s(cases: int) -> float:
    """Bare SpiffWorkflow: start seasonal_aid with the same data, run to the first wait,
    serialize to JSON."""
    parser = CamundaParser()
    parser.add_bpmn_files([str(p) for p in sorted((ROOT / "bpmn").glob("*.bpmn"))])
    spec = parser.get_spec("seasonal_aid")
    subs = parser.get_subprocess_specs("seasonal_aid")
    engine = PythonScriptEngine(
        environment=TaskDataEnvironment(
            {
                "working_days_after": lambda n=0: "2026-12-31T00:00:00+08:00",
                "reserve_budget": lambda: None,
                "request_payment": lambda: None,
            }
        )
    )
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(DEFAULT_CONFIG))
    began = time.perf_counter()
    for n in range(cases):
        workflow = BpmnWorkflow(spec, subs, script_engine=engine)
        data = {
            "worker_name": f"职工{n:05d}",
            "hardship_category": "living",
            "bank_card": card(n),
            "account_name": f"职工{n:05d}",
            "phone": "13800000000",
            "amount_fen": 100000,
            "city_approval_threshold_fen": 200000,
            "aid_kind": "cash",
            "notice_days": 5,
        }
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)
        workflow.do_engine_steps()
        serializer.serialize_json(workflow)
    return cases / (time.perf_counter() - began)


def bulk_payments(factory, ids: dict) -> int:
    """A payable payment for every launched case (as if all were approved)."""
    with factory() as session:
        rows = session.execute(
            select(Case.id, Case.org_id, Case.amount_fen, Case.applicant_name).where(
                Case.campaign_id == ids["campaign"]
            )
        ).all()
        session.execute(
            insert(Payment),
            [
                dict(
                    case_id=case_id,
                    purpose="seasonal_aid",
                    org_id=org_id,
                    campaign_id=ids["campaign"],
                    amount_fen=amount,
                    account_name=name,
                    bank_card=card(case_id),
                )
                for case_id, org_id, amount, name in rows
            ],
        )
        session.commit()
        return len(rows)


def timed_money(factory, ids: dict) -> dict:
    figures = {}
    with factory() as session:
        fin = session.get(User, ids["users"]["fin"])
        began = time.perf_counter()
        batch = batches.build_batch(session, fin, ids["campaign"], ids["city"])
        figures["build_batch_s"] = time.perf_counter() - began
        for fmt in ("csv", "xlsx"):
            began = time.perf_counter()
            bank = batches.bank_file(session, fin, batch.id, fmt)
            figures[f"export_{fmt}_s"] = time.perf_counter() - began
            figures[f"export_{fmt}_bytes"] = len(bank.content)
        batches.mark_sent(session, fin, batch.id)
        csv_answer = result_file(session, batch.id, fail_every=20)
        xlsx_answer = result_file(session, batch.id, fail_every=20, fmt="xlsx")
        batch_id = batch.id
    # Import the XLSX answer first and time it; then, on a fresh copy of the batch state,
    # the CSV answer. Both must record every line.
    with factory() as session:
        fin = session.get(User, ids["users"]["fin"])
        began = time.perf_counter()
        report = batches.import_results(session, fin, batch_id, "result.xlsx", xlsx_answer)
        figures["import_xlsx_s"] = time.perf_counter() - began
        assert report.waiting == 0 and report.failed > 0, report
        lines = report.paid + report.failed
    with factory() as session:  # undo the answers so the CSV import does the same work
        from workflows.models import PaymentLine

        session.execute(
            update(PaymentLine).where(PaymentLine.batch_id == batch_id).values(result="", reason="")
        )
        session.execute(
            update(Payment)
            .where(Payment.batch_id == batch_id)
            .values(status="in_batch", delivery="", attempts=0)
        )
        session.execute(
            update(PaymentBatch)
            .where(PaymentBatch.id == batch_id)
            .values(status="sent", imported_files="", reconciled_at=None)
        )
        session.commit()
        fin = session.get(User, ids["users"]["fin"])
        began = time.perf_counter()
        report = batches.import_results(session, fin, batch_id, "result.csv", csv_answer)
        figures["import_csv_s"] = time.perf_counter() - began
        assert report.waiting == 0 and report.paid + report.failed == lines
        session.execute(update(Payment).values(delivery=""))  # these cases never got approved
        session.commit()
    figures["export_s"] = max(figures["export_csv_s"], figures["export_xlsx_s"])
    figures["import_s"] = max(figures["import_csv_s"], figures["import_xlsx_s"])
    figures["payments"] = lines
    return figures


def timed_delivery(factory, ids: dict, sample: int) -> float:
    """Launch `sample` more workers, approve them, pay them by batch, and time moving the
    cases on after the import."""
    with factory() as session:
        # The cases launched above were "paid" in bulk without approval: take their open
        # approvals off the lists so that only the sample is approved here.
        session.execute(update(HumanTask).values(status="cancelled"))
        session.commit()
        archive_workers(session, ids["unions"], sample, start=10**6)
    timed_launch(factory, ids)
    with factory() as session:
        approvers = [
            session.get(User, uid) for name, uid in ids["users"].items() if name.startswith("l")
        ]
        approve_all(session, approvers)
        fin = session.get(User, ids["users"]["fin"])
        batch = batches.build_batch(session, fin, ids["campaign"], ids["city"])
        batches.mark_sent(session, fin, batch.id)
        answer = result_file(session, batch.id, fail_every=20)
        batches.import_results(session, fin, batch.id, "r.csv", answer)
        began = time.perf_counter()
        delivered = batches.deliver_results(session)
        elapsed = time.perf_counter() - began
        assert delivered == batch.line_count, (delivered, batch.line_count)
        open_corrections = session.scalar(
            select(func.count(HumanTask.id)).where(
                HumanTask.element_id == "correct_bank_card", HumanTask.status == "open"
            )
        )
        assert open_corrections == batch.line_count // 20
    return delivered / elapsed


def main() -> None:
    runtime.tune_gc()  # as the web app and the worker run
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=60000)
    parser.add_argument("--sample", type=int, default=200, help="cases for the delivery rate")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    logging.getLogger("spiff").setLevel(logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.sqlite"
        engine = db.make_engine(url)
        if engine.dialect.name == "postgresql":
            from sqlalchemy import text

            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        migrate.upgrade(engine)
        factory = db.make_session_factory(engine)
        ids = setup(factory)
        with factory() as session:
            archive_workers(session, ids["unions"], args.workers)

        launch_s, created = timed_launch(factory, ids)
        assert created == args.workers, created
        launch_per_s = created / launch_s
        raw_per_s = raw_launch_per_s(min(args.workers, 2000))
        print(f"launch: {created} cases in {launch_s:.1f} s, {launch_per_s:.0f}/s")
        print(f"raw SpiffWorkflow start + serialize: {raw_per_s:.0f}/s")

        bulk_payments(factory, ids)
        money = timed_money(factory, ids)
        print(
            f"bank file for {money['payments']} payments: CSV {money['export_csv_s']:.2f} s, "
            f"XLSX {money['export_xlsx_s']:.2f} s; result import: CSV "
            f"{money['import_csv_s']:.2f} s, XLSX {money['import_xlsx_s']:.2f} s"
        )
        deliver_per_s = timed_delivery(factory, ids, args.sample)
        print(f"moving cases on after an import: {deliver_per_s:.0f}/s")
        engine.dispose()

    figures = {
        "database": engine.dialect.name,
        "workers": args.workers,
        "launch_per_s": round(launch_per_s, 1),
        "raw_launch_per_s": round(raw_per_s, 1),
        "launch_ratio": round(raw_per_s / launch_per_s, 3),
        "build_batch_s": round(money["build_batch_s"], 3),
        "export_s": round(money["export_s"], 3),
        "export_csv_s": round(money["export_csv_s"], 3),
        "export_xlsx_s": round(money["export_xlsx_s"], 3),
        "import_s": round(money["import_s"], 3),
        "import_csv_s": round(money["import_csv_s"], 3),
        "import_xlsx_s": round(money["import_xlsx_s"], 3),
        "deliver_per_s": round(deliver_per_s, 1),
    }
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
