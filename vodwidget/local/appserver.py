"""A demo AppServer under ``/_app/``: what a customer's backend does with its AccessKey.

Browser and notebook clients call it to get an UploadAuth/UploadAddress pair or an STS token
without ever holding the root key. Parameters come from the query, a JSON body or a form body;
``fileName`` and ``FileName`` are both accepted.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from vodwidget.local import vod
from vodwidget.local.common import CORS_HEADERS, note

if TYPE_CHECKING:
    from vodwidget.local.server import LocalVod

__all__ = ["handle_app", "ROUTES"]


def _sts(svc: LocalVod, params: dict[str, str]) -> dict[str, Any]:
    cred = svc.issue_sts("vod")
    # "SecretToken" (sic) is the name the upload SDK demos read.
    return {"SecurityTokenInfo": {"AccessKeyId": cred["AccessKeyId"],
                                  "AccessKeySecret": cred["AccessKeySecret"],
                                  "SecretToken": cred["SecurityToken"],
                                  "Expiration": cred["Expiration"]}}


ROUTES = {
    "create-upload-video": vod.create_upload_video,
    "refresh-upload-video": vod.refresh_upload_video,
    "create-upload-image": vod.create_upload_image,
    "sts": _sts,
}


async def _params(request: web.Request) -> dict[str, str]:
    params: dict[str, Any] = dict(parse_qsl(request.raw_path.partition("?")[2], keep_blank_values=True))
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            body = json.loads(await request.read() or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the JSON body must be an object")
            params.update(body)
        else:
            params.update(await request.post())
    # JS demos send camelCase (fileName); the VOD API wants PascalCase (FileName).
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        out[key[:1].upper() + key[1:]] = text
    return out


async def handle_app(svc: LocalVod, request: web.Request) -> web.StreamResponse:
    name = request.path.removeprefix("/_app").strip("/")
    note(request, op=f"app:{name}")
    request_id = vod._request_id()
    if request.method == "OPTIONS":
        return web.Response(status=200, headers={
            **CORS_HEADERS, "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": request.headers.get("Access-Control-Request-Headers", "*")})
    route = ROUTES.get(name)
    try:
        if route is None:
            raise vod.VodError(404, "NotFound", f"No app server route {name!r}; known: {', '.join(ROUTES)}")
        if request.method not in ("GET", "POST"):
            raise vod.VodError(405, "UnsupportedHTTPMethod", f"{request.method} is not supported.")
        try:
            params = await _params(request)
        except ValueError as exc:
            raise vod.VodError(400, "InvalidParameter", f"Could not read the request: {exc}") from None
        note(request, access_key_id=svc.access_key_id)
        body = route(svc, params)
        return web.json_response({**body, "RequestId": request_id}, headers=CORS_HEADERS)
    except vod.VodError as err:
        return web.json_response({"Code": err.code, "Message": err.message, "RequestId": request_id},
                                 status=err.status, headers=CORS_HEADERS)
