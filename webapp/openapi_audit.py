"""OpenAPI paths and schemas for webapp/api_audit.py, merged into webapp/openapi.py."""

from typing import Any

from webapp.openapi_parts import SECURED, errors, json_body, ref

# Small helpers as in webapp/openapi.py (importing them from there would be circular).


def _query(name: str, description: str, schema: dict | None = None) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string", "maxLength": 60},
    }


DAY = {"type": "string", "format": "date", "examples": ["2026-09-07"]}

SCHEMAS: dict[str, Any] = {
    "AuditEvent": {
        "type": "object",
        "required": ["id", "at", "actor", "case", "action", "action_label", "summary"],
        "properties": {
            "id": {"type": "integer"},
            "at": {"type": "string", "format": "date-time", "description": "时间（东八区）"},
            "actor": {
                "type": ["object", "null"],
                "description": "操作人；系统操作（定时任务等）为 null",
                "required": ["username", "display_name"],
                "properties": {
                    "username": {"type": "string"},
                    "display_name": {"type": "string"},
                },
            },
            "case": {
                "type": ["object", "null"],
                "description": "相关案件；与案件无关的操作为 null",
                "required": ["id", "case_no"],
                "properties": {
                    "id": {"type": "integer"},
                    "case_no": {"type": ["string", "null"]},
                },
            },
            "action_label": {
                "type": "string",
                "description": "操作的中文名称，如“认领任务”；未登记名称的操作为其代码",
            },
            "action": {
                "type": "string",
                "description": "操作代码，如 auth.login、task.complete、batch.import",
            },
            "summary": {
                "type": "string",
                "description": "摘要；身份证号、银行卡号已脱敏",
            },
        },
    },
    "AuditEventList": {
        "type": "object",
        "required": ["items", "total", "offset", "limit"],
        "properties": {
            "items": {"type": "array", "items": ref("AuditEvent")},
            "total": {"type": "integer", "description": "符合条件的记录总数"},
            "offset": {"type": "integer"},
            "limit": {"type": "integer"},
        },
    },
}

PATHS: dict[str, Any] = {
    "/audit": {
        "get": {
            "operationId": "listAuditEvents",
            "summary": "审计日志：按操作人、案件、日期和操作筛选，按时间倒序",
            "description": (
                "仅管理员可查看；市级以下的管理员只看到本单位及下级的案件和人员的记录。"
                "日期为东八区日期，起止日均包含在内；"
                "日期格式不正确、不在 2000 至 2999 年之间或开始晚于结束时返回 422。"
            ),
            "tags": ["audit"],
            "security": SECURED,
            "parameters": [
                _query("user", "操作人的用户名或姓名（完全一致）"),
                _query("case", "案件编号（完全一致）"),
                _query("from", "开始日期（含），YYYY-MM-DD", DAY),
                _query("to", "结束日期（含），YYYY-MM-DD", DAY),
                _query(
                    "action",
                    "操作代码前缀（如 auth. 或 task.complete），或操作、类别的中文名称"
                    "（如 认领任务、登录与账号）",
                ),
                _query("offset", "跳过的条数", {"type": "integer", "minimum": 0, "default": 0}),
                _query(
                    "limit",
                    "返回的条数",
                    {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
                ),
            ],
            "responses": {
                "200": json_body(ref("AuditEventList"), "审计记录，最新的在前"),
                **errors(401, 403, 422),
            },
        }
    },
}

TAGS: list[dict] = [{"name": "audit", "description": "审计日志（仅管理员）"}]
