"""VOD OpenAPI subset (POP RPC, version 2017-03-21): request verification and the actions.

Signatures are checked with :mod:`vodwidget.openapi`'s ``string_to_sign``/``sign`` — the same code
the client signs with — and the service is tested against Alibaba's own aliyunsdkcore.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import re
import secrets
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web

from vodwidget.local.common import CORS_HEADERS, iso_z, note, noted, random_id
from vodwidget.local.faults import inject
from vodwidget.local.media import media_url
from vodwidget.openapi import API_VERSION, sign, string_to_sign
from vodwidget.redact import get_logger

if TYPE_CHECKING:
    from vodwidget.local.server import LocalVod

__all__ = ["VodError", "handle_vod", "ACTIONS", "object_stored", "probe"]

log = get_logger(__name__)
HOST_ID = "vod.cn-shanghai.aliyuncs.com"
_MAX_SKEW = 15 * 60
_EXT_RE = re.compile(r"^[A-Za-z0-9]{1,10}$")
_IMAGE_EXTS = {"png", "jpg", "jpeg", "gif", "bmp", "webp", "heic", "tiff"}
_IMAGE_TYPES = {"default", "cover"}
_PROBE_TIMEOUT = 5.0


class VodError(Exception):
    """A POP error answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def error_body(err: VodError, request_id: str) -> dict[str, str]:
    return {"RequestId": request_id, "HostId": HOST_ID, "Code": err.code, "Message": err.message,
            "Recommend": f"https://api.aliyun.com/troubleshoot?q={err.code}"}


def _request_id() -> str:
    h = secrets.token_hex(16).upper()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _missing(name: str) -> VodError:
    return VodError(400, "MissingParameter",
                    f'The input parameter "{name}" that is mandatory for processing this request is not supplied.')


def _invalid(name: str, why: str) -> VodError:
    return VodError(400, "InvalidParameter", f"The specified parameter {name} is not valid: {why}")


def _need(params: dict[str, str], name: str) -> str:
    value = params.get(name, "")
    if value == "":
        raise _missing(name)
    return value


def _b64json(obj: dict) -> str:
    return base64.b64encode(json.dumps(obj).encode()).decode()


# -- request verification -----------------------------------------------------------------------
async def _params(request: web.Request) -> dict[str, str]:
    params = dict(parse_qsl(request.raw_path.partition("?")[2], keep_blank_values=True))
    if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
        body = await request.read()
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _verify(svc: LocalVod, method: str, params: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """POP checks in the service's order; returns (AccessKeyId, credential row)."""
    for name in ("AccessKeyId", "Signature", "SignatureNonce", "Timestamp"):
        if not params.get(name):
            raise _missing(name)
    if params.get("Version", API_VERSION) != API_VERSION:
        raise VodError(400, "InvalidVersion", f"Specified parameter Version {params['Version']!r} is not valid.")
    if params.get("SignatureMethod", "HMAC-SHA1") != "HMAC-SHA1":
        raise VodError(400, "InvalidSignatureMethod", "Specified signature method is not supported.")
    ts_raw = params["Timestamp"]
    try:
        ts = datetime.strptime(ts_raw, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise VodError(400, "InvalidTimeStamp.Format",
                       f"Specified time stamp or date value {ts_raw!r} is not well formatted.") from None
    if abs(time.time() - ts) > _MAX_SKEW:
        raise VodError(400, "InvalidTimeStamp.Expired",
                       f"Specified time stamp or date value {ts_raw!r} is expired.")
    ak = params["AccessKeyId"]
    cred = svc.lookup_key(ak)
    if cred is None:
        raise VodError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
    expected = sign(method, params, cred["secret"])
    if not hmac.compare_digest(expected, params["Signature"]):
        # aliyunsdkcore splits this message on ':' and compares the tail with its own string.
        raise VodError(400, "SignatureDoesNotMatch",
                       "Specified signature is not matched with our calculation. server string to sign is:"
                       + string_to_sign(method, params))
    if not svc.use_nonce(ak, params["SignatureNonce"], until=max(time.time(), ts) + _MAX_SKEW):
        raise VodError(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
    token = params.get("SecurityToken")
    if cred["kind"] == "root":
        if token:
            raise VodError(400, "InvalidSecurityToken.MismatchWithAccessKey",
                           "Specified SecurityToken mismatch with the AccessKey.")
        return ak, cred
    if not token or not hmac.compare_digest(token, cred["token"]):
        raise VodError(400, "InvalidSecurityToken.MismatchWithAccessKey",
                       "Specified SecurityToken mismatch with the AccessKey.")
    if time.time() >= cred["expires"]:
        raise VodError(400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")
    if cred["kind"] != "vod":
        raise VodError(403, "Forbidden.RAM", "User not authorized to operate on the specified resource, "
                       "or this API doesn't support RAM (this STS token is an UploadAuth for one object).")
    return ak, cred


async def handle_vod(svc: LocalVod, request: web.Request) -> web.StreamResponse:
    """``/`` with ``Action=...``: verify, then run the action; JSON either way."""
    request_id = _request_id()
    if request.method == "OPTIONS":
        note(request, op="Preflight")
        return web.Response(status=200, headers={
            **CORS_HEADERS, "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": request.headers.get("Access-Control-Request-Headers", "*")})
    params = await _params(request)
    action = params.get("Action", "")
    note(request, op=action or "vod:NoAction")
    note(request, access_key_id=params.get("AccessKeyId"))
    try:
        if request.method not in ("GET", "POST"):
            raise VodError(405, "UnsupportedHTTPMethod", f"{request.method} is not supported.")
        decision = await inject(svc.faults, "vod", noted(request)["op"], request)
        if decision == "reset":
            note(request, status=0)
            return web.Response(status=500)  # never sent: the transport is gone
        if decision == "503":
            raise VodError(503, "ServiceUnavailable", "The request has failed due to a temporary "
                           "failure of the server (injected fault).")
        if not action:
            raise _missing("Action")
        _verify(svc, request.method, params)
        handler = ACTIONS.get(action)
        if handler is None:
            raise VodError(404, "InvalidAction.NotFound",
                           f"Specified api {action} is not found, please check your url and method.")
        body = handler(svc, params)
        return web.json_response({"RequestId": request_id, **body}, headers=CORS_HEADERS)
    except VodError as err:
        return web.json_response(error_body(err, request_id), status=err.status, headers=CORS_HEADERS)


# -- actions ------------------------------------------------------------------------------------
def _ext(file_name: str) -> str:
    base = file_name.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    if not dot or not stem or not _EXT_RE.match(ext):
        raise _invalid("FileName", "it has no file extension")
    return ext.lower()


def _int_or_none(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name, "")
    if raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise _invalid(name, "not an integer") from None


def _check_lengths(params: dict[str, str]) -> None:
    for name, limit in (("Title", 128), ("Description", 1024), ("Tags", 1024), ("UserData", 1024)):
        if len(params.get(name, "").encode()) > limit:
            raise _invalid(name, f"longer than {limit} bytes")
    if params.get("UserData"):
        try:
            json.loads(params["UserData"])
        except ValueError:
            raise _invalid("UserData", "not a JSON string") from None


def _upload_pair(svc: LocalVod, key: str) -> tuple[str, str]:
    address = {"Endpoint": svc.oss_endpoint, "Bucket": svc.bucket, "FileName": key}
    return _b64json(address), _b64json(svc.issue_upload_auth(key))


def create_upload_video(svc: LocalVod, params: dict[str, str]) -> dict[str, Any]:
    title = _need(params, "Title")
    ext = _ext(_need(params, "FileName"))
    _check_lengths(params)
    video_id = random_id()
    key = f"sv/{secrets.token_hex(4)}/{secrets.token_hex(16)}.{ext}"
    cate = _int_or_none(params, "CateId")
    data = {
        "VideoId": video_id, "Title": title, "Description": params.get("Description", ""),
        "FileName": params["FileName"], "FileSize": _int_or_none(params, "FileSize"),
        "CateId": cate, "Tags": params.get("Tags", ""), "UserData": params.get("UserData", ""),
        "TemplateGroupId": params.get("TemplateGroupId", ""), "CoverURL": params.get("CoverURL", ""),
        "StorageLocation": params.get("StorageLocation") or svc.storage_location,
        "WorkflowId": params.get("WorkflowId", ""), "AppId": params.get("AppId", "app-1000000"),
        "CreationTime": iso_z(time.time()), "Duration": 0.0, "Size": 0, "Width": 0, "Height": 0,
        "Bitrate": 0, "Format": ext,
    }
    svc.store.put_media("videos", video_id, svc.bucket, key, "Uploading", data)
    address, auth = _upload_pair(svc, key)
    return {"VideoId": video_id, "UploadAddress": address, "UploadAuth": auth}


def _video_or_404(svc: LocalVod, params: dict[str, str]) -> dict[str, Any]:
    video = svc.video(_need(params, "VideoId"))
    if video is None:
        raise VodError(404, "InvalidVideo.NotFound", "The video does not exist.")
    return video


def refresh_upload_video(svc: LocalVod, params: dict[str, str]) -> dict[str, Any]:
    video = _video_or_404(svc, params)
    address, auth = _upload_pair(svc, video["ObjectKey"])
    return {"VideoId": video["VideoId"], "UploadAddress": address, "UploadAuth": auth}


def create_upload_image(svc: LocalVod, params: dict[str, str]) -> dict[str, Any]:
    image_type = _need(params, "ImageType")
    if image_type not in _IMAGE_TYPES:
        raise _invalid("ImageType", f"must be one of {', '.join(sorted(_IMAGE_TYPES))}")
    ext = (params.get("ImageExt") or "png").lower()
    if ext not in _IMAGE_EXTS:
        raise _invalid("ImageExt", f"must be one of {', '.join(sorted(_IMAGE_EXTS))}")
    _check_lengths(params)
    image_id = random_id()
    key = f"image/default/{image_id.upper()}-6-2.{ext}"
    data = {
        "ImageId": image_id, "Title": params.get("Title", ""), "ImageType": image_type,
        "Description": params.get("Description", ""), "Tags": params.get("Tags", ""),
        "CateId": _int_or_none(params, "CateId"), "UserData": params.get("UserData", ""),
        "StorageLocation": params.get("StorageLocation") or svc.storage_location,
        "OriginalFileName": params.get("OriginalFileName", ""), "Ext": ext,
        "AppId": params.get("AppId", "app-1000000"), "CreationTime": iso_z(time.time()),
        "FileSize": 0, "Width": 0, "Height": 0,
    }
    svc.store.put_media("images", image_id, svc.bucket, key, "Uploading", data)
    address, auth = _upload_pair(svc, key)
    url = media_url(svc, svc.bucket, key)
    return {"ImageId": image_id, "ImageURL": url, "FileURL": f"{svc.oss_endpoint}/{svc.bucket}/{key}",
            "UploadAddress": address, "UploadAuth": auth}


_PRIVATE = ("Bucket", "ObjectKey", "Format", "Ext", "WorkflowId")


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in _PRIVATE and v is not None}


def get_video_info(svc: LocalVod, params: dict[str, str]) -> dict[str, Any]:
    video = _video_or_404(svc, params)
    out = _public(video)
    out["Duration"] = float(video.get("Duration") or 0)
    out.setdefault("ModificationTime", video["CreationTime"])
    return {"Video": out}


def get_play_info(svc: LocalVod, params: dict[str, str]) -> dict[str, Any]:
    video = _video_or_404(svc, params)
    if video["Status"] != "Normal":
        raise VodError(403, "InvalidVideo.NoneStream",
                       f"The video has no playable stream yet (Status {video['Status']}).")
    duration = f"{float(video.get('Duration') or 0):.3f}"
    play = {
        "PlayURL": media_url(svc, video["Bucket"], video["ObjectKey"]), "Format": video.get("Format", ""),
        "Definition": "OD", "Size": video.get("Size", 0), "Duration": duration,
        "Width": video.get("Width", 0), "Height": video.get("Height", 0),
        "Bitrate": str(video.get("Bitrate", 0)), "Fps": str(video.get("Fps", "")),
        "StreamType": "video", "Encrypt": 0, "JobId": "", "Status": "Normal",
        "CreationTime": video["CreationTime"], "ModificationTime": video["CreationTime"],
        "NarrowBandType": "0", "PreprocessStatus": "UnPreprocess",
    }
    base = {"VideoId": video["VideoId"], "Title": video["Title"], "CoverURL": video.get("CoverURL", ""),
            "Duration": duration, "Status": video["Status"], "MediaType": "video",
            "CreationTime": video["CreationTime"], "OutputType": "oss", "TranscodeMode": "NoTranscode"}
    return {"VideoBase": base, "PlayInfoList": {"PlayInfo": [play]}}


def get_image_info(svc: LocalVod, params: dict[str, str]) -> dict[str, Any]:
    image = svc.image(_need(params, "ImageId"))
    if image is None:
        raise VodError(404, "InvalidImage.NotFound", "The image does not exist.")
    info = {k: image[k] for k in ("ImageId", "Title", "ImageType", "Status", "CreationTime",
                                  "StorageLocation", "Description", "Tags", "AppId") if k in image}
    if image.get("CateId") is not None:
        info["CateId"] = image["CateId"]
    info["URL"] = media_url(svc, image["Bucket"], image["ObjectKey"])
    info["Mezzanine"] = {
        "FileURL": f"{svc.oss_endpoint}/{image['Bucket']}/{image['ObjectKey']}",
        "FileSize": image.get("FileSize", 0), "Width": image.get("Width", 0),
        "Height": image.get("Height", 0), "OriginalFileName": image.get("OriginalFileName", ""),
    }
    return {"ImageInfo": info}


def delete_video(svc: LocalVod, params: dict[str, str]) -> dict[str, Any]:
    ids = [v.strip() for v in _need(params, "VideoIds").split(",") if v.strip()]
    missing = []
    for video_id in ids:
        video = svc.video(video_id)
        if video is None:
            missing.append(video_id)
            continue
        svc.store.delete_media("videos", video_id)
        svc.store.delete_object(video["Bucket"], video["ObjectKey"])
    return {"NonExistVideoIds": missing, "ForbiddenVideoIds": []}


def delete_image(svc: LocalVod, params: dict[str, str]) -> dict[str, Any]:
    kind = _need(params, "DeleteImageType")
    if kind == "ImageId":
        ids = [v.strip() for v in _need(params, "ImageIds").split(",") if v.strip()]
    elif kind == "ImageURL":
        ids = []
        for url in _need(params, "ImageURLs").split(","):
            path = urlsplit(url.strip()).path
            bucket, _, key = path.removeprefix("/_media/").partition("/")
            ids += svc.store.media_by_key("images", bucket, key)
    else:
        raise _invalid("DeleteImageType", "must be ImageId or ImageURL")
    for image_id in ids:
        image = svc.image(image_id)
        if image is not None:
            svc.store.delete_media("images", image_id)
            svc.store.delete_object(image["Bucket"], image["ObjectKey"])
    return {}


ACTIONS = {
    "CreateUploadVideo": create_upload_video,
    "RefreshUploadVideo": refresh_upload_video,
    "CreateUploadImage": create_upload_image,
    "GetVideoInfo": get_video_info,
    "GetPlayInfo": get_play_info,
    "GetImageInfo": get_image_info,
    "DeleteVideo": delete_video,
    "DeleteImage": delete_image,
}


# -- object completion --------------------------------------------------------------------------
def probe(path: str) -> dict[str, Any]:
    """Duration/size facts from PyAV when it is importable; {} when it is not or the file is opaque."""
    try:
        import av  # optional dependency (vodwidget[media])
    except ImportError:
        return {}
    try:
        with av.open(path, options={"probesize": "5000000"}) as container:
            facts: dict[str, Any] = {}
            if container.duration:
                facts["Duration"] = round(container.duration / 1_000_000, 3)
            if container.bit_rate:
                facts["Bitrate"] = int(container.bit_rate // 1000)
            for stream in container.streams.video[:1]:
                facts["Width"] = stream.codec_context.width
                facts["Height"] = stream.codec_context.height
                if stream.average_rate:
                    facts["Fps"] = round(float(stream.average_rate), 3)
            return facts
    except Exception:  # any file may be uploaded; probing is best effort
        return {}


async def object_stored(svc: LocalVod, bucket: str, key: str) -> None:
    """Mark the video/image of ``bucket/key`` Normal, with its size and (best effort) probed facts."""
    videos = svc.store.media_by_key("videos", bucket, key)
    images = svc.store.media_by_key("images", bucket, key)
    if not videos and not images:
        return
    row = svc.store.get_object(bucket, key)
    if row is None:
        return
    facts: dict[str, Any] = {}
    try:
        loop = asyncio.get_running_loop()
        facts = await asyncio.wait_for(
            loop.run_in_executor(None, probe, str(svc.data_dir / row["file"])), _PROBE_TIMEOUT)
    except Exception:  # timeouts included: the upload succeeded regardless
        log.debug("probe of %s failed", key)
    for video_id in videos:
        svc.store.update_media("videos", video_id, "Normal", Size=row["size"], **facts)
    for image_id in images:
        svc.store.update_media("images", image_id, "Normal", FileSize=row["size"],
                               Width=facts.get("Width", 0), Height=facts.get("Height", 0))
