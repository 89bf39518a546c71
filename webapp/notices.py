"""公示公告: the public notice board and the objection form, open to anyone without login.

Only masked names and ID numbers ever reach these pages (see workflows/privacy.py);
objections are rate-limited per address.
"""

import math
import time

from flask import Blueprint, make_response, render_template, request
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from webapp.database import session
from webapp.extensions import limiter
from workflows import documents, notices
from workflows.cases import PROGRAMMES
from workflows.errors import NotFound, ValidationFailed

bp = Blueprint("notices", __name__)

OBJECTION_LIMIT = "5 per hour; 20 per day"
# One count per address for the notice page and the API alike (webapp/api.py uses it).
OBJECTION_SCOPE = "objection"
# Looking up an objection by its reference: enough for a person, too few to try numbers.
LOOKUP_LIMIT = "30 per hour"


def wait_text(limit) -> str:
    """How long until a breached limit lets the address in again: 12 分钟 / 约 5 小时."""
    minutes = max(1, round((limit.reset_at - time.time()) / 60))
    if minutes <= 90:
        return gettext("%(n)s 分钟", n=minutes)
    return gettext("约 %(n)s 小时", n=math.ceil(minutes / 60))


def _too_often(limit):
    """The objection form again with what was typed, how long to wait, and the way back
    to the board (not an error page that leads to the staff login)."""
    db = session()
    try:
        notice, org = notices.notice_for_objection(db, request.view_args["notice_id"])
    except (ValidationFailed, NotFound):
        return None  # the default 429 answer
    form = ObjectionForm()
    message = gettext(
        "操作过于频繁：为防止恶意提交，同一网络提交异议的次数有限。请在 %(wait)s后再提交，"
        "您填写的内容已保留在下方；也可拨打职工服务热线 12351 反映。",
        wait=wait_text(limit),
    )
    page = render_template(
        "notices/objection.html", form=form, notice=notice, org=org, refused=message
    )
    return make_response(page, 429)


def _lookup_too_often(limit):
    message = gettext("查询过于频繁，请在 %(wait)s后再试。", wait=wait_text(limit))
    page = render_template(
        "notices/lookup.html", reference=request.args.get("ref", ""), status=None, error=message
    )
    return make_response(page, 429)


class ObjectionForm(FlaskForm):
    contact = StringField(
        lazy_gettext("联系方式"),
        validators=[
            DataRequired(lazy_gettext("请填写联系方式")),
            Length(max=100, message=lazy_gettext("联系方式应在 100 字以内")),
        ],
    )
    reason = TextAreaField(
        lazy_gettext("异议理由"),
        validators=[
            DataRequired(lazy_gettext("请填写异议理由")),
            Length(min=5, max=2000, message=lazy_gettext("异议理由应为 5 至 2000 字")),
        ],
    )


@bp.app_template_filter("programme_label")
def programme_label(process_id: str) -> str:
    programme = PROGRAMMES.get(process_id)
    return programme.label if programme else process_id


@bp.app_template_filter("notice_last_day")
def notice_last_day(ends_at) -> str:
    return notices.last_day(ends_at).isoformat() if ends_at else ""


@bp.get("/notices")
def index():
    org_code = (request.args.get("org") or "").strip() or None
    page = request.args.get("page", 1, type=int) or 1
    db = session()
    board = notices.notice_board(db, org_code, page)
    return render_template(
        "notices/index.html",
        board=board,
        rounds=documents.public_rounds(db, [notice for notice, _ in board.rows]),
        org_code=org_code or "",
        organisations=notices.board_organisations(db),
    )


@bp.route("/notices/<int:notice_id>/objection", methods=["GET", "POST"], endpoint="object")
@limiter.shared_limit(
    OBJECTION_LIMIT, scope=OBJECTION_SCOPE, methods=["POST"], on_breach=_too_often
)
def objection(notice_id: int):
    db = session()
    try:
        notice, org = notices.notice_for_objection(db, notice_id)
    except ValidationFailed as err:
        return render_template("notices/closed.html", message=err.message), 422
    form = ObjectionForm()
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                received = notices.raise_objection(
                    db, notice.id, form.contact.data, form.reason.data
                )
            except ValidationFailed as err:
                if not err.errors:
                    # Ended between the page load and the submit (timer, another objection).
                    return render_template("notices/closed.html", message=err.message), 422
                for name, message in err.errors.items():
                    field = getattr(form, name, None)
                    if field is not None:
                        field.errors = [*field.errors, message]
            else:
                return render_template(
                    "notices/received.html", notice=notice, org=org, objection=received
                )
        return render_template("notices/objection.html", form=form, notice=notice, org=org), 422
    return render_template("notices/objection.html", form=form, notice=notice, org=org)


@bp.get("/notices/objections")
@limiter.limit(LOOKUP_LIMIT, on_breach=_lookup_too_often)
def lookup():
    """异议查询: the progress of an objection by the reference its objector was given."""
    reference = (request.args.get("ref") or "").strip()[:40]
    status, error, code = None, None, 200
    if reference:
        try:
            status = notices.objection_status(session(), reference)
        except (ValidationFailed, NotFound) as err:
            error, code = gettext(err.message), 404 if isinstance(err, NotFound) else 422
    page = render_template("notices/lookup.html", reference=reference, status=status, error=error)
    return page, code
