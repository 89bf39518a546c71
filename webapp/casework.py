"""How the case-work additions look in a JSON answer (webapp/api.py and api_casework.py):
the application a rework edits, what a rework changed, where a decision leads, the
failed payment a card correction fixes, why a case waits. Masked like every answer."""

import math
import time
from typing import Any

from flask import jsonify, make_response

from webapp.database import session
from workflows import approvals, privacy, progress, tasks


def _masked(kind: str, value: Any) -> Any:
    if value in (None, ""):
        return value
    if kind == "id_number":
        return privacy.mask_id(str(value))
    if kind == "bank_card":
        return privacy.mask_card(str(value))
    return value


def waiting_json(waiting: progress.Waiting | None) -> dict | None:
    if waiting is None:
        return None
    return {
        "code": waiting.code,
        "text": waiting.text,
        "until": waiting.until.isoformat() if waiting.until else None,
    }


def outcome_json(outcome: approvals.Outcome) -> dict:
    return {
        "final": outcome.final,
        "next": outcome.name,
        "candidate_group": outcome.group or None,
        "threshold_fen": outcome.threshold_fen,
        "amount_fen": outcome.amount_fen,
    }


def task_extras(view: tasks.TaskView) -> dict:
    """What GET /tasks/<id> adds for a rework, an approval after one, a card correction."""
    from webapp.api import field_json  # api imports this module

    extras: dict[str, Any] = {}
    if view.application:
        extras["application"] = {
            "fields": [field_json(f) for f in view.application],
            "values": {
                f["id"]: _masked(f["type"], view.current.get(f["id"]))
                for f in view.application
                if f["id"] in view.current
            },
            "note": "未提交的字段保持原值；身份证号、银行卡号、文件留空即不修改",
        }
    if view.rework is not None:
        extras["rework"] = {
            "at": view.rework.at.isoformat(),
            "by": view.rework.actor,
            "return_reason": view.rework.return_reason,
            "rework_note": view.rework.rework_note,
            "changes": [c.__dict__ for c in view.rework.changes],
        }
    if view.failed_payment is not None:
        extras["failed_payment"] = view.failed_payment.__dict__
    if tasks.is_approval_form(view.fields) and view.task.status == "open":
        found = approvals.outcomes(session(), view.task, ["approve", "return", "reject"])
        extras["outcomes"] = {decision: outcome_json(o) for decision, o in found.items()}
        final = found.get("approve")
        if final is not None and final.final:
            extras["received_this_year"] = received_json(view.case)
    return extras


def received_json(case) -> dict:
    """Before the final approval: what the same person already received this year."""
    from workflows import archive

    line = archive.received_this_year(session(), case)
    return {
        "year": line.year,
        "total_fen": line.total_fen,
        "cases": [
            {
                "case_no": e.case.case_no,
                "programme": e.case.programme,
                "campaign": e.campaign.name if e.campaign else None,
                "amount_fen": e.amount_fen,
                "approved_at": e.case.approved_at.isoformat(),
                "payment_status": e.payment_status or None,
            }
            for e in line.entries
        ],
    }


def too_often(limit):
    """429 for the API's objections: how long to wait, in seconds and in words."""
    seconds = max(1, math.ceil(limit.reset_at - time.time()))
    answer = jsonify(
        code="http_error",
        message=f"操作过于频繁，请在 {max(1, round(seconds / 60))} 分钟后再试",
        retry_after=seconds,
    )
    answer = make_response(answer, 429)
    answer.headers["Retry-After"] = str(seconds)
    return answer
