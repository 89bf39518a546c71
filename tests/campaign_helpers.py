"""Helpers for campaign tests and the campaign benchmark: archived workers in bulk, and
approving and paying a launched campaign through the real services."""

import csv
import io

from sqlalchemy import insert, select
from stdnum import luhn
from stdnum.cn import ric

from workflows import privacy, tabular, tasks
from workflows.models import Case, HardshipRecord, HumanTask, PaymentLine

CATEGORIES = ("living", "medical", "schooling", "disaster", "other")


def worker_id(serial: int) -> str:
    # Region digits carry the thousands, so that 100,000 numbers stay distinct.
    body = (
        f"51{serial // 1000 % 100:02d}02{1960 + serial // 100000 % 40:04d}0101{serial % 1000:03d}"
    )
    return body + ric.calc_check_digit(body + "0")


def card(serial: int) -> str:
    prefix = f"62220203{serial:010d}"
    return prefix + luhn.calc_check_digit(prefix)


def archive_workers(session, org_ids: list[int], count: int, start: int = 0) -> list[int]:
    """`count` archived workers spread over `org_ids`, inserted in bulk (each with the
    closed archive case a record belongs to). Returns the record ids."""
    cases_rows, records = [], []
    keys = []
    for n in range(start, start + count):
        number = worker_id(n)
        keys.append((number, n))
    for number, n in keys:
        cases_rows.append(
            dict(
                programme="hardship_archive",
                org_id=org_ids[n % len(org_ids)],
                applicant_name=f"职工{n:05d}",
                subject_key=privacy.subject_key(number),
                subject_id_masked=privacy.mask_id(number),
                status="completed",
                outcome="end_archived",
                case_no=f"DA2026{900000 + n:06d}",
            )
        )
    session.execute(insert(Case), cases_rows)
    ids = dict(
        session.execute(
            select(Case.case_no, Case.id).where(
                Case.case_no.in_([r["case_no"] for r in cases_rows])
            )
        ).all()
    )
    for row, (_number, n) in zip(cases_rows, keys, strict=True):
        records.append(
            dict(
                case_id=ids[row["case_no"]],
                org_id=row["org_id"],
                subject_key=row["subject_key"],
                worker_name=row["applicant_name"],
                category=CATEGORIES[n % len(CATEGORIES)],
                status="archived",
                subject_id_masked=row["subject_id_masked"],
                bank_card=card(n),
                account_name=row["applicant_name"],
                phone="13800000000",
            )
        )
    session.execute(insert(HardshipRecord), records)
    session.commit()
    return list(session.scalars(select(HardshipRecord.id).order_by(HardshipRecord.id)))


def approve_all(session, users) -> int:
    """Every open approval task, approved by whichever of `users` may act on it, level by
    level until none is left. Returns how many approvals were made."""
    made = 0
    while True:
        progressed = False
        for user in users:
            ids = [t.id for t in tasks.list_tasks(session, user, "all", limit=100000)]
            ids = sorted(tasks.approval_task_ids(session, [session.get(HumanTask, i) for i in ids]))
            if not ids:
                continue
            results = []
            for start in range(0, len(ids), tasks.MAX_BATCH):
                results += tasks.approve_many(session, user, ids[start : start + tasks.MAX_BATCH])
            bad = [r for r in results if not r.ok]
            assert not bad, bad[:3]
            made += len(results)
            progressed = True
        if not progressed:
            return made


def result_file(session, batch_id: int, fail_every: int | None = None, fmt="csv") -> bytes:
    """The bank's answer for a batch: every `fail_every`-th line failed (card closed)."""
    lines = list(
        session.scalars(
            select(PaymentLine).where(PaymentLine.batch_id == batch_id).order_by(PaymentLine.seq)
        )
    )
    rows = []
    for line in lines:
        failed = fail_every is not None and line.seq % fail_every == 0
        rows.append(
            [
                line.reference,
                f"{line.amount_fen // 100}.{line.amount_fen % 100:02d}",
                "失败" if failed else "成功",
                "账户已销户" if failed else "",
            ]
        )
    header = ["参考号", "金额（元）", "状态", "原因"]
    if fmt == "xlsx":
        return tabular.write_xlsx([tabular.Column(title) for title in header], rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")
