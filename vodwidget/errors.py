"""The exception tree of vodwidget.

Every error carries the service's ``code`` and ``message`` (already redacted) and says whether a
retry may help::

    VodUploadError
    ├── InvalidInputError      bad file, userData, kind or argument; raised before any network call
    ├── CredentialError        missing, rejected or expired credentials
    │   └── TokenExpiredError  an STS token or UploadAuth ran out; refresh and go on
    ├── NetworkError           connection reset, timeout, 5xx: retryable
    ├── ServiceError           the service answered with an error (carries ``status`` and ``request_id``)
    │   └── NotFoundError      InvalidVideo.NotFound and friends
    └── CanceledError          the user canceled the file
"""

from __future__ import annotations

from vodwidget.redact import redact

__all__ = [
    "VodUploadError",
    "InvalidInputError",
    "CredentialError",
    "TokenExpiredError",
    "NetworkError",
    "ServiceError",
    "NotFoundError",
    "CanceledError",
]


class VodUploadError(Exception):
    """Base class. ``code`` is a short machine-readable string, ``message`` a sentence for people."""

    retryable: bool = False
    default_code = "VodUploadError"

    def __init__(
        self,
        message: str,
        code: str | None = None,
        *,
        status: int | None = None,
        request_id: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.code = code or self.default_code
        self.message = redact(str(message))
        self.status = status
        self.request_id = request_id
        if retryable is not None:
            self.retryable = retryable
        super().__init__(f"{self.code}: {self.message}")


class InvalidInputError(VodUploadError, ValueError):
    default_code = "InvalidInput"


class CredentialError(VodUploadError):
    default_code = "InvalidCredentials"


class TokenExpiredError(CredentialError):
    default_code = "SecurityTokenExpired"


class NetworkError(VodUploadError):
    default_code = "NetworkError"
    retryable = True


class ServiceError(VodUploadError):
    default_code = "ServiceError"


class NotFoundError(ServiceError):
    default_code = "NotFound"


class CanceledError(VodUploadError):
    default_code = "Canceled"
