"""Audit events: who did what to which subject, recorded in the same transaction as the change."""

from admittance.audit.model import AuditEvent, AuditTag
from admittance.audit.store import AuditStore

__all__ = ["AuditEvent", "AuditStore", "AuditTag"]
