"""公示公告: the public notice board and the objection form, open to anyone without login.

Only masked names and ID numbers ever reach these pages (see workflows/privacy.py);
objections are rate-limited per address.
"""

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from webapp.database import session
from webapp.extensions import limiter
from workflows import documents, notices
from workflows.cases import PROGRAMMES
from workflows.errors import ValidationFailed

bp = Blueprint("notices", __name__)

OBJECTION_LIMIT = "5 per hour; 20 per day"
# One count per address for the notice page and the API alike (webapp/api.py uses it).
OBJECTION_SCOPE = "objection"


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
@limiter.shared_limit(OBJECTION_LIMIT, scope=OBJECTION_SCOPE, methods=["POST"])
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
                notices.raise_objection(db, notice.id, form.contact.data, form.reason.data)
            except ValidationFailed as err:
                if not err.errors:
                    # Ended between the page load and the submit (timer, another objection).
                    return render_template("notices/closed.html", message=err.message), 422
                for name, message in err.errors.items():
                    field = getattr(form, name, None)
                    if field is not None:
                        field.errors = [*field.errors, message]
            else:
                return render_template("notices/received.html", notice=notice, org=org)
        return render_template("notices/objection.html", form=form, notice=notice, org=org), 422
    return render_template("notices/objection.html", form=form, notice=notice, org=org)
