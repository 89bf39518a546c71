"""打印文书: 公示表, 审批表 and 发放花名册 as printable HTML (see workflows/documents.py for
what each holds and who may read it). Pages and the API (webapp/api_documents.py) render
the same templates: pages link the print stylesheet and carry a toolbar; the API's
archive copy inlines the stylesheet (allowed by its hash, nothing else) and has no toolbar.
"""

import base64
import hashlib
from datetime import date
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, render_template, request, url_for
from flask_babel import get_locale
from flask_login import current_user, login_required
from markupsafe import Markup

from webapp.database import session
from workflows import batches, documents
from workflows.clock import CST, now
from workflows.errors import ValidationFailed
from workflows.models import User

bp = Blueprint("documents", __name__)

STYLESHEET = Path(__file__).parent / "static" / "documents.css"
NUMERALS = "一二三四五六七八九十"


@lru_cache(maxsize=1)
def _inline_stylesheet() -> tuple[str, str]:
    """The print stylesheet's text and its CSP hash source, read once."""
    css = STYLESHEET.read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
    return css, f"'sha256-{digest}'"


ARCHIVE_CSP = (
    "default-src 'none'; style-src {source}; img-src 'self' data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def render_document(template: str, archive: bool = False, **context) -> Response:
    """A document as an HTML answer. `archive`: the API's self-contained copy."""
    if archive:
        css, source = _inline_stylesheet()
        # Built here, not in a template: pages never carry a <style> element (the page CSP
        # forbids them); only this copy does, allowed by its hash alone.
        inline = Markup(f"<style>{css}</style>")  # noqa: S704 - our own stylesheet file
        html = render_template(template, archive=True, inline_style=inline, **context)
    else:
        html = render_template(template, archive=False, inline_style=None, **context)
    answer = Response(html, content_type="text/html; charset=utf-8")
    answer.headers["Cache-Control"] = "private, no-store"
    if archive:
        answer.headers["Content-Security-Policy"] = ARCHIVE_CSP.format(source=source)
    return answer


@bp.app_template_filter("long_date")
def long_date(value: date | None) -> str:
    """2026年9月7日 on Chinese pages, 2026-09-07 on English ones."""
    if value is None:
        return ""
    if str(get_locale()) == "en":
        return value.isoformat()
    return f"{value.year}年{value.month}月{value.day}日"


@bp.app_template_filter("numeral")
def numeral(index: int) -> str:
    """1 → 一 (section numbers on paper)."""
    if str(get_locale()) == "en":
        return str(index)
    return NUMERALS[index - 1] if 1 <= index <= len(NUMERALS) else str(index)


@bp.app_template_global("rmb_upper")
def rmb_upper(fen: int) -> str:
    return documents.rmb_upper(fen)


def _user() -> User | None:
    return current_user._get_current_object() if current_user.is_authenticated else None


def round_key(args) -> documents.RoundKey:
    """A notice round from query arguments: org, posted and campaign (or programme)."""
    org = (args.get("org") or "").strip()[:40]
    if not org:
        raise ValidationFailed("请指定单位（org）", errors={"org": "请指定单位"})
    campaign = (args.get("campaign") or "").strip()[:40]
    programme = (args.get("programme") or "").strip()[:40]
    if not campaign and not programme:
        message = "请指定活动（campaign）或业务类型（programme）"
        raise ValidationFailed(message, errors={"campaign": message})
    posted = documents.parse_day(args.get("posted"))
    return documents.RoundKey(org, posted, campaign, "" if campaign else programme)


def part_arg(args) -> int:
    raw = (args.get("part") or "1").strip()
    if not raw.isdigit() or not 0 < int(raw) < 100000:
        raise ValidationFailed("part 应为正整数", errors={"part": "part 应为正整数"})
    return int(raw)


def year_arg(args) -> int | None:
    raw = (args.get("year") or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 2000 <= int(raw) <= 2100:
        raise ValidationFailed("年份应在 2000 至 2100 之间", errors={"year": "年份无效"})
    return int(raw)


def notice_sheet_document(reader: User | None, args, archive: bool = False) -> Response:
    sheet = documents.notice_sheet(session(), reader, round_key(args))
    board = url_for("notices.index", org=sheet.org.code, _external=True)
    return render_document(
        "documents/notice_sheet.html",
        archive,
        sheet=sheet,
        board_url=board,
        back_url=url_for("documents.index") if reader else url_for("notices.index"),
    )


def approval_form_document(user: User, case_id: int, archive: bool = False) -> Response:
    form = documents.approval_form(session(), user, case_id)
    return render_document(
        "documents/approval_forms.html",
        archive,
        title=form.title,
        forms=[form],
        batch=None,
        printed_at=now(),
        back_url=url_for("cases.show", case_id=case_id),
    )


def approval_batch_document(user: User, args, archive: bool = False) -> Response:
    found = documents.approval_forms(
        session(),
        user,
        (args.get("org") or "").strip()[:40],
        campaign_code=(args.get("campaign") or "").strip()[:40] or None,
        programme=(args.get("programme") or "").strip()[:40] or None,
        year=year_arg(args),
        part=part_arg(args),
    )
    base = {k: v for k in ("org", "campaign", "programme", "year") if (v := args.get(k))}
    part_urls = [
        url_for("documents.approval_forms", **base, part=n) for n in range(1, found.parts + 1)
    ]
    return render_document(
        "documents/approval_forms.html",
        archive,
        title=found.title,
        forms=found.forms,
        batch=found,
        part_urls=part_urls,
        printed_at=now(),
        back_url=url_for("documents.index"),
    )


def roster_document(user: User, batch_id: int, args, archive: bool = False) -> Response:
    found = documents.roster(session(), user, batch_id, part_arg(args))
    part_urls = [
        url_for("documents.roster", batch_id=batch_id, part=n) for n in range(1, found.parts + 1)
    ]
    return render_document(
        "documents/roster.html",
        archive,
        roster=found,
        part_urls=part_urls,
        back_url=url_for("finance.batch", batch_id=batch_id),
    )


# --- pages ----------------------------------------------------------------------------------


@bp.get("/documents")
@login_required
def index():
    db, user = session(), _user()
    campaign = (request.args.get("campaign") or "").strip()[:40] or None
    rounds = documents.notice_rounds(db, user, campaign)
    campaigns, orgs = documents.batch_choices(db, user)
    finance_batches = batches.list_batches(db, user)[:50] if user.has_role("finance") else []
    return render_template(
        "documents/index.html",
        rounds=rounds,
        chosen_campaign=campaign or "",
        campaigns=campaigns,
        orgs=orgs,
        finance_batches=finance_batches,
        rounds_listed=documents.ROUNDS_LISTED,
        this_year=now().astimezone(CST).year,
    )


@bp.get("/documents/notice-sheet")
def notice_sheet():
    """Open to everyone: the public gets the notices still running (as the board shows)."""
    return notice_sheet_document(_user(), request.args)


@bp.get("/cases/<int:case_id>/approval-form")
@login_required
def approval_form(case_id: int):
    return approval_form_document(_user(), case_id)


@bp.get("/documents/approval-forms")
@login_required
def approval_forms():
    return approval_batch_document(_user(), request.args)


@bp.get("/documents/batches/<int:batch_id>/roster")
@login_required
def roster(batch_id: int):
    return roster_document(_user(), batch_id, request.args)
