"""The OpenAPI 3.0 document of the Connectware-compatible surface (/api), served at GET /api/openapi.json.

Built as a plain dict (no YAML, no framework): it describes what this server really answers, which the
property-based fuzz run (tests/connectware/test_fuzz.py) checks against every operation. Where the
server differs from the seed, docs/compat/connectware/openapi.md says how and why.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admittance import __version__

PATH = "/api/openapi.json"
HOOK_HEADER = "vernemq-hook"

Schema = dict[str, Any]

_JSON = "application/json"


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def _object(properties: dict[str, Schema], required: tuple[str, ...] = (), *, closed: bool = False) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


_STRING: Schema = {"type": "string"}
# Connectware's username rule (Cybus::User): a letter or digit, then letters, digits, '_' and '.'.
_USERNAME: Schema = {
    "type": "string",
    "pattern": "^[a-zA-Z0-9][a-zA-Z0-9_.]{2,253}$",
    "description": "3 to 254 characters: a letter or digit first, then letters, digits, '_' and '.'",
}
_PASSWORD: Schema = {
    "type": "string",
    "minLength": 8,
    "maxLength": 128,
    "description": 'The default password policy (setting password_policy, {"min": 8}): 8 to 128 characters, '
    "no control characters, not the username; a configured policy may ask for more",
}
_FINGERPRINT: Schema = {
    "type": "string",
    "pattern": "^(?:(?:[0-9a-fA-F]:?){39}|(?:[0-9a-fA-F]:?){63})[0-9a-fA-F]$",
    "description": "SHA-1 (40 hex digits) or SHA-256 (64 hex digits), colons allowed; stored lower-case",
}
_NULLABLE_STRING: Schema = {"type": "string", "nullable": True}
_BOOLEAN: Schema = {"type": "boolean"}
_INTEGER: Schema = {"type": "integer"}


def _schemas() -> dict[str, Schema]:
    permission_fields = {
        "id": _STRING,
        "resource": {"type": "string", "description": "An MQTT topic filter (`+`, `#`); http resources start with /"},
        "operation": {"type": "string", "enum": ["read", "write", "readWrite"]},
        "context": {"type": "string", "enum": ["http", "mqtt"]},
    }
    role_fields = {
        "id": _STRING,
        "name": _STRING,
        "isShared": _BOOLEAN,
        "permissions": _array(_ref("Permission")),
    }
    pagination = _object(
        {
            "totalPages": _INTEGER,
            "totalRows": _INTEGER,
            "totalRowsInPage": _INTEGER,
            "currentPage": _INTEGER,
            "nextPage": {"type": "integer", "nullable": True},
            "rowsPerPage": _INTEGER,
        },
        ("totalPages", "totalRows", "totalRowsInPage", "currentPage", "nextPage", "rowsPerPage"),
    )
    grant_method = {"type": "string", "enum": ["password", "certificate", "token"]}
    identity_provider = {"type": "string", "enum": ["local", "ldap", "entra"]}
    login_answer = _object(
        {
            "token": {"type": "string", "nullable": True, "description": "null while a second factor is due"},
            "expiresAt": _NULLABLE_STRING,
            "permissions": _array(_ref("EffectivePermission")),
            "needsMfa": _BOOLEAN,
            "secret": {
                "type": "string",
                "nullable": True,
                "description": "When needsMfa: the one-time challenge to send to /api/mfa/login",
            },
            "enforceMFAEnrollment": _BOOLEAN,
        },
        ("token", "expiresAt", "permissions", "needsMfa", "secret", "enforceMFAEnrollment"),
    )
    return {
        "Error": _object(
            {
                "statusCode": _INTEGER,
                "error": _STRING,
                "message": _STRING,
                "requestId": {"type": "string", "description": "Only on a 500, to find the log entry"},
            },
            ("statusCode", "error", "message"),
        ),
        "Permission": _object(permission_fields, ("id", "resource", "operation", "context")),
        "EffectivePermission": {
            **_object(
                {key: permission_fields[key] for key in ("resource", "operation", "context")},
                ("resource", "operation", "context"),
            ),
            "description": "What a caller may do: the union of its roles' grants (no id: not one stored grant)",
        },
        "PermissionInput": _object(permission_fields, ("resource", "operation", "context")),
        "PermissionUpdate": _object(
            {key: permission_fields[key] for key in ("resource", "operation", "context")},
            ("resource", "operation"),
        ),
        "GrantType": _object({"method": grant_method, "isRequired": _BOOLEAN}, ("method", "isRequired")),
        "GrantTypeInput": _object({"method": grant_method, "isRequired": _BOOLEAN}, ("method",)),
        "Token": _object(
            {"fingerprint": _STRING, "createdAt": _STRING, "expiresAt": _STRING, "label": _NULLABLE_STRING},
            ("fingerprint", "createdAt", "expiresAt", "label"),
        ),
        "Certificate": _object(
            {"fingerprint": _STRING, "createdAt": _STRING, "expiresAt": _NULLABLE_STRING},
            ("fingerprint", "createdAt", "expiresAt"),
        ),
        "CertificateInput": _object(
            {
                "fingerprint": _FINGERPRINT,
                "createdAt": {"type": "string", "description": "Ignored: the server records when it stored it"},
                "expiresAt": {"type": "string", "nullable": True, "description": "ISO-8601"},
            },
            ("fingerprint",),
        ),
        "Role": _object(role_fields, ("id", "name", "isShared", "permissions")),
        "RoleInput": _object(
            {
                "name": _STRING,
                "isShared": _BOOLEAN,
                "autoGenerated": _BOOLEAN,
                "permissions": _array(_ref("PermissionInput")),
            },
            ("name",),
        ),
        "RoleUpdate": _object(
            {"name": _STRING, "isShared": _BOOLEAN, "permissions": _array(_ref("PermissionInput"))},
        ),
        "User": _object(
            {
                "id": _STRING,
                "username": _STRING,
                "autoGenerated": _BOOLEAN,
                "mqttPublishPrefix": _NULLABLE_STRING,
                "identityProvider": identity_provider,
                "grantTypes": _array(_ref("GrantType")),
                "tokens": _array(_ref("Token")),
                "certificates": _array(_ref("Certificate")),
                "roles": _array(_ref("Role")),
                "mfa_is_enrolled": _BOOLEAN,
                "enforceMFAEnrollment": _BOOLEAN,
                "tenant": {"type": "string", "description": "Admittance: the tenant the user belongs to"},
            },
            (
                "id",
                "username",
                "autoGenerated",
                "mqttPublishPrefix",
                "identityProvider",
                "grantTypes",
                "tokens",
                "certificates",
                "roles",
                "mfa_is_enrolled",
                "enforceMFAEnrollment",
                "tenant",
            ),
        ),
        "UserInput": _object(
            {
                "username": _USERNAME,
                "autoGenerated": _BOOLEAN,
                "mqttPublishPrefix": _NULLABLE_STRING,
                "password": _PASSWORD,
                "identityProvider": identity_provider,
                "grantTypes": _array(_ref("GrantTypeInput")),
                "certificates": _array(_ref("CertificateInput")),
                "initialPermissions": _array(_ref("PermissionInput")),
                "roles": {**_array(_STRING), "description": "Role ids (not names)"},
                "enforceMFAEnrollment": _BOOLEAN,
                "tenant": {
                    "type": "string",
                    "description": "Admittance: the tenant to create the user in (management tenant callers only)",
                },
            },
            ("username",),
        ),
        "UserUpdate": _object(
            {
                "username": _USERNAME,
                "password": _PASSWORD,
                "mqttPublishPrefix": {**_NULLABLE_STRING, "description": "null removes the prefix"},
                "identityProvider": identity_provider,
                "grantTypes": _array(_ref("GrantTypeInput")),
                "roles": {**_array(_STRING), "description": "Role ids: the user's roles become exactly these"},
                "permissions": {
                    **_array(_ref("PermissionInput")),
                    "description": "The user's own permissions become exactly these",
                },
                "disableMfa": _BOOLEAN,
                "enforceMFAEnrollment": _BOOLEAN,
            },
        ),
        "Pagination": pagination,
        "UserPage": _object({"users": _array(_ref("User")), "pagination": _ref("Pagination")}, ("users", "pagination")),
        "RolePage": _object(
            {
                "roles": _array(
                    _object(
                        {
                            "id": _STRING,
                            "name": _STRING,
                            "isshared": _BOOLEAN,
                            "autogenerated": _BOOLEAN,
                            "users": _array(_object({"id": _STRING, "username": _STRING}, ("id", "username"))),
                            "permissions": _array(_ref("Permission")),
                        },
                        ("id", "name", "isshared", "autogenerated", "users", "permissions"),
                    )
                ),
                "pagination": _ref("Pagination"),
            },
            ("roles", "pagination"),
        ),
        "PermissionPage": _object(
            {
                "permissions": _array(
                    _object(
                        {
                            "resource": _STRING,
                            "context": permission_fields["context"],
                            "usage": _array(
                                _object(
                                    {
                                        "roleName": _STRING,
                                        "roleId": _STRING,
                                        "isRoleShared": _BOOLEAN,
                                        "username": {**_NULLABLE_STRING, "description": "Of a personal role"},
                                        "userId": {**_NULLABLE_STRING, "description": "Of a personal role"},
                                        "operation": permission_fields["operation"],
                                    },
                                    ("roleName", "roleId", "isRoleShared", "username", "userId", "operation"),
                                )
                            ),
                        },
                        ("resource", "context", "usage"),
                    )
                ),
                "pagination": _ref("Pagination"),
            },
            ("permissions", "pagination"),
        ),
        "PermissionIds": _object(
            {
                "resource": _STRING,
                "operation": permission_fields["operation"],
                "context": permission_fields["context"],
                "ids": _array(_STRING),
            },
            ("resource", "operation", "context", "ids"),
        ),
        "ChangePassword": _object({"password": _STRING, "newPassword": _PASSWORD}, ("password", "newPassword")),
        "Fingerprint": _object({"fingerprint": _FINGERPRINT}, ("fingerprint",)),
        "RoleId": _object({"roleId": _STRING}, ("roleId",)),
        "Login": _object(
            {
                "username": _STRING,
                "password": _STRING,
                "expireTimeInHours": {
                    "type": "number",
                    "description": "Token lifetime; without a label at most the session lifetime (12 h default)",
                },
                "label": {**_NULLABLE_STRING, "description": "Names a long-lived API token"},
            },
            ("username", "password"),
        ),
        "LoginAnswer": login_answer,
        "Session": _object(
            {
                "username": _STRING,
                "expiresAt": {**_NULLABLE_STRING, "description": "null when the caller came with Basic credentials"},
                "permissions": _array(_ref("EffectivePermission")),
                "mfa": _object({"enabled": _BOOLEAN, "enforced": _BOOLEAN}, ("enabled", "enforced")),
            },
            ("username", "expiresAt", "permissions", "mfa"),
        ),
        "MfaUri": _object({"uri": _STRING}, ("uri",)),
        "Otp": _object({"otp": _STRING}, ("otp",)),
        "OtpOrBackupCode": _object({"otp": _STRING, "backupCode": _STRING}),
        "MfaLogin": {
            **_object(
                {"username": _STRING, "otp": _STRING, "backupCode": _STRING, "secret": _STRING},
                ("username", "secret"),
            ),
            "description": "`otp` or `backupCode` is required as well",
        },
        "BackupCodes": _object({"backupCodes": _array(_STRING)}, ("backupCodes",)),
        "BrokerResult": {
            "description": "VerneMQ webhook answer: `ok` (maybe with modifiers) or `{error: ...}` (a denial)",
            "type": "object",
            "properties": {
                "result": {"oneOf": [{"type": "string", "enum": ["ok"]}, _object({"error": _STRING}, ("error",))]},
                "modifiers": {"type": "object"},
                "topics": _array(_ref("BrokerTopic")),
            },
            "required": ["result"],
        },
        "BrokerTopic": _object({"topic": _STRING, "qos": _INTEGER}, ("topic", "qos")),
        "BrokerRegister": _object(
            {
                "peer_addr": _STRING,
                "peer_port": _INTEGER,
                "username": _NULLABLE_STRING,
                "password": _NULLABLE_STRING,
                "mountpoint": _STRING,
                "client_id": _STRING,
                "clean_session": _BOOLEAN,
                "clean_start": _BOOLEAN,
                "client_cert": {"type": "string", "description": "base64 DER (forward_connection_opts)"},
                "properties": {"type": "object"},
            },
        ),
        "BrokerPublish": _object(
            {
                "username": _NULLABLE_STRING,
                "client_id": _STRING,
                "mountpoint": _STRING,
                "qos": _INTEGER,
                "topic": _STRING,
                "payload": _STRING,
                "retain": _BOOLEAN,
                "properties": {"type": "object"},
            },
            ("topic",),
        ),
        "BrokerSubscribe": _object(
            {
                "username": _NULLABLE_STRING,
                "client_id": _STRING,
                "mountpoint": _STRING,
                "topics": {"type": "array", "minItems": 1, "items": _ref("BrokerTopic")},
                "properties": {"type": "object"},
            },
            ("topics",),
        ),
        "BrokerEnhanced": _object(
            {
                "username": _NULLABLE_STRING,
                "client_id": _STRING,
                "mountpoint": _STRING,
                "properties": _object(
                    {"p_authentication_method": _STRING, "p_authentication_data": _STRING},
                ),
            },
        ),
        **_registry_schemas(permission_fields),
        **_certificate_schemas(),
        **_maintenance_schemas(),
    }


def _nullable(name: str) -> Schema:
    """A nullable reference (OpenAPI 3.0 ignores the siblings of a `$ref`)."""
    return {"allOf": [_ref(name)], "nullable": True}


def _registry_schemas(permission_fields: dict[str, Schema]) -> dict[str, Schema]:
    asked = {key: permission_fields[key] for key in ("resource", "operation", "context")}
    return {
        "RegistryRequest": {
            **_object(
                {
                    "username": {
                        "type": "string",
                        "pattern": "^(?:[a-z][a-z0-9-]{0,62}/)?[a-zA-Z0-9][a-zA-Z0-9_.]{2,253}$",
                        "description": "The account asked for, optionally as `tenant/username` (else the tenant of "
                        "the Host's first label, else the default tenant): Connectware's username rule, "
                        "`device_...` reserved for devices (a breach is a 400)",
                    },
                    "password": {
                        **_PASSWORD,
                        "description": "The password policy (a breach is a 400); the device polls with it",
                    },
                    "csr": {
                        "type": "string",
                        "description": "A certificate signing request: base64 of its PEM (the seed), PEM, or base64 "
                        "of DER; exactly one CN, equal to the username; an EC P-256/P-384 or RSA 2048-8192 key",
                    },
                    "roles": {
                        "type": "array",
                        "maxItems": 50,
                        "items": {"type": "string", "minLength": 1, "maxLength": 200},
                        "description": "Role names the device asks for (shown to the operator)",
                    },
                    "permissions": {"type": "array", "maxItems": 100, "items": _ref("PermissionInput")},
                    "context": {"type": "string", "maxLength": 1000, "description": "Free text for the operator"},
                },
                ("username",),
            ),
            "anyOf": [{"required": ["password"]}, {"required": ["csr"]}],
            "description": "`password` or `csr` (or both) is required as well",
        },
        "RegistryGranted": _object(
            {
                "certificate": {
                    "type": "string",
                    "description": "Base64 of the issued certificate's PEM (only when the request had a CSR)",
                },
            },
        ),
        "RegistryPending": _object(
            {
                "status": {"type": "string", "enum": ["pending"]},
                "pairingCode": {"type": "string", "description": "Six hex digits, for the operator to compare"},
            },
            ("status", "pairingCode"),
        ),
        "RegistryOpen": _object(
            {
                "duration": {
                    "type": "integer",
                    "minimum": 1000,
                    "maximum": 86_400_000,
                    "description": "Milliseconds; 30000 when absent",
                },
            },
        ),
        "RegistryStatus": _object(
            {"locked": _BOOLEAN, "openUntil": {**_NULLABLE_STRING, "description": "null while locked"}},
            ("locked", "openUntil"),
        ),
        "RegistryEntry": _object(
            {
                "id": _STRING,
                "timestamp": {"type": "string", "description": "The first request"},
                "username": _STRING,
                "credentialType": {"type": "string", "enum": ["password", "certificate"]},
                "roles": _array(_STRING),
                "context": _STRING,
                "permissions": _array(_object(asked, ("resource", "operation", "context"))),
                "granted": _BOOLEAN,
                "pairingCode": _STRING,
                "tenant": _STRING,
                "lastSeen": {"type": "string", "description": "The latest matching request"},
            },
            (
                "id",
                "timestamp",
                "username",
                "credentialType",
                "roles",
                "context",
                "permissions",
                "granted",
                "pairingCode",
                "tenant",
                "lastSeen",
            ),
        ),
        "RegistryConfirm": _object(
            {
                "username": {"type": "string", "description": "A pending request's username"},
                "tenant": {"type": "string", "description": "Admittance: the request's tenant (management callers)"},
                "mqttPublishPrefix": _NULLABLE_STRING,
                "grantTypes": {
                    **_array(_ref("GrantTypeInput")),
                    "description": "Absent: password and/or certificate, as the request came",
                },
                "initialPermissions": {
                    **_array(_ref("PermissionInput")),
                    "description": "Absent: the permissions the device asked for",
                },
                "roles": {**_array(_STRING), "description": "Role ids; absent: the roles the device asked for"},
            },
            ("username",),
        ),
    }


def _certificate_schemas() -> dict[str, Schema]:
    parties = ("commonName", "organization", "organizationalUnit")
    party = {name: {**_NULLABLE_STRING, "description": "null when the name has none"} for name in parties}
    alternative_names = {"alternativeNames": {**_array(_STRING), "description": "The SAN entries as text"}}
    return {
        "TrustedCertificate": _object(
            {
                "id": {"type": "string", "description": "`device-ca`, `chain-...`, or a UUID for an added one"},
                "issuedBy": _object(party, parties),
                "issuedTo": _object(party | alternative_names, (*parties, "alternativeNames")),
                "keyUsage": _array(_STRING),
                "extendedKeyUsage": _array(_STRING),
                "basicConstraints": _object(
                    {"isCA": _BOOLEAN, "pathLength": {"type": "integer", "nullable": True}},
                    ("isCA", "pathLength"),
                ),
                "issuedOn": {"type": "integer", "description": "notBefore, epoch milliseconds"},
                "expiresOn": {"type": "integer", "description": "notAfter, epoch milliseconds"},
                "fingerprints": _object({"sha1": _STRING, "sha256": _STRING}, ("sha1", "sha256")),
                "removable": _BOOLEAN,
            },
            (
                "id",
                "issuedBy",
                "issuedTo",
                "keyUsage",
                "extendedKeyUsage",
                "basicConstraints",
                "issuedOn",
                "expiresOn",
                "fingerprints",
                "removable",
            ),
        ),
        "PemCertificates": {
            "description": "PEM text of one or more CA certificates as a JSON string (the seed), or as "
            "`{certificate: <PEM>}`",
            "oneOf": [_STRING, _object({"certificate": _STRING}, ("certificate",))],
        },
    }


def _maintenance_schemas() -> dict[str, Schema]:
    run = {
        "id": _STRING,
        "succeeded": {"type": "boolean", "nullable": True, "description": "null while running"},
        "statusMessage": _STRING,
        "startDate": _STRING,
        "endDate": {**_NULLABLE_STRING, "description": "null while running"},
    }
    required = ("id", "succeeded", "statusMessage", "startDate", "endDate")
    return {
        "MaintenanceRun": _object(run, required),
        "MaintenanceStatus": _object(
            {
                "running": _BOOLEAN,
                "backup": {**_nullable("MaintenanceRun"), "description": "The latest backup; null if none ran"},
                "restore": {**_nullable("MaintenanceRun"), "description": "The latest restore; null if none ran"},
            },
            ("running", "backup", "restore"),
        ),
        "BackupRun": _object(
            {**run, "sha256": {"type": "string", "description": "Of the backup file"}}, (*required, "sha256")
        ),
        "BackupFile": _object(
            {
                "id": _STRING,
                "createdAt": _STRING,
                "size": {"type": "integer", "description": "Bytes"},
                "rows": _INTEGER,
                "revision": {"type": "string", "description": "The schema (Alembic) revision it was taken at"},
                "appVersion": _STRING,
                "dialect": {"type": "string", "enum": ["sqlite", "postgresql"]},
                "restorable": {"type": "boolean", "description": "Taken at this database's schema revision"},
            },
            ("id", "createdAt", "size", "rows", "revision", "appVersion", "dialect", "restorable"),
        ),
        "RestoreById": _object(
            {"id": {"type": "string", "description": "A stored backup's id; absent: the newest"}},
        ),
    }


_ERROR_NAMES = {
    400: "The request is malformed (not JSON, wrong JSON type, bad parameter)",
    401: "No valid credentials (the same answer for every authentication failure)",
    403: "Authenticated, but the permissions do not allow this method on this path",
    404: "Nothing is stored under that id (or it belongs to another tenant)",
    409: "It conflicts with what is stored (a name or username already taken)",
    413: "The request body is larger than the configured limit",
    415: "The request body is not JSON",
    422: "The request is well-formed but its values are not acceptable",
    423: "The client registry is locked: an operator must open it first",
    429: "Too many failed attempts; retry after the number of seconds in Retry-After",
}


def _error(status: int, description: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description or _ERROR_NAMES[status],
        "content": {_JSON: {"schema": _ref("Error")}},
    }
    if status == 429:
        response["headers"] = {"Retry-After": {"schema": _INTEGER, "description": "Seconds to wait"}}
    return response


def _json(description: str, schema: Schema) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


_NO_CONTENT = {"204": {"description": "Done; no content"}}

_GUARDED = (401, 403, 429)
_BODY = (400, 413, 415, 422)


def _operation(
    summary: str,
    tag: str,
    answers: dict[str, Any],
    errors: tuple[int, ...],
    *,
    body: Schema | None = None,
    parameters: list[dict[str, Any]] | None = None,
    public: bool = False,
    media: dict[str, Schema] | None = None,
    body_required: bool = True,
    notes: dict[int, str] | None = None,
    never: tuple[int, ...] = (),
) -> dict[str, Any]:
    """`body`: a JSON request body (`media`: the body's schema per media type instead); `notes`: what
    an error status means for this operation; `never`: body errors (`_BODY`) it cannot answer."""
    operation: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": dict(answers)}
    content = media if media is not None else ({_JSON: body} if body is not None else None)
    body_errors = set(_BODY) - set(never) if content is not None else set()
    for status in sorted(set(errors) | body_errors):
        operation["responses"][str(status)] = _error(status, (notes or {}).get(status))
    if content is not None:
        operation["requestBody"] = {
            "required": body_required,
            "content": {media_type: {"schema": schema} for media_type, schema in content.items()},
        }
    if parameters:
        operation["parameters"] = parameters
    if public:
        operation["security"] = []
    return operation


def _broker_operation(
    summary: str, body: Schema, parameters: list[dict[str, Any]], errors: tuple[int, ...]
) -> dict[str, Any]:
    """A broker hook: past its guard every answer is a 200 (a denial for whatever is malformed), since
    VerneMQ takes any other status for a failed hook. The guard: loopback callers only (403), or the
    shared secret when `broker_hook_secret` is set (401, 429)."""
    operation = _operation(
        summary,
        "broker",
        {"200": _json("The decision, as VerneMQ's webhooks expect it", _ref("BrokerResult"))},
        (401, 403, 429, *errors),
        parameters=parameters,
    )
    operation["requestBody"] = {"required": True, "content": {_JSON: {"schema": body}}}
    operation["security"] = [{}, {"brokerSecret": []}, {"bearerAuth": []}, {"basicAuth": []}]
    return operation


def _header(name: str, schema: Schema, description: str, *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "description": description, "schema": schema}


def _path_id(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": _STRING}


def _query(name: str, schema: Schema, description: str, *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


_PAGE = _query("pageNumber", {"type": "integer", "minimum": 1}, "The page number to fetch, starts at page 1")
_ROWS = _query("rowsPerPage", {"type": "integer", "minimum": 1}, "The number of records per page")
_USER_ID = _path_id("id", "Id of the user")
_ROLE_ID = _path_id("id", "Id of the role")
_PERMISSION_ID = _path_id("pemId", "Id of the permission")


def _paths() -> dict[str, Any]:
    user = _json("The user", _ref("User"))
    role = _json("The role", _ref("Role"))
    login = _json("A token, or the first step of an MFA login", _ref("LoginAnswer"))
    backup_codes = _json("Fresh one-time backup codes (shown once)", _ref("BackupCodes"))
    paths: dict[str, Any] = {
        "/api/users": {
            "post": _operation(
                "Create a user",
                "users",
                {"201": user},
                (*_GUARDED, 409),
                body=_ref("UserInput"),
            ),
        },
        "/api/listUsers": {
            "get": _operation(
                "One page of the users of the caller's tenant",
                "users",
                {"200": _json("One page of users", _ref("UserPage"))},
                (*_GUARDED, 400),
                parameters=[
                    _query(
                        "usernames",
                        _array(_STRING),
                        "Only these usernames (the parameter repeated or comma-separated)",
                    ),
                    _PAGE,
                    _ROWS,
                    _query("excludeAutoGenerated", _BOOLEAN, "Leave out users made by the system"),
                ],
            ),
        },
        "/api/users/batch": {
            "post": _operation(
                "Create several users at once (all or none)",
                "users",
                {"201": _json("The ids of the new users", _array(_STRING))},
                (*_GUARDED, 409),
                body=_array(_ref("UserInput")),
            ),
        },
        "/api/users/change-password": {
            "put": _operation(
                "Change the caller's own password (403 when the current password is wrong)",
                "session",
                _NO_CONTENT,
                (401, 403, 404, 429),
                body=_ref("ChangePassword"),
            ),
        },
        "/api/users/{id}": {
            "parameters": [_USER_ID],
            "get": _operation("One user", "users", {"200": user}, (*_GUARDED, 404)),
            "put": _operation("Change a user", "users", {"200": user}, (*_GUARDED, 404, 409), body=_ref("UserUpdate")),
            "delete": _operation("Delete a user", "users", _NO_CONTENT, (*_GUARDED, 404, 422)),
        },
        "/api/users/{id}/tokens": {
            "parameters": [_USER_ID],
            "get": _operation(
                "The user's tokens (fingerprints only, never the token)",
                "users",
                {"200": _json("The tokens", _array(_ref("Token")))},
                (*_GUARDED, 404),
            ),
            "delete": _operation(
                "Revoke the user's tokens (at once)",
                "users",
                _NO_CONTENT,
                (*_GUARDED, 404),
                parameters=[_query("fingerprint", _STRING, "Only this token; all of them if absent")],
            ),
        },
        "/api/users/{id}/certificates": {
            "parameters": [_USER_ID],
            "post": _operation(
                "Add a certificate fingerprint", "users", _NO_CONTENT, (*_GUARDED, 404, 409), body=_ref("Fingerprint")
            ),
            "delete": _operation(
                "Remove a certificate fingerprint", "users", _NO_CONTENT, (*_GUARDED, 404), body=_ref("Fingerprint")
            ),
        },
        "/api/users/{id}/roles": {
            "parameters": [_USER_ID],
            "post": _operation("Give the user a role", "users", _NO_CONTENT, (*_GUARDED, 404), body=_ref("RoleId")),
            "delete": _operation("Take a role away", "users", _NO_CONTENT, (*_GUARDED, 404), body=_ref("RoleId")),
        },
        "/api/roles": {
            "post": _operation("Create a role", "roles", {"201": role}, (*_GUARDED, 409), body=_ref("RoleInput")),
            "get": _operation(
                "The roles the caller's tenant can use",
                "roles",
                {"200": _json("The roles", _array(_ref("Role")))},
                _GUARDED,
                parameters=[_query("name", _STRING, "Only the role with this name")],
            ),
        },
        "/api/roles/page": {
            "get": _operation(
                "One page of roles, with their users",
                "roles",
                {"200": _json("One page of roles", _ref("RolePage"))},
                (*_GUARDED, 400),
                parameters=[
                    _query("names", _array(_STRING), "Only these names"),
                    _ROWS,
                    _PAGE,
                    _query("autoGenerated", _BOOLEAN, "Only roles that are (or are not) auto-generated"),
                    _query("isShared", _BOOLEAN, "Only roles that are (or are not) shared"),
                ],
            ),
        },
        "/api/roles/{id}": {
            "parameters": [_ROLE_ID],
            "get": _operation("One role", "roles", {"200": role}, (*_GUARDED, 404)),
            "put": _operation("Change a role", "roles", {"200": role}, (*_GUARDED, 404, 409), body=_ref("RoleUpdate")),
            "delete": _operation("Delete a role", "roles", _NO_CONTENT, (*_GUARDED, 404, 422)),
        },
        "/api/roles/{id}/permissions": {
            "parameters": [_ROLE_ID],
            "get": _operation(
                "The role's permissions",
                "roles",
                {"200": _json("The permissions", _array(_ref("Permission")))},
                (*_GUARDED, 404),
            ),
            "post": _operation(
                "Add a permission to the role",
                "roles",
                _NO_CONTENT,
                (*_GUARDED, 404, 409),
                body=_ref("PermissionInput"),
            ),
        },
        "/api/roles/{id}/permissions/{pemId}": {
            "parameters": [_ROLE_ID, _PERMISSION_ID],
            "get": _operation(
                "One permission of the role",
                "roles",
                {"200": _json("The permission", _ref("Permission"))},
                (*_GUARDED, 404),
            ),
            "put": _operation(
                "Change one permission of the role",
                "roles",
                _NO_CONTENT,
                (*_GUARDED, 404, 409),
                body=_ref("PermissionUpdate"),
            ),
            "delete": _operation("Remove one permission", "roles", _NO_CONTENT, (*_GUARDED, 404, 422)),
        },
        "/api/permissions/page": {
            "get": _operation(
                "One page of distinct permissions, with the roles and users that hold them",
                "permissions",
                {"200": _json("One page of permissions", _ref("PermissionPage"))},
                (*_GUARDED, 400),
                parameters=[_query("ids", _array(_STRING), "Only these permission ids"), _ROWS, _PAGE],
            ),
        },
        "/api/permissions/ids": {
            "get": _operation(
                "Every distinct permission with the ids of its grants",
                "permissions",
                {"200": _json("The permissions", _array(_ref("PermissionIds")))},
                _GUARDED,
            ),
        },
        "/api/login": {
            "post": _operation(
                "Log in with username and password",
                "session",
                {"200": login},
                (401, 429),
                body=_ref("Login"),
                public=True,
            ),
        },
        "/api/session": {
            "get": _operation(
                "The caller's session", "session", {"200": _json("The session", _ref("Session"))}, (401, 429)
            ),
        },
        "/api/mfa/enable": {
            "post": _operation(
                "Start MFA enrollment: a fresh TOTP secret as an otpauth URI",
                "mfa",
                {"200": _json("The otpauth URI", _ref("MfaUri"))},
                (401, 404, 409, 429),
            ),
        },
        "/api/mfa/validate": {
            "post": _operation(
                "Finish MFA enrollment with a first code (a wrong code is a 422)",
                "mfa",
                {"200": backup_codes},
                (401, 404, 409, 429),
                body=_ref("Otp"),
            ),
        },
        "/api/mfa/login": {
            "post": _operation(
                "Second login step: a TOTP code or a backup code with the `secret` of the first step",
                "mfa",
                {"200": login},
                (401, 429),
                body=_ref("MfaLogin"),
                public=True,
            ),
        },
        "/api/mfa/disable": {
            "post": _operation(
                "Turn MFA off (with a current code or a backup code)",
                "mfa",
                _NO_CONTENT,
                (401, 403, 404, 429),
                body=_ref("OtpOrBackupCode"),
            ),
        },
        "/api/mfa/regenerate/backupcodes": {
            "post": _operation(
                "New backup codes (the old ones stop working)",
                "mfa",
                {"200": backup_codes},
                (401, 403, 404, 429),
                body=_ref("OtpOrBackupCode"),
            ),
        },
    }
    paths |= _registry_paths() | _certificate_paths() | _maintenance_paths()
    hooks = {
        "auth_on_register": "BrokerRegister",
        "auth_on_register_m5": "BrokerRegister",
        "auth_on_publish": "BrokerPublish",
        "auth_on_publish_m5": "BrokerPublish",
        "auth_on_subscribe": "BrokerSubscribe",
        "auth_on_subscribe_m5": "BrokerSubscribe",
        "on_auth_m5": "BrokerEnhanced",
        "enhanced": "BrokerEnhanced",
    }
    for hook, request in hooks.items():
        named = "on_auth_m5" if hook == "enhanced" else hook
        paths[f"/api/broker/auth/{hook}"] = {
            "post": _broker_operation(
                f"VerneMQ webhook {named}" + (" (the seed's path)" if hook == "enhanced" else ""),
                _ref(request),
                [_header(HOOK_HEADER, _STRING, f"If sent, it must be {named}: otherwise a denial")],
                (),
            ),
        }
    paths["/api/broker/auth"] = {
        "post": _broker_operation(
            "VerneMQ webhook named by the vernemq-hook header (one endpoint for every hook)",
            {"type": "object"},
            [
                _header(
                    HOOK_HEADER,
                    {"type": "string", "enum": sorted(set(hooks) - {"enhanced"})},
                    "The hook",
                    required=True,
                )
            ],
            (400, 404),
        ),
    }
    paths[PATH] = {
        "get": _operation(
            "This document",
            "meta",
            {"200": _json("The OpenAPI document", {"type": "object"})},
            (),
            public=True,
        ),
    }
    return paths


def _registry_paths() -> dict[str, Any]:
    tag = "client-registry"
    return {
        "/api/client-registry/register": {
            "post": _operation(
                "A device asks for an account (password and/or CSR) and polls with the same request",
                tag,
                {
                    "201": _json(
                        "Granted: with a CSR, the certificate (on every matching poll)", _ref("RegistryGranted")
                    ),
                    "202": _json("Pending: the operator has not granted it yet", _ref("RegistryPending")),
                },
                (401, 409, 423, 429),
                body=_ref("RegistryRequest"),
                public=True,
                # Connectware answers 400 for a request that breaks a rule (no 422 here).
                never=(422,),
                notes={
                    400: "Not JSON, a wrong JSON type, or a rule broken: username, password policy, CSR "
                    "(signature, CN, key), neither password nor csr, too many roles or permissions",
                    401: "A granted registration polled with other credentials",
                    409: "The username belongs to a user, or a pending registration has other credentials",
                    429: "Too many failed polls, or too many new registrations from this address",
                },
            ),
        },
        "/api/client-registry/open": {
            "post": _operation(
                "Open the caller's tenant's registry window (or set a new deadline)",
                tag,
                _NO_CONTENT,
                _GUARDED,
                body=_ref("RegistryOpen"),
                body_required=False,
                notes={
                    400: "Not JSON, not an object, or duration not a whole number",
                    422: "duration outside 1000 to 86400000",
                },
            ),
        },
        "/api/client-registry/close": {
            "post": _operation("Lock the caller's tenant's registry at once", tag, _NO_CONTENT, _GUARDED),
        },
        "/api/client-registry/status": {
            "get": _operation(
                "Whether the caller's tenant's registry is open, and until when",
                tag,
                {"200": _json("The window", _ref("RegistryStatus"))},
                _GUARDED,
            ),
        },
        "/api/client-registry": {
            "get": _operation(
                "The registrations, pending and granted, oldest first (every tenant's for management callers)",
                tag,
                {"200": _json("The registrations", _array(_ref("RegistryEntry")))},
                _GUARDED,
            ),
        },
        "/api/client-registry/confirm": {
            "post": _operation(
                "Grant a pending registration: create its user (and issue its certificate)",
                tag,
                {"200": _json("The created user", _ref("User"))},
                (*_GUARDED, 404, 409),
                body=_ref("RegistryConfirm"),
                notes={
                    403: "Not permitted, or the roles and permissions granted exceed the caller's own",
                    404: "No registration for that username (in that tenant)",
                    409: "Granted already, or the username is taken",
                    422: "A value breaks a rule (e.g. the password grant type for a CSR-only request)",
                },
            ),
        },
        "/api/client-registry/{username}": {
            "parameters": [_path_id("username", "The registration's username")],
            "delete": _operation(
                "Reject a pending registration or forget a granted one (its user stays)",
                tag,
                _NO_CONTENT,
                (*_GUARDED, 404),
                parameters=[_query("tenant", _STRING, "The registration's tenant (management callers)")],
                notes={404: "No registration for that username (in that tenant)"},
            ),
        },
    }


def _certificate_paths() -> dict[str, Any]:
    tag = "certificates"
    listing = _json("Every trusted certificate", _array(_ref("TrustedCertificate")))
    by_id = _query("id", _STRING, "Id of the certificate", required=True)
    not_removable = {
        404: "No trusted certificate with that id",
        422: "The device CA and its chain cannot be removed",
    }
    return {
        "/api/certificates": {
            "get": _operation("The trusted CA certificates", tag, {"200": listing}, _GUARDED),
            "post": _operation(
                "Add CA certificates (PEM); certificates already stored are skipped",
                tag,
                {"200": {**listing, "description": "The whole store after the change"}},
                _GUARDED,
                media={_JSON: _ref("PemCertificates"), "text/plain": _STRING},
                notes={
                    400: "Not a JSON string, or not PEM certificates that parse",
                    403: "Not permitted, or the caller is outside the management and default tenants",
                    415: "Neither JSON nor PEM text (text/plain, application/x-pem-file)",
                    422: "A certificate is not a CA (basicConstraints CA:TRUE), or more than 50",
                },
            ),
            "delete": _operation(
                "Remove an added certificate (the id as a query parameter)",
                tag,
                _NO_CONTENT,
                (*_GUARDED, 400, 404, 422),
                parameters=[by_id],
                notes={400: "No id", **not_removable},
            ),
        },
        "/api/certificates/content": {
            "get": _operation(
                "One certificate's PEM",
                tag,
                {"200": {"description": "The PEM text", "content": {"text/plain": {"schema": _STRING}}}},
                (*_GUARDED, 400, 404),
                parameters=[by_id],
                notes={400: "No id", 404: "No trusted certificate with that id"},
            ),
        },
        "/api/certificates/{id}": {
            "parameters": [_path_id("id", "Id of the certificate")],
            "delete": _operation(
                "Remove an added certificate", tag, _NO_CONTENT, (*_GUARDED, 404, 422), notes=not_removable
            ),
        },
    }


def _maintenance_paths() -> dict[str, Any]:
    tag = "maintenance"
    outside = {403: "Not permitted, or the caller is outside the management and default tenants"}
    running = {409: "A backup or restore is running (in any process sharing the database)"}
    binary: Schema = {"type": "string", "format": "binary"}
    return {
        "/api/maintenance/db": {
            "get": _operation(
                "The latest backup and restore runs",
                tag,
                {"200": _json("The runs", _ref("MaintenanceStatus"))},
                _GUARDED,
                notes=outside,
            ),
        },
        "/api/maintenance/db/backup": {
            "post": _operation(
                "Back up the whole database into the backup folder (synchronously)",
                tag,
                {"201": _json("The finished run", _ref("BackupRun"))},
                (*_GUARDED, 409),
                notes=outside | running,
            ),
        },
        "/api/maintenance/db/backups": {
            "get": _operation(
                "The stored backups, newest first",
                tag,
                {"200": _json("The backups", _array(_ref("BackupFile")))},
                _GUARDED,
                notes=outside,
            ),
        },
        "/api/maintenance/db/backups/{id}": {
            "parameters": [_path_id("id", "Id of the backup")],
            "get": _operation(
                "Download a stored backup (it holds every password hash and sealed key)",
                tag,
                {
                    "200": {
                        "description": "The backup file",
                        "headers": {
                            "Content-Disposition": {"schema": _STRING, "description": "attachment; filename=..."}
                        },
                        "content": {"application/zip": {"schema": binary}},
                    }
                },
                (*_GUARDED, 404),
                notes={
                    403: "Not permitted (a download also needs write on /api/maintenance/db/backup), or the "
                    "caller is outside the management and default tenants",
                    404: "No backup stored under that id",
                },
            ),
        },
        "/api/maintenance/db/restore": {
            "post": _operation(
                "Replace the whole database with a backup (synchronously): a stored one or an uploaded file",
                tag,
                _NO_CONTENT,
                (*_GUARDED, 404, 409),
                media={
                    _JSON: _ref("RestoreById"),
                    "application/zip": binary,
                    "application/octet-stream": binary,
                    "multipart/form-data": _object({"file": binary}, ("file",)),
                },
                body_required=False,
                notes={
                    **outside,
                    **running,
                    400: "Not JSON, or the backup is damaged or not a backup (nothing was changed)",
                    404: "No backup stored under that id (none at all, without an id)",
                    413: "The upload is larger than max_backup_upload_bytes",
                    415: "Another media type than JSON, a zip file or multipart/form-data",
                    422: "A multipart body without a part `file`; another format version or schema revision, "
                    "or rows the database refuses (nothing was changed)",
                },
            ),
        },
    }


@cache
def document() -> dict[str, Any]:
    """The whole document (built once; callers must not change it)."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Admittance: Connectware-compatible identity and access API",
            "version": __version__,
            "description": "Users, roles, permissions, sessions, MFA, broker authentication, the client "
            "registry, the trusted CA certificates and database maintenance, as Cybus Connectware's auth server "
            "offers them. Errors are `{statusCode, error, message}`.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}, {"tokenHeader": []}, {"basicAuth": []}],
        "tags": [
            {"name": name}
            for name in (
                "users",
                "roles",
                "permissions",
                "session",
                "mfa",
                "broker",
                "client-registry",
                "certificates",
                "maintenance",
                "meta",
            )
        ],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "A token from POST /api/login"},
                "tokenHeader": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "The same token as the whole Authorization header (as the seed sends it)",
                },
                "basicAuth": {"type": "http", "scheme": "basic", "description": "tenant/username:password"},
                "brokerSecret": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "x-admittance-broker-secret",
                    "description": "The broker hooks' shared secret (also as Bearer, or as the Basic password)",
                },
            },
        },
    }


@cache
def _encoded() -> bytes:
    return orjson.dumps(document())


async def _serve(_request: Request) -> Response:
    return Response(_encoded(), media_type=_JSON)


def routes() -> list[BaseRoute]:
    return [Route(PATH, _serve, methods=["GET"])]
