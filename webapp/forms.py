"""Web forms built from a task's (or start event's) `camunda:formData` fields.

The form renders the fields and keeps what was typed; the rules (required, ranges, ID
and card numbers) are `workflows.forms.validate`'s, run by the service. Here only what
a browser cannot send as the service wants it: money typed in 元 becomes integer fen
(Decimal, never float), an uploaded file becomes the id of its stored copy.
"""

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
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
from workflows.models import StoredFile, User

UPLOAD_ACCEPT = ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png"
KEPT = "__kept"  # suffix of the hidden field that remembers an upload across a retry
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


def _render_kw(field: dict) -> dict:
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
    if field["type"] in ("id_number", "bank_card"):
        kw["autocomplete"] = "off"
        kw["inputmode"] = "numeric" if field["type"] == "bank_card" else "text"
    return kw


def _wtforms_field(field: dict):
    kind, label = field["type"], field["label"]
    kw = {"label": label, "render_kw": _render_kw(field)}
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
    if kind == "file":
        kw["render_kw"]["accept"] = UPLOAD_ACCEPT
        return FileField(**kw)
    return StringField(default=default, **kw)


def form_for(fields: list[dict], extra: dict | None = None) -> FlaskForm:
    """A form bound to the request (on POST) with one input per editable field."""
    attrs: dict[str, Any] = dict(extra or {})
    for field in fields:
        if field.get("readonly"):
            continue
        attrs[field["id"]] = _wtforms_field(field)
        if field["type"] == "file":
            attrs[field["id"] + KEPT] = HiddenField()
    form_class = type("FieldsForm", (FlaskForm,), attrs)
    form = form_class()
    form.kept_files = {}
    return form


def _raw(form_field) -> str | None:
    return form_field.raw_data[0] if form_field.raw_data else None


def collect(form: FlaskForm, fields: list[dict], session: Session, user: User) -> dict[str, Any]:
    """The submitted values as the service takes them. Uploads are stored first (and
    remembered for a retry); what cannot be converted raises ValidationFailed together
    with the service's own checks of the other fields, so all messages show at once."""
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
            upload = element.data
            if upload is not None and getattr(upload, "filename", ""):
                try:
                    stored = files.store(session, user, upload.filename, upload.read())
                except ValidationFailed as err:
                    local[fid] = err.message
                else:
                    data[fid] = stored.id
                    form.kept_files[fid] = stored
            else:
                kept = _raw(form[fid + KEPT]) or ""
                stored = session.get(StoredFile, int(kept)) if kept.isdigit() else None
                if stored is not None and stored.uploaded_by_id == user.id:
                    data[fid] = stored.id
                    form.kept_files[fid] = stored
            if fid in form.kept_files:
                form[fid + KEPT].data = str(form.kept_files[fid].id)
        else:
            data[fid] = _raw(element)
    if local:
        _, errors = rules.validate(fields, data)
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
