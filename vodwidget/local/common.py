"""Small helpers shared by the local service's handlers: ids, time formats, CORS headers."""

from __future__ import annotations

import email.utils
import secrets
import uuid
from datetime import UTC, datetime

__all__ = ["new_request_id", "http_date", "iso_ms", "iso_z", "random_id", "CORS_HEADERS"]

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "ETag, x-oss-request-id, x-oss-hash-crc64ecma, Content-Range, "
    "Content-Length, Accept-Ranges, x-oss-object-type",
}


def new_request_id() -> str:
    """OSS-style request id (24 upper-case hex chars)."""
    return secrets.token_hex(12).upper()


def random_id() -> str:
    """32 lower-case hex chars, the shape of a VideoId/ImageId."""
    return uuid.uuid4().hex


def http_date(ts: float) -> str:
    """``Sat, 05 Dec 2015 11:10:29 GMT`` (the only form oss2 parses)."""
    return email.utils.formatdate(ts, usegmt=True)


def iso_ms(ts: float) -> str:
    """``2015-12-05T11:10:29.000Z`` (OSS XML time; oss2 requires the ``.000Z`` tail)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def iso_z(ts: float) -> str:
    """``2015-12-05T11:10:29Z`` (VOD JSON times and STS expirations)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
