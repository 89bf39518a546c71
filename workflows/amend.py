"""修改申请: a returned case's application corrected by its caseworker.

A user task marked `edits_application` in its diagram (退回修改 → 按退回意见修改) shows the
case's application form (its process's start form) prefilled beside the task's own
fields. On completion the changed values are checked by the rules the application was
checked by when it was registered (the form's constraints, ID check digits, one grant per
subject and year, the campaign's standard amount for a changed category), written into
the case, and recorded old → new (personal numbers masked) in the history, where the
approver who returned the case sees them on the next approval page.
"""

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from workflows import forms, privacy
from workflows.audit import record
from workflows.errors import ValidationFailed
from workflows.models import AuditEvent, Campaign, Case, GrantClaim, StoredFile, User
from workflows.processes import EDITS_APPLICATION, loaded_version

AMEND_ACTION = "case.amend"
# Kept in the blank when the caseworker leaves them empty: the page never shows these
# numbers whole (see webapp/templates/tasks/_fields.html), and a file input cannot be
# prefilled, so empty means "as it is".
KEEP_WHEN_BLANK = ("id_number", "bank_card", "file")


def edits_application(task_meta: dict) -> bool:
    return bool(task_meta.get(EDITS_APPLICATION))


def application_fields(session: Session, version_id: int, own: list[dict]) -> list[dict]:
    """The start form of the case's own process (the version it runs on), without the
    fields the task itself has (deploy refuses such clashes; old versions may have them)."""
    own_ids = {f["id"] for f in own}
    start_form = loaded_version(session, version_id).meta.get("start_form", [])
    return [f for f in start_form if f["id"] not in own_ids and not f.get("readonly")]


def current_values(fields: list[dict], data: dict[str, Any]) -> dict[str, Any]:
    return {f["id"]: data[f["id"]] for f in fields if f["id"] in data}


def prefill_values(fields: list[dict], data: dict[str, Any]) -> dict[str, Any]:
    """The current values as a rework form may show them: an ID or card number typed into
    free text is masked, however it was written (sent back unchanged, it keeps the
    number; see `_submitted`)."""
    return {
        fid: privacy.mask_numbers(value) if _free_text(spec) and isinstance(value, str) else value
        for fid, value, spec in ((f["id"], data[f["id"]], f) for f in fields if f["id"] in data)
    }


def _free_text(spec: dict) -> bool:
    return spec.get("type", "string") in ("string", "textarea")


@dataclass
class Change:
    field_id: str
    label: str
    old: str
    new: str


@dataclass
class Amendment:
    """What a rework changes: the values for the workflow, and old → new as shown."""

    updates: dict[str, Any] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    file_ids: list[int] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def _shown(session: Session, spec: dict, value: Any) -> str:
    """A value as the history may keep it: masked numbers, option names, file names."""
    if value is None or value == "" or value == []:
        return "（空）"
    kind = spec.get("type", "string")
    if kind == "id_number":
        return privacy.mask_id(str(value))
    if kind == "bank_card":
        return privacy.mask_card(str(value))
    if kind == "enum":
        return dict((o[0], o[1]) for o in spec.get("options", [])).get(value, str(value))
    if kind == "money" and isinstance(value, int):
        return f"{value / 100:,.2f} 元"
    if kind == "boolean":
        return "是" if value else "否"
    if kind == "file":
        names = []
        for file_id in forms.as_file_list(value):
            stored = session.get(StoredFile, file_id)
            names.append(stored.filename if stored is not None else f"文件 {file_id}")
        return "、".join(names) or "（空）"
    return privacy.mask_numbers(str(value))


def _submitted(fields: list[dict], current: dict, data: dict) -> dict[str, Any]:
    """The application as it would be: what is current, with what was sent over it. A key
    not sent keeps its value (an API client may send only what it changes)."""
    candidate = dict(current)
    for spec in fields:
        fid = spec["id"]
        if fid not in data:
            continue
        value = data[fid]
        blank = value is None or (isinstance(value, str) and not value.strip()) or value == []
        if blank and spec["type"] in KEEP_WHEN_BLANK:
            continue
        kept = current.get(fid)
        if _free_text(spec) and isinstance(kept, str) and value == privacy.mask_numbers(kept):
            continue  # the masked prefill sent back as it was: the text stays whole
        candidate[fid] = value
    return candidate


def prepare(
    session: Session,
    case: Case,
    fields: list[dict],
    workflow_data: dict[str, Any],
    data: dict[str, Any],
    context: forms.FormContext,
) -> Amendment:
    """Check the corrected application (`data`, as submitted) against what the case holds
    (`workflow_data`, the task's data); nothing is written yet."""
    from workflows.cases import PROGRAMMES, standard_amount  # cases imports tasks → amend

    current = current_values(fields, workflow_data)
    clean, errors = forms.validate(fields, _submitted(fields, current, data), context)
    amendment = Amendment(errors=errors)
    if errors:
        return amendment
    for spec in fields:
        fid = spec["id"]
        if clean.get(fid) != current.get(fid):
            amendment.updates[fid] = clean.get(fid)
            amendment.changes.append(
                Change(
                    fid,
                    spec.get("label") or fid,
                    _shown(session, spec, current.get(fid)),
                    _shown(session, spec, clean.get(fid)),
                )
            )
    new_files = set(forms.file_ids(fields, clean)) - set(forms.file_ids(fields, current))
    amendment.file_ids = sorted(new_files)

    prog = PROGRAMMES.get(case.programme)
    if prog is None or not amendment.updates:
        return amendment
    campaign = session.get(Campaign, case.campaign_id) if case.campaign_id else None
    if prog.standard_by and prog.standard_by in amendment.updates:
        try:
            amount = standard_amount(campaign, prog, clean)
        except ValidationFailed as err:
            amendment.errors.update(err.errors or {prog.standard_by: err.message})
            return amendment
        if amount != workflow_data.get("amount_fen", case.amount_fen):
            amendment.updates["amount_fen"] = amount
            amendment.changes.append(
                Change(
                    "amount_fen",
                    "补助金额",
                    _shown(session, {"type": "money"}, case.amount_fen),
                    _shown(session, {"type": "money"}, amount),
                )
            )
            threshold = workflow_data.get("city_approval_threshold_fen")
            levels = workflow_data.get("approval_levels")
            if isinstance(threshold, int) and isinstance(levels, int) and amount > threshold:
                # The amount now needs the city federation's sign-off too; a lower one
                # never takes a level away that the case already had.
                amendment.updates["approval_levels"] = max(levels, 3)
    if prog.id_field in amendment.updates:
        key = privacy.subject_key(clean[prog.id_field])
        for claim in _claims(session, case):
            taken = session.scalars(
                select(GrantClaim).where(
                    GrantClaim.programme == claim.programme,
                    GrantClaim.year == claim.year,
                    GrantClaim.subject_key == key,
                    GrantClaim.case_id != case.id,
                )
            ).first()
            if taken is not None:
                other = session.get(Case, taken.case_id)
                number = other.case_no if other else ""
                amendment.errors[prog.id_field] = (
                    f"该{prog.subject_label}已有{prog.label}案件（{number}），"
                    f"同一{prog.subject_label}不能重复申请"
                )
    return amendment


def _claims(session: Session, case: Case) -> list[GrantClaim]:
    return list(session.scalars(select(GrantClaim).where(GrantClaim.case_id == case.id)))


def apply(
    session: Session,
    user: User,
    case: Case,
    amendment: Amendment,
    task_id: int,
) -> None:
    """Write a checked amendment into the case's columns and the history (the caller
    puts `amendment.updates` into the task data)."""
    from workflows.cases import PROGRAMMES, approval_levels_needed

    prog = PROGRAMMES.get(case.programme)
    updates = amendment.updates
    if prog is not None:
        if prog.name_field in updates:
            case.applicant_name = str(updates[prog.name_field])[:60]
        if prog.id_field in updates:
            number = str(updates[prog.id_field])
            case.subject_key = privacy.subject_key(number)
            case.subject_id_masked = privacy.mask_id(number)
            try:
                # A savepoint: a concurrent application for the same person that got there
                # first is a clear refusal, not a failed transaction.
                with session.begin_nested():
                    session.execute(
                        update(GrantClaim)
                        .where(GrantClaim.case_id == case.id)
                        .values(subject_key=case.subject_key)
                    )
            except IntegrityError:
                who = prog.subject_label
                message = f"该{who}已有{prog.label}案件，同一{who}不能重复申请"
                raise ValidationFailed(message, errors={prog.id_field: message}) from None
        if prog.standard_by and prog.standard_by in updates:
            case.category = str(updates[prog.standard_by] or "")
    if "amount_fen" in updates:
        case.amount_fen = int(updates["amount_fen"])
        # The programme's rule for the new amount: the money services read this column,
        # not the workflow data, so a corrected amount above the city line waits for the
        # city federation too. A correction never takes a level away.
        campaign = session.get(Campaign, case.campaign_id) if case.campaign_id else None
        case.approval_levels = max(
            case.approval_levels or 2, approval_levels_needed(campaign, case.amount_fen)
        )
    if not amendment.changes:
        return
    lines = [f"{c.label}：{c.old} → {c.new}" for c in amendment.changes]
    record(
        session,
        user.id,
        case.id,
        AMEND_ACTION,
        "修改申请信息：" + "；".join(lines),
        task_id=task_id,
        changes=[c.__dict__ for c in amendment.changes],
    )


@dataclass
class ReworkReport:
    """What the approver who returned a case sees when it comes back."""

    at: Any
    actor: str
    return_reason: str
    rework_note: str
    changes: list[Change]


def latest_rework(session: Session, case: Case, data: dict[str, Any]) -> ReworkReport | None:
    """The changes of the case's latest rework, if no approval decision was taken since."""
    amend = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.case_id == case.id, AuditEvent.action == "task.complete")
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()
    if amend is None:
        return None
    detail = json.loads(amend.detail or "{}")
    if not detail.get(EDITS_APPLICATION):
        return None
    changes_event = session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.case_id == case.id,
            AuditEvent.action == AMEND_ACTION,
            AuditEvent.id < amend.id,
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()
    changes: list[Change] = []
    if changes_event is not None and json.loads(changes_event.detail or "{}").get(
        "task_id"
    ) == detail.get("task_id"):
        changes = [Change(**c) for c in json.loads(changes_event.detail)["changes"]]
    actor = session.get(User, amend.actor_id) if amend.actor_id else None
    return ReworkReport(
        amend.at,
        actor.display_name if actor else "",
        str(data.get("return_reason") or ""),
        str((detail.get("data") or {}).get("rework_note") or ""),
        changes,
    )
