"""/devicecontrol: new device requests (operators) and device credentials (devices)."""

from __future__ import annotations

from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from admittance.devices import NewRegistration, NotYet, RegistrationStatus
from admittance.devices.registration import ENTITY, RegistrationService
from admittance.http.basic_auth import BasicAuthenticator, Identity
from admittance.http.body import read_json_object
from admittance.http.compat.cumulocity import media
from admittance.http.compat.cumulocity import representations as rep
from admittance.http.compat.cumulocity.errors import not_found
from admittance.http.fields import Fields, invalid
from admittance.http.links import Links
from admittance.http.paging import page_request
from admittance.http.params import path_text, query, query_items
from admittance.http.surface import Row, guarded, public
from admittance.kernel.errors import AdmittanceError, InvalidInput
from admittance.kernel.principal import Principal

COLLECTION_PATH = "/devicecontrol/newDeviceRequests"
CREDENTIALS_PATH = "/devicecontrol/deviceCredentials"


def routes(requests: NewDeviceRequests, credentials: DeviceCredentials) -> list[Row]:
    return [
        public("POST", CREDENTIALS_PATH, credentials.poll),
        guarded("GET", f"{COLLECTION_PATH}/limit", requests.limit),
        guarded("POST", f"{COLLECTION_PATH}/acceptAll", requests.accept_all),
        guarded("POST", COLLECTION_PATH, requests.create),
        guarded("GET", COLLECTION_PATH, requests.list),
        guarded("GET", COLLECTION_PATH + "/{id:path}", requests.get),
        guarded("PUT", COLLECTION_PATH + "/{id:path}", requests.update),
        guarded("DELETE", COLLECTION_PATH + "/{id:path}", requests.delete),
    ]


FIELDS = Fields(wrong_type=invalid, required="Following mandatory fields should be included: {}")
_WRITABLE_STATUSES = {RegistrationStatus.ACCEPTED.value, RegistrationStatus.BLOCKED.value}


class DeviceCredentials:
    """POST /devicecontrol/deviceCredentials: the device polling path (http/app.py's fast lane)."""

    def __init__(
        self,
        registrations: RegistrationService,
        identity: Identity,
        auth: BasicAuthenticator,
        links: Links,
        max_body_bytes: int,
    ) -> None:
        self._registrations = registrations
        self._identity = identity
        self._auth = auth
        self._links = links
        self._max_body_bytes = max_body_bytes

    async def poll(self, request: Request) -> Response:
        presented = await self._auth.presented_or_reject(request)
        try:
            body = await read_json_object(request, self._max_body_bytes)
            device_id = FIELDS.required_text(body, "id")
            token = FIELDS.text(body, "securityToken")
        except AdmittanceError:
            # Unauthenticated callers learn nothing about their body: credentials are checked first.
            # (A valid poll checks them together with its lookup, in one round trip.)
            await self._identity.authenticate(presented)
            raise
        issued = await self._registrations.poll(presented, device_id, token)
        if isinstance(issued, NotYet):  # the answer to almost every poll: rendered without raising
            return not_found(request, issued.message, ENTITY)
        document = rep.device_credentials(issued, self._links.base(request))
        return media.json_response(document, 201, media.DEVICE_CREDENTIALS)


class NewDeviceRequests:
    """The operators' side of registration requests."""

    def __init__(self, registrations: RegistrationService, links: Links, max_body_bytes: int) -> None:
        self._registrations = registrations
        self._links = links
        self._max_body_bytes = max_body_bytes

    async def create(self, request: Request, principal: Principal) -> Response:
        body = await read_json_object(request, self._max_body_bytes)
        custom = FIELDS.mapping(body, "customProperties")
        new = NewRegistration(
            id=FIELDS.required_text(body, "id"),
            tenant_id=FIELDS.text(body, "tenantId"),
            group_id=FIELDS.text(body, "groupId"),
            type=FIELDS.text(body, "type"),
            custom_properties=custom,
            enrollment_token=FIELDS.text(body, "enrollmentToken"),
        )
        created = await self._registrations.create(principal, new)
        document = rep.new_device_request(created, self._links.base(request))
        return media.created_or_updated(
            request, document, 201, media.NEW_DEVICE_REQUEST, {"location": document["self"]}
        )

    async def list(self, request: Request, principal: Principal) -> Response:
        status = query(request, "status")
        if status is not None and status not in RegistrationStatus.__members__:
            raise InvalidInput(f"Unknown status {status}", field="status")
        page = await self._registrations.list_requests(
            principal, page_request(request), RegistrationStatus(status) if status else None
        )
        base = self._links.base(request)
        item = partial(rep.new_device_request, base=base)
        document = rep.collection(page, base, COLLECTION_PATH, query_items(request), "newDeviceRequests", item)
        return media.json_response(document, 200, media.NEW_DEVICE_REQUEST_COLLECTION)

    async def get(self, request: Request, principal: Principal) -> Response:
        found = await self._registrations.get(principal, path_text(request, "id"))
        document = rep.new_device_request(found, self._links.base(request))
        return media.json_response(document, 200, media.NEW_DEVICE_REQUEST)

    async def update(self, request: Request, principal: Principal) -> Response:
        body = await read_json_object(request, self._max_body_bytes)
        status = body.get("status")
        if status is None:
            raise InvalidInput("Following mandatory fields should be included: status", field="status")
        if not isinstance(status, str) or status not in RegistrationStatus.__members__:
            raise InvalidInput(f"Unknown status {status!r}", field="status")
        if status not in _WRITABLE_STATUSES:
            raise InvalidInput("The status of a request can only be set to ACCEPTED or BLOCKED", field="status")
        request_id = path_text(request, "id")
        if status == RegistrationStatus.ACCEPTED.value:
            updated = await self._registrations.accept(principal, request_id, FIELDS.text(body, "securityToken"))
        else:
            updated = await self._registrations.block(principal, request_id)
        document = rep.new_device_request(updated, self._links.base(request))
        return media.created_or_updated(request, document, 200, media.NEW_DEVICE_REQUEST)

    async def delete(self, request: Request, principal: Principal) -> Response:
        await self._registrations.delete(principal, path_text(request, "id"))
        return Response(status_code=204)

    async def accept_all(self, _request: Request, principal: Principal) -> Response:
        results = await self._registrations.accept_all(principal)
        document = [
            {"id": r.id, "successful": r.successful, **({"error": r.error} if r.error else {})} for r in results
        ]
        return media.json_response(document, 200, media.JSON)

    async def limit(self, _request: Request, principal: Principal) -> Response:
        found = await self._registrations.limit(principal)
        document: dict[str, Any] = {"isReached": found.is_reached, "deviceCount": found.device_count}
        if found.limit is not None:
            document["limit"] = found.limit
        return media.json_response(document, 200, media.JSON)
