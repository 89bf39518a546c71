"""OpenAPI paths and schemas for webapp/api_reports.py, merged into webapp/openapi.py."""

from typing import Any

from webapp.openapi_parts import SECURED, errors, json_body, ref

# Small helpers as in webapp/openapi.py (importing them from there would be circular).


CAMPAIGN_PARAM = {
    "name": "campaign_id",
    "in": "path",
    "required": True,
    "description": "活动 id",
    "schema": {"type": "integer", "minimum": 1},
}
ORG_PARAM = {
    "name": "org",
    "in": "query",
    "required": False,
    "description": "统计范围的单位 id（须在本人单位及其下级之内，否则 403）；缺省为本人单位",
    "schema": {"type": "integer", "minimum": 1},
}
FEN = {"type": "integer", "description": "金额（分）"}

SCHEMAS: dict[str, Any] = {
    "ReportFigures": {
        "type": "object",
        "description": "一组统计数字；金额均为整数（分）",
        "required": [
            "key",
            "label",
            "cases",
            "helped",
            "paid_count",
            "paid_fen",
            "pending_count",
            "pending_fen",
            "failed_count",
            "failed_fen",
            "goods_quantity",
            "need_fen",
            "budget_fen",
            "reserved_fen",
        ],
        "properties": {
            "key": {
                "type": "string",
                "description": "单位 id（按区县或基层工会）、类别代码，或 total（合计）",
            },
            "label": {"type": "string", "description": "单位名称、类别名称或“合计”"},
            "cases": {"type": "integer", "description": "案件数（不含已撤销的）"},
            "helped": {"type": "integer", "description": "受助人数（已发放或已签收物资）"},
            "paid_count": {"type": "integer", "description": "已发放笔数"},
            "paid_fen": FEN | {"description": "已发放金额（分）"},
            "pending_count": {
                "type": "integer",
                "description": "待发放笔数（待生成批次或等待银行回单）",
            },
            "pending_fen": FEN | {"description": "待发放金额（分）"},
            "failed_count": {"type": "integer", "description": "发放失败、待更正银行卡的笔数"},
            "failed_fen": FEN | {"description": "发放失败金额（分）"},
            "goods_quantity": {"type": "integer", "description": "物资数量（物资类活动）"},
            "need_fen": FEN | {"description": "需求金额（办理中及已受助案件的标准金额，分）"},
            "budget_fen": {
                "type": ["integer", "null"],
                "description": "预算（分）；按基层工会分组时为 null",
            },
            "reserved_fen": {
                "type": ["integer", "null"],
                "description": "已占用预算（分）；按基层工会分组时为 null",
            },
        },
    },
    "CampaignReport": {
        "type": "object",
        "required": [
            "campaign",
            "org",
            "grouped_by",
            "category_label",
            "total",
            "by_district",
            "by_category",
        ],
        "properties": {
            "campaign": {
                "type": "object",
                "required": ["id", "code", "name", "programme", "season", "year", "aid_kind"],
                "properties": {
                    "id": {"type": "integer"},
                    "code": {"type": "string"},
                    "name": {"type": "string"},
                    "programme": {"type": "string"},
                    "season": {
                        "type": "string",
                        "description": "spring / summer / autumn / winter，或空",
                    },
                    "year": {"type": "integer"},
                    "aid_kind": {"type": "string", "description": "cash / goods"},
                },
            },
            "org": ref("Organisation"),
            "grouped_by": {
                "type": "string",
                "enum": ["district", "union"],
                "description": "by_district 的分组：市级范围按区县，区县及以下按基层工会",
            },
            "category_label": {
                "type": "string",
                "description": "by_category 分的是什么：流程申请表上决定标准金额的字段名，"
                "如金秋助学的“学历层次”、四季送的“困难类别”",
            },
            "total": ref("ReportFigures"),
            "by_district": {
                "type": "array",
                "items": ref("ReportFigures"),
                "description": "按区县（或区县内按基层工会）",
            },
            "by_category": {
                "type": "array",
                "items": ref("ReportFigures"),
                "description": "按困难类别（金秋助学为学历层次）",
            },
        },
    },
}

PATHS: dict[str, Any] = {
    "/reports/campaigns/{campaign_id}": {
        "get": {
            "operationId": "getCampaignReport",
            "summary": "活动统计：受助人数、已发放、待发放、发放失败、需求与预算",
            "description": (
                "仅管理员、财务、区县和市级审批人可查看，范围限于本人单位及其下级。"
                "数字直接来自案件和发放记录。"
            ),
            "tags": ["reports"],
            "security": SECURED,
            "parameters": [CAMPAIGN_PARAM, ORG_PARAM],
            "responses": {
                "200": json_body(ref("CampaignReport"), "统计数字（金额为分）"),
                **errors(401, 403, 404, 422),
            },
        }
    },
    "/reports/campaigns/{campaign_id}/export": {
        "get": {
            "operationId": "exportCampaignReport",
            "summary": "导出活动统计（CSV 或 Excel）",
            "description": (
                "以附件下载，文件名为 report-<活动代码>-<单位代码>.<格式>；"
                "金额单位为元。CSV 为带 BOM 的 UTF-8。"
            ),
            "tags": ["reports"],
            "security": SECURED,
            "parameters": [
                CAMPAIGN_PARAM,
                ORG_PARAM,
                {
                    "name": "format",
                    "in": "query",
                    "required": False,
                    "description": "文件格式，缺省为 csv",
                    "schema": {"type": "string", "enum": ["csv", "xlsx"], "default": "csv"},
                },
            ],
            "responses": {
                "200": {
                    "description": "统计表文件",
                    "content": {
                        "text/csv": {"schema": {"type": "string"}},
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                            "schema": {"type": "string", "format": "binary"}
                        },
                    },
                },
                **errors(401, 403, 404, 422),
            },
        }
    },
}

TAGS: list[dict] = [
    {"name": "reports", "description": "统计报表（管理员、财务、区县及市级审批人）"}
]
