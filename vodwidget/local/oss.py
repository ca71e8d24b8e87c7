"""OSS object API subset, as oss2 2.19.1 (and browser SDKs) use it for VOD uploads.

Handled: PutObject, InitiateMultipartUpload, UploadPart, CompleteMultipartUpload,
AbortMultipartUpload, ListParts, ListMultipartUploads, HeadObject, GetObject (Range), DeleteObject,
CORS preflight. Requests are authenticated (V1, presigned V1, V4) and STS tokens are checked for
expiry and for the one object key an UploadAuth may write.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import email.utils
import hashlib
import hmac
import time
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote
from xml.sax.saxutils import escape

import oss2.utils
from aiohttp import web

from vodwidget.crc64 import combine_all
from vodwidget.local import ossauth
from vodwidget.local.common import CORS_HEADERS, http_date, iso_ms, new_request_id, note, noted
from vodwidget.local.faults import inject
from vodwidget.local.media import parse_range, serve_file
from vodwidget.local.store import UPLOAD_ID_RE, IncompleteBody, receive_body

if TYPE_CHECKING:
    from vodwidget.local.server import LocalVod

__all__ = ["handle_oss", "OssError", "validate_key", "UPLOAD_OPS"]

# What an UploadAuth token may do, and only on its own key.
UPLOAD_OPS = frozenset({
    "PutObject", "InitiateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
    "AbortMultipartUpload", "ListParts", "HeadObject", "GetObject",
})
_BODY_OPS = frozenset({"PutObject", "UploadPart", "CompleteMultipartUpload"})
_MAX_SKEW = 15 * 60
_MIN_PART = 100 * 1024  # OSS: every part but the last must be at least 100 KiB


class OssError(Exception):
    """An OSS error answer: ``status``, ``code``, ``message`` plus optional extra XML fields."""

    def __init__(self, status: int, code: str, message: str, **extra: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.extra = status, code, message, extra


def _xml(root: str, fields: list[tuple[str, object]] | str) -> bytes:
    inner = fields if isinstance(fields, str) else "".join(
        f"<{k}>{escape(str(v))}</{k}>" for k, v in fields
    )
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}>{inner}</{root}>'.encode()


def _response(status: int, request_id: str, body: bytes = b"", headers: dict | None = None,
              xml: bool = False) -> web.Response:
    hdrs = {**CORS_HEADERS, "x-oss-request-id": request_id, "Date": http_date(time.time()),
            "Server": "AliyunOSS"}
    if xml:
        hdrs["Content-Type"] = "application/xml"
    hdrs.update(headers or {})
    return web.Response(status=status, body=body, headers=hdrs)


def error_response(request: web.Request, err: OssError, request_id: str) -> web.Response:
    fields: list[tuple[str, object]] = [("Code", err.code), ("Message", err.message),
                                        ("RequestId", request_id),
                                        ("HostId", request.headers.get("Host", ""))]
    fields += list(err.extra.items())
    body = _xml("Error", fields)
    if request.method == "HEAD":
        # HEAD answers have no body; oss2 reads the error from this header instead.
        return _response(err.status, request_id, headers={"x-oss-err": base64.b64encode(body).decode()})
    return _response(err.status, request_id, body, xml=True)


def validate_key(key: str) -> None:
    """Refuse keys that could be mistaken for paths outside the bucket."""
    if (len(key.encode()) > 1023 or key.startswith(("/", "\\")) or "\0" in key
            or ".." in key.replace("\\", "/").split("/")):
        raise OssError(400, "InvalidObjectName", "The specified object name is not valid.")


def _split(svc: LocalVod, request: web.Request) -> tuple[str, str, dict[str, str]]:
    """(bucket, key, query) from the raw path and Host (path style and virtual-hosted style)."""
    raw_path, _, raw_query = request.raw_path.partition("?")
    query = dict(parse_qsl(raw_query, keep_blank_values=True))
    host = request.headers.get("Host", "").split(":")[0]
    label, dot, _rest = host.partition(".")
    if dot and label and svc.is_bucket(label) and not oss2.utils.is_ip_or_localhost(host):
        return label, unquote(raw_path[1:]), query
    bucket, _, raw_key = raw_path[1:].partition("/")
    return bucket, unquote(raw_key), query


def _operation(method: str, key: str, query: dict[str, str]) -> str:
    if not key:
        if method == "GET" and "uploads" in query:
            return "ListMultipartUploads"
        return {"GET": "ListObjects", "PUT": "PutBucket", "DELETE": "DeleteBucket",
                "HEAD": "GetBucketInfo"}.get(method, "Bucket" + method.title())
    if method == "PUT":
        return "UploadPart" if "uploadId" in query else "PutObject"
    if method == "POST":
        if "uploads" in query:
            return "InitiateMultipartUpload"
        return "CompleteMultipartUpload" if "uploadId" in query else "PostObject"
    if method == "GET":
        return "ListParts" if "uploadId" in query else "GetObject"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in query else "DeleteObject"
    if method == "HEAD":
        return "HeadObject"
    return "Object" + method.title()


def _authenticate(svc: LocalVod, request: web.Request, op: str, bucket: str, key: str,
                  query: dict[str, str]) -> str:
    """Check signature, token and scope; return the AccessKeyId."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    method = request.method
    auth_header = headers.get("authorization")
    if auth_header:
        info = ossauth.parse_authorization(auth_header)
        if info is None:
            raise OssError(400, "InvalidArgument", "Authorization header is malformed.")
        token = headers.get("x-oss-security-token")
    elif "OSSAccessKeyId" in query and "Signature" in query:
        info = ossauth.AuthInfo("presigned", query["OSSAccessKeyId"], query["Signature"])
        token = query.get("security-token")
    else:
        raise OssError(403, "AccessDenied", "You have no right to access this object because of "
                       "bucket acl (anonymous access is not allowed).")
    ak = info.access_key_id
    cred = svc.lookup_key(ak)
    if cred is None:
        raise OssError(403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist "
                       "in our records.", OSSAccessKeyId=ak)
    secret, kind = cred["secret"], cred["kind"]
    if kind != "root":
        if not token or not hmac.compare_digest(token, cred["token"]):
            raise OssError(403, "InvalidSecurityToken", "The security token you provided is invalid.")
        if time.time() >= cred["expires"]:
            raise OssError(403, "SecurityTokenExpired", "The security token you provided has expired.")
        limit = svc.faults.spec.expire_after_parts
        if limit and cred["parts_used"] >= limit:
            raise OssError(403, "SecurityTokenExpired",
                           f"The security token you provided has expired (fault: used for {limit} parts).")
    if info.version == "v1":
        sts = ossauth.v1_string_to_sign(method, headers, bucket, key, query)
        ok = hmac.compare_digest(ossauth.v1_signature(secret, sts), info.signature)
        date = headers.get("x-oss-date") or headers.get("date", "")
    elif info.version == "presigned":
        q = {k: v for k, v in query.items() if k not in ("OSSAccessKeyId", "Signature", "Expires")}
        sts = ossauth.v1_string_to_sign(method, headers, bucket, key, q, date=query.get("Expires", ""))
        ok = hmac.compare_digest(ossauth.v1_signature(secret, sts), info.signature)
        date = ""
        try:
            if int(query.get("Expires", "0")) < time.time():
                raise OssError(403, "AccessDenied", "Request has expired.")
        except ValueError:
            raise OssError(403, "AccessDenied", "Expires is not a number.") from None
    else:
        sts = ossauth.v4_string_to_sign(method, headers, bucket, key, query, info)
        ok = hmac.compare_digest(ossauth.v4_signature(secret, info.credential_scope, sts), info.signature)
        date = headers.get("x-oss-date", "")
        scope = info.credential_scope.split("/")
        if len(scope) < 2 or scope[0] != date[:8] or scope[1] != svc.region:
            raise OssError(403, "AccessDenied", "The credential scope's date or region does not match "
                           "x-oss-date or this region.")
    if not ok:
        raise OssError(403, "SignatureDoesNotMatch", "The request signature we calculated does not "
                       "match the signature you provided. Check your key and signing method.",
                       StringToSign=sts, OSSAccessKeyId=ak)
    if info.version != "presigned":
        # A signed request must carry its time, or it could be replayed forever.
        when = _request_time(date, v4=info.version == "v4")
        if when is None:
            raise OssError(403, "AccessDenied", "The request has no valid Date (or x-oss-date) header.")
        if abs(time.time() - when) > _MAX_SKEW:
            raise OssError(403, "RequestTimeTooSkewed", "The difference between the request time and "
                           "the current time is too large.")
    if kind == "vod":
        raise OssError(403, "AccessDenied", "This STS token may call the VOD API only, not OSS.")
    if kind == "upload" and (op not in UPLOAD_OPS or bucket != cred["bucket"] or key != cred["object_key"]):
        raise OssError(403, "AccessDenied", "You have no right to access this object because of "
                       "the STS policy of this UploadAuth (it covers one object key).")
    return ak


def _request_time(value: str, v4: bool) -> float | None:
    """Seconds since the epoch of a ``Date`` (RFC 1123) or V4 ``x-oss-date`` (``%Y%m%dT%H%M%SZ``)."""
    if not value:
        return None
    try:
        if v4:
            return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


async def handle_oss(svc: LocalVod, request: web.Request) -> web.StreamResponse:
    """Entry point for every request that is not VOD, app server, media or admin."""
    request_id = new_request_id()
    if request.method == "OPTIONS":
        note(request, op="Preflight")
        return _response(200, request_id, headers={
            "Access-Control-Allow-Methods": "GET, PUT, POST, DELETE, HEAD",
            "Access-Control-Allow-Headers": request.headers.get("Access-Control-Request-Headers", "*"),
            "Access-Control-Max-Age": "86400",
        })
    bucket, key, query = _split(svc, request)
    op = _operation(request.method, key, query)
    note(request, op=op)
    try:
        decision = await inject(svc.faults, "oss", op, request)
        if decision == "reset":
            note(request, status=0)
            return web.Response(status=500)  # never sent: the transport is gone
        if decision == "503":
            raise OssError(503, "ServiceUnavailable", "Please reduce your request rate (injected fault).")
        note(request, access_key_id=_authenticate(svc, request, op, bucket, key, query))
        if not svc.is_bucket(bucket):
            raise OssError(404, "NoSuchBucket", "The specified bucket does not exist.", BucketName=bucket)
        if key:
            validate_key(key)
        handler = _HANDLERS.get(op)
        if handler is None:
            raise OssError(501, "NotImplemented", f"{op} is not supported by the local service.")
        return await handler(svc, request, bucket, key, query, request_id)
    except OssError as err:
        return error_response(request, err, request_id)


def _expected_md5(request: web.Request) -> bytes | None:
    value = request.headers.get("Content-MD5")
    if value is None:
        return None
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise OssError(400, "InvalidDigest", "The Content-MD5 you specified is not valid.")
    return digest


async def _receive(svc: LocalVod, request: web.Request):
    expected = _expected_md5(request)
    try:
        received = await receive_body(request, svc.store.tmp_dir)
    except (IncompleteBody, ConnectionError, asyncio.IncompleteReadError) as exc:
        raise OssError(400, "IncompleteBody", f"The request body ended early: {exc}") from None
    except Exception as exc:  # aiohttp payload errors when the client vanished
        raise OssError(400, "IncompleteBody", f"The request body ended early: {type(exc).__name__}") from None
    if expected is not None and expected != received.md5:
        received.path.unlink(missing_ok=True)
        raise OssError(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
    return received


def _object_headers(row, request_id: str) -> dict[str, str]:
    return {
        "ETag": f'"{row["etag"]}"',
        "x-oss-hash-crc64ecma": row["crc64"],
        "Last-Modified": http_date(row["mtime"]),
        "Content-Type": row["content_type"] or "application/octet-stream",
        "x-oss-object-type": row["object_type"],
        "x-oss-storage-class": "Standard",
        "x-oss-request-id": request_id,
        "Date": http_date(time.time()),
        "Server": "AliyunOSS",
        **CORS_HEADERS,
    }


async def _put_object(svc, request, bucket, key, query, request_id):
    received = await _receive(svc, request)
    content_type = request.headers.get("Content-Type", "")
    svc.store.commit_object(bucket, key, received.path, received.size, received.etag,
                            received.crc64, content_type, "Normal")
    await svc.object_stored(bucket, key)
    return _response(200, request_id, headers={
        "ETag": f'"{received.etag}"', "x-oss-hash-crc64ecma": str(received.crc64),
        "Content-MD5": base64.b64encode(received.md5).decode(),
    })


async def _initiate(svc, request, bucket, key, query, request_id):
    upload_id = svc.store.create_upload(bucket, key, request.headers.get("Content-Type", ""))
    return _response(200, request_id, _xml("InitiateMultipartUploadResult", [
        ("Bucket", bucket), ("Key", key), ("UploadId", upload_id)]), xml=True)


def _upload_of(svc, bucket, key, query):
    upload_id = query.get("uploadId", "")
    row = svc.store.get_upload(upload_id) if UPLOAD_ID_RE.match(upload_id) else None
    if row is None or row["bucket"] != bucket or row["key"] != key:
        raise OssError(404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be "
                       "invalid, or the upload may have been aborted or completed.", UploadId=upload_id)
    return row


async def _upload_part(svc, request, bucket, key, query, request_id):
    try:
        number = int(query.get("partNumber", ""))
    except ValueError:
        number = 0
    if not 1 <= number <= 10000:
        raise OssError(400, "InvalidArgument", "Part number must be an integer between 1 and 10000.")
    upload = _upload_of(svc, bucket, key, query)
    received = await _receive(svc, request)
    if svc.store.get_upload(upload["upload_id"]) is None:  # aborted or completed meanwhile
        received.path.unlink(missing_ok=True)
        raise OssError(404, "NoSuchUpload", "The specified upload does not exist.")
    svc.store.put_part(upload["upload_id"], number, received)
    ak = noted(request).get("access_key_id")
    if ak and ak != svc.access_key_id:
        svc.store.count_part(ak)
    return _response(200, request_id, headers={
        "ETag": f'"{received.etag}"', "x-oss-hash-crc64ecma": str(received.crc64),
        "Content-MD5": base64.b64encode(received.md5).decode(),
    })


def _assemble(svc, parts, dest_tmp) -> tuple[int, int]:
    """Concatenate part files into ``dest_tmp``; return (size, combined CRC-64)."""
    with open(dest_tmp, "wb") as out:
        for p in parts:
            with open(svc.data_dir / p["file"], "rb") as src:
                while chunk := src.read(4 << 20):
                    out.write(chunk)
    return sum(p["size"] for p in parts), combine_all((int(p["crc64"]), p["size"]) for p in parts)


@contextlib.asynccontextmanager
async def _upload_lock(svc, upload_id: str):
    """Serialise Complete and Abort of one upload: assembly runs off the loop, and a retried
    Complete or an Abort arriving meanwhile must not see (or delete) half-assembled state."""
    locks = svc.upload_locks
    lock = locks.setdefault(upload_id, asyncio.Lock())
    try:
        async with lock:
            yield
    finally:
        if not lock.locked() and locks.get(upload_id) is lock:
            del locks[upload_id]


async def _complete(svc, request, bucket, key, query, request_id):
    async with _upload_lock(svc, query.get("uploadId", "")):
        return await _complete_locked(svc, request, bucket, key, query, request_id)


async def _complete_locked(svc, request, bucket, key, query, request_id):
    upload = _upload_of(svc, bucket, key, query)
    expected_md5 = _expected_md5(request)
    body = await request.read()
    if expected_md5 is not None and hashlib.md5(body).digest() != expected_md5:
        raise OssError(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
    try:
        root = ET.fromstring(body)
        wanted = [(int(p.findtext("PartNumber", "")), (p.findtext("ETag") or "").strip().strip('"').upper())
                  for p in root.iter("Part")]
    except (ET.ParseError, ValueError):
        raise OssError(400, "MalformedXML", "The XML you provided was not well-formed.") from None
    if not wanted:
        raise OssError(400, "MalformedXML", "The XML you provided lists no parts.")
    numbers = [n for n, _ in wanted]
    if numbers != sorted(set(numbers)):
        raise OssError(400, "InvalidPartOrder", "The list of parts was not in ascending order.")
    have = {p["part_number"]: p for p in svc.store.list_parts(upload["upload_id"])}
    parts = []
    for n, etag in wanted:
        p = have.get(n)
        if p is None or p["etag"] != etag:
            raise OssError(400, "InvalidPart", "One or more of the specified parts could not be found "
                           "or the specified entity tag might not have matched the part's entity tag.",
                           PartNumber=str(n), ETag=etag)
        parts.append(p)
    for p in parts[:-1]:
        if p["size"] < _MIN_PART:
            raise OssError(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum "
                           "allowed object size (each part but the last must be at least 100 KiB).",
                           PartNumber=str(p["part_number"]))
    tmp = svc.store.tmp_dir / f"complete-{upload['upload_id']}-{uuid.uuid4().hex}"
    loop = asyncio.get_running_loop()
    try:
        size, crc = await loop.run_in_executor(None, _assemble, svc, parts, tmp)
        etag = hashlib.md5(b"".join(bytes.fromhex(p["etag"]) for p in parts)).hexdigest().upper()
        etag += f"-{len(parts)}"
        svc.store.commit_object(bucket, key, tmp, size, etag, crc, upload["content_type"], "Multipart")
    finally:
        tmp.unlink(missing_ok=True)  # already moved into place on success
    svc.store.drop_upload(upload["upload_id"])
    await svc.object_stored(bucket, key)
    location = f"{svc.oss_endpoint}/{bucket}/{key}"
    return _response(200, request_id, _xml("CompleteMultipartUploadResult", [
        ("Location", location), ("Bucket", bucket), ("Key", key), ("ETag", f'"{etag}"')]),
        headers={"ETag": f'"{etag}"', "x-oss-hash-crc64ecma": str(crc)}, xml=True)


async def _abort(svc, request, bucket, key, query, request_id):
    async with _upload_lock(svc, query.get("uploadId", "")):
        upload = _upload_of(svc, bucket, key, query)
        svc.store.drop_upload(upload["upload_id"])
    return _response(204, request_id)


def _int_param(query, name, default, lo, hi):
    raw = query.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise OssError(400, "InvalidArgument", f"{name} must be an integer.") from None
    if not lo <= value <= hi:
        raise OssError(400, "InvalidArgument", f"{name} must be between {lo} and {hi}.")
    return value


async def _list_parts(svc, request, bucket, key, query, request_id):
    upload = _upload_of(svc, bucket, key, query)
    marker = _int_param(query, "part-number-marker", 0, 0, 10000)
    max_parts = _int_param(query, "max-parts", 1000, 1, 1000)
    parts = [p for p in svc.store.list_parts(upload["upload_id"]) if p["part_number"] > marker]
    page, truncated = parts[:max_parts], len(parts) > max_parts
    next_marker = page[-1]["part_number"] if page else marker
    inner = "".join(
        f"<Part><PartNumber>{p['part_number']}</PartNumber><LastModified>{iso_ms(p['mtime'])}"
        f"</LastModified><ETag>\"{p['etag']}\"</ETag><Size>{p['size']}</Size>"
        f"<HashCrc64ecma>{p['crc64']}</HashCrc64ecma></Part>"
        for p in page
    )
    head = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in [
        ("Bucket", bucket), ("Key", key), ("UploadId", upload["upload_id"]),
        ("PartNumberMarker", marker), ("NextPartNumberMarker", next_marker), ("MaxParts", max_parts),
        ("IsTruncated", "true" if truncated else "false")])
    return _response(200, request_id, _xml("ListPartsResult", head + inner), xml=True)


async def _list_uploads(svc, request, bucket, key, query, request_id):
    prefix = query.get("prefix", "")
    key_marker = query.get("key-marker", "")
    id_marker = query.get("upload-id-marker", "")
    max_uploads = _int_param(query, "max-uploads", 1000, 1, 1000)
    rows = svc.store.query("SELECT * FROM uploads WHERE bucket=? ORDER BY key, upload_id", (bucket,))
    rows = [r for r in rows if r["key"].startswith(prefix)
            and (not key_marker or (r["key"] > key_marker if not id_marker
                                    else (r["key"], r["upload_id"]) > (key_marker, id_marker)))]
    page, truncated = rows[:max_uploads], len(rows) > max_uploads
    inner = "".join(
        f"<Upload><Key>{escape(r['key'])}</Key><UploadId>{r['upload_id']}</UploadId>"
        f"<Initiated>{iso_ms(r['initiated'])}</Initiated></Upload>" for r in page
    )
    head = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in [
        ("Bucket", bucket), ("KeyMarker", key_marker), ("UploadIdMarker", id_marker),
        ("NextKeyMarker", page[-1]["key"] if page else ""),
        ("NextUploadIdMarker", page[-1]["upload_id"] if page else ""),
        ("Delimiter", query.get("delimiter", "")), ("Prefix", prefix), ("MaxUploads", max_uploads),
        ("IsTruncated", "true" if truncated else "false")])
    return _response(200, request_id, _xml("ListMultipartUploadsResult", head + inner), xml=True)


async def _get_object(svc, request, bucket, key, query, request_id):
    row = svc.store.get_object(bucket, key)
    if row is None:
        raise OssError(404, "NoSuchKey", "The specified key does not exist.", Key=key)
    span = parse_range(request.headers.get("Range"), row["size"])
    if span == "unsatisfiable":
        raise OssError(416, "InvalidRange", "The requested range cannot be satisfied.")
    return await serve_file(request, svc.data_dir / row["file"], row["size"],
                            _object_headers(row, request_id), span if isinstance(span, tuple) else None)


async def _delete_object(svc, request, bucket, key, query, request_id):
    svc.store.delete_object(bucket, key)
    return _response(204, request_id)


_HANDLERS = {
    "PutObject": _put_object,
    "InitiateMultipartUpload": _initiate,
    "UploadPart": _upload_part,
    "CompleteMultipartUpload": _complete,
    "AbortMultipartUpload": _abort,
    "ListParts": _list_parts,
    "ListMultipartUploads": _list_uploads,
    "GetObject": _get_object,
    "HeadObject": _get_object,
    "DeleteObject": _delete_object,
}
