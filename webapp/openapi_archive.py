"""OpenAPI paths and schemas for webapp/api_archive.py (困难职工档案), merged into
webapp/openapi.py."""

from typing import Any

from webapp.openapi_parts import SECURED, errors, id_param, json_body, nullable, ref

DATETIME = {"type": "string", "format": "date-time", "description": "ISO 8601，带时区偏移"}
PROGRAMME_IDS = ["tuition_grant", "seasonal_aid", "hardship_archive"]


def _query(name: str, description: str, schema: dict | None = None) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


SCHEMAS: dict[str, Any] = {
    "ArchiveRecord": {
        "type": "object",
        "required": ["id", "worker_name", "id_number", "org", "category", "status"],
        "properties": {
            "id": {"type": "integer"},
            "worker_name": {"type": "string"},
            "id_number": {"type": "string", "description": "身份证号（脱敏）"},
            "gender": nullable("string"),
            "org": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {
                            "id": {"type": "integer"},
                            "code": {"type": "string"},
                            "name": {"type": "string"},
                        },
                    },
                    {"type": "null"},
                ]
            },
            "category": {"type": "string", "description": "困难类别 id，如 living、medical"},
            "status": {"type": "string", "enum": ["archived", "left", "cancelled"]},
            "archived_at": nullable("string", format="date-time"),
            "valid_until": nullable("string", format="date-time"),
            "case_id": nullable("integer", description="建档案件或回头看案件"),
            "import_id": nullable("integer", description="导入批次（导入的档案）"),
            "source_line": nullable("integer", description="导入文件中的行号"),
        },
    },
    "ArchiveList": {
        "type": "object",
        "required": ["items", "total", "limit", "offset"],
        "properties": {
            "items": {"type": "array", "items": ref("ArchiveRecord")},
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    },
    "ArchiveWorker": {
        "type": "object",
        "required": ["record", "history", "totals"],
        "properties": {
            "record": ref("ArchiveRecord"),
            "history": {
                "type": "array",
                "description": "本人（按身份证号哈希）各业务、各年度的案件，最近的在前",
                "items": {
                    "type": "object",
                    "properties": {
                        "case_id": {"type": "integer"},
                        "case_no": nullable("string"),
                        "programme": {"type": "string"},
                        "programme_label": {"type": "string"},
                        "campaign": nullable("string"),
                        "amount_fen": {"type": "integer"},
                        "status": {"type": "string"},
                        "outcome": nullable("string"),
                        "payment_status": nullable("string"),
                        "received": {"type": "boolean", "description": "已终审且未撤销"},
                        "created_at": DATETIME,
                    },
                },
            },
            "totals": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "year": {"type": "integer"},
                        "received_fen": {"type": "integer"},
                    },
                },
            },
        },
    },
    "ArchiveImport": {
        "type": "object",
        "required": ["id", "filename", "sha256", "status", "total", "bad", "report"],
        "properties": {
            "id": {"type": "integer"},
            "filename": {"type": "string"},
            "sha256": {"type": "string"},
            "org_id": {"type": "integer"},
            "status": {
                "type": "string",
                "enum": ["preview", "running", "done", "failed", "discarded"],
            },
            "total": {"type": "integer", "description": "数据行数"},
            "bad": {"type": "integer", "description": "有误的行数"},
            "processed": {"type": "integer"},
            "imported": {"type": "integer"},
            "skipped": {"type": "integer"},
            "skip_bad": {"type": "boolean"},
            "message": {"type": "string"},
            "report": {
                "type": "object",
                "description": "预览：ok、bad、warned、existing 计数，lines 为有误或需提醒的行"
                "（line 行号、level error|warning、text 说明），columns 为列对应",
            },
            "created_at": nullable("string", format="date-time"),
            "finished_at": nullable("string", format="date-time"),
        },
    },
}

TAGS = [{"name": "archive", "description": "困难职工档案：查询、一人一档、导入已有档案"}]

_LIST_PARAMS = [
    _query("org_id", "单位 id（含下级单位）", {"type": "integer", "minimum": 1}),
    _query("category", "困难类别 id"),
    _query(
        "status",
        "状态；due 为待回头看（有效期在 due_days 天内到期或已过）",
        {"type": "string", "enum": ["archived", "left", "cancelled", "due"]},
    ),
    _query("due_days", "待回头看的天数", {"type": "integer", "minimum": 0, "maximum": 366}),
    _query("programme", "本年度已获该业务帮扶", {"type": "string", "enum": PROGRAMME_IDS}),
    _query("name", "姓名（部分）"),
    _query("id_number", "身份证号（18 位，精确）"),
    _query(
        "sort",
        "排序",
        {"type": "string", "enum": ["newest", "name", "valid_until", "archived_at"]},
    ),
    _query("limit", "返回的人数", {"type": "integer", "minimum": 1, "maximum": 100}),
    _query("offset", "跳过的人数", {"type": "integer", "minimum": 0}),
]


PATHS: dict[str, Any] = {
    "/archive": {
        "get": {
            "operationId": "listArchive",
            "summary": "困难职工档案：本单位及下级单位的档案，按条件筛选",
            "description": "身份证号按密钥哈希精确查询，号码不保存；返回的号码均已脱敏。",
            "tags": ["archive"],
            "security": SECURED,
            "parameters": _LIST_PARAMS,
            "responses": {
                "200": json_body(ref("ArchiveList"), "符合条件的档案"),
                **errors(401, 403, 422),
            },
        }
    },
    "/archive/export.xlsx": {
        "get": {
            "operationId": "exportArchive",
            "summary": "导出困难职工档案（Excel），条件同列表",
            "description": ("以附件下载；号码脱敏，管理员导出完整号码。每次导出都记入审计日志。"),
            "tags": ["archive"],
            "security": SECURED,
            "parameters": [p for p in _LIST_PARAMS if p["name"] not in ("limit", "offset")],
            "responses": {
                "200": {
                    "description": "档案表",
                    "content": {
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                },
                **errors(401, 403, 422),
            },
        }
    },
    "/archive/{record_id}": {
        "get": {
            "operationId": "getArchiveWorker",
            "summary": "一人一档：档案及本人各业务、各年度的帮扶记录",
            "tags": ["archive"],
            "security": SECURED,
            "parameters": [id_param("record_id", "档案 id")],
            "responses": {
                "200": json_body(ref("ArchiveWorker"), "档案与帮扶记录"),
                **errors(401, 403, 404),
            },
        }
    },
    "/archive/imports": {
        "post": {
            "operationId": "previewArchiveImport",
            "summary": "导入已有档案（第一步）：检查整份文件并生成预览，不写入档案",
            "description": (
                "管理员上传 XLSX 或 CSV（UTF-8 或 GB18030）。表头：姓名、身份证号、性别、单位代码"
                "（或单位名称）、困难类别、家庭人口、家庭月收入、致困原因、银行卡号、开户名、"
                "开户行、联系电话、建档日期、有效期至；mapping 为 JSON 对象，把字段名"
                "（name、id_number、org_code ...）对应到文件中的列名，保存后下次沿用。"
                "同一文件（sha256 相同）已导入过时返回 409，不作任何改变。"
            ),
            "tags": ["archive"],
            "security": SECURED,
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {
                                "file": {"type": "string", "format": "binary"},
                                "org_code": {"type": "string", "description": "导入到的单位"},
                                "mapping": {"type": "string", "description": "列对应（JSON）"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": json_body(ref("ArchiveImport"), "预览"),
                **errors(401, 403, 409, 422),
            },
        }
    },
    "/archive/imports/{import_id}": {
        "get": {
            "operationId": "getArchiveImport",
            "summary": "导入批次的预览与进度",
            "tags": ["archive"],
            "security": SECURED,
            "parameters": [id_param("import_id", "导入批次 id")],
            "responses": {
                "200": json_body(ref("ArchiveImport"), "导入批次"),
                **errors(401, 403, 404),
            },
        }
    },
    "/archive/imports/{import_id}/confirm": {
        "post": {
            "operationId": "confirmArchiveImport",
            "summary": "导入已有档案（第二步）：确认预览，后台分批导入",
            "description": "文件有误时须明确传 skip_bad=true 才跳过有误的行导入，否则返回 422。",
            "tags": ["archive"],
            "security": SECURED,
            "parameters": [id_param("import_id", "导入批次 id")],
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"skip_bad": {"type": "boolean"}},
                        }
                    }
                },
            },
            "responses": {
                "202": json_body(ref("ArchiveImport"), "已开始导入"),
                **errors(401, 403, 404, 409, 422),
            },
        }
    },
}
