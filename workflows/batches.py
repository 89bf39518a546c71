"""Bank disbursement batches: build a batch from payable payments, hand the bank its file,
import the bank's answer, and tell each case (DESIGN.md "Money").

    payable ──build──▶ in_batch ──import──▶ paid
                                       └──▶ failed ──更正银行卡──▶ payable (a later batch)

A batch moves draft → sent → reconciled. Every line of a bank file is a `payment_line`
with its own reference, so the bank's answer is matched to exactly what was sent. An
import is checked whole before anything changes: one unknown reference, changed amount
or line of another batch refuses the file, with the bad lines listed. Importing the same
answer again changes nothing.

Recording the answer is a few bulk statements (60,000 lines in seconds); moving each
case on (the `payment_result` message to its workflow) happens afterwards, many cases per
transaction, each in its own savepoint, in `deliver_results` (run by the web app after an
import and by the worker), so a slow or failing case never holds up the money's record.
"""

import logging
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.exc import StaleDataError

from workflows import access, campaigns, engine, fold, payments, tabular, workdays
from workflows.audit import record
from workflows.budgets import yuan
from workflows.clock import CST, now
from workflows.errors import Conflict, Forbidden, NotFound, ValidationFailed, WarmflowError
from workflows.models import (
    Campaign,
    Case,
    HumanTask,
    Organisation,
    Payment,
    PaymentBatch,
    PaymentLine,
    ProcessInstance,
    User,
)

log = logging.getLogger(__name__)

BATCH_STATUS_LABELS = {"draft": "待发送", "sent": "已发送银行", "reconciled": "已对账"}
LINE_RESULT_LABELS = {"": "等待银行结果", "paid": "成功", "failed": "失败"}
BANK_COLUMNS = [
    tabular.Column("序号", tabular.INTEGER),
    tabular.Column("户名"),
    tabular.Column("卡号"),  # text: a card number stays whole, never 6.22E+18
    tabular.Column("金额（元）", tabular.MONEY, total=True),
    tabular.Column("用途"),
    tabular.Column("参考号"),
]
BANK_FILE_HEADER = [c.title for c in BANK_COLUMNS]
MAX_RESULT_FILE = 20 * 1024 * 1024
CHUNK = 900  # ids per IN (...): under SQLite's variable limit

# Column names the bank's result file may use, and the words for its two answers.
RESULT_COLUMNS = {
    "reference": ["参考号", "reference", "ref", "交易参考号", "业务参考号"],
    "status": ["状态", "status", "结果", "result", "处理结果"],
    "reason": ["原因", "reason", "失败原因", "备注"],
    "amount": ["金额（元）", "金额", "amount"],
}
PAID_WORDS = {"成功", "success", "paid", "s", "ok", "已发放", "交易成功"}
FAILED_WORDS = {"失败", "failed", "fail", "f", "退回", "交易失败"}


def _require_finance(user: User) -> None:
    if not user.has_role("finance"):
        raise Forbidden("只有财务人员可以办理银行发放")


def _chunks(items: list, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _subtree(org: Organisation):
    return select(Organisation.id).where(Organisation.path.startswith(org.path))


# --- what can be paid -------------------------------------------------------------------


@dataclass(frozen=True)
class PayableGroup:
    campaign: Campaign
    org: Organisation  # the district federation
    count: int
    total_fen: int


def payable_groups(session: Session, user: User) -> list[PayableGroup]:
    """Payable payments in the user's scope, by campaign and district: what a batch can be
    built from."""
    _require_finance(user)
    districts = {
        o.id: o
        for o in session.scalars(
            select(Organisation).where(
                Organisation.level == 2, Organisation.path.startswith(user.org.path)
            )
        )
    }
    sums: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    rows = session.execute(
        select(Payment.campaign_id, Organisation.path, func.count(), func.sum(Payment.amount_fen))
        .join(Organisation, Organisation.id == Payment.org_id)
        .where(
            Payment.status == "payable",
            Payment.campaign_id.is_not(None),
            Organisation.path.startswith(user.org.path),
        )
        .group_by(Payment.campaign_id, Organisation.path)
    )
    for campaign_id, path, count, total in rows:
        ids = [int(p) for p in path.strip("/").split("/")]
        district = next((i for i in ids if i in districts), None)
        if district is None:
            continue
        entry = sums[(campaign_id, district)]
        entry[0] += count
        entry[1] += int(total or 0)
    campaigns = {c.id: c for c in session.scalars(select(Campaign))}
    return [
        PayableGroup(campaigns[c], districts[o], n, total)
        for (c, o), (n, total) in sorted(
            sums.items(), key=lambda kv: (kv[0][0], districts[kv[0][1]].path)
        )
    ]


# --- batches ----------------------------------------------------------------------------


def _visible_batch(session: Session, user: User, batch_id: int) -> PaymentBatch:
    _require_finance(user)
    batch = session.get(PaymentBatch, batch_id)
    if batch is None:
        raise NotFound("发放批次不存在")
    org = session.get(Organisation, batch.org_id) if batch.org_id else None
    if org is None or not access.in_subtree(user, org):
        raise Forbidden("无权查看该批次")
    return batch


def get_batch(session: Session, user: User, batch_id: int) -> PaymentBatch:
    return _visible_batch(session, user, batch_id)


def list_batches(
    session: Session, user: User, campaign_id: int | None = None
) -> list[PaymentBatch]:
    _require_finance(user)
    query = (
        select(PaymentBatch)
        .join(Organisation, Organisation.id == PaymentBatch.org_id)
        .where(Organisation.path.startswith(user.org.path))
        .order_by(PaymentBatch.id.desc())
    )
    if campaign_id is not None:
        query = query.where(PaymentBatch.campaign_id == campaign_id)
    return list(session.scalars(query))


@dataclass(frozen=True)
class BatchCounts:
    waiting: int
    paid: int
    failed: int
    paid_fen: int
    failed_fen: int


def batch_counts(session: Session, batch: PaymentBatch) -> BatchCounts:
    counts = {
        result: (n, int(total or 0))
        for result, n, total in session.execute(
            select(PaymentLine.result, func.count(), func.sum(PaymentLine.amount_fen))
            .where(PaymentLine.batch_id == batch.id)
            .group_by(PaymentLine.result)
        )
    }
    return BatchCounts(
        counts.get("", (0, 0))[0],
        counts.get("paid", (0, 0))[0],
        counts.get("failed", (0, 0))[0],
        counts.get("paid", (0, 0))[1],
        counts.get("failed", (0, 0))[1],
    )


def batch_lines(
    session: Session,
    user: User,
    batch_id: int,
    result: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[tuple[PaymentLine, Case]], int]:
    """A page of the batch's lines with their cases, and how many there are in all."""
    _visible_batch(session, user, batch_id)
    where = [PaymentLine.batch_id == batch_id]
    if result is not None:
        where.append(PaymentLine.result == result)
    total = session.scalar(select(func.count()).select_from(PaymentLine).where(*where))
    rows = session.execute(
        select(PaymentLine, Case)
        .join(Payment, Payment.id == PaymentLine.payment_id)
        .join(Case, Case.id == Payment.case_id)
        .where(*where)
        .order_by(PaymentLine.seq)
        .offset(offset)
        .limit(limit)
    ).all()
    return [(line, case) for line, case in rows], total


def build_batch(session: Session, user: User, campaign_id: int, org_id: int) -> PaymentBatch:
    """Put every payable payment of a campaign in an organisation's subtree into a new
    batch (draft). Payments already in a batch are never taken twice."""
    _require_finance(user)
    with engine.unit_of_work(session):
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise NotFound("活动不存在")
        org = session.get(Organisation, org_id)
        if org is None:
            raise NotFound("单位不存在")
        if not access.in_subtree(user, org):
            raise Forbidden("无权为该单位发放")
        payments = list(
            session.scalars(
                select(Payment)
                .where(
                    Payment.status == "payable",
                    Payment.campaign_id == campaign_id,
                    Payment.org_id.in_(_subtree(org)),
                )
                .order_by(Payment.id)
                .with_for_update(skip_locked=True, of=Payment)
            )
        )
        if not payments:
            raise ValidationFailed(f"{org.name}在“{campaign.name}”中没有待发放的付款")
        batch = PaymentBatch(
            reference=f"tmp-{secrets.token_hex(8)}",
            campaign_id=campaign_id,
            org_id=org_id,
            created_by_id=user.id,
            line_count=len(payments),
            total_fen=sum(p.amount_fen for p in payments),
        )
        session.add(batch)
        session.flush()
        batch.reference = f"PF{now().astimezone(CST):%Y%m%d}-{batch.id:04d}"
        session.flush()  # no autoflush: expire_all below would drop the real reference
        session.execute(
            insert(PaymentLine),
            [
                {
                    "batch_id": batch.id,
                    "payment_id": p.id,
                    "seq": seq,
                    "reference": f"{batch.reference}-{seq:06d}",
                    "amount_fen": p.amount_fen,
                    "account_name": p.account_name,
                    "bank_card": p.bank_card,
                }
                for seq, p in enumerate(payments, start=1)
            ],
        )
        ids = [p.id for p in payments]
        moved = 0
        for part in _chunks(ids):
            moved += session.execute(
                update(Payment)
                .where(Payment.id.in_(part), Payment.status == "payable")
                .values(
                    status="in_batch",
                    batch_id=batch.id,
                    lock_version=Payment.lock_version + 1,
                )
                .execution_options(synchronize_session=False)
            ).rowcount
        if moved != len(ids):
            raise Conflict("部分付款刚被他人处理，请重新生成批次")
        session.expire_all()
        record(
            session,
            user.id,
            None,
            "batch.build",
            f"生成发放批次 {batch.reference}：{len(ids)} 笔，{yuan(batch.total_fen)} 元",
            batch_id=batch.id,
        )
    return batch


def cancel_batch(session: Session, user: User, batch_id: int) -> None:
    """Undo a batch not yet sent: its payments become payable again."""
    with engine.unit_of_work(session):
        batch = _visible_batch(session, user, batch_id)
        if batch.status != "draft":
            raise Conflict("批次已发送银行，不能撤销")
        session.execute(
            update(Payment)
            .where(Payment.batch_id == batch.id, Payment.status == "in_batch")
            .values(status="payable", batch_id=None, lock_version=Payment.lock_version + 1)
            .execution_options(synchronize_session=False)
        )
        session.execute(PaymentLine.__table__.delete().where(PaymentLine.batch_id == batch.id))
        record(session, user.id, None, "batch.cancel", f"撤销发放批次 {batch.reference}")
        session.delete(batch)


def mark_sent(session: Session, user: User, batch_id: int) -> PaymentBatch:
    with engine.unit_of_work(session):
        batch = _visible_batch(session, user, batch_id)
        if batch.status != "draft":
            raise Conflict("该批次已标记为已发送")
        batch.status = "sent"
        batch.sent_at = now()
        batch.sent_by_id = user.id
        record(
            session,
            user.id,
            None,
            "batch.sent",
            f"发放批次 {batch.reference} 已发送银行",
            batch_id=batch.id,
        )
    return batch


# --- the bank file ---------------------------------------------------------------------


@dataclass(frozen=True)
class BankFile:
    filename: str  # the batch reference only: no name or number in a file name
    content: bytes
    mimetype: str


def bank_rows(session: Session, batch: PaymentBatch):
    """The batch's lines as the bank file's rows (amounts in fen, see BANK_COLUMNS)."""
    campaign = session.get(Campaign, batch.campaign_id) if batch.campaign_id else None
    purpose = campaigns.payment_purpose(campaign)
    rows = session.execute(
        select(
            PaymentLine.seq,
            PaymentLine.account_name,
            PaymentLine.bank_card,
            PaymentLine.amount_fen,
            PaymentLine.reference,
        )
        .where(PaymentLine.batch_id == batch.id)
        .order_by(PaymentLine.seq)
    )
    for seq, name, card, fen, reference in rows:
        yield [seq, name, card, fen, purpose, reference]


def bank_file(session: Session, user: User, batch_id: int, fmt: str = "csv") -> BankFile:
    """The file for the bank: card numbers whole (the only place they leave whole). The
    CSV is what banks take (no title, no total); the XLSX, for people, adds a total row."""
    if fmt not in ("csv", "xlsx"):
        raise ValidationFailed("文件格式应为 csv 或 xlsx")
    batch = _visible_batch(session, user, batch_id)
    rows = bank_rows(session, batch)
    content, mimetype = tabular.write(
        fmt,
        BANK_COLUMNS,
        rows,
        total_label="合计" if fmt == "xlsx" else None,
        sheet_name=batch.reference,
    )
    with engine.unit_of_work(session):
        record(
            session,
            user.id,
            None,
            "batch.download",
            f"下载发放批次 {batch.reference} 的银行文件（{fmt.upper()}）",
            batch_id=batch.id,
        )
    return BankFile(f"{batch.reference}.{fmt}", content, mimetype)


# --- the bank's answer -------------------------------------------------------------------


@dataclass(frozen=True)
class ResultRow:
    line_no: int  # as the user sees it in the file (header is line 1)
    reference: str
    status: str  # the word in the file
    reason: str
    amount: str | None


def parse_result_file(filename: str, content: bytes) -> list[ResultRow]:
    """The bank's result file (CSV or XLSX) as rows; a header names the columns."""
    table = tabular.read_table(
        filename,
        content,
        RESULT_COLUMNS,
        required=("reference", "status"),
        what="结果文件",
        max_bytes=MAX_RESULT_FILE,
    )
    if not table.rows:
        raise ValidationFailed("结果文件没有数据行")
    return [
        ResultRow(
            row.line,
            row["reference"],
            row["status"],
            row["reason"],
            row.get("amount"),
        )
        for row in table.rows
    ]


def _result_of(word: str) -> str | None:
    word = word.strip().lower()
    if word in PAID_WORDS:
        return "paid"
    if word in FAILED_WORDS:
        return "failed"
    return None


@dataclass
class ImportReport:
    batch: PaymentBatch
    repeated: bool = False  # this very file was imported before: nothing changed
    paid: int = 0
    failed: int = 0
    unchanged: int = 0  # lines whose answer was already recorded
    waiting: int = 0  # lines of the batch still without an answer
    failures: list[dict] = field(default_factory=list)


def import_results(
    session: Session, user: User, batch_id: int, filename: str, content: bytes
) -> ImportReport:
    """Record the bank's answer for a sent batch. The whole file is checked first; any bad
    line refuses all of it. The same file (or the same answers) again changes nothing."""
    digest = tabular.sha256(content)
    with engine.unit_of_work(session):
        batch = _visible_batch(session, user, batch_id)
        if digest in (batch.imported_files or "").split():
            report = ImportReport(batch, repeated=True)
            report.waiting = batch_counts(session, batch).waiting
            return report
        if batch.status == "draft":
            raise Conflict("批次尚未发送银行，不能导入结果；请先标记为已发送")
        rows = parse_result_file(filename, content)
        # Plain rows, not entities: 60,000 lines are read and never decrypted here.
        lines = {
            line.reference: line
            for line in session.execute(
                select(
                    PaymentLine.id,
                    PaymentLine.reference,
                    PaymentLine.payment_id,
                    PaymentLine.amount_fen,
                    PaymentLine.result,
                ).where(PaymentLine.batch_id == batch.id)
            )
        }
        foreign = _foreign_references(
            session, batch, [r.reference for r in rows if r.reference not in lines]
        )
        problems = tabular.BadLines("结果文件")
        seen: set[str] = set()
        answers: list[tuple[PaymentLine, str, str]] = []
        for row in rows:
            line = lines.get(row.reference)
            if not row.reference:
                problems.add(row.line_no, "缺少参考号")
                continue
            if row.reference in seen:
                problems.add(row.line_no, f"参考号 {row.reference} 重复出现")
                continue
            seen.add(row.reference)
            if line is None:
                other = foreign.get(row.reference)
                problems.add(
                    row.line_no,
                    f"参考号 {row.reference} 属于批次 {other}，不属于本批次"
                    if other
                    else f"未知的参考号 {row.reference}",
                )
                continue
            result = _result_of(row.status)
            if result is None:
                problems.add(row.line_no, f"无法识别的状态“{row.status}”，应为成功或失败")
                continue
            if row.amount is not None:
                if tabular.parse_money_fen(row.amount) != line.amount_fen:
                    problems.add(
                        row.line_no, f"金额 {row.amount} 与发送的 {yuan(line.amount_fen)} 元不符"
                    )
                    continue
            reason = row.reason.strip()[:200]
            if result == "failed" and not reason:
                problems.add(row.line_no, "失败的行必须写明原因")
                continue
            if line.result and line.result != result:
                problems.add(
                    row.line_no,
                    f"该笔已登记为“{LINE_RESULT_LABELS[line.result]}”，不能改为"
                    f"“{LINE_RESULT_LABELS[result]}”",
                )
                continue
            answers.append((line, result, reason))
        problems.raise_if_any()
        report = _apply(session, user, batch, answers)
        session.flush()  # the session does not autoflush: count what was just recorded
        batch.imported_files = f"{batch.imported_files or ''} {digest}".strip()
        counts = batch_counts(session, batch)
        report.waiting = counts.waiting
        if counts.waiting == 0:
            batch.status = "reconciled"
            batch.reconciled_at = now()
        record(
            session,
            user.id,
            None,
            "batch.import",
            f"导入批次 {batch.reference} 的银行结果：成功 {report.paid}，失败 {report.failed}，"
            f"已登记 {report.unchanged}，待结果 {report.waiting}",
            batch_id=batch.id,
        )
    return report


def _foreign_references(session: Session, batch: PaymentBatch, references: list[str]) -> dict:
    found = {}
    for part in _chunks(references):
        for reference, batch_ref in session.execute(
            select(PaymentLine.reference, PaymentBatch.reference)
            .join(PaymentBatch, PaymentBatch.id == PaymentLine.batch_id)
            .where(PaymentLine.reference.in_(part), PaymentLine.batch_id != batch.id)
        ):
            found[reference] = batch_ref
    return found


def _apply(session, user, batch, answers) -> ImportReport:
    report = ImportReport(batch)
    at = now()
    new = [(line, result, reason) for line, result, reason in answers if not line.result]
    report.unchanged = len(answers) - len(new)
    paid_ids = [line.payment_id for line, result, _ in new if result == "paid"]
    by_reason: dict[str, list[int]] = defaultdict(list)
    lines_by_answer: dict[tuple[str, str], list[int]] = defaultdict(list)
    for line, result, reason in new:
        if result == "failed":
            by_reason[reason].append(line.payment_id)
        lines_by_answer[(result, reason)].append(line.id)
    answered = 0
    for (result, reason), ids in lines_by_answer.items():
        for part in _chunks(ids):
            answered += session.execute(
                update(PaymentLine)
                .where(PaymentLine.id.in_(part), PaymentLine.result == "")
                .values(result=result, reason=reason, result_at=at)
                .execution_options(synchronize_session=False)
            ).rowcount
    if answered != len(new):
        raise Conflict("该批次的结果刚被他人导入，请刷新后查看")

    # Lock the batch's payments still with the bank, once; then update them by primary key
    # only (a per-chunk "batch_id = … AND status = …" lets a planner with stale statistics
    # scan the whole batch again for every chunk).
    with_bank = set(
        session.scalars(
            select(Payment.id)
            .where(Payment.batch_id == batch.id, Payment.status == "in_batch")
            .with_for_update()
        )
    )
    if not all(line.payment_id in with_bank for line, _result, _reason in new):
        raise Conflict("部分付款状态已被他人改变，未导入，请刷新后重试")

    def move(ids: list[int], **values) -> int:
        moved = 0
        for part in _chunks(ids):
            moved += session.execute(
                update(Payment)
                .where(Payment.id.in_(part))
                .values(
                    attempts=Payment.attempts + 1,
                    delivery="pending",
                    lock_version=Payment.lock_version + 1,
                    **values,
                )
                .execution_options(synchronize_session=False)
            ).rowcount
        return moved

    moved = move(paid_ids, status="paid", paid_at=at)
    for reason, ids in by_reason.items():
        moved += move(ids, status="failed", last_failure_reason=reason)
    if moved != len(new):
        raise Conflict("部分付款状态已被他人改变，未导入，请刷新后重试")
    report.paid = len(paid_ids)
    report.failed = len(new) - len(paid_ids)
    report.failures = [
        {"reference": line.reference, "reason": reason}
        for line, result, reason in new
        if result == "failed"
    ][: tabular.MAX_LISTED]
    return report


# --- telling the cases -------------------------------------------------------------------


def pending_deliveries(session: Session) -> int:
    return session.scalar(select(func.count(Payment.id)).where(Payment.delivery == "pending"))


# Bank answers moved on per transaction: each case run one by one in its own savepoint,
# so one that fails is set aside (rolled back to its savepoint) without undoing the
# others; cases alike closed together from one engine run (workflows/fold.py).
DELIVER_GROUP = 50


def deliver_results(session: Session, limit: int | None = None) -> int:
    """Send each recorded bank answer to its case's workflow, `DELIVER_GROUP` cases per
    transaction: a paid case finishes, a failed one opens 更正银行卡. A case another
    worker moved on meanwhile (a conflict) or that fails unexpectedly is set aside, its
    answer left pending for the next round; one the diagram refuses is marked and
    recorded. Returns how many were delivered."""
    query = select(Payment.id).where(Payment.delivery == "pending").order_by(Payment.id)
    if limit is not None:
        query = query.limit(limit)
    ids = list(session.scalars(query))
    session.rollback()
    delivered = 0
    folder = fold.Folder()
    for start in range(0, len(ids), DELIVER_GROUP):
        delivered += _deliver_group(session, ids[start : start + DELIVER_GROUP], folder)
    return delivered


@dataclass(eq=False)  # one per payment: compared by identity
class _Delivery:
    payment: Payment
    instance: ProcessInstance | None
    busy: bool = False  # the case has open tasks (read by the engine, not assumed none)
    shape: "fold.Shape | None" = None
    state: dict | None = None


def _deliver_group(session: Session, ids: list[int], folder: "fold.Folder") -> int:
    delivered = 0
    refused: list[tuple[int, int, str]] = []
    with engine.unit_of_work(session):
        # Rows another worker holds are theirs to deliver (PostgreSQL; SQLite has one
        # writer at a time anyway).
        group = session.scalars(
            select(Payment)
            .where(Payment.id.in_(ids), Payment.delivery == "pending")
            .order_by(Payment.id)
            .with_for_update(skip_locked=True)
        ).all()
        todo, calendar = _read_deliveries(session, group, folder)
        one_by_one = partial(
            _one_by_one, session, calendar=calendar, folder=folder, refused=refused
        )
        # A key's first cases run for real and check its template (witnesses); the
        # others of a key whose template holds are then closed from it, together.
        witnesses: list[_Delivery] = []
        for one in todo:
            if one.shape is not None and folder.wants_witness(one.shape.key):
                key = one.shape.key
                if sum(w.shape.key == key for w in witnesses) < folder.witnesses_needed(key):
                    witnesses.append(one)
        delivered += one_by_one(witnesses, witnesses=True)
        folded, alone = [], []
        for one in todo:
            if one in witnesses:
                continue
            ready = one.shape is not None and folder.ready(one.shape.key) is not None
            (folded if ready else alone).append(one)
        if len(folded) < 2:  # not worth a savepoint of its own
            alone, folded = sorted(alone + folded, key=lambda o: o.payment.id), []
        delivered += one_by_one(alone)
        if folded:
            if _folded(session, folded, folder):
                delivered += len(folded)
            else:
                delivered += one_by_one(folded)
        for payment_id, case_id, message in refused:
            session.get(Payment, payment_id).delivery = "error"
            record(
                session,
                None,
                case_id,
                "payment.delivery_error",
                f"银行结果未能推进案件：{message}",
                payment_id=payment_id,
            )
    return delivered


def _read_deliveries(
    session: Session, group: list[Payment], folder
) -> tuple[list[_Delivery], int | None]:
    """The group's instances in one query, with the calendar's stamp, and each case's
    shape for the fold (none for a case with open tasks: closing it must cancel them,
    which the engine does)."""
    case_ids = [p.case_id for p in group]
    found = session.execute(
        select(ProcessInstance, workdays.version_column())
        .options(joinedload(ProcessInstance.case))
        .where(ProcessInstance.case_id.in_(case_ids))
    ).all()
    instances = {instance.case_id: instance for instance, _stamp in found}
    calendar = found[0][1] if found else None
    busy = set(
        session.scalars(
            select(HumanTask.case_id).where(
                HumanTask.case_id.in_(case_ids), HumanTask.status == "open"
            )
        )
    )
    todo = []
    for payment in group:
        one = _Delivery(payment, instances.get(payment.case_id), payment.case_id in busy)
        if one.instance is not None and not one.busy:
            try:
                found = folder.shape(session, one.instance, payment)
            except Exception:  # noqa: BLE001 - the fold is an optimisation: run it one by one
                log.warning("payment %s: not folded", payment.id, exc_info=True)
                found = None
            if found is not None:
                one.shape, one.state = found
        todo.append(one)
    return todo, calendar


def _one_by_one(
    session, todo: list[_Delivery], *, calendar, folder, refused, witnesses=False
) -> int:
    delivered = 0
    for one in todo:
        payment = one.payment
        payment_id, case_id = payment.id, payment.case_id
        try:
            with session.begin_nested():
                if one.instance is None:
                    payments.notify_case(session, payment, None)
                else:  # what the group read: no query for the instance, stamp or tasks
                    workdays.remember_version(session, calendar)
                    payments.notify_case(
                        session, payment, None, one.instance, None if one.busy else []
                    )
                payment.delivery = ""
                session.flush()
            delivered += 1
        except (Conflict, StaleDataError):
            continue  # another worker moved this case on first: its answer stays pending
        except WarmflowError as err:
            log.warning("payment %s: result not delivered: %s", payment_id, err.message)
            refused.append((payment_id, case_id, err.message))
            continue
        except OperationalError:
            raise  # the database, not this case: the group is undone and tried again
        except Exception:  # noqa: BLE001 - one broken case must not hold up the others
            log.exception("payment %s: result not delivered, left for a retry", payment_id)
            continue
        if witnesses:
            folder.witnessed(session, one.shape, one.state, one.instance, payment)
    return delivered


def _folded(session: Session, todo: list[_Delivery], folder) -> bool:
    """Close `todo` from their keys' templates in one savepoint; False (nothing written)
    if anything goes wrong, for the caller to run them one by one."""
    try:
        with session.begin_nested():
            closings = [
                fold.close(
                    session, folder.ready(one.shape.key), one.shape, one.instance, one.payment
                )
                for one in todo
            ]
            fold.write(session, closings)
            session.flush()  # what the close hooks changed
        return True
    except OperationalError:
        raise
    except Exception:  # noqa: BLE001 - e.g. a case moved on meanwhile (stale version)
        log.warning("bank results: folded cases go one by one", exc_info=True)
        return False
