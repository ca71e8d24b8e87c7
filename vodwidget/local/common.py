"""Small helpers shared by the local service's handlers: ids, time formats, CORS headers."""

from __future__ import annotations

import email.utils
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

__all__ = ["note", "noted", "new_request_id", "http_date", "iso_ms", "iso_z", "random_id", "CORS_HEADERS"]

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


# Per-request notes (operation name, caller, status override) for the request log. A typed key
# where aiohttp has one (3.11+), so aiohttp does not warn about plain string keys.
_NOTES: Any = web.RequestKey("localvod_notes", dict) if hasattr(web, "RequestKey") else "localvod_notes"


def noted(request: web.Request) -> dict[str, Any]:
    """The mutable notes of ``request``."""
    notes = request.get(_NOTES)
    if notes is None:
        notes = request[_NOTES] = {}
    return notes


def note(request: web.Request, **values: Any) -> None:
    noted(request).update(values)
