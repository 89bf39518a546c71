"""JSON API for case work (issue 11): batch approval with a common comment, withdrawing a
case, and looking up an objection by its reference. The same service functions as the
pages; routes on the api blueprint."""

from flask import g, jsonify

from webapp import casework
from webapp.api import _text, body, bp, case_json, token_required
from webapp.database import session
from webapp.extensions import limiter
from webapp.notices import LOOKUP_LIMIT
from workflows import cases, notices, progress, tasks
from workflows.errors import ValidationFailed


@bp.post("/tasks/batch-approve")
@token_required
def batch_approve():
    """批量通过: each task in its own transaction, with the optional common comment."""
    data = body()
    ids = data.get("task_ids")
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and 0 < i <= 2**31 - 1 for i in ids
    ):
        message = "task_ids 应为任务编号（正整数）的列表"
        raise ValidationFailed(message, errors={"task_ids": message})
    comment = data.get("comment", "")
    if not isinstance(comment, str):
        raise ValidationFailed("comment 应为文字", errors={"comment": "comment 应为文字"})
    results = tasks.approve_many(session(), g.api_user, ids, comment)
    return jsonify(
        results=[
            {"task_id": r.task_id, "case_no": r.case_no, "ok": r.ok, "message": r.message or None}
            for r in results
        ],
        approved=sum(1 for r in results if r.ok),
        failed=sum(1 for r in results if not r.ok),
    )


@bp.post("/cases/<int:case_id>/withdraw")
@token_required
def case_withdraw(case_id: int):
    """撤销 with a reason (caseworkers before the final approval, managers after)."""
    db = session()
    case = cases.cancel_case(db, g.api_user, case_id, _text(body().get("reason")))
    answer = case_json(case)
    answer["cancel_reason"] = case.cancel_reason
    answer["waiting"] = casework.waiting_json(progress.waiting(db, case))
    return jsonify(case=answer)


@bp.get("/notices/objections/<reference>")
@limiter.limit(LOOKUP_LIMIT, on_breach=lambda limit: casework.too_often(limit))
def objection_lookup(reference: str):
    """The progress of an objection by its reference: nothing personal."""
    status = notices.objection_status(session(), reference[:40])
    return jsonify(
        reference=status.reference,
        programme=status.programme,
        received_on=status.received_on.isoformat(),
        outcome=status.outcome or "investigating",
        outcome_label=status.outcome_label,
        resolved_on=status.resolved_on.isoformat() if status.resolved_on else None,
    )
