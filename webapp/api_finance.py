"""JSON API for finance (银行发放): routes on the api blueprint, documented in
openapi_finance.py. The same services as the pages; amounts in fen; card numbers and
names masked in every answer (only the bank file holds card numbers whole)."""

from typing import Any

from flask import g, jsonify, request

from webapp import jobs
from webapp.api import _int_arg, body, bp, iso, org_json, scrub, token_required, user_json
from webapp.database import session
from webapp.finance import RESULT_FILTERS, bank_file_response, deliver, require_finance
from workflows import batches, privacy
from workflows.errors import ValidationFailed
from workflows.models import Campaign, Case, Organisation, PaymentBatch, PaymentLine

MAX_LINES = 200


def campaign_ref(campaign: Campaign | None) -> dict | None:
    if campaign is None:
        return None
    return {"id": campaign.id, "code": campaign.code, "name": campaign.name}


def batch_json(batch: PaymentBatch, counts: batches.BatchCounts | None = None) -> dict:
    db = session()
    answer = {
        "id": batch.id,
        "reference": batch.reference,
        "status": batch.status,
        "status_label": batches.BATCH_STATUS_LABELS.get(batch.status, batch.status),
        "campaign": campaign_ref(
            db.get(Campaign, batch.campaign_id) if batch.campaign_id else None
        ),
        "organisation": org_json(db.get(Organisation, batch.org_id) if batch.org_id else None),
        "line_count": batch.line_count,
        "total_fen": batch.total_fen,
        "created_at": iso(batch.created_at),
        "created_by": user_json(batch.created_by_id),
        "sent_at": iso(batch.sent_at),
        "reconciled_at": iso(batch.reconciled_at),
    }
    if counts is not None:
        answer["counts"] = {
            "waiting": counts.waiting,
            "paid": counts.paid,
            "failed": counts.failed,
            "waiting_fen": batch.total_fen - counts.paid_fen - counts.failed_fen,
            "paid_fen": counts.paid_fen,
            "failed_fen": counts.failed_fen,
        }
    return answer


def line_json(line: PaymentLine, case: Case) -> dict:
    return {
        "id": line.id,
        "seq": line.seq,
        "reference": line.reference,
        "amount_fen": line.amount_fen,
        "account_name": privacy.mask_name(line.account_name),
        "bank_card": privacy.mask_card(line.bank_card),
        "result": line.result or None,
        "result_label": batches.LINE_RESULT_LABELS.get(line.result, line.result),
        "reason": scrub(line.reason) or None,
        "result_at": iso(line.result_at),
        "case": {
            "id": case.id,
            "case_no": case.case_no,
            "applicant": privacy.mask_name(case.applicant_name),
        },
    }


def _finance():
    user = g.api_user
    require_finance(user)
    return session(), user


def _positive_int(data: dict, key: str) -> int:
    value: Any = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        message = f"{key} 应为正整数"
        raise ValidationFailed(message, errors={key: message})
    return value


@bp.get("/payables")
@token_required
def payable_list():
    db, user = _finance()
    return jsonify(
        items=[
            {
                "campaign": campaign_ref(group.campaign),
                "organisation": org_json(group.org),
                "count": group.count,
                "total_fen": group.total_fen,
            }
            for group in batches.payable_groups(db, user)
        ]
    )


@bp.get("/batches")
@token_required
def batch_list():
    db, user = _finance()
    campaign_id = _int_arg("campaign_id", 0, 0) or None
    return jsonify(items=[batch_json(b) for b in batches.list_batches(db, user, campaign_id)])


@bp.post("/batches")
@token_required
def batch_build():
    db, user = _finance()
    data = body()
    campaign_id, org_id = _positive_int(data, "campaign_id"), _positive_int(data, "org_id")
    batch = batches.build_batch(db, user, campaign_id, org_id)
    return jsonify(batch_json(batch, batches.batch_counts(db, batch))), 201


@bp.get("/batches/<int:batch_id>")
@token_required
def batch_detail(batch_id: int):
    db, user = _finance()
    batch = batches.get_batch(db, user, batch_id)
    return jsonify(batch_json(batch, batches.batch_counts(db, batch)))


@bp.get("/batches/<int:batch_id>/lines")
@token_required
def batch_line_list(batch_id: int):
    db, user = _finance()
    shown = request.args.get("result") or "all"
    if shown != "all" and shown not in RESULT_FILTERS:
        message = "result 应为 all、waiting、paid 或 failed"
        raise ValidationFailed(message, errors={"result": message})
    limit = _int_arg("limit", 50, 1, MAX_LINES)
    offset = _int_arg("offset", 0, 0)
    rows, total = batches.batch_lines(
        db, user, batch_id, result=RESULT_FILTERS.get(shown), offset=offset, limit=limit
    )
    return jsonify(
        items=[line_json(line, case) for line, case in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@bp.get("/batches/<int:batch_id>/bank-file")
@token_required
def batch_bank_file(batch_id: int):
    db, user = _finance()
    fmt = request.args.get("format") or "csv"
    return bank_file_response(batches.bank_file(db, user, batch_id, fmt))


@bp.post("/batches/<int:batch_id>/sent")
@token_required
def batch_sent(batch_id: int):
    db, user = _finance()
    batch = batches.mark_sent(db, user, batch_id)
    return jsonify(batch_json(batch, batches.batch_counts(db, batch)))


@bp.post("/batches/<int:batch_id>/cancel")
@token_required
def batch_cancel(batch_id: int):
    db, user = _finance()
    reference = batches.get_batch(db, user, batch_id).reference
    batches.cancel_batch(db, user, batch_id)
    return jsonify(id=batch_id, reference=reference, cancelled=True)


@bp.post("/batches/<int:batch_id>/results")
@token_required
def batch_results(batch_id: int):
    db, user = _finance()
    batches.get_batch(db, user, batch_id)  # 403/404 before reading the upload
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        message = "请以 multipart/form-data 上传字段 file（CSV 或 XLSX）"
        raise ValidationFailed(message, errors={"file": "请选择结果文件"})
    content = upload.read(batches.MAX_RESULT_FILE + 1)
    report = batches.import_results(db, user, batch_id, upload.filename, content)
    if not report.repeated and (report.paid or report.failed):
        jobs.start("deliver", deliver)
    batch = batches.get_batch(db, user, batch_id)
    return jsonify(
        batch=batch_json(batch, batches.batch_counts(db, batch)),
        repeated=report.repeated,
        paid=report.paid,
        failed=report.failed,
        unchanged=report.unchanged,
        waiting=report.waiting,
        failures=scrub(report.failures),
    )
