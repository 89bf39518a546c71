"""JSON API for 已办, 我发起的, 督办 and 催办: routes on the api blueprint, documented in
openapi_worklists.py. The same services as the pages (workflows/worklists.py and
workflows/reminders.py); `GET /tasks?scope=done|overdue` is answered here."""

from flask import g, jsonify, request

from webapp.api import (
    MAX_LIMIT,
    _bool_arg,
    _int_arg,
    bp,
    case_json,
    iso,
    scrub,
    task_json,
    token_required,
    user_json,
)
from webapp.database import session
from workflows import cases, reminders, worklists
from workflows.errors import ValidationFailed
from workflows.models import TaskReminder
from workflows.tasks import TaskFilter

SCOPES = ("done", "overdue")


def _filter() -> TaskFilter:
    programme = request.args.get("programme") or None
    if programme:
        cases.programme(programme)  # 422 for an unknown one
    return TaskFilter(
        programme=programme,
        element_id=request.args.get("step") or None,
        overdue=_bool_arg("overdue"),
    )


def reminder_json(reminder: TaskReminder, sender: str | None = None) -> dict:
    by = user_json(reminder.sent_by_id)
    return {
        "id": reminder.id,
        "task_id": reminder.task_id,
        "sent_by": by["display_name"] if by else sender,
        "sent_at": iso(reminder.sent_at),
        "message": scrub(reminder.message),
        "to": user_json(reminder.to_user_id),
        "to_group": reminder.to_group,
    }


def task_list(scope: str):
    """GET /tasks?scope=done (已办, newest first, with where each case stands now) or
    scope=overdue (督办: overdue tasks of the caller's subtree, longest overdue first)."""
    db, user = session(), g.api_user
    flt = _filter()
    limit = _int_arg("limit", 50, 1, MAX_LIMIT)
    offset = _int_arg("offset", 0, 0)
    if scope == "done":
        rows = worklists.list_done(db, user, flt, limit, offset)
        total = worklists.count_done(db, user, flt)
        stands = worklists.standings(db, {r.case for r in rows})
        items = [
            task_json(r)
            | {"completed_at": iso(r.completed_at), "case_stands": stands[r.case_id].text}
            for r in rows
        ]
    else:
        flt.overdue = False  # all of them are
        rows = reminders.list_overdue(db, user, flt, limit, offset)
        total = reminders.count_overdue(db, user, flt)
        last = reminders.last_reminders(db, [r.id for r in rows])
        today = reminders.reminded_today(db, [r.id for r in rows])
        items = [
            task_json(r)
            | {
                "last_reminded_at": iso(last[r.id].sent_at) if r.id in last else None,
                "reminded_today": r.id in today,
            }
            for r in rows
        ]
    if scope == "done":  # counted no further than the cap: `total_is_lower_bound`
        return jsonify(
            items=items,
            total=min(total, worklists.COUNT_CAP),
            total_is_lower_bound=total > worklists.COUNT_CAP,
            limit=limit,
            offset=offset,
        )
    return jsonify(items=items, total=total, limit=limit, offset=offset)


@bp.get("/cases/started")
@token_required
def cases_started():
    """我发起的: the cases the caller registered, newest first, with where each stands."""
    db, user = session(), g.api_user
    status = request.args.get("status") or None
    flt = worklists.CaseFilter(programme=request.args.get("programme") or None, status=status)
    limit = _int_arg("limit", 50, 1, MAX_LIMIT)
    offset = _int_arg("offset", 0, 0)
    rows = worklists.list_started(db, user, flt, limit, offset)
    total = worklists.count_started(db, user, flt)
    stands = worklists.standings(db, rows)
    return jsonify(
        items=[case_json(c) | {"stands": stands[c.id].text} for c in rows],
        total=min(total, worklists.COUNT_CAP),
        total_is_lower_bound=total > worklists.COUNT_CAP,
        limit=limit,
        offset=offset,
    )


@bp.post("/tasks/<int:task_id>/remind")
@token_required
def task_remind(task_id: int):
    data = request.get_json(silent=True) or {}
    if not isinstance(data, dict):
        raise ValidationFailed("请求体应为 JSON 对象")
    message = data.get("message", "")
    if not isinstance(message, str):
        raise ValidationFailed("message 应为文字", errors={"message": "message 应为文字"})
    reminder = reminders.remind(session(), g.api_user, task_id, message)
    return jsonify(reminder_json(reminder)), 201


@bp.get("/reminders")
@token_required
def my_reminders():
    """Reminders on open tasks that wait on the caller (claimed, or unclaimed in their
    group), newest first, one per task."""
    found = reminders.for_user(session(), g.api_user, limit=MAX_LIMIT)
    return jsonify(
        items=[
            reminder_json(r.reminder, r.sender) | {"task": task_json(r.task), "times": r.times}
            for r in found
        ]
    )


def task_reminders(task) -> list[dict]:
    """The reminders of an open task, for its detail answer."""
    return [reminder_json(r.reminder, r.sender) for r in reminders.for_task(session(), task)]
