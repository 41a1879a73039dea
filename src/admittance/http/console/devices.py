"""Console pages: the device registry (managed objects) and its groups.

Each page and form stands for the Cumulocity inventory request it mirrors (`needs`, or
`current.require` with the object's own path) and calls InventoryService (or the PKI services for
a revocation) with the signed-in principal: the console sees and changes exactly what the API would,
and every change is audited by the service. A device's credentials are its own user (`device_<id>`,
the owner of its object): its state, the certificates issued to it, a new random password (shown
once) and the audit history of the object, its external ids and its user."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.responses import Response

from admittance.devices.inventory import InventoryService
from admittance.devices.inventory_model import MAX_NAME_CHARS, DeviceCredentials, InventoryFilter, ManagedObject
from admittance.http.console.core import PREFIX, ConsoleError
from admittance.http.console.page import Page, PageRoute
from admittance.http.params import is_digits
from admittance.kernel.clock import Clock
from admittance.kernel.errors import InvalidInput, NotFound
from admittance.kernel.paging import PageRequest
from admittance.pki.issuing import IssuingService
from admittance.pki.model import REVOCATION_REASONS, IssuedCertificate
from admittance.pki.revocation import RevocationService

BASE = PREFIX + "/devices"
GROUPS = BASE + "/groups"
API = "/inventory/managedObjects"
LIST = ("GET", API)
CREATE = ("POST", API)
PAGE_SIZE = 25
ID_DIGITS = 18  # a managed object id: at most 18 ASCII digits (anything else is no stored object)
GROUP_CHOICES = 200  # groups offered in a select; above that, the group id is typed
CERTIFICATES_SHOWN = 50
DEVICE_FRAGMENT = "c8y_IsDevice"
GROUP_FRAGMENT = "c8y_IsDeviceGroup"
GROUP_TYPE = "c8y_DeviceGroup"
KINDS = {"devices": DEVICE_FRAGMENT, "groups": GROUP_FRAGMENT, "all": None}


def routes(devices: DevicePages, groups: GroupPages) -> list[PageRoute]:
    # The groups first: "/devices/groups" is not a device.
    one = BASE + "/{mo_id}"
    return [
        PageRoute("GET", BASE, devices.list_devices, needs=LIST),
        PageRoute("GET", GROUPS, groups.list_groups, needs=LIST),
        PageRoute("POST", GROUPS, groups.create_group, needs=CREATE),
        PageRoute("GET", GROUPS + "/{mo_id}", groups.group_detail),
        PageRoute("POST", GROUPS + "/{mo_id}/members", groups.add_member),
        PageRoute("GET", one, devices.device_detail),
        PageRoute("POST", one + "/delete", devices.delete_device),
        PageRoute("POST", one + "/groups", devices.assign),
        PageRoute("POST", one + "/groups/{group_id}/remove", devices.unassign),
        PageRoute("POST", one + "/rotate-password", devices.rotate_password),
        PageRoute("POST", one + "/certificates/{serial}/revoke", devices.revoke_certificate),
    ]


def kind_of(mo: ManagedObject) -> str:
    if GROUP_FRAGMENT in mo.fragments:
        return "group"
    if DEVICE_FRAGMENT in mo.fragments:
        return "device"
    return "object"


def url_of(mo: ManagedObject) -> str:
    return f"{GROUPS}/{mo.id}" if kind_of(mo) == "group" else f"{BASE}/{mo.id}"


def _is_object_id(text: str) -> bool:
    return is_digits(text) and len(text) <= ID_DIGITS


def _object_id(text: str) -> str:
    """A managed object id from a path or a field (anything else is 'not found' to the service)."""
    if not _is_object_id(text):
        raise ConsoleError(404, f"There is no managed object {text}.")
    return text


def _search_text(current: Page) -> str:
    text = current.query("q")
    if len(text) > MAX_NAME_CHARS:
        raise ConsoleError(400, f"The search text can have at most {MAX_NAME_CHARS} characters.")
    return text


def _pager(base: str, keep: dict[str, str], number: int, has_more: bool) -> dict[str, Any]:
    """The previous and next links of a list page, keeping its filters."""
    return {
        "prev_url": f"{base}?{urlencode({**keep, 'page': number - 1})}" if number > 1 else None,
        "next_url": f"{base}?{urlencode({**keep, 'page': number + 1})}" if has_more else None,
    }


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


async def group_choices(
    inventory: InventoryService, current: Page, exclude: set[int]
) -> tuple[list[tuple[str, str]], bool]:
    """(id, label) of the groups offered for "add to group", and whether there are more than offered."""
    found = await inventory.list_managed_objects(
        current.principal,
        InventoryFilter(fragment_type=GROUP_FRAGMENT),
        PageRequest(1, GROUP_CHOICES),
        with_children=False,
    )
    choices = [(str(g.id), f"{g.name or 'unnamed'} ({g.id})") for g in found.items if g.id not in exclude]
    return choices, found.has_more


class DevicePages:
    """The device list and a device's page and forms: the inventory, and the certificates service
    (a device user's authentication methods, the certificates issued to it, revoking one)."""

    def __init__(
        self,
        inventory: InventoryService,
        certificates: IssuingService,
        revocation: RevocationService,
        clock: Clock,
    ) -> None:
        self._inventory = inventory
        self._certificates = certificates
        self._revocation = revocation
        self._clock = clock

    async def list_devices(self, current: Page) -> Response:
        text = _search_text(current)
        kind = current.query("kind", "devices") or "devices"
        if kind not in KINDS:
            raise ConsoleError(400, "The kind must be devices, groups or all.")
        group_text = current.query("group")
        group = int(_object_id(group_text)) if group_text else None
        number = current.page_number()
        filters = InventoryFilter(fragment_type=KINDS[kind], text=text or None, parent=group)
        found = await self._inventory.list_managed_objects(
            current.principal, filters, PageRequest(number, PAGE_SIZE), with_children=kind != "groups"
        )
        exact = await self._exact(current, text)
        groups, more_groups = await group_choices(self._inventory, current, set())
        keep = {key: value for key, value in (("q", text), ("kind", kind), ("group", group_text)) if value}
        return current.render(
            "devices.html",
            title="Devices",
            objects=[(mo, kind_of(mo), url_of(mo)) for mo in found.items],
            exact=(exact, url_of(exact)) if exact is not None else None,
            text=text,
            kind=kind,
            group=group_text,
            groups=groups,
            more_groups=more_groups,
            filtered=bool(text or group_text or kind != "devices"),
            number=number,
            can_create_group=current.can(*CREATE),
            **_pager(BASE, keep, number, found.has_more),
        )

    async def _exact(self, current: Page, text: str) -> ManagedObject | None:
        """The object whose id the search text is, if there is one (shown above the matches)."""
        if not _is_object_id(text):
            return None
        try:
            return await self._inventory.get_managed_object(current.principal, text, with_children=False)
        except NotFound:
            return None

    async def device_detail(self, current: Page) -> Response:
        mo_id = _object_id(current.path_param("mo_id"))
        current.require("GET", f"{API}/{mo_id}")
        principal = current.principal
        mo = await self._inventory.get_managed_object(principal, mo_id)
        external_ids = None
        if current.can("GET", f"/identity/globalIds/{mo_id}/externalIds"):
            external_ids = await self._inventory.external_ids_of(principal, mo_id)
        credentials = await self._inventory.device_credentials(principal, mo_id)
        can_assign = current.can("POST", f"{API}/0/childAssets")
        parents = {ref.id for ref in mo.relations.asset_parents}
        groups, more_groups = (
            await group_choices(self._inventory, current, parents | {mo.id}) if can_assign else ([], False)
        )
        return current.render(
            "devices_detail.html",
            title=f"Device {mo.name or mo.id}",
            mo=mo,
            kind=kind_of(mo),
            fragments=[(key, _pretty(value)) for key, value in sorted(mo.fragments.items())],
            external_ids=external_ids,
            credentials=credentials,
            reasons=list(REVOCATION_REASONS),
            can_assign=can_assign,
            can_unassign=current.can("DELETE", f"{API}/0/childAssets/{mo_id}"),
            can_delete=current.can("DELETE", f"{API}/{mo_id}"),
            groups=groups,
            more_groups=more_groups,
            history=await self._inventory.history(principal, mo_id),
            **await self._device_user(current, mo_id, credentials),
        )

    async def _device_user(self, current: Page, mo_id: str, credentials: DeviceCredentials) -> dict[str, Any]:
        """What the device page shows of the device's own user: how it may authenticate, whether
        it may get a new password, and the certificates issued to it (each with whether it may be revoked)."""
        methods: frozenset[str] | None = None
        certificates: list[tuple[IssuedCertificate, str, bool]] | None = None
        can_rotate = False
        username = credentials.username
        if username is not None and credentials.exists:
            methods = await self._certificates.grant_methods_of(current.principal, username)
            can_rotate = current.can("PUT", f"/user/{current.principal.tenant_id}/users/{username}") and current.can(
                "PUT", f"{API}/{mo_id}"
            )
        if username is not None and current.can("GET", "/admittance/v1/certificates"):
            issued = await self._certificates.list_issued(
                current.principal, username, PageRequest(1, CERTIFICATES_SHOWN)
            )
            now = self._clock.now()
            certificates = [
                (item, item.state_at(now), not item.revoked and current.can("POST", _revoke_api(item.serial)))
                for item in issued.items
            ]
        return {
            "methods": sorted(methods) if methods is not None else None,
            "certificates": certificates,
            "can_rotate": can_rotate,
        }

    async def delete_device(self, current: Page) -> Response:
        mo_id = _object_id(current.path_param("mo_id"))
        current.require("DELETE", f"{API}/{mo_id}")
        mo = await self._inventory.get_managed_object(current.principal, mo_id, with_children=False)
        with_user = current.field("with_device_user") == "1"
        await self._inventory.delete_managed_object(current.principal, mo_id, with_device_user=with_user)
        target = GROUPS if kind_of(mo) == "group" else BASE
        suffix = " and its device user" if with_user and mo.owner.startswith("device_") else ""
        return current.redirect(target, f"Deleted {mo.name or mo.id}{suffix}.")

    async def assign(self, current: Page) -> Response:
        """Puts the device (`mo_id`) into a group; from the device page or the group page."""
        mo_id = _object_id(current.path_param("mo_id"))
        group_text = current.field("group")
        if not group_text:
            raise InvalidInput("Choose a group.")
        group_id = _object_id(group_text)
        current.require("POST", f"{API}/{group_id}/childAssets")
        await self._inventory.assign_child_asset(current.principal, group_id, mo_id)
        return current.back(f"Added {mo_id} to the group {group_id}.", default=f"{BASE}/{mo_id}")

    async def unassign(self, current: Page) -> Response:
        mo_id = _object_id(current.path_param("mo_id"))
        group_id = _object_id(current.path_param("group_id"))
        current.require("DELETE", f"{API}/{group_id}/childAssets/{mo_id}")
        await self._inventory.unassign_child_asset(current.principal, group_id, mo_id)
        return current.back(f"Removed {mo_id} from the group {group_id}.", default=f"{BASE}/{mo_id}")

    async def rotate_password(self, current: Page) -> Response:
        mo_id = _object_id(current.path_param("mo_id"))
        current.require("PUT", f"{API}/{mo_id}")
        credentials = await self._inventory.device_credentials(current.principal, mo_id)
        if credentials.username is None or not credentials.exists:
            raise ConsoleError(409, "This managed object has no device user to give a new password.")
        current.require("PUT", f"/user/{current.principal.tenant_id}/users/{credentials.username}")
        username, password = await self._inventory.rotate_device_password(current.principal, mo_id)
        return current.render(
            "devices_password.html",
            title="New device password",
            mo_id=mo_id,
            tenant=current.principal.tenant_id,
            username=username,
            password=password,
        )

    async def revoke_certificate(self, current: Page) -> Response:
        mo_id = _object_id(current.path_param("mo_id"))
        serial = current.path_param("serial")
        current.require("POST", _revoke_api(serial))
        reason = current.field("reason") or "unspecified"
        credentials = await self._inventory.device_credentials(current.principal, mo_id)
        issued = await self._certificates.get_issued(current.principal, serial)
        if credentials.username is None or issued.owner != credentials.username:
            raise ConsoleError(404, "This device has no certificate with that serial number.")
        await self._revocation.revoke(current.principal, serial, reason)
        return current.redirect(f"{BASE}/{mo_id}", f"Revoked the certificate {issued.serial}.")


def _revoke_api(serial: str) -> str:
    return f"/admittance/v1/certificates/{serial}/revoke"


class GroupPages:
    """The group list and a group's page and forms, through the inventory."""

    def __init__(self, inventory: InventoryService) -> None:
        self._inventory = inventory

    async def list_groups(self, current: Page) -> Response:
        text = _search_text(current)
        number = current.page_number()
        found = await self._inventory.list_managed_objects(
            current.principal,
            InventoryFilter(fragment_type=GROUP_FRAGMENT, text=text or None),
            PageRequest(number, PAGE_SIZE),
            with_children=False,
        )
        return current.render(
            "groups.html",
            title="Groups",
            groups=found.items,
            text=text,
            number=number,
            can_create=current.can(*CREATE),
            **_pager(GROUPS, {"q": text} if text else {}, number, found.has_more),
        )

    async def create_group(self, current: Page) -> Response:
        name = current.field("name")
        if not name:
            raise InvalidInput("Give the group a name.")
        body = {"name": name, "type": GROUP_TYPE, GROUP_FRAGMENT: {}}
        created = await self._inventory.create_managed_object(current.principal, body)
        return current.redirect(f"{GROUPS}/{created.id}", f"Created the group {name}.")

    async def group_detail(self, current: Page) -> Response:
        group_id = _object_id(current.path_param("mo_id"))
        current.require("GET", f"{API}/{group_id}")
        group = await self._inventory.get_managed_object(current.principal, group_id, with_children=False)
        number = current.page_number()
        members = await self._inventory.list_managed_objects(
            current.principal, InventoryFilter(parent=group.id), PageRequest(number, PAGE_SIZE), with_children=False
        )
        base = f"{GROUPS}/{group_id}"
        return current.render(
            "groups_detail.html",
            title=f"Group {group.name or group.id}",
            group=group,
            is_group=kind_of(group) == "group",
            members=[(mo, kind_of(mo), url_of(mo)) for mo in members.items],
            number=number,
            prev_url=f"{base}?page={number - 1}" if number > 1 else None,
            next_url=f"{base}?page={number + 1}" if members.has_more else None,
            can_add=current.can("POST", f"{API}/{group_id}/childAssets"),
            can_remove=current.can("DELETE", f"{API}/{group_id}/childAssets/0"),
            can_delete=current.can("DELETE", f"{API}/{group_id}"),
        )

    async def add_member(self, current: Page) -> Response:
        """Puts a device (typed id) into this group; from the group page."""
        group_id = _object_id(current.path_param("mo_id"))
        member_text = current.field("member")
        if not member_text:
            raise InvalidInput("Give the id of the device to add.")
        if not _is_object_id(member_text):
            raise InvalidInput("The device id is the number shown in the device list.")
        current.require("POST", f"{API}/{group_id}/childAssets")
        await self._inventory.assign_child_asset(current.principal, group_id, member_text)
        return current.redirect(f"{GROUPS}/{group_id}", f"Added the device {member_text} to this group.")
