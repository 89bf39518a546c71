"""OpenAPI paths and schemas for webapp/api_casework.py, and the properties the case-work
additions give existing answers (task detail, case detail, form fields), merged into
webapp/openapi.py."""

from typing import Any

from webapp.openapi_parts import SECURED, errors, id_param, json_body, nullable, ref

DAY = {"type": "string", "format": "date"}

WAITING = {
    "type": ["object", "null"],
    "description": "案件不在任何人手上时在等什么、等到哪天；有人办理时为 null",
    "required": ["code", "text", "until"],
    "properties": {
        "code": {
            "type": "string",
            "enum": [
                "notice",
                "objection",
                "payable",
                "in_batch",
                "sent",
                "bank_answered",
                "archived",
                "timer",
                "system",
            ],
        },
        "text": {"type": "string", "description": "如 公示中，至 12月8日期满"},
        "until": nullable("string", format="date"),
    },
}
CASE_WAITING = {"type": "object", "properties": {"waiting": WAITING}}

FIELD_CONSTRAINTS: dict[str, Any] = {
    "minlength": {"type": "integer", "description": "最少字数"},
    "maxlength": {"type": "integer", "description": "最多字数"},
    "min_names": {"type": "integer", "description": "至少几人的姓名（用“、”分隔）"},
    "multiple": {"type": "boolean", "description": "可上传多个文件：值为文件 id 的列表"},
    "min_files": {"type": "integer"},
    "max_files": {"type": "integer"},
}

OUTCOME = {
    "type": "object",
    "required": ["final", "next"],
    "properties": {
        "final": {"type": "boolean", "description": "本级为终审（通过后审批即完成）"},
        "next": {"type": "string", "description": "下一环节或结束事件的名称"},
        "candidate_group": nullable("string"),
        "threshold_fen": nullable("integer", description="报市总工会审批的金额线（分）"),
        "amount_fen": nullable("integer"),
    },
}

TASK_EXTRAS: dict[str, Any] = {
    "application": {
        "type": "object",
        "description": (
            "按退回意见修改时可修改的申请信息（预填当前值，身份证号、银行卡号已脱敏）；"
            "提交时与本环节字段一起放在 data 中，未提交的字段保持原值"
        ),
        "properties": {
            "fields": {"type": "array", "items": ref("FormField")},
            "values": {"type": "object"},
            "note": {"type": "string"},
        },
    },
    "rework": {
        "type": "object",
        "description": "退回修改后重新提交的情况：修改说明与修改前后的内容",
        "properties": {
            "at": {"type": "string", "format": "date-time"},
            "by": {"type": "string"},
            "return_reason": {"type": "string"},
            "rework_note": {"type": "string"},
            "changes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["field_id", "label", "old", "new"],
                    "properties": {
                        "field_id": {"type": "string"},
                        "label": {"type": "string"},
                        "old": {"type": "string"},
                        "new": {"type": "string"},
                    },
                },
            },
        },
    },
    "failed_payment": {
        "type": "object",
        "description": "银行退回的付款（更正银行卡时）",
        "properties": {
            "card_masked": {"type": "string"},
            "account_name": {"type": "string"},
            "reason": {"type": "string"},
            "attempts": {"type": "integer"},
            "batch_reference": {"type": "string"},
        },
    },
    "outcomes": {
        "type": "object",
        "description": "审批环节：approve / return / reject 各自的去向",
        "additionalProperties": OUTCOME,
    },
    "received_this_year": {
        "type": "object",
        "description": "终审前：同一人（按身份证号哈希）本年度已获的帮扶（各业务、各单位）",
        "properties": {
            "year": {"type": "integer"},
            "total_fen": {"type": "integer"},
            "cases": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "case_no": {"type": ["string", "null"]},
                        "programme": {"type": "string"},
                        "campaign": {"type": ["string", "null"]},
                        "amount_fen": {"type": "integer"},
                        "approved_at": {"type": "string", "format": "date-time"},
                        "payment_status": {"type": ["string", "null"]},
                    },
                },
            },
        },
    },
}

SCHEMAS: dict[str, Any] = {
    "BatchApproveRequest": {
        "type": "object",
        "required": ["task_ids"],
        "properties": {
            "task_ids": {
                "type": "array",
                "items": {"type": "integer", "minimum": 1},
                "minItems": 1,
                "maxItems": 200,
            },
            "comment": {"type": "string", "maxLength": 5000, "description": "统一审批意见"},
        },
    },
    "BatchApproveResult": {
        "type": "object",
        "required": ["results", "approved", "failed"],
        "properties": {
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["task_id", "case_no", "ok", "message"],
                    "properties": {
                        "task_id": {"type": "integer"},
                        "case_no": {"type": "string"},
                        "ok": {"type": "boolean"},
                        "message": nullable("string", description="未办理的原因"),
                    },
                },
            },
            "approved": {"type": "integer"},
            "failed": {"type": "integer"},
        },
    },
    "WithdrawRequest": {
        "type": "object",
        "required": ["reason"],
        "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 500}},
    },
    "WithdrawnCase": {
        "type": "object",
        "required": ["case"],
        "properties": {
            "case": {
                "allOf": [
                    ref("Case"),
                    {
                        "type": "object",
                        "properties": {
                            "cancel_reason": {"type": "string"},
                            "waiting": WAITING,
                        },
                    },
                ]
            }
        },
    },
    "ObjectionStatus": {
        "type": "object",
        "required": ["reference", "received_on", "outcome", "outcome_label"],
        "properties": {
            "reference": {"type": "string"},
            "programme": {"type": "string"},
            "received_on": DAY,
            "outcome": {
                "type": "string",
                "enum": ["investigating", "upheld", "dismissed", "closed"],
            },
            "outcome_label": {"type": "string"},
            "resolved_on": nullable("string", format="date"),
        },
    },
}

PATHS: dict[str, Any] = {
    "/tasks/batch-approve": {
        "post": {
            "operationId": "batchApprove",
            "summary": "批量通过同一审批环节的任务（逐件办理），可附统一审批意见",
            "description": (
                "每件在各自的事务中办理，某件失败不影响其他件；由本人登记或经办过的案件"
                "按双人复核要求不能由本人审批，在结果中逐件说明。"
            ),
            "tags": ["tasks"],
            "security": SECURED,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("BatchApproveRequest")}},
            },
            "responses": {
                "200": json_body(ref("BatchApproveResult"), "逐件结果"),
                **errors(401, 403, 404, 422),
            },
        }
    },
    "/cases/{case_id}/withdraw": {
        "post": {
            "operationId": "withdrawCase",
            "summary": "撤销案件（经办人在终审通过前；之后仅管理员）",
            "description": (
                "案件结束为“已撤销”，待办取消，公示撤下；付款已提交银行或已发放的不能撤销（409）。"
            ),
            "tags": ["cases"],
            "security": SECURED,
            "parameters": [id_param("case_id", "案件 id")],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("WithdrawRequest")}},
            },
            "responses": {
                "200": json_body(ref("WithdrawnCase"), "已撤销的案件"),
                **errors(401, 403, 404, 409, 422),
            },
        }
    },
    "/notices/objections/{reference}": {
        "get": {
            "operationId": "getObjectionStatus",
            "summary": "凭异议编号查询调查结果（公开，限频）",
            "description": "只返回办理进度与结论，不含任何个人信息。",
            "tags": ["notices"],
            "security": [],
            "parameters": [
                {
                    "name": "reference",
                    "in": "path",
                    "required": True,
                    "description": "异议编号，如 YY2026-ABCDEFGH23",
                    "schema": {"type": "string", "maxLength": 40},
                }
            ],
            "responses": {
                "200": json_body(ref("ObjectionStatus"), "调查进度"),
                **errors(404, 422, 429),
            },
        }
    },
}
