"""Template filters: masking, money in yuan, dates in China time."""

from datetime import datetime

from flask import Flask

from workflows import privacy
from workflows.clock import CST


def yuan(fen: int | None) -> str:
    """Integer fen as 元 with thousands separators, without floating point."""
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def local_date(value: datetime | None) -> str:
    return value.astimezone(CST).strftime("%Y-%m-%d") if value else ""


def local_time(value: datetime | None) -> str:
    return value.astimezone(CST).strftime("%Y-%m-%d %H:%M") if value else ""


def init_app(app: Flask) -> None:
    app.add_template_filter(privacy.mask_name, "mask_name")
    app.add_template_filter(privacy.mask_id, "mask_id")
    app.add_template_filter(privacy.mask_card, "mask_card")
    app.add_template_filter(yuan, "yuan")
    app.add_template_filter(local_date, "local_date")
    app.add_template_filter(local_time, "local_time")
