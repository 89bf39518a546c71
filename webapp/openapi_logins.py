"""OpenAPI paths and schemas for webapp/api_logins.py, merged into webapp/openapi.py."""

from typing import Any

from webapp.openapi_parts import SECURED, errors, id_param, json_body, ref

SCHEMAS: dict[str, Any] = {
    "LoginThrottle": {
        "type": "object",
        "required": [
            "id",
            "kind",
            "key",
            "display_name",
            "failures",
            "last_failed_at",
            "wait_until",
            "challenge",
        ],
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string", "enum": ["account", "address"]},
            "key": {"type": "string", "description": "输入的用户名，或来源地址"},
            "display_name": {"type": ["string", "null"], "description": "该用户名对应的用户"},
            "failures": {"type": "integer", "description": "近 15 分钟内的失败次数"},
            "last_failed_at": {"type": "string", "format": "date-time"},
            "wait_until": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "在此之前的登录尝试须等待",
            },
            "challenge": {"type": "boolean", "description": "登录须回答验证问题"},
        },
    },
    "LoginThrottleList": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": ref("LoginThrottle")}},
    },
}

PATHS: dict[str, Any] = {
    "/login-throttles": {
        "get": {
            "operationId": "listLoginThrottles",
            "summary": "登录受限的账号和地址（管理员）",
            "description": "多次登录失败的账号须回答验证问题，地址须等待；账号从不被锁定。"
            "市总工会以下的管理员只看到本单位及下级的账号。",
            "tags": ["logins"],
            "security": SECURED,
            "responses": {
                "200": json_body(ref("LoginThrottleList"), "登录受限的账号和地址"),
                **errors(401, 403),
            },
        }
    },
    "/login-throttles/{throttle_id}": {
        "delete": {
            "operationId": "clearLoginThrottle",
            "summary": "解除一个账号或地址的登录限制（管理员）",
            "tags": ["logins"],
            "security": SECURED,
            "parameters": [id_param("throttle_id", "登录限制的 id")],
            "responses": {"204": {"description": "已解除"}, **errors(401, 403, 404)},
        }
    },
}

TAGS = [{"name": "logins", "description": "登录保护（仅管理员）"}]
