"""OpenAPI paths and schemas for webapp/api_finance.py, merged into webapp/openapi.py."""

from typing import Any

from webapp.openapi_parts import SECURED, errors, json_body, nullable, ref

TAG = "finance"


def _batch_param() -> dict:
    return {
        "name": "batch_id",
        "in": "path",
        "required": True,
        "description": "发放批次 id",
        "schema": {"type": "integer", "minimum": 1},
    }


DATETIME = nullable("string", format="date-time", description="ISO 8601，带时区偏移")
FEN = {"type": "integer", "description": "金额（分）"}

SCHEMAS: dict[str, Any] = {
    "BatchCampaign": {
        "type": "object",
        "required": ["id", "code", "name"],
        "properties": {
            "id": {"type": "integer"},
            "code": {"type": "string"},
            "name": {"type": "string"},
        },
    },
    "PayableGroup": {
        "type": "object",
        "description": "某活动在某区县的待发放付款：可据此生成一个批次",
        "required": ["campaign", "organisation", "count", "total_fen"],
        "properties": {
            "campaign": ref("BatchCampaign"),
            "organisation": ref("Organisation"),
            "count": {"type": "integer"},
            "total_fen": FEN,
        },
    },
    "BatchCounts": {
        "type": "object",
        "required": ["waiting", "paid", "failed", "waiting_fen", "paid_fen", "failed_fen"],
        "properties": {
            "waiting": {"type": "integer", "description": "尚无银行结果的笔数"},
            "paid": {"type": "integer"},
            "failed": {"type": "integer"},
            "waiting_fen": FEN,
            "paid_fen": FEN,
            "failed_fen": FEN,
        },
    },
    "PaymentBatch": {
        "type": "object",
        "required": [
            "id",
            "reference",
            "status",
            "status_label",
            "campaign",
            "organisation",
            "line_count",
            "total_fen",
            "created_at",
            "created_by",
            "sent_at",
            "reconciled_at",
        ],
        "properties": {
            "id": {"type": "integer"},
            "reference": {"type": "string", "description": "批次号，如 PF20260907-0001"},
            "status": {"type": "string", "enum": ["draft", "sent", "reconciled"]},
            "status_label": {"type": "string", "description": "待发送 / 已发送银行 / 已对账"},
            "campaign": {"oneOf": [ref("BatchCampaign"), {"type": "null"}]},
            "organisation": {"oneOf": [ref("Organisation"), {"type": "null"}]},
            "line_count": {"type": "integer"},
            "total_fen": FEN,
            "created_at": DATETIME,
            "created_by": {"oneOf": [ref("UserRef"), {"type": "null"}]},
            "sent_at": DATETIME,
            "reconciled_at": DATETIME,
            "counts": ref("BatchCounts"),
        },
    },
    "PaymentLine": {
        "type": "object",
        "description": "银行文件的一行；卡号与户名已脱敏",
        "required": [
            "id",
            "seq",
            "reference",
            "amount_fen",
            "account_name",
            "bank_card",
            "result",
            "result_label",
            "reason",
            "result_at",
            "case",
        ],
        "properties": {
            "id": {"type": "integer"},
            "seq": {"type": "integer", "description": "序号"},
            "reference": {"type": "string", "description": "参考号，银行结果按它对应"},
            "amount_fen": FEN,
            "account_name": {"type": "string", "description": "户名（脱敏）"},
            "bank_card": {"type": "string", "description": "银行卡号（脱敏）"},
            "result": nullable("string", enum=["paid", "failed", None]),
            "result_label": {"type": "string"},
            "reason": nullable("string", description="失败原因"),
            "result_at": DATETIME,
            "case": {
                "type": "object",
                "required": ["id", "case_no", "applicant"],
                "properties": {
                    "id": {"type": "integer"},
                    "case_no": {"type": "string"},
                    "applicant": {"type": "string", "description": "申请人（脱敏）"},
                },
            },
        },
    },
    "PaymentLineList": {
        "type": "object",
        "required": ["items", "total", "limit", "offset"],
        "properties": {
            "items": {"type": "array", "items": ref("PaymentLine")},
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    },
    "ImportReport": {
        "type": "object",
        "description": "导入银行结果：repeated 为 true 表示同一文件已导入过，未作任何更改",
        "required": ["batch", "repeated", "paid", "failed", "unchanged", "waiting", "failures"],
        "properties": {
            "batch": ref("PaymentBatch"),
            "repeated": {"type": "boolean"},
            "paid": {"type": "integer", "description": "本次登记为成功的笔数"},
            "failed": {"type": "integer", "description": "本次登记为失败的笔数"},
            "unchanged": {"type": "integer", "description": "此前已登记、本次未变的笔数"},
            "waiting": {"type": "integer", "description": "仍无银行结果的笔数"},
            "failures": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["reference", "reason"],
                    "properties": {
                        "reference": {"type": "string"},
                        "reason": {"type": "string"},
                    },
                },
            },
        },
    },
}


def _op(op: str, summary: str, responses: dict, description: str = "", **extra: Any) -> dict:
    answer = {
        "operationId": op,
        "summary": summary,
        "tags": [TAG],
        "security": SECURED,
        **extra,
        "responses": responses,
    }
    if description:
        answer["description"] = description
    return answer


PATHS: dict[str, Any] = {
    "/payables": {
        "get": _op(
            "listPayables",
            "待发放：按活动和区县汇总的待发放付款（财务）",
            {
                "200": json_body(
                    {
                        "type": "object",
                        "required": ["items"],
                        "properties": {"items": {"type": "array", "items": ref("PayableGroup")}},
                    },
                    "本人范围内的待发放付款",
                ),
                **errors(401, 403),
            },
        )
    },
    "/batches": {
        "get": _op(
            "listBatches",
            "发放批次列表，新的在前（财务）",
            {
                "200": json_body(
                    {
                        "type": "object",
                        "required": ["items"],
                        "properties": {"items": {"type": "array", "items": ref("PaymentBatch")}},
                    },
                    "本人范围内的批次",
                ),
                **errors(401, 403, 422),
            },
            parameters=[
                {
                    "name": "campaign_id",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1},
                    "description": "只看某活动的批次",
                }
            ],
        ),
        "post": _op(
            "buildBatch",
            "生成批次：把某活动在某单位（含下属）的全部待发放付款放入新批次（财务）",
            {
                "201": json_body(ref("PaymentBatch"), "新批次（待发送）"),
                **errors(400, 401, 403, 404, 409, 422),
            },
            "没有待发放的付款时返回 422。已在批次中的付款不会被重复放入。",
            requestBody={
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["campaign_id", "org_id"],
                            "properties": {
                                "campaign_id": {"type": "integer", "minimum": 1},
                                "org_id": {"type": "integer", "minimum": 1},
                            },
                        }
                    }
                },
            },
        ),
    },
    "/batches/{batch_id}": {
        "get": _op(
            "getBatch",
            "发放批次及其成功、失败、等待笔数与金额（财务）",
            {"200": json_body(ref("PaymentBatch"), "批次与 counts"), **errors(401, 403, 404)},
            parameters=[_batch_param()],
        )
    },
    "/batches/{batch_id}/lines": {
        "get": _op(
            "listBatchLines",
            "批次明细，按序号（财务；卡号脱敏）",
            {"200": json_body(ref("PaymentLineList"), "一页明细"), **errors(401, 403, 404, 422)},
            parameters=[
                _batch_param(),
                {
                    "name": "result",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["all", "waiting", "paid", "failed"]},
                    "description": "按银行结果筛选，默认 all",
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                },
                {
                    "name": "offset",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 0, "default": 0},
                },
            ],
        )
    },
    "/batches/{batch_id}/bank-file": {
        "get": _op(
            "downloadBankFile",
            "下载交银行的文件（财务）",
            {
                "200": {
                    "description": "银行文件（附件，文件名为批次号）；唯一含完整卡号之处",
                    "content": {
                        "text/csv": {"schema": {"type": "string"}},
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                            "schema": {"type": "string", "format": "binary"}
                        },
                    },
                },
                **errors(401, 403, 404, 422),
            },
            "列：序号,户名,卡号,金额（元）,用途,参考号。每次下载记入办理记录。",
            parameters=[
                _batch_param(),
                {
                    "name": "format",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["csv", "xlsx"], "default": "csv"},
                },
            ],
        )
    },
    "/batches/{batch_id}/sent": {
        "post": _op(
            "markBatchSent",
            "标记为已发送银行（财务；仅待发送的批次）",
            {"200": json_body(ref("PaymentBatch"), "已发送的批次"), **errors(401, 403, 404, 409)},
            parameters=[_batch_param()],
        )
    },
    "/batches/{batch_id}/cancel": {
        "post": _op(
            "cancelBatch",
            "撤销批次（财务；仅待发送的批次），其中的付款回到待发放",
            {
                "200": json_body(
                    {
                        "type": "object",
                        "required": ["id", "reference", "cancelled"],
                        "properties": {
                            "id": {"type": "integer"},
                            "reference": {"type": "string"},
                            "cancelled": {"type": "boolean"},
                        },
                    },
                    "已撤销",
                ),
                **errors(401, 403, 404, 409),
            },
            parameters=[_batch_param()],
        )
    },
    "/batches/{batch_id}/results": {
        "post": _op(
            "importBatchResults",
            "导入银行返回的结果文件（财务；CSV 或 XLSX）",
            {
                "200": json_body(ref("ImportReport"), "导入结果；案件随后在后台推进"),
                **errors(401, 403, 404, 409, 413, 422),
            },
            "文件需有“参考号”“状态”列（可有“金额”“原因”）。整份文件先整体核对，任何一行有误"
            '即整份不导入，返回 422，errors 列出有误的行（如 {"第3行": "未知的参考号 …"}）。'
            "同一文件再次导入不作任何更改（repeated）。未标记为已发送的批次返回 409。",
            parameters=[_batch_param()],
            requestBody={
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
        )
    },
}

TAGS: list[dict] = [{"name": TAG, "description": "银行发放（仅财务人员）"}]
