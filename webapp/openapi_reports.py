"""OpenAPI paths and schemas for webapp/api_reports.py, merged into webapp/openapi.py."""

from typing import Any

PATHS: dict[str, Any] = {}
SCHEMAS: dict[str, Any] = {}
TAGS: list[dict] = []
