"""Provisioning commands and rules on /v1 (docs/compat/nrfcloud/provisioning.md):
/v1/claimed-devices/{id}/provisioning[/{commandId}] and /v1/provisioning-rules[/{id}[/activate]]."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admittance.claiming.provisioning import ProvisioningService, command_json, rule_json
from admittance.http.body import path_text, read_json_object
from admittance.http.guard import Guard
from admittance.http.state import AppState


def _json(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document), status, media_type="application/json")


def routes(state: AppState, guard: Guard) -> list[BaseRoute]:
    def service() -> ProvisioningService:
        return state.services.provisioning

    def max_bytes() -> int:
        return state.services.settings.max_body_bytes

    async def create_command(request: Request) -> Response:
        principal = await guard.permitted(request)
        body = await read_json_object(request, max_bytes())
        command = await service().create_command(principal, path_text(request, "device_id"), body)
        return _json(command_json(command), 201)

    async def list_commands(request: Request) -> Response:
        principal = await guard.permitted(request)
        commands = await service().list_commands(principal, path_text(request, "device_id"))
        return _json({"items": [command_json(c) for c in commands], "total": len(commands)})

    async def cancel_pending(request: Request) -> Response:
        principal = await guard.permitted(request)
        await service().cancel_pending(principal, path_text(request, "device_id"))
        return Response(status_code=204)

    async def get_command(request: Request) -> Response:
        principal = await guard.permitted(request)
        command = await service().get_command(
            principal, path_text(request, "device_id"), path_text(request, "command_id")
        )
        return _json(command_json(command))

    async def cancel_command(request: Request) -> Response:
        principal = await guard.permitted(request)
        await service().cancel_command(principal, path_text(request, "device_id"), path_text(request, "command_id"))
        return Response(status_code=204)

    async def create_rule(request: Request) -> Response:
        principal = await guard.permitted(request)
        body = await read_json_object(request, max_bytes())
        return _json(rule_json(await service().create_rule(principal, body)), 201)

    async def list_rules(request: Request) -> Response:
        principal = await guard.permitted(request)
        rules = await service().list_rules(principal)
        return _json({"items": [rule_json(r) for r in rules], "total": len(rules)})

    async def get_rule(request: Request) -> Response:
        principal = await guard.permitted(request)
        return _json(rule_json(await service().get_rule(principal, path_text(request, "rule_id"))))

    async def update_rule(request: Request) -> Response:
        principal = await guard.permitted(request)
        body = await read_json_object(request, max_bytes())
        return _json(rule_json(await service().update_rule(principal, path_text(request, "rule_id"), body)))

    async def delete_rule(request: Request) -> Response:
        principal = await guard.permitted(request)
        await service().delete_rule(principal, path_text(request, "rule_id"))
        return Response(status_code=204)

    async def activate_rule(request: Request) -> Response:
        principal = await guard.permitted(request)
        return _json(rule_json(await service().activate_rule(principal, path_text(request, "rule_id"))))

    device = "/v1/claimed-devices/{device_id}/provisioning"
    return [
        Route(device, create_command, methods=["POST"]),
        Route(device, list_commands, methods=["GET"]),
        Route(device, cancel_pending, methods=["DELETE"]),
        Route(device + "/{command_id}", get_command, methods=["GET"]),
        Route(device + "/{command_id}", cancel_command, methods=["DELETE"]),
        Route("/v1/provisioning-rules", create_rule, methods=["POST"]),
        Route("/v1/provisioning-rules", list_rules, methods=["GET"]),
        Route("/v1/provisioning-rules/{rule_id}", get_rule, methods=["GET"]),
        Route("/v1/provisioning-rules/{rule_id}", update_rule, methods=["PUT"]),
        Route("/v1/provisioning-rules/{rule_id}", delete_rule, methods=["DELETE"]),
        Route("/v1/provisioning-rules/{rule_id}/activate", activate_rule, methods=["POST"]),
    ]
