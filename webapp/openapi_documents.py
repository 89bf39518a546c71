"""OpenAPI paths for webapp/api_documents.py (打印文书), merged into webapp/openapi.py."""

from typing import Any

from webapp.openapi_parts import SECURED, errors, id_param, json_body

HTML = {
    "description": (
        "打印用 HTML（A4，样式表内嵌，无脚本），与页面上打印的文书相同；"
        "姓名、身份证号、银行卡号按调用者页面上的显示方式脱敏"
    ),
    "content": {"text/html": {"schema": {"type": "string"}}},
}


def _query(name: str, description: str, required: bool = False, **schema: Any) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "string", **schema},
    }


ORG = _query("org", "单位代码（如 szq1）", required=True, maxLength=40)
CAMPAIGN = _query("campaign", "活动代码（如 jq2026）", maxLength=40)
PROGRAMME = _query(
    "programme",
    "不属于活动的业务类型（如 hardship_archive）；未给 campaign 时必填",
    enum=["tuition_grant", "seasonal_aid", "hardship_archive"],
)
PART = {
    "name": "part",
    "in": "query",
    "required": False,
    "description": "第几部分（大量内容分部分输出）",
    "schema": {"type": "integer", "minimum": 1, "default": 1},
}

PATHS: dict[str, Any] = {
    "/documents/notice-sheet": {
        "get": {
            "operationId": "getNoticeSheet",
            "summary": "公示表（一轮公示：同一单位、同一活动、同一天发布）",
            "description": (
                "无需令牌即可获取（公众版：只列正在公示的对象）；带令牌且单位在本人范围内时，"
                "列出该轮发布的全部对象并注明异议或撤下情况。含公示期首末工作日、异议受理方式"
                "（单位地址、电话、12351 热线）、发布单位和日期、盖章处。"
            ),
            "tags": ["documents"],
            "security": [{}, *SECURED],
            "parameters": [
                ORG,
                _query("posted", "发布日期（YYYY-MM-DD，北京时间）", required=True, format="date"),
                CAMPAIGN,
                PROGRAMME,
            ],
            "responses": {"200": HTML, **errors(401, 404, 422)},
        }
    },
    "/documents/notice-rounds": {
        "get": {
            "operationId": "listNoticeRounds",
            "summary": "本人范围内最近的公示轮次（用于获取公示表）",
            "tags": ["documents"],
            "security": SECURED,
            "parameters": [CAMPAIGN],
            "responses": {
                "200": json_body(
                    {
                        "type": "object",
                        "required": ["items"],
                        "properties": {
                            "items": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": [
                                        "org",
                                        "posted",
                                        "title",
                                        "organisation",
                                        "count",
                                        "last_day",
                                    ],
                                    "properties": {
                                        "org": {"type": "string"},
                                        "posted": {"type": "string", "format": "date"},
                                        "campaign": {"type": "string"},
                                        "programme": {"type": "string"},
                                        "title": {"type": "string"},
                                        "organisation": {
                                            "$ref": "#/components/schemas/Organisation"
                                        },
                                        "count": {"type": "integer"},
                                        "last_day": {"type": "string", "format": "date"},
                                    },
                                },
                            }
                        },
                    },
                    "公示轮次，最新在前；org、posted 与 campaign 或 programme 即公示表的参数",
                ),
                **errors(401, 403, 404),
            },
        }
    },
    "/cases/{case_id}/approval-form": {
        "get": {
            "operationId": "getApprovalForm",
            "summary": "一个案件的审批表",
            "description": (
                "申请信息、入户核查、公示（公示期、异议及结果）、各级审批意见、办理人与日期、"
                "金额和发放结果，以及签字盖章处。"
            ),
            "tags": ["documents"],
            "security": SECURED,
            "parameters": [id_param("case_id", "案件 id")],
            "responses": {"200": HTML, **errors(401, 403, 404)},
        }
    },
    "/documents/approval-forms": {
        "get": {
            "operationId": "getApprovalForms",
            "summary": "批量审批表：一个活动在某单位及下级单位的每个案件一页（年度归档）",
            "description": (
                "按案件编号排列，每部分至多 100 件（part 取后续部分）。不属于活动的业务"
                "（困难职工建档）用 programme 与 year 指定。"
            ),
            "tags": ["documents"],
            "security": SECURED,
            "parameters": [
                ORG,
                CAMPAIGN,
                PROGRAMME,
                {
                    "name": "year",
                    "in": "query",
                    "required": False,
                    "description": "年度（与 programme 一起使用）",
                    "schema": {"type": "integer", "minimum": 2000, "maximum": 2100},
                },
                PART,
            ],
            "responses": {"200": HTML, **errors(401, 403, 404, 422)},
        }
    },
    "/batches/{batch_id}/roster": {
        "get": {
            "operationId": "getBatchRoster",
            "summary": "发放花名册（财务）：收款人、金额与合计，供财务归档和领导签字",
            "description": "银行卡号只显示末四位；每部分至多 2000 笔（part 取后续部分）。",
            "tags": ["documents"],
            "security": SECURED,
            "parameters": [id_param("batch_id", "发放批次 id"), PART],
            "responses": {"200": HTML, **errors(401, 403, 404, 422)},
        }
    },
}

SCHEMAS: dict[str, Any] = {}

TAGS: list[dict] = [{"name": "documents", "description": "打印文书：公示表、审批表、发放花名册"}]
