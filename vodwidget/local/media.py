"""Public media URLs (``/_media/<bucket>/<key>``) and file responses with Range support.

With ``url_auth_ttl`` set, URLs carry an Alibaba CDN type-A ``auth_key``:
``<timestamp>-<rand>-0-<md5("<path>-<timestamp>-<rand>-0-<privatekey>")>``, valid until
``timestamp + url_auth_ttl``.

>>> parse_range("bytes=0-9", 100), parse_range("bytes=-10", 100), parse_range("bytes=5-", 10)
((0, 9), (90, 99), (5, 9))
>>> parse_range("bytes=0-1,4-5", 10) is None and parse_range("bytes=200-", 100) == "unsatisfiable"
True
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import mimetypes
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from aiohttp import web

from vodwidget.local.common import CORS_HEADERS, http_date, new_request_id, note

if TYPE_CHECKING:
    from vodwidget.local.server import LocalVod

__all__ = ["parse_range", "serve_file", "media_url", "handle_media", "content_type_for"]

_CHUNK = 1 << 20


def content_type_for(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """One ``bytes=`` range -> (first, last) inclusive; "unsatisfiable"; None = ignore (serve all)."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first_s, sep, last_s = header[6:].strip().partition("-")
    try:
        if not sep:
            return None
        if first_s == "":
            n = int(last_s)
            if n <= 0:
                return "unsatisfiable" if size == 0 or n == 0 else None
            return (max(0, size - n), size - 1) if size else "unsatisfiable"
        first = int(first_s)
        last = int(last_s) if last_s else size - 1
    except ValueError:
        return None
    if first < 0 or (last_s and last < first):
        return None  # malformed: OSS ignores such a Range and returns the whole object
    if first >= size:
        return "unsatisfiable"
    return first, min(last, size - 1)


def _read(fh: Any, n: int) -> bytes:
    return fh.read(n)


async def serve_file(request: web.Request, path: Path, size: int, headers: dict[str, str],
                     span: tuple[int, int] | None) -> web.StreamResponse:
    """Stream ``path`` (or the inclusive ``span`` of it); headers are set by hand, never rewritten."""
    resp = web.StreamResponse(status=206 if span else 200)
    for k, v in headers.items():
        resp.headers[k] = v
    first, last = span if span else (0, size - 1)
    length = last - first + 1 if size else 0
    if span:
        resp.headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    resp.headers["Accept-Ranges"] = "bytes"
    resp.content_length = length
    if request.method == "HEAD":
        await resp.prepare(request)
        return resp
    loop = asyncio.get_running_loop()
    fh = await loop.run_in_executor(None, open, path, "rb")
    try:
        await resp.prepare(request)
        await loop.run_in_executor(None, fh.seek, first)
        remaining = length
        while remaining > 0:
            data = await loop.run_in_executor(None, _read, fh, min(_CHUNK, remaining))
            if not data:
                break
            await resp.write(data)
            remaining -= len(data)
        await resp.write_eof()
    finally:
        await loop.run_in_executor(None, fh.close)
    return resp


def _auth_hash(path: str, ts: int, rand: str, key: str) -> str:
    return hashlib.md5(f"{path}-{ts}-{rand}-0-{key}".encode()).hexdigest()


def media_url(svc: LocalVod, bucket: str, key: str) -> str:
    """The public URL of an object, signed with an ``auth_key`` when URL auth is on."""
    path = f"/_media/{bucket}/{quote(key, safe='/')}"
    url = svc.base_url + path
    if svc.url_auth_ttl:
        ts, rand = int(time.time()), uuid.uuid4().hex
        url += f"?auth_key={ts}-{rand}-0-{_auth_hash(path, ts, rand, svc.media_key)}"
    return url


def _check_auth_key(svc: LocalVod, path: str, auth_key: str | None) -> str | None:
    """None if the request may proceed, else the reason it may not."""
    if not svc.url_auth_ttl:
        return None
    if not auth_key:
        return "missing auth_key"
    try:
        ts_s, rand, uid, digest = auth_key.split("-", 3)
        ts = int(ts_s)
    except ValueError:
        return "malformed auth_key"
    expected = hashlib.md5(f"{path}-{ts}-{rand}-{uid}-{svc.media_key}".encode()).hexdigest()
    if not hmac.compare_digest(expected, digest):
        return "auth_key does not match"
    if time.time() > ts + svc.url_auth_ttl:
        return "auth_key expired"
    return None


def _plain(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n", headers={**CORS_HEADERS})


async def handle_media(svc: LocalVod, request: web.Request) -> web.StreamResponse:
    """GET/HEAD ``/_media/<bucket>/<key>``: anonymous (or auth_key) reads for players."""
    raw = request.raw_path.split("?", 1)[0]
    note(request, op="media:GetObject")
    if request.method not in ("GET", "HEAD"):
        return _plain(405, "method not allowed")
    bucket, _, raw_key = raw[len("/_media/"):].partition("/")
    reason = _check_auth_key(svc, raw, request.query.get("auth_key"))
    if reason:
        return _plain(403, f"Forbidden: {reason}")
    row = svc.store.get_object(bucket, unquote(raw_key))
    if row is None:
        return _plain(404, "Not Found")
    size = row["size"]
    span = parse_range(request.headers.get("Range"), size)
    if span == "unsatisfiable":
        return web.Response(status=416, headers={**CORS_HEADERS, "Content-Range": f"bytes */{size}"})
    headers = {
        **CORS_HEADERS,
        "Content-Type": row["content_type"] or content_type_for(row["key"]),
        "ETag": f'"{row["etag"]}"',
        "Last-Modified": http_date(row["mtime"]),
        "x-oss-request-id": new_request_id(),
    }
    return await serve_file(request, svc.data_dir / row["file"], size, headers,
                            span if isinstance(span, tuple) else None)
