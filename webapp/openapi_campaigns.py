"""OpenAPI paths and schemas for webapp/api_campaigns.py, merged into webapp/openapi.py."""

from typing import Any

from webapp.openapi_parts import SECURED, errors, id_param, json_body, ref

# Small helpers as in webapp/openapi.py (importing them from there would be circular).


def _body(name: str) -> dict:
    return {"required": True, "content": {"application/json": {"schema": ref(name)}}}


TAG = "campaigns"
CAMPAIGN_ID = id_param("campaign_id", "活动 id")
FEN = {"type": "integer", "minimum": 0, "description": "金额（分）"}
DATE = {"type": ["string", "null"], "format": "date", "description": "YYYY-MM-DD"}

TAGS: list[dict] = [
    {
        "name": TAG,
        "description": "活动管理：标准、预算、按档案发起（查看：管理员、财务、区县及市审批；"
        "修改与发起：仅管理员）",
    }
]

_FIELDS: dict[str, Any] = {
    "code": {
        "type": "string",
        "pattern": "^[a-z][a-z0-9_-]{1,39}$",
        "description": "活动代码，唯一，如 dsnw2026",
    },
    "name": {"type": "string", "maxLength": 100},
    "programme": {"type": "string", "enum": ["seasonal_aid", "tuition_grant"]},
    "season": {"type": "string", "enum": ["spring", "summer", "autumn", "winter"]},
    "year": {"type": "integer", "minimum": 2000, "maximum": 2100},
    "aid_kind": {
        "type": "string",
        "enum": ["cash", "goods"],
        "description": "cash 银行卡发放；goods 物资签收（金秋助学只能为 cash）",
    },
    "goods_name": {"type": "string", "maxLength": 100, "description": "物资名称（goods 时必填）"},
    "notice_days": {
        "type": "integer",
        "minimum": 1,
        "maximum": 30,
        "description": "公示期（工作日），默认 5",
    },
    "city_approval_threshold_fen": {
        **FEN,
        "description": "报市总审批金额（分）：案件金额超过此数须经市总工会审批",
    },
    "opens_on": DATE,
    "closes_on": {**DATE, "description": "YYYY-MM-DD，不早于 opens_on"},
    "status": {"type": "string", "enum": ["open", "closed"]},
}

SCHEMAS: dict[str, Any] = {
    "CampaignSummary": {
        "type": "object",
        "required": [
            "id",
            "code",
            "name",
            "programme",
            "programme_label",
            "season",
            "season_label",
            "year",
            "aid_kind",
            "goods_name",
            "notice_days",
            "city_approval_threshold_fen",
            "opens_on",
            "closes_on",
            "status",
            "launchable",
            "lock_version",
            "budget_total_fen",
            "reserved_total_fen",
        ],
        "properties": {
            "id": {"type": "integer"},
            **_FIELDS,
            "programme_label": {"type": "string", "description": "如 四季送、金秋助学"},
            "season_label": {"type": "string", "description": "如 冬送温暖"},
            "launchable": {"type": "boolean", "description": "可否按档案批量发起（四季送）"},
            "lock_version": {"type": "integer", "description": "修改时原样带回（乐观锁）"},
            "budget_total_fen": {**FEN, "description": "各县（区）预算合计（分）"},
            "reserved_total_fen": {**FEN, "description": "终审通过案件已占用的预算合计（分）"},
        },
    },
    "CampaignList": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": ref("CampaignSummary")}},
    },
    "CampaignBudgetRow": {
        "type": "object",
        "required": ["organisation", "budget_fen", "reserved_fen", "remaining_fen"],
        "properties": {
            "organisation": ref("Organisation"),
            "budget_fen": {"type": ["integer", "null"], "description": "预算（分），未设置为 null"},
            "reserved_fen": FEN,
            "remaining_fen": {"type": ["integer", "null"], "description": "剩余（分）"},
        },
    },
    "CampaignLaunch": {
        "type": "object",
        "description": "一次按档案发起及其进度",
        "required": [
            "id",
            "campaign_id",
            "status",
            "status_label",
            "total",
            "created",
            "skipped",
            "failed",
            "processed",
            "message",
            "started_at",
            "finished_at",
        ],
        "properties": {
            "id": {"type": "integer"},
            "campaign_id": {"type": "integer"},
            "status": {"type": "string", "enum": ["running", "done", "failed"]},
            "status_label": {"type": "string"},
            "total": {"type": "integer", "description": "发起时范围内的在档职工人数"},
            "created": {"type": "integer", "description": "新建案件数"},
            "skipped": {"type": "integer", "description": "已有本活动案件而跳过的人数"},
            "failed": {"type": "integer", "description": "未能发起的人数（原因见 message）"},
            "processed": {"type": "integer", "description": "created + skipped + failed"},
            "message": {"type": "string", "description": "未能发起的原因及人数"},
            "started_at": {"type": "string", "format": "date-time"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "CampaignDetail": {
        "allOf": [
            ref("CampaignSummary"),
            {
                "type": "object",
                "required": ["categories", "standards", "budgets", "latest_launch"],
                "properties": {
                    "categories": {
                        "type": "array",
                        "description": "决定标准金额的类别（困难类别或学历层次）",
                        "items": {
                            "type": "object",
                            "required": ["value", "label"],
                            "properties": {
                                "value": {"type": "string"},
                                "label": {"type": "string"},
                            },
                        },
                    },
                    "standards": {
                        "type": "object",
                        "additionalProperties": {"type": "integer"},
                        "description": "类别 → 标准金额（分）",
                    },
                    "budgets": {"type": "array", "items": ref("CampaignBudgetRow")},
                    "latest_launch": {
                        "oneOf": [ref("CampaignLaunch"), {"type": "null"}],
                        "description": "最近一次按档案发起（仅管理员可见，其他人为 null）",
                    },
                },
            },
        ]
    },
    "CampaignInput": {
        "type": "object",
        "description": "新建活动；standards 须覆盖该业务类型的每个类别",
        "required": ["code", "name", "programme", "season", "year", "standards"],
        "properties": {
            **_FIELDS,
            "standards": {
                "type": "object",
                "additionalProperties": {"type": "integer", "minimum": 0},
                "description": "类别 → 标准金额（分）",
            },
        },
        "example": {
            "code": "dsnw2027",
            "name": "2027年冬送温暖",
            "programme": "seasonal_aid",
            "season": "winter",
            "year": 2027,
            "aid_kind": "cash",
            "notice_days": 5,
            "city_approval_threshold_fen": 200000,
            "opens_on": "2027-01-04",
            "closes_on": "2027-02-26",
            "status": "open",
            "standards": {
                "living": 100000,
                "medical": 300000,
                "schooling": 100000,
                "disaster": 200000,
                "other": 50000,
            },
        },
    },
    "CampaignUpdate": {
        "allOf": [
            ref("CampaignInput"),
            {
                "type": "object",
                "required": ["lock_version"],
                "properties": {
                    "lock_version": {
                        "type": "integer",
                        "description": "读取时的 lock_version；已被他人修改则 409",
                    }
                },
            },
        ],
        "description": "修改活动：提交完整内容（与新建相同）并带回 lock_version",
    },
    "CampaignBudgetsInput": {
        "type": "object",
        "required": ["budgets"],
        "properties": {
            "budgets": {
                "type": "object",
                "additionalProperties": {"type": "integer", "minimum": 0},
                "description": "县（区）总工会 id → 预算（分）；未列出的不变；不能低于已占用金额",
            }
        },
        "example": {"budgets": {"2": 50000000, "3": 30000000}},
    },
}

PATHS: dict[str, Any] = {
    "/campaigns": {
        "get": {
            "operationId": "listCampaigns",
            "summary": "活动列表",
            "tags": [TAG],
            "security": SECURED,
            "responses": {
                "200": json_body(ref("CampaignList"), "按年度倒序的活动"),
                **errors(401, 403),
            },
        },
        "post": {
            "operationId": "createCampaign",
            "summary": "新建活动（仅管理员）",
            "tags": [TAG],
            "security": SECURED,
            "requestBody": _body("CampaignInput"),
            "responses": {
                "201": json_body(ref("CampaignDetail"), "新建的活动"),
                **errors(401, 403, 422),
            },
        },
    },
    "/campaigns/{campaign_id}": {
        "get": {
            "operationId": "getCampaign",
            "summary": "活动详情：标准、各县（区）预算、最近一次发起",
            "tags": [TAG],
            "security": SECURED,
            "parameters": [CAMPAIGN_ID],
            "responses": {
                "200": json_body(ref("CampaignDetail"), "活动"),
                **errors(401, 403, 404),
            },
        },
        "put": {
            "operationId": "updateCampaign",
            "summary": "修改活动（仅管理员）",
            "tags": [TAG],
            "security": SECURED,
            "parameters": [CAMPAIGN_ID],
            "requestBody": _body("CampaignUpdate"),
            "responses": {
                "200": json_body(ref("CampaignDetail"), "修改后的活动"),
                **errors(401, 403, 404, 409, 422),
            },
        },
    },
    "/campaigns/{campaign_id}/budgets": {
        "put": {
            "operationId": "setCampaignBudgets",
            "summary": "设置各县（区）预算（仅管理员）",
            "description": "全部成功或全部不变；低于已占用金额的预算以 422 拒绝。",
            "tags": [TAG],
            "security": SECURED,
            "parameters": [CAMPAIGN_ID],
            "requestBody": _body("CampaignBudgetsInput"),
            "responses": {
                "200": json_body(ref("CampaignDetail"), "设置后的活动与预算"),
                **errors(401, 403, 404, 422),
            },
        }
    },
    "/campaigns/{campaign_id}/launches": {
        "post": {
            "operationId": "launchCampaign",
            "summary": "按档案发起（仅管理员，四季送）",
            "description": "为本人范围内每位在档职工建一件本活动案件，在后台进行；"
            "以 GET .../launches/{launch_id} 查询进度。已有本活动案件的职工跳过。",
            "tags": [TAG],
            "security": SECURED,
            "parameters": [CAMPAIGN_ID],
            "responses": {
                "202": json_body(ref("CampaignLaunch"), "已开始的发起"),
                **errors(401, 403, 404, 409, 422),
            },
        }
    },
    "/campaigns/{campaign_id}/launches/{launch_id}": {
        "get": {
            "operationId": "getCampaignLaunch",
            "summary": "一次发起的进度（仅管理员）",
            "tags": [TAG],
            "security": SECURED,
            "parameters": [CAMPAIGN_ID, id_param("launch_id", "发起记录 id")],
            "responses": {
                "200": json_body(ref("CampaignLaunch"), "发起进度"),
                **errors(401, 403, 404),
            },
        }
    },
}
