"""OpenAPI paths and schemas for webapp/api_worklists.py (已办, 我发起的, 督办, 催办), merged
into webapp/openapi.py. `GET /tasks` documents its scopes done and overdue there."""

from typing import Any

from webapp.openapi_parts import SECURED, errors, id_param, json_body, nullable, ref

DATETIME = {"type": "string", "format": "date-time", "description": "ISO 8601，带时区偏移"}


PROGRAMME_IDS = ["tuition_grant", "seasonal_aid", "hardship_archive", "archive_recheck"]


def _query(name: str, description: str, schema: dict | None = None) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


SCHEMAS: dict[str, Any] = {
    "StartedCase": {
        "allOf": [
            ref("Case"),
            {
                "type": "object",
                "required": ["stands"],
                "properties": {
                    "stands": {
                        "type": "string",
                        "description": "案件现在所处的环节或等待的原因，如“县（区）总工会审批”"
                        "“公示中，至 12月8日”“已结案（助学金已发放）”",
                    }
                },
            },
        ]
    },
    "StartedCaseList": {
        "type": "object",
        "required": ["items", "total", "limit", "offset"],
        "properties": {
            "items": {"type": "array", "items": ref("StartedCase")},
            "total": {"type": "integer", "description": "符合条件的案件数，最多计到 2000"},
            "total_is_lower_bound": {
                "type": "boolean",
                "description": "超过 2000 件时为 true，total 为 2000（请用筛选缩小范围）",
            },
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    },
    "Reminder": {
        "type": "object",
        "required": ["id", "task_id", "sent_by", "sent_at", "message", "to", "to_group"],
        "properties": {
            "id": {"type": "integer"},
            "task_id": {"type": "integer"},
            "sent_by": nullable("string", description="催办人姓名"),
            "sent_at": DATETIME,
            "message": {"type": "string", "description": "催办留言，可为空"},
            "to": {
                "oneOf": [ref("UserRef"), {"type": "null"}],
                "description": "催办时的办理人；任务未认领时为 null（提醒该岗位）",
            },
            "to_group": {"type": "string", "description": "任务的岗位"},
        },
    },
    "RemindRequest": {
        "type": "object",
        "properties": {
            "message": {"type": "string", "maxLength": 200, "description": "留言（可不填）"}
        },
    },
    "MyReminder": {
        "allOf": [
            ref("Reminder"),
            {
                "type": "object",
                "required": ["task", "times"],
                "properties": {
                    "task": ref("Task"),
                    "times": {"type": "integer", "description": "该任务累计被催办的次数"},
                },
            },
        ]
    },
}

PATHS: dict[str, Any] = {
    "/cases/started": {
        "get": {
            "operationId": "listStartedCases",
            "summary": "我发起的：本人登记的案件及其当前所处环节，最近登记的在前",
            "tags": ["cases"],
            "security": SECURED,
            "parameters": [
                _query("programme", "业务", {"type": "string", "enum": PROGRAMME_IDS}),
                _query(
                    "status",
                    "办理状态",
                    {"type": "string", "enum": ["running", "completed", "cancelled"]},
                ),
                _query("limit", "返回的件数", {"type": "integer", "minimum": 1, "maximum": 100}),
                _query("offset", "跳过的件数", {"type": "integer", "minimum": 0}),
            ],
            "responses": {
                "200": json_body(ref("StartedCaseList"), "本人登记的案件"),
                **errors(401, 422),
            },
        }
    },
    "/tasks/{task_id}/remind": {
        "post": {
            "operationId": "remindTask",
            "summary": "催办一项超期任务",
            "description": (
                "县（区）、市总工会审批人和管理员可催办本单位及下级单位超期未办的任务；"
                "办理人（未认领时为该岗位的同事）在首页和任务页看到提醒，直到任务办结。"
                "同一任务每天最多催办一次，再次催办返回 409；任务未超期返回 422，"
                "已办结返回 409 already_done，不在督办范围返回 403。"
            ),
            "tags": ["tasks"],
            "security": SECURED,
            "parameters": [id_param("task_id", "任务 id")],
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": ref("RemindRequest")}},
            },
            "responses": {
                "201": json_body(ref("Reminder"), "已发出的催办"),
                **errors(401, 403, 404, 409, 422),
            },
        }
    },
    "/reminders": {
        "get": {
            "operationId": "listMyReminders",
            "summary": "催办提醒：等待本人办理（或本岗位待认领）的任务收到的催办，最新的在前",
            "tags": ["tasks"],
            "security": SECURED,
            "responses": {
                "200": json_body(
                    {
                        "type": "object",
                        "required": ["items"],
                        "properties": {"items": {"type": "array", "items": ref("MyReminder")}},
                    },
                    "每项任务一条（最近一次催办）",
                ),
                **errors(401),
            },
        }
    },
}

TAGS: list[dict] = []
