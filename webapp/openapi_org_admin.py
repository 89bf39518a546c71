"""OpenAPI paths and schemas for webapp/api_org_admin.py (单位管理, 用户管理), merged into
webapp/openapi.py."""

from typing import Any

from webapp.openapi_parts import SECURED, errors, id_param, json_body, nullable, ref

ORG_TAG, USER_TAG = "organisations", "users"
SCOPE = "市总工会的管理员管理全部单位和用户，县（区）总工会的管理员只管理本单位及下级（之外 403）。"
VERSION = {
    "type": "integer",
    "description": "读取时的 version；已被他人修改则 409",
}

UPLOAD = {
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
}


def _json_request(schema: dict, required: bool = True) -> dict:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


_ORG_FIELDS = {
    "id": {"type": "integer"},
    "code": {"type": "string"},
    "name": {"type": "string"},
    "level": {"type": "integer", "description": "1 市总工会，2 县（区）总工会，3 基层工会"},
    "parent_id": nullable("integer"),
    "address": nullable("string"),
    "phone": nullable("string"),
    "closed": {"type": "boolean", "description": "已撤销：不能再登记申请或添加用户"},
    "closed_at": nullable("string", format="date-time"),
    "version": {"type": "integer"},
}
_USER_FIELDS = {
    "id": {"type": "integer"},
    "username": {"type": "string"},
    "display_name": {"type": "string"},
    "org_id": {"type": "integer"},
    "org_name": {"type": "string"},
    "roles": {
        "type": "array",
        "items": {
            "type": "string",
            "enum": [
                "caseworker",
                "approver_l1",
                "approver_l2",
                "approver_l3",
                "finance",
                "manager",
            ],
        },
    },
    "phone": nullable("string"),
    "active": {"type": "boolean"},
    "must_change_password": {"type": "boolean", "description": "须在下次登录时修改一次性密码"},
    "version": {"type": "integer"},
}
_MOVE_PREVIEW = {
    "type": "object",
    "required": [
        "open_cases",
        "moving_tasks",
        "claimed_tasks",
        "approvers_before",
        "approvers_after",
    ],
    "properties": {
        "open_cases": {"type": "integer"},
        "moving_tasks": {"type": "integer", "description": "改由新上级方面办理的审批任务"},
        "claimed_tasks": {"type": "integer", "description": "其中已认领、将退回待认领的"},
        "approvers_before": {"type": "array", "items": {"type": "string"}},
        "approvers_after": {"type": "array", "items": {"type": "string"}},
    },
}

SCHEMAS: dict[str, Any] = {
    "ManagedOrganisation": {
        "type": "object",
        "required": list(_ORG_FIELDS),
        "properties": _ORG_FIELDS,
    },
    "OrganisationTreeItem": {
        "type": "object",
        "required": [*_ORG_FIELDS, "people", "open_cases"],
        "properties": {
            **_ORG_FIELDS,
            "people": {"type": "integer", "description": "本单位在用的用户数"},
            "open_cases": {"type": "integer", "description": "本单位办理中的案件数"},
        },
    },
    "OrganisationAnswer": {
        "type": "object",
        "required": ["organisation"],
        "properties": {"organisation": ref("ManagedOrganisation")},
    },
    "MovePreview": _MOVE_PREVIEW,
    "ManagedUser": {"type": "object", "required": list(_USER_FIELDS), "properties": _USER_FIELDS},
    "ManagedUserAnswer": {
        "type": "object",
        "required": ["user"],
        "properties": {"user": ref("ManagedUser")},
    },
    "OneTimePasswordAnswer": {
        "type": "object",
        "required": ["user", "one_time_password"],
        "properties": {
            "user": ref("ManagedUser"),
            "one_time_password": {
                "type": "string",
                "description": "只在此应答中出现一次；本人下次登录时须修改",
            },
        },
    },
}

_org_id = id_param("org_id", "单位的 id")
_user_id = id_param("user_id", "用户的 id")


def _op(op_id: str, summary: str, tag: str, responses: dict, description: str = "", **more) -> dict:
    operation = {
        "operationId": op_id,
        "summary": summary,
        "tags": [tag],
        "security": SECURED,
        # Any request may be refused as malformed (422), whatever else it answers.
        "responses": {**responses, **errors(422)},
        **more,
    }
    if description:
        operation["description"] = description
    return operation


_VERSION_BODY = _json_request(
    {"type": "object", "properties": {"version": VERSION}}, required=False
)

PATHS: dict[str, Any] = {
    "/organisations": {
        "get": _op(
            "listOrganisations",
            "本单位及下级单位（树的顺序），含人员和办理中案件数（管理员）",
            ORG_TAG,
            {
                "200": json_body(
                    {
                        "type": "object",
                        "required": ["items"],
                        "properties": {
                            "items": {"type": "array", "items": ref("OrganisationTreeItem")}
                        },
                    },
                    "单位树",
                ),
                **errors(401, 403),
            },
            SCOPE,
        ),
        "post": _op(
            "createOrganisation",
            "新增下级单位（管理员）",
            ORG_TAG,
            {
                "201": json_body(ref("OrganisationAnswer"), "新单位"),
                **errors(401, 403, 404, 422),
            },
            "层级为上级单位的下一级；单位代码全局唯一。" + SCOPE,
            requestBody=_json_request(
                {
                    "type": "object",
                    "required": ["parent_id", "code", "name"],
                    "properties": {
                        "parent_id": {"type": "integer"},
                        "code": {"type": "string"},
                        "name": {"type": "string"},
                        "address": {"type": "string"},
                        "phone": {"type": "string"},
                    },
                }
            ),
        ),
    },
    "/organisations/import": {
        "post": _op(
            "importOrganisations",
            "从 XLSX/CSV 导入单位树（管理员）",
            ORG_TAG,
            {
                "200": json_body(
                    {
                        "type": "object",
                        "required": ["created", "renamed", "unchanged", "sha256"],
                        "properties": {
                            "created": {"type": "integer"},
                            "renamed": {"type": "integer"},
                            "unchanged": {"type": "integer"},
                            "sha256": {"type": "string"},
                        },
                    },
                    "导入结果",
                ),
                **errors(401, 403, 413, 422),
            },
            "列：上级单位代码、单位代码、单位名称、层级。整份文件先检查（上级不存在、代码重复、"
            "循环、层级与上级不符、超出管理范围），有误则整份不导入，返回 422，errors 列出每一行"
            '（如 {"第3行": "…"}）；同一文件再次导入不作更改。',
            requestBody=UPLOAD,
        )
    },
    "/organisations/{org_id}": {
        "get": _op(
            "getOrganisation",
            "一个单位（管理员）",
            ORG_TAG,
            {"200": json_body(ref("OrganisationAnswer"), "单位"), **errors(401, 403, 404)},
            parameters=[_org_id],
        ),
        "patch": _op(
            "updateOrganisation",
            "改名、改代码、改地址电话（管理员）",
            ORG_TAG,
            {
                "200": json_body(ref("OrganisationAnswer"), "修改后的单位"),
                **errors(401, 403, 404, 409, 422),
            },
            "未提供的字段不变。",
            parameters=[_org_id],
            requestBody=_json_request(
                {
                    "type": "object",
                    "properties": {
                        "version": VERSION,
                        "code": {"type": "string"},
                        "name": {"type": "string"},
                        "address": {"type": "string"},
                        "phone": {"type": "string"},
                    },
                }
            ),
        ),
    },
    "/organisations/{org_id}/close": {
        "post": _op(
            "closeOrganisation",
            "撤销单位：不能再登记申请或添加用户，历史保留（管理员）",
            ORG_TAG,
            {
                "200": json_body(ref("OrganisationAnswer"), "已撤销的单位"),
                **errors(401, 403, 404, 409, 422),
            },
            "不能撤销自己所在的单位；有未撤销的下级单位时 422。",
            parameters=[_org_id],
            requestBody=_VERSION_BODY,
        )
    },
    "/organisations/{org_id}/reopen": {
        "post": _op(
            "reopenOrganisation",
            "恢复已撤销的单位（管理员）",
            ORG_TAG,
            {
                "200": json_body(ref("OrganisationAnswer"), "恢复后的单位"),
                **errors(401, 403, 404, 409, 422),
            },
            parameters=[_org_id],
            requestBody=_VERSION_BODY,
        )
    },
    "/organisations/{org_id}/move": {
        "post": _op(
            "moveOrganisation",
            "把单位（连同下级）移到另一个上级单位之下（管理员）",
            ORG_TAG,
            {
                "200": json_body(
                    {
                        "type": "object",
                        "required": ["organisation", "moved"],
                        "properties": {
                            "organisation": ref("ManagedOrganisation"),
                            "moved": ref("MovePreview"),
                        },
                    },
                    "已移动；moved 说明转移的审批任务",
                ),
                **errors(401, 403, 404, 409, 422),
            },
            "新上级须为上一层级的单位。单位有办理中的案件时须传 confirm: true，否则 422"
            "（code confirmation_required，preview 说明哪些审批任务改由新上级方面办理）；"
            "转移的任务已认领的退回待认领。",
            parameters=[_org_id],
            requestBody=_json_request(
                {
                    "type": "object",
                    "required": ["parent_id"],
                    "properties": {
                        "parent_id": {"type": "integer"},
                        "version": VERSION,
                        "confirm": {"type": "boolean"},
                    },
                }
            ),
        )
    },
    "/users": {
        "get": _op(
            "listUsers",
            "查询用户（管理员）",
            USER_TAG,
            {
                "200": json_body(
                    {
                        "type": "object",
                        "required": ["items", "total", "offset", "limit"],
                        "properties": {
                            "items": {"type": "array", "items": ref("ManagedUser")},
                            "total": {"type": "integer"},
                            "offset": {"type": "integer"},
                            "limit": {"type": "integer"},
                        },
                    },
                    "一页用户，按用户名排序",
                ),
                **errors(401, 403, 404, 422),
            },
            SCOPE,
            parameters=[
                {
                    "name": "q",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "姓名或用户名的一部分",
                },
                {
                    "name": "org_id",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1},
                    "description": "单位（含下级）",
                },
                {
                    "name": "role",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "角色代码",
                },
                {
                    "name": "status",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["active", "inactive"]},
                },
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                },
            ],
        ),
        "post": _op(
            "createUser",
            "新增用户，返回一次性密码（管理员）",
            USER_TAG,
            {
                "201": json_body(
                    ref("OneTimePasswordAnswer"), "新用户和一次性密码（只返回这一次）"
                ),
                **errors(401, 403, 404, 422),
            },
            "角色须与单位层级相符（经办人、基层工会审批人在基层工会，县（区）审批人在县（区）总工会，"
            "市审批人、财务在市总工会，管理员在市或县（区）总工会）。" + SCOPE,
            requestBody=_json_request(
                {
                    "type": "object",
                    "required": ["username", "display_name", "org_id", "roles"],
                    "properties": {
                        "username": {"type": "string"},
                        "display_name": {"type": "string"},
                        "org_id": {"type": "integer"},
                        "roles": {"type": "array", "items": {"type": "string"}},
                        "phone": {"type": "string"},
                    },
                }
            ),
        ),
    },
    "/users/import": {
        "post": _op(
            "importUsers",
            "从 XLSX/CSV 导入用户（管理员）",
            USER_TAG,
            {
                "200": json_body(
                    {
                        "type": "object",
                        "required": ["created", "unchanged", "sha256"],
                        "properties": {
                            "created": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": [
                                        "username",
                                        "display_name",
                                        "org_name",
                                        "one_time_password",
                                    ],
                                    "properties": {
                                        "username": {"type": "string"},
                                        "display_name": {"type": "string"},
                                        "org_name": {"type": "string"},
                                        "one_time_password": {"type": "string"},
                                    },
                                },
                            },
                            "unchanged": {"type": "integer"},
                            "sha256": {"type": "string"},
                        },
                    },
                    "新用户及其一次性密码（只返回这一次）",
                ),
                **errors(401, 403, 413, 422),
            },
            "列：用户名、姓名、单位代码、角色（多个用顿号分隔）、手机号。整份文件先检查，有误则"
            "整份不导入，返回 422，errors 列出每一行；"
            "已有的同名同单位用户不变，同一文件再次导入不作更改。",
            requestBody=UPLOAD,
        )
    },
    "/users/{user_id}": {
        "get": _op(
            "getUser",
            "一个用户（管理员）",
            USER_TAG,
            {"200": json_body(ref("ManagedUserAnswer"), "用户"), **errors(401, 403, 404)},
            parameters=[_user_id],
        ),
        "patch": _op(
            "updateUser",
            "修改姓名、单位、角色、手机号（管理员）",
            USER_TAG,
            {
                "200": json_body(ref("ManagedUserAnswer"), "修改后的用户"),
                **errors(401, 403, 404, 409, 422),
            },
            "不能修改自己的单位和角色。调到其他单位或去掉角色时，其已认领的相应任务退回待认领。",
            parameters=[_user_id],
            requestBody=_json_request(
                {
                    "type": "object",
                    "properties": {
                        "version": VERSION,
                        "display_name": {"type": "string"},
                        "org_id": {"type": "integer"},
                        "roles": {"type": "array", "items": {"type": "string"}},
                        "phone": {"type": "string"},
                    },
                }
            ),
        ),
    },
    "/users/{user_id}/deactivate": {
        "post": _op(
            "deactivateUser",
            "停用用户：不能登录，登录状态和令牌失效，已认领任务退回（管理员）",
            USER_TAG,
            {
                "200": json_body(ref("ManagedUserAnswer"), "已停用的用户"),
                **errors(401, 403, 404, 409),
            },
            "用户不会被删除，历史记录保留其姓名。不能停用自己。",
            parameters=[_user_id],
            requestBody=_VERSION_BODY,
        )
    },
    "/users/{user_id}/reactivate": {
        "post": _op(
            "reactivateUser",
            "重新启用用户（管理员）",
            USER_TAG,
            {
                "200": json_body(ref("ManagedUserAnswer"), "已启用的用户"),
                **errors(401, 403, 404, 409, 422),
            },
            parameters=[_user_id],
            requestBody=_VERSION_BODY,
        )
    },
    "/users/{user_id}/reset-password": {
        "post": _op(
            "resetUserPassword",
            "重置密码为一次性密码（管理员）",
            USER_TAG,
            {
                "200": json_body(ref("OneTimePasswordAnswer"), "一次性密码（只返回这一次）"),
                **errors(401, 403, 404),
            },
            "该用户的登录状态和令牌全部失效，登录限制解除；下次登录时须修改密码。",
            parameters=[_user_id],
        )
    },
    "/users/{user_id}/unlock": {
        "post": _op(
            "unlockUser",
            "解除账号因登录失败而受的限制（管理员）",
            USER_TAG,
            {"200": json_body(ref("ManagedUserAnswer"), "用户"), **errors(401, 403, 404)},
            parameters=[_user_id],
        )
    },
}

TAGS = [
    {"name": ORG_TAG, "description": "单位管理（仅管理员）"},
    {"name": USER_TAG, "description": "用户管理（仅管理员）"},
]
