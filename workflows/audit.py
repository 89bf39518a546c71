"""The audit trail: one append-only row per state change, in the action's transaction."""

import json
from typing import Any

from sqlalchemy.orm import Session

from workflows.models import AuditEvent


def record(
    session: Session,
    actor_id: int | None,
    case_id: int | None,
    action: str,
    summary: str = "",
    **detail: Any,
) -> AuditEvent:
    event = AuditEvent(
        actor_id=actor_id,
        case_id=case_id,
        action=action,
        summary=summary[:500],
        detail=json.dumps(detail, ensure_ascii=False, default=str),
    )
    session.add(event)
    return event
