"""The OpenAPI 3.1 document of the JSON API (served at GET /api/v1/openapi.json).

Kept by hand next to webapp/api.py; tests/test_api.py checks that every route of the
`api` blueprint is described here and that nothing here lacks a route.
"""

from copy import deepcopy
from typing import Any

from webapp import (
    openapi_archive,
    openapi_audit,
    openapi_campaigns,
    openapi_casework,
    openapi_documents,
    openapi_finance,
    openapi_logins,
    openapi_org_admin,
    openapi_reports,
    openapi_worklists,
)
from webapp.openapi_parts import SECURED, errors, id_param, json_body, nullable, ref

DATETIME = {"type": "string", "format": "date-time", "description": "ISO 8601，带时区偏移"}
NULLABLE_DATETIME = nullable("string", format="date-time", description="ISO 8601，带时区偏移")
PUBLIC: list = []


YEAR_PARAM = {
    "name": "year",
    "in": "path",
    "required": True,
    "description": "年份（2000 至 2100）",
    "schema": {"type": "integer", "minimum": 2000, "maximum": 2100},
}


def _process_param() -> dict:
    return {
        "name": "process_id",
        "in": "path",
        "required": True,
        "description": "流程标识，如 approval_by_level",
        "schema": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
    }


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "description": "所有错误的统一格式；422 时 errors 按字段给出提示",
        "required": ["code", "message"],
        "properties": {
            "code": {
                "type": "string",
                "description": "unauthorized / forbidden / not_found / conflict / "
                "already_done / invalid / http_error / internal_error ...",
            },
            "message": {"type": "string", "description": "可直接展示给用户的中文说明"},
            "errors": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "字段 id → 该字段的错误提示",
            },
            "challenge": {
                "type": "object",
                "description": "POST /token：该账号近期多次登录失败，须回答此验证问题，"
                "把 token 与答案随用户名、密码一并再次提交",
                "required": ["question", "token"],
                "properties": {"question": {"type": "string"}, "token": {"type": "string"}},
            },
        },
    },
    "Organisation": {
        "type": "object",
        "required": ["id", "code", "name"],
        "properties": {
            "id": {"type": "integer"},
            "code": {"type": "string"},
            "name": {"type": "string"},
        },
    },
    "UserRef": {
        "type": "object",
        "required": ["id", "username", "display_name"],
        "properties": {
            "id": {"type": "integer"},
            "username": {"type": "string"},
            "display_name": {"type": "string"},
        },
    },
    "Task": {
        "type": "object",
        "required": [
            "id",
            "case_id",
            "case_no",
            "programme",
            "step",
            "name",
            "candidate_group",
            "organisation",
            "assignee",
            "status",
            "created_at",
            "due_at",
            "overdue",
            "applicant",
        ],
        "properties": {
            "id": {"type": "integer"},
            "case_id": {"type": "integer"},
            "case_no": {"type": "string"},
            "programme": {
                "type": "string",
                "description": "tuition_grant / seasonal_aid / hardship_archive",
            },
            "step": {"type": "string", "description": "BPMN 环节 id，如 approve_l2"},
            "name": {"type": "string"},
            "candidate_group": {"type": "string", "description": "可办理该任务的岗位"},
            "organisation": {
                "allOf": [ref("Organisation")],
                "description": "提出申请的单位（案件所属单位）",
            },
            "assignee": {"oneOf": [ref("UserRef"), {"type": "null"}]},
            "status": {"type": "string", "enum": ["open", "completed", "cancelled"]},
            "created_at": DATETIME,
            "due_at": NULLABLE_DATETIME,
            "overdue": {"type": "boolean"},
            "applicant": {"type": "string", "description": "脱敏姓名，如 王*明"},
            "completed_at": {**NULLABLE_DATETIME, "description": "办理时间（scope=done）"},
            "case_stands": {"type": "string", "description": "案件当前所处环节（scope=done）"},
            "last_reminded_at": {**NULLABLE_DATETIME, "description": "最近催办（scope=overdue）"},
            "reminded_today": {"type": "boolean", "description": "今日已催办（scope=overdue）"},
        },
    },
    "TaskList": {
        "type": "object",
        "required": ["items", "total", "limit", "offset"],
        "properties": {
            "items": {"type": "array", "items": ref("Task")},
            "total": {
                "type": "integer",
                "description": "符合条件的任务总数（不受分页影响）；scope=done 时最多计到 2000",
            },
            "total_is_lower_bound": {
                "type": "boolean",
                "description": "scope=done：已办超过 2000 件时为 true，total 为 2000"
                "（请用筛选缩小范围）",
            },
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "next_after": nullable(
                "integer",
                description="下一页的 after 值（scope 为 mine、group、all 时；已无下一页为 null）",
            ),
        },
    },
    "FormField": {
        "type": "object",
        "required": ["id", "label", "type", "required", "readonly", "options", "min", "max"],
        "properties": {
            "id": {"type": "string"},
            "label": {"type": "string"},
            "type": {
                "type": "string",
                "enum": [
                    "string",
                    "textarea",
                    "long",
                    "money",
                    "boolean",
                    "date",
                    "enum",
                    "file",
                    "id_number",
                    "bank_card",
                ],
                "description": "money 为整数（分）；date 为 YYYY-MM-DD；file 为已上传文件的 id",
            },
            "required": {"type": "boolean"},
            "readonly": {"type": "boolean", "description": "只读字段只展示，提交时忽略"},
            "options": {
                "type": "array",
                "description": "enum 字段的可选值",
                "items": {
                    "type": "object",
                    "required": ["value", "label"],
                    "properties": {"value": {"type": "string"}, "label": {"type": "string"}},
                },
            },
            "min": {"type": ["integer", "string", "null"], "description": "money 单位为分"},
            "max": {"type": ["integer", "string", "null"], "description": "money 单位为分"},
            **openapi_casework.FIELD_CONSTRAINTS,
            "required_when": {
                "type": "object",
                "description": "当另一字段取这些值之一时本字段必填",
                "properties": {
                    "field": {"type": "string"},
                    "values": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
    "TaskDetail": {
        "allOf": [
            ref("Task"),
            {
                "type": "object",
                "required": ["form", "reminders"],
                "properties": {
                    "reminders": {
                        "type": "array",
                        "items": ref("Reminder"),
                        "description": "任务办结前收到的催办，最新的在前",
                    },
                    "form": {
                        "type": "object",
                        "required": ["fields", "values"],
                        "properties": {
                            "fields": {"type": "array", "items": ref("FormField")},
                            "values": {
                                "type": "object",
                                "description": "只读字段的当前值（如退回原因、异议内容）",
                            },
                        },
                    },
                    **openapi_casework.TASK_EXTRAS,
                },
            },
        ]
    },
    "CompleteTaskRequest": {
        "type": "object",
        "properties": {
            "data": {
                "type": "object",
                "description": "字段 id → 值；金额字段为整数（分）",
                "additionalProperties": True,
            }
        },
        "example": {"data": {"decision": "approve", "comment": "同意"}},
    },
    "CompleteTaskResponse": {
        "type": "object",
        "required": ["task", "case"],
        "properties": {
            "task": ref("Task"),
            "case": {
                "type": "object",
                "required": ["id", "status"],
                "properties": {
                    "id": {"type": "integer"},
                    "status": {"type": "string", "enum": ["running", "completed", "cancelled"]},
                },
            },
        },
    },
    "Case": {
        "type": "object",
        "required": [
            "id",
            "case_no",
            "programme",
            "status",
            "outcome",
            "outcome_label",
            "organisation",
            "amount_fen",
            "applicant",
            "id_number",
        ],
        "properties": {
            "id": {"type": "integer"},
            "case_no": {"type": "string"},
            "programme": {"type": "string"},
            "programme_label": {"type": "string"},
            "status": {"type": "string", "enum": ["running", "completed", "cancelled"]},
            "outcome": nullable("string", description="结束事件 id，如 end_paid"),
            "outcome_label": nullable("string"),
            "organisation": ref("Organisation"),
            "amount_fen": {"type": "integer", "description": "资助金额（分）"},
            "applicant": {"type": "string", "description": "脱敏姓名"},
            "id_number": {"type": "string", "description": "脱敏身份证号，如 511*************12"},
            "created_at": DATETIME,
            "closed_at": NULLABLE_DATETIME,
        },
    },
    "StartCaseRequest": {
        "type": "object",
        "required": ["process", "data"],
        "properties": {
            "process": {
                "type": "string",
                "enum": ["tuition_grant", "seasonal_aid", "hardship_archive"],
            },
            "campaign": {
                "type": ["integer", "string", "null"],
                "description": "活动 id 或活动代码（如 jq2026）；困难职工建档不需要",
            },
            "data": {
                "type": "object",
                "description": "申请表字段；金额为整数（分），文件字段为已上传文件的 id",
                "additionalProperties": True,
            },
        },
    },
    "HistoryEntry": {
        "type": "object",
        "required": ["at", "actor", "action", "summary"],
        "properties": {
            "at": DATETIME,
            "actor": nullable("string", description="办理人姓名；系统操作为 null"),
            "action": {"type": "string", "description": "如 case.start、task.complete"},
            "summary": {"type": "string"},
        },
    },
    "CaseDetail": {
        "type": "object",
        "required": ["case", "open_tasks", "history", "data"],
        "properties": {
            "case": {"allOf": [ref("Case"), openapi_casework.CASE_WAITING]},
            "open_tasks": {"type": "array", "items": ref("Task")},
            "history": {
                "type": "array",
                "items": ref("HistoryEntry"),
                "description": "按发生顺序（最早在前）",
            },
            "data": {
                "type": "object",
                "description": "案件流程数据；身份证号、银行卡号均已脱敏",
                "additionalProperties": True,
            },
        },
    },
    "Notice": {
        "type": "object",
        "required": [
            "id",
            "programme",
            "organisation",
            "applicant",
            "id_number",
            "amount_fen",
            "ends_at",
            "last_day",
        ],
        "properties": {
            "id": {"type": "integer"},
            "programme": {"type": "string"},
            "programme_label": {"type": "string"},
            "organisation": ref("Organisation"),
            "applicant": {"type": "string", "description": "脱敏姓名"},
            "id_number": {"type": "string", "description": "脱敏身份证号"},
            "amount_fen": {"type": "integer"},
            "round": {"type": "integer", "description": "第几轮公示"},
            "posted_at": DATETIME,
            "ends_at": DATETIME,
            "last_day": {"type": "string", "format": "date", "description": "公示期最后一天"},
        },
    },
    "ObjectionRequest": {
        "type": "object",
        "required": ["contact", "reason"],
        "properties": {
            "contact": {"type": "string", "minLength": 1, "maxLength": 100},
            "reason": {"type": "string", "minLength": 5, "maxLength": 2000},
        },
    },
    "ObjectionReceipt": {
        "type": "object",
        "required": ["id", "notice_id", "received_at", "message"],
        "properties": {
            "id": {"type": "integer"},
            "notice_id": {"type": "integer"},
            "received_at": DATETIME,
            "reference": {
                "type": "string",
                "description": "异议编号，凭它查询调查结果（GET /notices/objections/{reference}）",
            },
            "message": {"type": "string"},
        },
    },
    "TokenRequest": {
        "type": "object",
        "required": ["username", "password"],
        "properties": {
            "username": {"type": "string"},
            "password": {"type": "string"},
            "challenge_token": {"type": "string", "description": "上次 401 应答中的验证问题令牌"},
            "challenge_answer": {"type": "string", "description": "验证问题的答案"},
        },
    },
    "CalendarYear": {
        "type": "object",
        "required": [
            "year",
            "library_knows",
            "entered",
            "holidays",
            "workdays",
            "builtin_holidays",
            "builtin_workdays",
        ],
        "properties": {
            "year": {"type": "integer"},
            "library_knows": {"type": "boolean", "description": "chinese-calendar 已内置该年安排"},
            "entered": {"type": "boolean", "description": "管理员已录入该年安排"},
            "holidays": {"type": "array", "items": {"type": "string", "format": "date"}},
            "workdays": {"type": "array", "items": {"type": "string", "format": "date"}},
            "builtin_holidays": {
                "type": "array",
                "items": ref("CalendarPeriod"),
                "description": "内置的放假安排（连续的放假日按节日合并），未内置的年份为空",
            },
            "builtin_workdays": {
                "type": "array",
                "items": ref("CalendarPeriod"),
                "description": "内置的调休上班日，按所属节日",
            },
        },
    },
    "CalendarPeriod": {
        "type": "object",
        "required": ["name", "first", "last"],
        "properties": {
            "name": {"type": "string", "description": "节日，如 春节"},
            "first": {"type": "string", "format": "date"},
            "last": {"type": "string", "format": "date"},
        },
    },
    "Token": {
        "type": "object",
        "required": ["token", "token_type"],
        "properties": {
            "token": {"type": "string", "description": "有效期 12 小时"},
            "token_type": {"type": "string", "const": "Bearer"},
        },
    },
    "ProcessVersion": {
        "type": "object",
        "required": [
            "process_id",
            "number",
            "name",
            "deployed_at",
            "deployed_by",
            "comment",
            "checksum",
        ],
        "properties": {
            "process_id": {"type": "string"},
            "number": {"type": "integer", "description": "版本号，从 1 起"},
            "name": {"type": "string"},
            "deployed_at": DATETIME,
            "deployed_by": {"type": "string", "description": "部署人姓名；随系统部署的为“系统”"},
            "comment": {"type": "string"},
            "checksum": {"type": "string", "description": "BPMN 文本的 SHA-256"},
            "running": {"type": "integer", "description": "在该版本上运行中的案件数（含调用）"},
            "finished": {"type": "integer", "description": "在该版本上已结束的案件数"},
        },
    },
    "ProcessVersionXml": {
        "allOf": [
            ref("ProcessVersion"),
            {
                "type": "object",
                "required": ["xml"],
                "properties": {"xml": {"type": "string", "description": "部署时的 BPMN 原文"}},
            },
        ]
    },
    "Process": {
        "type": "object",
        "required": ["process_id", "name", "versions", "draft"],
        "properties": {
            "process_id": {"type": "string"},
            "name": {"type": "string"},
            "versions": {
                "type": "array",
                "items": ref("ProcessVersion"),
                "description": "最新版本在前",
            },
            "draft": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {
                            "saved_at": DATETIME,
                            "saved_by": nullable("string"),
                            "lock_version": {"type": "integer"},
                        },
                    },
                    {"type": "null"},
                ],
                "description": "未部署的草稿（编辑器保存），没有则为 null",
            },
        },
    },
    "Finding": {
        "type": "object",
        "required": ["element", "message"],
        "properties": {
            "element": {"type": "string", "description": "出问题的元素 id；整个文件的问题为空串"},
            "message": {"type": "string", "description": "中文说明"},
        },
    },
    "Findings": {
        "type": "object",
        "required": ["findings"],
        "properties": {
            "findings": {
                "type": "array",
                "items": ref("Finding"),
                "description": "为空表示可以部署",
            }
        },
    },
    "ProcessXmlRequest": {
        "type": "object",
        "required": ["xml"],
        "properties": {
            "xml": {
                "type": "string",
                "description": "BPMN 2.0 XML（UTF-8，不超过 2 MB，不得含 DOCTYPE）",
            }
        },
    },
    "DeployRequest": {
        "type": "object",
        "required": ["xml"],
        "properties": {
            "xml": {
                "type": "string",
                "description": "BPMN 2.0 XML（UTF-8，不超过 2 MB，不得含 DOCTYPE）",
            },
            "comment": {"type": "string", "maxLength": 500, "description": "版本说明"},
        },
    },
    "DeployRefused": {
        "allOf": [
            ref("Error"),
            {
                "type": "object",
                "required": ["findings"],
                "properties": {"findings": {"type": "array", "items": ref("Finding")}},
            },
        ]
    },
    "DeployResult": {
        "type": "object",
        "required": ["version", "created"],
        "properties": {
            "version": ref("ProcessVersion"),
            "created": {"type": "boolean", "description": "false：与当前版本相同，未产生新版本"},
        },
    },
    "ElementRef": {
        "type": "object",
        "required": ["element", "name"],
        "properties": {"element": {"type": "string"}, "name": {"type": "string"}},
    },
    "Comparison": {
        "type": "object",
        "required": ["older", "newer", "added", "removed", "changed"],
        "properties": {
            "older": {"type": "integer"},
            "newer": {"type": "integer"},
            "added": {"type": "array", "items": ref("ElementRef"), "description": "较新版本新增"},
            "removed": {
                "type": "array",
                "items": ref("ElementRef"),
                "description": "较新版本删除",
            },
            "changed": {
                "type": "array",
                "items": {
                    "allOf": [
                        ref("ElementRef"),
                        {
                            "type": "object",
                            "required": ["change"],
                            "properties": {
                                "change": {
                                    "type": "string",
                                    "description": "改动说明，如 名称：甲 → 乙",
                                }
                            },
                        },
                    ]
                },
            },
        },
    },
}

ERROR_TEXT = {
    400: (
        "请求格式不正确（如含有 NUL 字符，code http_error），"
        "或请求无法处理，如流程无法继续（code process_error）"
    ),
    401: "未提供或无效的访问令牌（或用户名、密码错误）",
    403: "超出本人岗位或单位的办理范围（流程管理接口：非管理员）",
    404: "任务、案件、公示、流程或版本不存在",
    409: "冲突：已由他人认领或办理（code conflict），或任务已办理完毕（code already_done）",
    413: "上传内容过大",
    422: "提交的数据有误；errors 按字段给出提示",
    429: "操作过于频繁，请稍后再试",
}


def _task_action(summary: str, description: str, op: str) -> dict:
    return {
        "post": {
            "operationId": op,
            "summary": summary,
            "description": description,
            "tags": ["tasks"],
            "security": SECURED,
            "parameters": [id_param("task_id", "任务 id")],
            "responses": {
                "200": json_body(ref("Task"), "任务的当前状态"),
                **errors(401, 403, 404, 409),
            },
        }
    }


PATHS: dict[str, Any] = {
    "/token": {
        "post": {
            "operationId": "issueToken",
            "summary": "用用户名和密码换取访问令牌",
            "description": "用户名不存在与密码错误的应答相同。同一账号多次失败后须回答验证问题"
            "（401 应答中的 challenge）；同一地址多次失败后须等待（429，Retry-After 秒）。",
            "tags": ["auth"],
            "security": PUBLIC,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("TokenRequest")}},
            },
            "responses": {"200": json_body(ref("Token"), "访问令牌"), **errors(401, 422, 429)},
        }
    },
    "/tasks": {
        "get": {
            "operationId": "listTasks",
            "summary": "任务列表",
            "description": "mine：本人已认领的；group：本岗位本单位待认领的；all：两者；"
            "done：本人已办的（最近办理的在前，附 completed_at 与案件当前环节 case_stands，"
            "overdue=true 时只看超期办理的）；overdue：督办，本单位及下级单位超期未办的任务"
            "（超期最久的在前，附 last_reminded_at 与 reminded_today；仅县（区）、市总工会"
            "审批人和管理员，否则 403）。",
            "tags": ["tasks"],
            "security": SECURED,
            "parameters": [
                {
                    "name": "scope",
                    "in": "query",
                    "schema": {
                        "type": "string",
                        "enum": ["mine", "group", "all", "done", "overdue"],
                    },
                    "description": "默认 mine",
                },
                {
                    "name": "programme",
                    "in": "query",
                    "schema": {
                        "type": "string",
                        "enum": [
                            "tuition_grant",
                            "seasonal_aid",
                            "hardship_archive",
                            "archive_recheck",
                        ],
                    },
                },
                {
                    "name": "step",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "BPMN 环节 id",
                },
                {
                    "name": "overdue",
                    "in": "query",
                    "schema": {"type": "boolean"},
                    "description": "只看已超期的",
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
                },
                {
                    "name": "offset",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 0, "default": 0},
                },
                {
                    "name": "after",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1},
                    "description": "按键翻页（scope 为 mine、group、all 时）："
                    "上一页最后一个任务的 id（即上一页返回的 next_after），从其后开始，"
                    "无论翻到多深都一样快，翻页期间有任务办结也不会漏项或重复",
                },
            ],
            "responses": {
                "200": json_body(ref("TaskList"), "按创建时间排序的任务"),
                **errors(401, 403, 422),
            },
        }
    },
    "/tasks/{task_id}": {
        "get": {
            "operationId": "getTask",
            "summary": "任务详情与表单",
            "tags": ["tasks"],
            "security": SECURED,
            "parameters": [id_param("task_id", "任务 id")],
            "responses": {
                "200": json_body(ref("TaskDetail"), "任务、表单字段与只读值"),
                **errors(401, 403, 404),
            },
        }
    },
    "/tasks/{task_id}/claim": _task_action(
        "认领任务", "认领后其他人不能办理；已被他人认领时返回 409。", "claimTask"
    ),
    "/tasks/{task_id}/unclaim": _task_action(
        "放弃认领", "只能放弃自己认领的任务（否则 403）。", "unclaimTask"
    ),
    "/tasks/{task_id}/complete": {
        "post": {
            "operationId": "completeTask",
            "summary": "提交表单，办结任务",
            "description": "数据无效时返回 422 且不做任何更改；重复办理返回 409 already_done。",
            "tags": ["tasks"],
            "security": SECURED,
            "parameters": [id_param("task_id", "任务 id")],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("CompleteTaskRequest")}},
            },
            "responses": {
                "200": json_body(ref("CompleteTaskResponse"), "办结的任务与案件状态"),
                **errors(400, 401, 403, 404, 409, 422),
            },
        }
    },
    "/cases": {
        "post": {
            "operationId": "startCase",
            "summary": "登记申请（经办人）",
            "description": "同一学生同一年度重复申请金秋助学返回 422，message 说明已有的案件。",
            "tags": ["cases"],
            "security": SECURED,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("StartCaseRequest")}},
            },
            "responses": {
                "201": json_body(
                    {
                        "type": "object",
                        "required": ["case"],
                        "properties": {"case": ref("Case")},
                    },
                    "已登记的案件",
                ),
                **errors(400, 401, 403, 409, 422),
            },
        }
    },
    "/files": {
        "post": {
            "operationId": "uploadFile",
            "summary": "上传附件（录取通知书、住房照片等），返回文件 id 供表单的 file 字段使用",
            "description": "只接受 PDF、JPG、PNG，按文件内容识别类型；不超过 10 MB。",
            "tags": ["cases"],
            "security": SECURED,
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {"file": {"type": "string", "format": "binary"}},
                        }
                    }
                },
            },
            "responses": {
                "201": json_body(
                    {
                        "type": "object",
                        "required": ["id", "filename", "content_type", "size"],
                        "properties": {
                            "id": {"type": "integer"},
                            "filename": {"type": "string"},
                            "content_type": {"type": "string"},
                            "size": {"type": "integer"},
                        },
                    },
                    "已保存的文件",
                ),
                **errors(401, 413, 422),
            },
        }
    },
    "/files/{file_id}": {
        "get": {
            "operationId": "downloadFile",
            "summary": "下载附件：本人上传的文件，或本单位范围内案件的文件",
            "tags": ["cases"],
            "security": SECURED,
            "parameters": [id_param("file_id", "文件 id")],
            "responses": {
                "200": {
                    "description": "文件内容（PDF、JPG 或 PNG），以附件形式下载",
                    "content": {
                        kind: {"schema": {"type": "string", "format": "binary"}}
                        for kind in ("application/pdf", "image/jpeg", "image/png")
                    },
                },
                **errors(401, 403, 404),
            },
        }
    },
    "/cases/{case_id}": {
        "get": {
            "operationId": "getCase",
            "summary": "案件详情：待办任务、办理记录与数据",
            "tags": ["cases"],
            "security": SECURED,
            "parameters": [id_param("case_id", "案件 id")],
            "responses": {
                "200": json_body(ref("CaseDetail"), "案件（已脱敏）"),
                **errors(401, 403, 404),
            },
        }
    },
    "/notices": {
        "get": {
            "operationId": "listNotices",
            "summary": "正在公示的案件（公开，无需令牌）",
            "tags": ["notices"],
            "security": PUBLIC,
            "parameters": [
                {
                    "name": "org",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "单位代码；含其下属单位",
                }
            ],
            "responses": {
                "200": json_body(
                    {
                        "type": "object",
                        "required": ["items"],
                        "properties": {"items": {"type": "array", "items": ref("Notice")}},
                    },
                    "公示列表（仅脱敏信息）",
                )
            },
        }
    },
    "/notices/{notice_id}/objections": {
        "post": {
            "operationId": "raiseObjection",
            "summary": "对公示提出异议（公开，无需令牌；每个地址每小时最多 5 次、每天 20 次）",
            "description": "受理后公示暂停，案件转入异议调查核实。",
            "tags": ["notices"],
            "security": PUBLIC,
            "parameters": [id_param("notice_id", "公示 id")],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("ObjectionRequest")}},
            },
            "responses": {
                "201": json_body(ref("ObjectionReceipt"), "异议已受理"),
                **errors(404, 422, 429),
            },
        }
    },
    "/calendar/{year}": {
        "get": {
            "operationId": "getCalendarYear",
            "summary": "某年的节假日安排（管理员）",
            "tags": ["calendar"],
            "security": SECURED,
            "parameters": [YEAR_PARAM],
            "responses": {
                "200": json_body(ref("CalendarYear"), "该年的安排"),
                **errors(401, 403, 404, 422),
            },
        },
        "put": {
            "operationId": "enterCalendarYear",
            "summary": "录入或替换某年的放假日期与调休上班日期（管理员）",
            "description": "日期有误时返回 422，errors 列出每一处错误"
            "（第 N 行即列表中的第 N 项）。",
            "tags": ["calendar"],
            "security": SECURED,
            "parameters": [YEAR_PARAM],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "holidays": {
                                    "type": "array",
                                    "items": {"type": "string", "format": "date"},
                                },
                                "workdays": {
                                    "type": "array",
                                    "items": {"type": "string", "format": "date"},
                                },
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": json_body(ref("CalendarYear"), "保存后的安排"),
                **errors(400, 401, 403, 404, 422),
            },
        },
    },
    "/processes": {
        "get": {
            "operationId": "listProcesses",
            "summary": "流程及其各版本、案件数与草稿（管理员）",
            "tags": ["processes"],
            "security": SECURED,
            "responses": {
                "200": json_body({"type": "array", "items": ref("Process")}, "按流程标识排序"),
                **errors(401, 403),
            },
        }
    },
    "/processes/{process_id}/versions/{number}": {
        "get": {
            "operationId": "getProcessVersion",
            "summary": "某一版本及其 BPMN 原文（管理员）",
            "tags": ["processes"],
            "security": SECURED,
            "parameters": [_process_param(), id_param("number", "版本号")],
            "responses": {
                "200": json_body(ref("ProcessVersionXml"), "版本与 XML"),
                **errors(401, 403, 404),
            },
        }
    },
    "/processes/{process_id}/validate": {
        "post": {
            "operationId": "validateProcess",
            "summary": "校验流程图而不部署（管理员）",
            "description": "返回全部问题及其元素 id，供编辑器标注；为空表示可以部署。",
            "tags": ["processes"],
            "security": SECURED,
            "parameters": [_process_param()],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("ProcessXmlRequest")}},
            },
            "responses": {
                "200": json_body(ref("Findings"), "校验结果"),
                **errors(401, 403, 413, 422),
            },
        }
    },
    "/processes/{process_id}/versions": {
        "post": {
            "operationId": "deployProcess",
            "summary": "部署新版本（管理员）",
            "description": "通过校验后成为最新版本，新登记的案件使用它；运行中的案件不受影响。"
            "与当前版本相同时返回 200 且不产生新版本。未通过校验返回 422 及 findings。",
            "tags": ["processes"],
            "security": SECURED,
            "parameters": [_process_param()],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("DeployRequest")}},
            },
            "responses": {
                "201": json_body(ref("DeployResult"), "已部署的新版本"),
                "200": json_body(ref("DeployResult"), "与当前版本相同，未产生新版本"),
                "422": json_body(ref("DeployRefused"), "未通过校验：findings 列出每个问题"),
                **errors(401, 403, 404, 413),
            },
        }
    },
    "/processes/{process_id}/versions/{number}/rollback": {
        "post": {
            "operationId": "rollbackProcess",
            "summary": "回滚：把旧版本重新部署为最新版本（管理员）",
            "description": "产生一个内容与该旧版本相同的新版本；已是当前版本时返回 422。",
            "tags": ["processes"],
            "security": SECURED,
            "parameters": [_process_param(), id_param("number", "要回滚到的版本号")],
            "responses": {
                "201": json_body(
                    {
                        "type": "object",
                        "required": ["version"],
                        "properties": {"version": ref("ProcessVersion")},
                    },
                    "新部署的版本",
                ),
                **errors(401, 403, 404, 422),
            },
        }
    },
    "/processes/{process_id}/compare": {
        "get": {
            "operationId": "compareProcessVersions",
            "summary": "比较两个版本：新增、删除、修改的元素（管理员）",
            "tags": ["processes"],
            "security": SECURED,
            "parameters": [
                _process_param(),
                {
                    "name": "a",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                    "description": "一个版本号（较小者视为较旧）",
                },
                {
                    "name": "b",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                    "description": "另一个版本号",
                },
            ],
            "responses": {
                "200": json_body(ref("Comparison"), "按元素 id 比较的结果"),
                **errors(401, 403, 404, 422),
            },
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "本文档",
            "tags": ["meta"],
            "security": PUBLIC,
            "responses": {"200": json_body({"type": "object"}, "OpenAPI 3.1 文档")},
        }
    },
}

# The money areas keep their part of the document next to their routes.
for _part in (
    openapi_archive,
    openapi_campaigns,
    openapi_finance,
    openapi_reports,
    openapi_audit,
    openapi_documents,
    openapi_worklists,
    openapi_logins,
    openapi_org_admin,
    openapi_casework,
):
    # A part never redefines a schema or path another part (or the base) has: the later
    # one would silently replace it for every operation that refers to it.
    _twice = (SCHEMAS.keys() & _part.SCHEMAS.keys()) | (PATHS.keys() & _part.PATHS.keys())
    if _twice:
        raise RuntimeError(f"{_part.__name__} redefines {sorted(_twice)}")
    PATHS.update(_part.PATHS)
    SCHEMAS.update(_part.SCHEMAS)


def _every_operation_may_be_malformed(paths: dict) -> dict:
    """Any call may be refused as malformed before it reaches its operation (a NUL
    character anywhere in the query or body: webapp/security.refuse_nul_characters)."""
    for operations in paths.values():
        for operation in operations.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault("400", errors(400)["400"])
    return paths


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "warmflow API",
        "version": "1",
        "description": (
            "工会帮扶案件办理接口。先 POST /token 取得令牌，之后在请求头携带 "
            "Authorization: Bearer <token>。金额一律为整数（分）；时间为带时区偏移的 "
            "ISO 8601；姓名、身份证号、银行卡号在所有应答中均已脱敏。"
        ),
    },
    "servers": [{"url": "/api/v1"}],
    "security": SECURED,
    "tags": [
        {"name": "auth", "description": "访问令牌"},
        {"name": "tasks", "description": "待办任务"},
        {"name": "cases", "description": "案件"},
        {"name": "notices", "description": "公示与异议（公开）"},
        {"name": "processes", "description": "流程管理（仅管理员）"},
        *openapi_campaigns.TAGS,
        *openapi_finance.TAGS,
        *openapi_reports.TAGS,
        *openapi_audit.TAGS,
        *openapi_documents.TAGS,
        *openapi_logins.TAGS,
        *openapi_org_admin.TAGS,
        *openapi_archive.TAGS,
        {"name": "meta", "description": "接口文档"},
    ],
    "paths": _every_operation_may_be_malformed(PATHS),
    "components": {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "POST /api/v1/token 取得的令牌",
            }
        },
        "schemas": SCHEMAS,
        "responses": {
            f"E{status}": json_body(ref("Error"), text) for status, text in ERROR_TEXT.items()
        },
    },
}


def document() -> dict[str, Any]:
    """A copy of the document, safe to change by the caller."""
    return deepcopy(DOCUMENT)
