"""JSON API for reports: routes on the api blueprint, documented in openapi_reports.py."""

from webapp.api import bp  # noqa: F401
