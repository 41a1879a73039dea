"""Devices: registration requests and their lifecycle, credentials issuance, and the registry seed."""

from admittance.devices.inventory import InventoryService
from admittance.devices.inventory_model import ExternalId, ManagedObject
from admittance.devices.model import IssuedCredentials, NotYet, RegistrationRequest, RegistrationStatus
from admittance.devices.registration import (
    AcceptAllResult,
    NewRegistration,
    RegistrationLimit,
    RegistrationService,
)

__all__ = [
    "AcceptAllResult",
    "ExternalId",
    "InventoryService",
    "IssuedCredentials",
    "ManagedObject",
    "NewRegistration",
    "NotYet",
    "RegistrationLimit",
    "RegistrationRequest",
    "RegistrationService",
    "RegistrationStatus",
]
