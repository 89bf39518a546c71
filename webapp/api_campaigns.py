"""JSON API for campaigns: routes on the api blueprint, documented in openapi_campaigns.py."""

from webapp.api import bp  # noqa: F401
