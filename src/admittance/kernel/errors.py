"""The one error tree of the domain. No HTTP in it: each surface maps categories to statuses.

AdmittanceError
 ├── InvalidInput          the caller sent something outside the rules
 │    ├── MalformedInput   ... or something that does not even parse
 │    ├── PayloadTooLarge  the body is over the configured limit
 │    └── UnsupportedMediaType
 ├── NotFound              the thing does not exist or is not visible to the caller
 ├── Conflict              it exists already (unique id, username, ...)
 ├── InvalidState          the thing exists but is not in a state that allows this
 ├── Unauthenticated       no valid credentials (one message for every cause)
 ├── PermissionDenied      authenticated, but not allowed
 ├── RateLimited           too many attempts; try again later
 └── Unavailable           a dependency (database) is down
"""

from __future__ import annotations


class AdmittanceError(Exception):
    """Base of every error a service raises on purpose.

    `entity` names the kind of thing concerned (e.g. "registration_request"); surfaces use it to
    pick their own error prefixes. `field` names the offending input field, where there is one.
    """

    def __init__(self, message: str, *, entity: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.entity = entity
        self.field = field


class InvalidInput(AdmittanceError):
    """Malformed input or input that breaks a rule."""


class MalformedInput(InvalidInput):
    """The input does not parse (broken JSON, a body that is not an object, a bad header)."""


class PayloadTooLarge(InvalidInput):
    """The request body is larger than the configured limit."""


class UnsupportedMediaType(InvalidInput):
    """The body is in a format this endpoint does not take."""


class NotFound(AdmittanceError):
    """Unknown, or not visible to the caller (the two are never told apart)."""


class Conflict(AdmittanceError):
    """A unique thing exists already."""


class InvalidState(AdmittanceError):
    """The thing exists, but its state does not allow the operation."""


class Unauthenticated(AdmittanceError):
    """Authentication failed. The message is the same for every cause; the cause goes to the log."""

    def __init__(self, message: str = "Invalid credentials", *, reason: str = "unspecified") -> None:
        super().__init__(message)
        self.reason = reason


class PermissionDenied(AdmittanceError):
    """The principal lacks the role or the scope for the operation."""


class RateLimited(AdmittanceError):
    """Too many attempts in a short time."""

    def __init__(self, message: str, *, retry_after_seconds: int = 60) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class Unavailable(AdmittanceError):
    """A dependency the operation needs is not reachable."""
