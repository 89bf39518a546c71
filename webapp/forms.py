"""Web forms built from a task's (or start event's) `camunda:formData` fields.

The form renders the fields and keeps what was typed; the rules (required, ranges, ID
and card numbers) are `workflows.forms.validate`'s, run by the service. Here only what
a browser cannot send as the service wants it: money typed in 元 becomes integer fen
(Decimal, never float), an uploaded file becomes the id of its stored copy.
"""

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import request
from flask_babel import gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, MultipleFileField
from sqlalchemy.orm import Session
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)

from workflows import files
from workflows import forms as rules
from workflows.errors import ValidationFailed
from workflows.models import Case, StoredFile, User

UPLOAD_ACCEPT = ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png"
KEPT = "__kept"  # suffix of the hidden field that remembers uploads across a retry
REMOVE = "__remove"  # suffix of the checkboxes that take a kept file out of a field
# A form page's request may carry several photos of up to 10 MB each (files.MAX_BYTES is
# the limit per file, checked in `collect` with the form kept). Werkzeug spools uploads to
# disk, so this bounds disk and time, not memory. Other requests keep MAX_CONTENT_LENGTH.
FORM_UPLOAD_LIMIT = 130 * 1024 * 1024
FORM_UPLOAD_ENDPOINTS = frozenset({"tasks.show", "tasks.new_case"})
_MONEY = re.compile(r"-?\d+(\.\d{1,2})?")


def yuan_to_fen(text: str, label: str | None = None) -> int:
    """'5,000.50' or '5000.5' (元) → 500050 (分)."""
    label = gettext("金额") if label is None else label
    cleaned = re.sub(r"[\s,，]", "", text or "").removesuffix("元")
    if not _MONEY.fullmatch(cleaned):
        if re.fullmatch(r"-?\d+\.\d{3,}", cleaned):
            raise ValueError(gettext("%(label)s最多保留两位小数（精确到分）", label=label))
        raise ValueError(gettext("%(label)s应为金额（元），如 5000.50", label=label))
    try:
        return int(Decimal(cleaned) * 100)
    except InvalidOperation:
        raise ValueError(gettext("%(label)s应为金额（元），如 5000.50", label=label)) from None


def choices(pairs, prompt: str | None = None) -> list[SelectChoice]:
    """Options for a select, led by an empty prompt so nothing is chosen by accident."""
    prompt = gettext("请选择") if prompt is None else prompt
    return [SelectChoice("", prompt)] + [SelectChoice(str(v), label) for v, label in pairs]


class YuanField(StringField):
    """Money typed in 元 with up to two decimals; the service receives integer fen."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("render_kw", {}).update(inputmode="decimal", placeholder="0.00")
        super().__init__(*args, **kwargs)


def allow_form_uploads() -> None:
    """Before the body is read (CSRF reads it first): a signed-in user's form page may
    carry more than an API call, so that a file over the limit comes back as a message
    beside the field with everything typed kept, not as a bare 413 page."""
    if (
        request.method == "POST"
        and request.endpoint in FORM_UPLOAD_ENDPOINTS
        and current_user.is_authenticated
    ):
        request.max_content_length = FORM_UPLOAD_LIMIT


def _upload_size(upload) -> int:
    """The size of an upload without reading it into memory."""
    stream = upload.stream
    position = stream.tell()
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(position)
    return size


def _render_kw(field: dict, context: rules.FormContext | None = None) -> dict:
    kw: dict[str, Any] = {}
    if field.get("required") and field["type"] not in ("boolean", "file"):
        kw["required"] = True
    for bound in ("maxlength", "minlength"):
        if field.get(bound):
            kw[bound] = field[bound]
    if field["type"] == "long":
        for bound in ("min", "max"):
            if field.get(bound) is not None:
                kw[bound] = field[bound]
    if field["type"] == "date" and context is not None:
        # The browser's date picker offers only the days the service accepts.
        low, high = rules.date_bounds(field, context)
        if low:
            kw["min"] = low.isoformat()
        if high:
            kw["max"] = high.isoformat()
    if field["type"] == "file":
        kw["accept"] = UPLOAD_ACCEPT
        kw["data-max-bytes"] = files.MAX_BYTES
        kw["data-too-big"] = gettext(
            "“{name}”有 {size} MB，超过 %(limit)s MB 的上限，请压缩或重新拍摄后再选择",
            limit=files.MAX_BYTES // 1024 // 1024,
        )
        if field.get("multiple"):
            kw["multiple"] = True
    if field["type"] in ("id_number", "bank_card"):
        kw["autocomplete"] = "off"
        kw["inputmode"] = "numeric" if field["type"] == "bank_card" else "text"
    return kw


def _wtforms_field(field: dict, context: rules.FormContext | None = None):
    kind, label = field["type"], field["label"]
    kw = {"label": label, "render_kw": _render_kw(field, context)}
    default = field.get("default")
    if kind == "textarea":
        return TextAreaField(default=default, **kw)
    if kind == "long":
        return IntegerField(default=default, **kw)
    if kind == "money":
        return YuanField(**kw)
    if kind == "date":
        return DateField(**kw)
    if kind == "enum":
        options = choices((o[0], o[1]) for o in field.get("options", []))
        return SelectField(choices=options, default=default or "", validate_choice=False, **kw)
    if kind == "boolean":
        return BooleanField(default=str(default).lower() == "true", **kw)
    if kind == "file" and field.get("multiple"):
        return MultipleFileField(**kw)
    if kind == "file":
        return FileField(**kw)
    return StringField(default=default, **kw)


def _initial(fields: list[dict], values: dict[str, Any]) -> dict[str, Any]:
    """What a form shows before it is submitted, from the case's current values. ID and
    card numbers are never written into a page: their inputs start empty (left empty,
    the number stays as it is; see webapp/templates/tasks/_fields.html)."""
    initial: dict[str, Any] = {}
    for field in fields:
        fid, kind, value = field["id"], field["type"], values.get(field["id"])
        if field.get("readonly") or value is None or kind in ("id_number", "bank_card", "file"):
            continue
        if kind == "money" and isinstance(value, int):
            initial[fid] = f"{Decimal(value) / 100:.2f}"
        elif kind == "date":
            try:
                initial[fid] = date.fromisoformat(str(value))
            except ValueError:
                continue
        else:
            initial[fid] = value
    return initial


def form_for(
    fields: list[dict],
    extra: dict | None = None,
    values: dict[str, Any] | None = None,
    context: rules.FormContext | None = None,
    session: Session | None = None,
    case: Case | None = None,
) -> FlaskForm:
    """A form bound to the request (on POST) with one input per editable field; before
    that, prefilled from `values` (a rework edits what the case holds), files included."""
    attrs: dict[str, Any] = dict(extra or {})
    for field in fields:
        if field.get("readonly"):
            continue
        attrs[field["id"]] = _wtforms_field(field, context)
        if field["type"] == "file":
            attrs[field["id"] + KEPT] = HiddenField()
    form_class = type("FieldsForm", (FlaskForm,), attrs)
    form = form_class(data=_initial(fields, values) if values else None)
    form.kept_files = {}
    if values and session is not None and request.method != "POST":
        for field in fields:
            if field["type"] != "file" or field.get("readonly"):
                continue
            kept = _files_of_case(session, case, rules.as_file_list(values.get(field["id"])))
            if kept:
                form.kept_files[field["id"]] = kept
                form[field["id"] + KEPT].data = ",".join(str(f.id) for f in kept)
    return form


def _files_of_case(session: Session, case: Case | None, ids: list[int]) -> list[StoredFile]:
    found = [session.get(StoredFile, i) for i in ids]
    return [f for f in found if f is not None and case is not None and f.case_id == case.id]


def _usable(stored: StoredFile | None, user: User, case: Case | None) -> bool:
    """A file a form may keep: the user's own upload not yet used, or one of the case's."""
    if stored is None:
        return False
    if stored.case_id is None:
        return stored.uploaded_by_id == user.id
    return case is not None and stored.case_id == case.id


def _raw(form_field) -> str | None:
    return form_field.raw_data[0] if form_field.raw_data else None


def collect(
    form: FlaskForm,
    fields: list[dict],
    session: Session,
    user: User,
    case: Case | None = None,
    context: rules.FormContext | None = None,
    blank_keeps: set[str] = frozenset(),
) -> dict[str, Any]:
    """The submitted values as the service takes them. Uploads are stored first (and
    remembered for a retry, with the case's own files a rework keeps); what cannot be
    converted raises ValidationFailed together with the service's own checks of the other
    fields, so all messages show at once. `blank_keeps`: fields a rework prefilled,
    whose ID or card number left empty means "unchanged"."""
    data: dict[str, Any] = {}
    local: dict[str, str] = {}
    for field in fields:
        if field.get("readonly"):
            continue
        fid, kind = field["id"], field["type"]
        element = form[fid]
        if kind == "boolean":
            data[fid] = bool(element.data)
        elif kind == "money":
            raw = _raw(element)
            if raw is not None and raw.strip():
                try:
                    data[fid] = yuan_to_fen(raw, field["label"])
                except ValueError as err:
                    local[fid] = str(err)
        elif kind == "file":
            kept_raw = _raw(form[fid + KEPT]) or ""
            removed = set(request.form.getlist(fid + REMOVE))
            kept = [
                stored
                for stored in (
                    session.get(StoredFile, int(i)) for i in kept_raw.split(",") if i.isdigit()
                )
                if _usable(stored, user, case) and str(stored.id) not in removed
            ]
            uploads = element.data if isinstance(element.data, list) else [element.data]
            uploads = [u for u in uploads if u is not None and getattr(u, "filename", "")]
            stored_now = []
            for upload in uploads:
                size = _upload_size(upload)
                if size > files.MAX_BYTES:
                    local[fid] = gettext(
                        "“%(name)s”有 %(size)s MB，超过 %(limit)s MB 的上限，"
                        "请压缩或重新拍摄后再上传；其他内容已保留",
                        name=upload.filename,
                        size=f"{size / 1024 / 1024:.1f}",
                        limit=files.MAX_BYTES // 1024 // 1024,
                    )
                    continue
                try:
                    stored_now.append(files.store(session, user, upload.filename, upload.read()))
                except ValidationFailed as err:
                    local[fid] = err.message
            if field.get("multiple"):
                chosen = kept + stored_now
            else:
                chosen = stored_now[-1:] or kept[:1]
            if chosen:
                form.kept_files[fid] = chosen
                ids = [f.id for f in chosen]
                data[fid] = ids if field.get("multiple") else ids[0]
            form[fid + KEPT].data = ",".join(str(f.id) for f in chosen)
        else:
            data[fid] = _raw(element)
    if local:
        _, errors = rules.validate(fields, data, context)
        for fid in blank_keeps:  # a rework's ID or card number left empty stays as it is
            value = data.get(fid)
            if fid in errors and (value is None or (isinstance(value, str) and not value.strip())):
                errors.pop(fid)
        errors.update(local)
        raise ValidationFailed(gettext("填写内容有误，请按提示修改"), errors=errors)
    return data


def show_errors(form: FlaskForm, errors: dict[str, str]) -> dict[str, str]:
    """Put each message next to its field; return those that belong to no field."""
    general = {}
    for key, message in errors.items():
        if key and key in form and not key.endswith(KEPT):
            form[key].errors = [message]
        else:
            general[key] = message
    return general
