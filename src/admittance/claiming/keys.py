"""The identity key registry (known-keys verification): device UUID -> identity public key, per
tenant, imported from CSV or JSON by the manufacturer; server-issued challenges; the tenant's mode.

Import formats:
- CSV rows `deviceUuid,publicKey` (a header row naming `deviceUuid` is skipped), the key as PEM
  (quoted, may span lines) or base64/base64url of the DER SubjectPublicKeyInfo (what
  `AT%KEYGEN` prints) or of the raw uncompressed point (65 bytes);
- JSON `[{"deviceUuid": ..., "publicKey": ...}]` (or `{"keys": [...]}`).
Only EC P-256 keys. An import is all or nothing: any bad row refuses the whole file, naming the row.
A UUID already registered gets the new key (upsert).

Permissions: reading needs read on the nRF surface (`/v1/identity-keys`, every nRF Cloud role),
changing keys or the mode needs write there (`nrf-cloud-admin`/`owner`, or a role with write on
`#`); a challenge needs what a claim needs (write on `/v1/claimed-devices`, editors included).
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import uuid
from dataclasses import dataclass

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from admittance.audit import AuditEvent, AuditTag
from admittance.claiming.model import Challenge, IdentityKey
from admittance.claiming.store import ClaimTokenTransaction
from admittance.claiming.verification import ClaimVerificationMode, ClaimVerifier, verification_mode
from admittance.kernel.clock import Clock
from admittance.kernel.errors import InvalidInput, MalformedInput, NotFound
from admittance.kernel.principal import Principal
from admittance.kernel.storage import Storage

ENTITY = "identityKey"
KEYS_PATH = "/v1/identity-keys"  # the permission path of the registry and the mode
CLAIM_PATH = "/v1/claimed-devices"  # a challenge needs what a claim needs
MAX_IMPORT_ROWS = 100_000
_MAX_KEY_CHARS = 4096


def canonical_uuid(text: object, *, where: str = "") -> str:
    if isinstance(text, str):
        candidate = text.strip()
        if len(candidate) in (32, 36):
            try:
                return str(uuid.UUID(candidate))
            except ValueError:
                pass
    raise InvalidInput(f"{where}deviceUuid must be a UUID (8-4-4-4-12 hex digits)", field="deviceUuid")


def normalize_public_key(text: object, *, where: str = "") -> str:
    """PEM of the EC P-256 SubjectPublicKeyInfo, from PEM, base64 DER SPKI or base64 raw point."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"{where}publicKey is missing", field="publicKey")
    if len(text) > _MAX_KEY_CHARS:
        raise InvalidInput(f"{where}publicKey is too long", field="publicKey")
    value = text.strip()
    key: object
    try:
        if value.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(value.encode("ascii"))
        else:
            compact = "".join(value.split()).replace("-", "+").replace("_", "/").rstrip("=")
            raw = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
            if len(raw) == 65 and raw[0] == 4:
                key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
            else:
                key = serialization.load_der_public_key(raw)
    except (ValueError, TypeError, UnicodeEncodeError, binascii.Error) as error:
        raise InvalidInput(
            f"{where}publicKey is not a public key (PEM, or base64 of a DER SubjectPublicKeyInfo)", field="publicKey"
        ) from error
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidInput(f"{where}publicKey must be an EC P-256 key", field="publicKey")
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _rows_of_json(data: bytes) -> list[tuple[str, object, object]]:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise MalformedInput("The identity key list is not valid JSON") from error
    if isinstance(document, dict) and isinstance(document.get("keys"), list):
        document = document["keys"]
    if not isinstance(document, list):
        raise MalformedInput('The identity key list must be a JSON array of {"deviceUuid", "publicKey"} objects')
    rows: list[tuple[str, object, object]] = []
    for index, item in enumerate(document, start=1):
        if not isinstance(item, dict):
            raise InvalidInput(f'Item {index}: an object {{"deviceUuid", "publicKey"}} was expected')
        rows.append((f"Item {index}: ", item.get("deviceUuid"), item.get("publicKey")))
    return rows


def _rows_of_csv(data: bytes) -> list[tuple[str, object, object]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise MalformedInput("The identity key list is not UTF-8 text") from error
    rows: list[tuple[str, object, object]] = []
    try:
        for number, cells in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
            if not cells or all(not cell.strip() for cell in cells):
                continue
            if number == 1 and cells[0].strip().lower() == "deviceuuid":
                continue
            if len(cells) != 2:
                raise InvalidInput(f"Row {number}: two columns deviceUuid,publicKey were expected, not {len(cells)}")
            rows.append((f"Row {number}: ", cells[0], cells[1]))
    except csv.Error as error:
        raise MalformedInput(f"The identity key list is not valid CSV: {error}") from error
    return rows


def parse_identity_keys(data: bytes, content_type: str | None = None) -> list[tuple[str, str]]:
    """(device UUID, PEM) pairs from a CSV or JSON body; InvalidInput naming the first bad row."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    is_json = media.endswith("json") or stripped[:1] in (b"[", b"{")
    raw = _rows_of_json(data) if is_json else _rows_of_csv(data)
    if not raw:
        raise InvalidInput("The identity key list is empty")
    if len(raw) > MAX_IMPORT_ROWS:
        raise InvalidInput(f"The identity key list has more than {MAX_IMPORT_ROWS} keys")
    seen: set[str] = set()
    keys: list[tuple[str, str]] = []
    for where, device, public_key in raw:
        device_uuid = canonical_uuid(device, where=where)
        if device_uuid in seen:
            raise InvalidInput(f"{where}device {device_uuid} appears twice")
        seen.add(device_uuid)
        keys.append((device_uuid, normalize_public_key(public_key, where=where)))
    return keys


@dataclass(frozen=True, slots=True)
class KeyImport:
    created: int
    updated: int


class IdentityKeyService:
    def __init__(self, storage: Storage[ClaimTokenTransaction], verifier: ClaimVerifier, clock: Clock) -> None:
        self._storage = storage
        self._verifier = verifier
        self._clock = clock

    async def import_keys(self, principal: Principal, data: bytes, content_type: str | None = None) -> KeyImport:
        principal.require_request("POST", KEYS_PATH)
        keys = parse_identity_keys(data, content_type)
        now = self._clock.now()
        async with self._storage.transaction() as tx:
            created = await tx.claim_tokens.upsert_identity_keys(principal.tenant_id, keys, now)
            await tx.audit.record(
                AuditEvent(
                    AuditTag.NRF_IDENTITY_KEYS_IMPORTED,
                    principal.tenant_id,
                    principal.username,
                    f"{len(keys)} identity keys",
                    now,
                    {"created": created, "updated": len(keys) - created},
                )
            )
        return KeyImport(created, len(keys) - created)

    async def list_keys(
        self, principal: Principal, *, after: str | None = None, limit: int = 100
    ) -> tuple[list[IdentityKey], int]:
        principal.require_request("GET", KEYS_PATH)
        cursor = canonical_uuid(after) if after else None
        async with self._storage.read() as tx:
            keys = await tx.claim_tokens.identity_keys(principal.tenant_id, cursor, limit)
            total = await tx.claim_tokens.count_identity_keys(principal.tenant_id)
        return keys, total

    async def delete_key(self, principal: Principal, device_uuid: str) -> None:
        principal.require_request("DELETE", KEYS_PATH)
        try:
            canonical = canonical_uuid(device_uuid)
        except InvalidInput:
            raise NotFound(f"There is no identity key for device {device_uuid}", entity=ENTITY) from None
        async with self._storage.transaction() as tx:
            if not await tx.claim_tokens.delete_identity_key(principal.tenant_id, canonical):
                raise NotFound(f"There is no identity key for device {canonical}", entity=ENTITY)
            await tx.audit.record(
                AuditEvent(
                    AuditTag.NRF_IDENTITY_KEY_DELETED,
                    principal.tenant_id,
                    principal.username,
                    canonical,
                    self._clock.now(),
                )
            )

    async def mode(self, principal: Principal) -> ClaimVerificationMode:
        principal.require_request("GET", KEYS_PATH)
        async with self._storage.read() as tx:
            return verification_mode(await tx.claim_tokens.claim_verification(principal.tenant_id))

    async def set_mode(self, principal: Principal, mode: str) -> ClaimVerificationMode:
        principal.require_request("PUT", KEYS_PATH)
        try:
            chosen = ClaimVerificationMode(mode)
        except ValueError:
            choices = ", ".join(m.value for m in ClaimVerificationMode)
            raise InvalidInput(f"Unknown claim verification mode {mode!r}: one of {choices}", field="mode") from None
        async with self._storage.transaction() as tx:
            if not await tx.claim_tokens.set_claim_verification(principal.tenant_id, chosen.value):
                raise NotFound(f"There is no tenant {principal.tenant_id}", entity="tenant")
            await tx.audit.record(
                AuditEvent(
                    AuditTag.NRF_CLAIM_VERIFICATION_SET,
                    principal.tenant_id,
                    principal.username,
                    principal.tenant_id,
                    self._clock.now(),
                    {"mode": chosen.value},
                )
            )
        return chosen

    async def issue_challenge(self, principal: Principal) -> Challenge:
        principal.require_request("POST", CLAIM_PATH)
        async with self._storage.transaction() as tx:
            challenge = await self._verifier.issue_challenge_in(tx, principal.tenant_id)
            await tx.audit.record(
                AuditEvent(
                    AuditTag.NRF_CHALLENGE_ISSUED,
                    principal.tenant_id,
                    principal.username,
                    challenge.nonce,
                    self._clock.now(),
                    {"expiresAt": challenge.expires_at.isoformat()},
                )
            )
        return challenge
