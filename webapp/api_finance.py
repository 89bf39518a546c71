"""JSON API for finance: routes on the api blueprint, documented in openapi_finance.py."""

from webapp.api import bp  # noqa: F401
