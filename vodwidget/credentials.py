"""Credential providers: who answers "where and with what key may this file be uploaded?".

Every provider turns a create/refresh request into an :class:`UploadTicket` (media id, OSS address,
a short-lived STS key scoped to one object). Pick one:

* :class:`AppServerCredentials` - your application server's create / refresh / image / STS URLs
  (the flow the upload SDK documents; the AccessKey stays on the server).
* :class:`OpenApiCredentials` - call the VOD OpenAPI directly, signed with an AccessKey
  (``OpenApiCredentials.from_env()`` reads ``ALIBABA_CLOUD_ACCESS_KEY_ID`` / ``..._SECRET``).
* :class:`StsCredentials` - an STS triple (static, or fetched from a callable or URL when it expires);
  the uploader itself calls CreateUploadVideo / CreateUploadImage with it, as the SDK does.

Secrets live only in :class:`StsToken` fields that are excluded from ``repr`` and registered for
redaction the moment they are seen.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from vodwidget.errors import CredentialError, NetworkError, ServiceError, TokenExpiredError
from vodwidget.openapi import VodApiClient, error_from_response
from vodwidget.redact import register_secret

__all__ = [
    "StsToken",
    "UploadAddress",
    "UploadTicket",
    "CredentialProvider",
    "AppServerCredentials",
    "OpenApiCredentials",
    "StsCredentials",
    "decode_upload_auth",
    "decode_upload_address",
]


@dataclass(frozen=True)
class StsToken:
    """An STS key triple. Secret fields never show in ``repr``."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)
    expiration: datetime | None = None

    def __post_init__(self) -> None:
        register_secret(self.access_key_secret)
        register_secret(self.security_token)


@dataclass(frozen=True)
class UploadAddress:
    """Where the bytes go: an OSS endpoint, bucket and object key."""

    endpoint: str
    bucket: str
    object: str


@dataclass(frozen=True)
class UploadTicket:
    """What a create/refresh call returns: the media's id, its address and an STS token for it."""

    kind: str  # "video" | "image" | "oss" (plain OSS upload, no VOD media)
    media_id: str | None
    address: UploadAddress
    token: StsToken
    image_url: str | None = None
    request_id: str | None = None

    @classmethod
    def from_response(cls, kind: str, body: Mapping[str, Any]) -> UploadTicket:
        """Build from a CreateUploadVideo/RefreshUploadVideo/CreateUploadImage JSON body."""
        try:
            auth_b64, address_b64 = body["UploadAuth"], body["UploadAddress"]
        except KeyError as exc:
            raise ServiceError(f"the answer has no {exc.args[0]}", "MalformedResponse") from None
        register_secret(auth_b64)
        media_id = body.get("VideoId") if kind == "video" else body.get("ImageId")
        if not media_id:
            raise ServiceError(f"the answer has no {'VideoId' if kind == 'video' else 'ImageId'}",
                               "MalformedResponse")
        return cls(kind, media_id, decode_upload_address(address_b64), decode_upload_auth(auth_b64),
                   image_url=body.get("ImageURL"), request_id=body.get("RequestId"))


def _b64json(value: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.b64decode(value, validate=False).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        raise CredentialError(f"{what} is not base64-encoded JSON", f"Invalid{what}") from None
    if not isinstance(data, dict):
        raise CredentialError(f"{what} is not a JSON object", f"Invalid{what}")
    return data


def decode_upload_auth(upload_auth: str) -> StsToken:
    """Decode the base64 UploadAuth VOD returns into an :class:`StsToken`."""
    register_secret(upload_auth)
    data = _b64json(upload_auth, "UploadAuth")
    missing = [k for k in ("AccessKeyId", "AccessKeySecret", "SecurityToken") if not data.get(k)]
    if missing:
        raise CredentialError(f"UploadAuth lacks {', '.join(missing)}", "InvalidUploadAuth")
    expires = _parse_time(data.get("ExpireUTCTime"))
    if expires is None and str(data.get("Expiration", "")).isdigit():
        expires = datetime.now(UTC) + timedelta(seconds=int(data["Expiration"]))
    return StsToken(data["AccessKeyId"], data["AccessKeySecret"], data["SecurityToken"], expires)


def decode_upload_address(upload_address: str) -> UploadAddress:
    """Decode the base64 UploadAddress VOD returns."""
    data = _b64json(upload_address, "UploadAddress")
    missing = [k for k in ("Endpoint", "Bucket", "FileName") if not data.get(k)]
    if missing:
        raise CredentialError(f"UploadAddress lacks {', '.join(missing)}", "InvalidUploadAddress")
    return UploadAddress(data["Endpoint"], data["Bucket"], data["FileName"])


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def sts_from_mapping(data: Mapping[str, Any]) -> StsToken:
    """Accept the AppServer shape ``{"SecurityTokenInfo": {..., "SecretToken"}}`` or a plain triple."""
    info = data.get("SecurityTokenInfo") or data.get("Credentials") or data
    token = info.get("SecurityToken") or info.get("SecretToken")
    ak, secret = info.get("AccessKeyId"), info.get("AccessKeySecret")
    if not (ak and secret and token):
        raise CredentialError("the STS answer lacks AccessKeyId, AccessKeySecret or SecurityToken",
                              "InvalidSTSToken")
    return StsToken(ak, secret, token, _parse_time(info.get("Expiration")))


class CredentialProvider:
    """Base class: create and refresh upload tickets. Subclasses implement the three calls."""

    #: The VOD OpenAPI endpoint, when the provider knows it (used for STS-signed calls).
    vod_endpoint: str | None = None

    def create_video(self, params: Mapping[str, Any]) -> UploadTicket:
        raise NotImplementedError

    def refresh_video(self, video_id: str) -> UploadTicket:
        raise NotImplementedError

    def create_image(self, params: Mapping[str, Any]) -> UploadTicket:
        raise NotImplementedError

    def play_url(self, video_id: str) -> str | None:
        """A URL that plays the video (GetPlayInfo), or None when this provider cannot ask."""
        return None

    def sts_token(self) -> StsToken:
        """An STS triple for plain OSS uploads (``add_file(..., endpoint, bucket, object)``)."""
        raise CredentialError(f"{type(self).__name__} cannot hand out an STS token; "
                              "use StsCredentials for uploads to your own OSS object", "NoSTSToken")


class OpenApiCredentials(CredentialProvider):
    """Call CreateUploadVideo / RefreshUploadVideo / CreateUploadImage signed with an AccessKey.

    >>> creds = OpenApiCredentials("id", "secret", endpoint="http://127.0.0.1:8777")
    >>> "secret" in repr(creds)
    False
    """

    def __init__(self, access_key_id: str, access_key_secret: str, security_token: str | None = None,
                 *, region: str = "cn-shanghai", endpoint: str | None = None, timeout: float = 30.0) -> None:
        self._client = VodApiClient(access_key_id, access_key_secret, security_token,
                                    region=region, endpoint=endpoint, timeout=timeout)
        self.vod_endpoint = self._client.endpoint

    @classmethod
    def from_env(cls, *, region: str | None = None, endpoint: str | None = None) -> OpenApiCredentials:
        """Read ``ALIBABA_CLOUD_ACCESS_KEY_ID`` / ``_SECRET`` / ``ALIBABA_CLOUD_SECURITY_TOKEN``."""
        ak = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID")
        secret = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        if not ak or not secret:
            raise CredentialError("set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET "
                                  "(or pass credentials explicitly)", "MissingCredentials")
        return cls(ak, secret, os.environ.get("ALIBABA_CLOUD_SECURITY_TOKEN") or None,
                   region=region or os.environ.get("ALIBABA_CLOUD_REGION_ID") or "cn-shanghai",
                   endpoint=endpoint or os.environ.get("VODWIDGET_VOD_ENDPOINT") or None)

    def __repr__(self) -> str:
        return f"OpenApiCredentials(access_key_id={self._client.access_key_id!r}, endpoint={self.vod_endpoint!r})"

    def create_video(self, params: Mapping[str, Any]) -> UploadTicket:
        return UploadTicket.from_response("video", self._client.call("CreateUploadVideo", params))

    def refresh_video(self, video_id: str) -> UploadTicket:
        return UploadTicket.from_response("video", self._client.call("RefreshUploadVideo", {"VideoId": video_id}))

    def create_image(self, params: Mapping[str, Any]) -> UploadTicket:
        return UploadTicket.from_response("image", self._client.call("CreateUploadImage", params))

    def play_url(self, video_id: str) -> str | None:
        return _first_play_url(self._client.call("GetPlayInfo", {"VideoId": video_id}))


def _first_play_url(body: Mapping[str, Any]) -> str | None:
    infos = (body.get("PlayInfoList") or {}).get("PlayInfo") or []
    return infos[0].get("PlayURL") if infos else None


StsSource = Callable[[], "StsToken | Mapping[str, Any]"]


class StsCredentials(CredentialProvider):
    """An STS triple; the uploader calls the VOD OpenAPI with it (as the SDK's STS mode does).

    Give a static triple, or ``source=`` a callable or URL returning one (AppServer shape
    ``{"SecurityTokenInfo": {...}}`` or a plain triple); it is fetched again when it expires.
    """

    def __init__(self, access_key_id: str | None = None, access_key_secret: str | None = None,
                 security_token: str | None = None, *, source: str | StsSource | None = None,
                 region: str = "cn-shanghai", endpoint: str | None = None, timeout: float = 30.0) -> None:
        if not (access_key_id and access_key_secret and security_token) and source is None:
            raise CredentialError("StsCredentials needs an AccessKeyId, AccessKeySecret and "
                                  "SecurityToken, or a source to fetch them from", "MissingCredentials")
        self._source = source
        self._region = region
        self._timeout = timeout
        self.vod_endpoint = endpoint
        self._lock = threading.Lock()
        self._token = (StsToken(access_key_id, access_key_secret, security_token)
                       if access_key_id and access_key_secret and security_token else None)
        self._api: OpenApiCredentials | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Providers travel to executor workers (dask): locks and cached clients are rebuilt there.
        state = self.__dict__.copy()
        state.pop("_lock", None)
        state["_api"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        if self._token is not None:
            register_secret(self._token.access_key_secret)
            register_secret(self._token.security_token)

    def __repr__(self) -> str:
        src = self._source if isinstance(self._source, str) else ("callable" if self._source else None)
        return f"StsCredentials(source={src!r}, endpoint={self.vod_endpoint!r})"

    def _fetch(self) -> StsToken:
        src = self._source
        if src is None:
            raise TokenExpiredError("the STS token expired and StsCredentials has no source to fetch "
                                    "a new one from", "InvalidSecurityToken.Expired")
        if isinstance(src, str):
            try:
                resp = requests.get(src, timeout=self._timeout)
            except requests.RequestException as exc:
                raise NetworkError(f"STS source {src} failed: {type(exc).__name__}") from None
            body = _json_or_error(resp, "STS")
            return sts_from_mapping(body)
        value = src()
        return value if isinstance(value, StsToken) else sts_from_mapping(value)

    def sts_token(self, *, renew: bool = False) -> StsToken:
        with self._lock:
            if self._token is None or renew or _expired(self._token):
                self._token = self._fetch()
                self._api = None
            return self._token

    def _openapi(self, renew: bool = False) -> OpenApiCredentials:
        token = self.sts_token(renew=renew)
        with self._lock:
            if self._api is None:
                self._api = OpenApiCredentials(token.access_key_id, token.access_key_secret,
                                               token.security_token, region=self._region,
                                               endpoint=self.vod_endpoint, timeout=self._timeout)
                self.vod_endpoint = self._api.vod_endpoint
            return self._api

    def _call(self, fn: Callable[[OpenApiCredentials], UploadTicket]) -> UploadTicket:
        try:
            return fn(self._openapi())
        except TokenExpiredError:
            if self._source is None:
                raise
            return fn(self._openapi(renew=True))

    def create_video(self, params: Mapping[str, Any]) -> UploadTicket:
        return self._call(lambda api: api.create_video(params))

    def refresh_video(self, video_id: str) -> UploadTicket:
        return self._call(lambda api: api.refresh_video(video_id))

    def create_image(self, params: Mapping[str, Any]) -> UploadTicket:
        return self._call(lambda api: api.create_image(params))

    def play_url(self, video_id: str) -> str | None:
        try:
            return self._openapi().play_url(video_id)
        except TokenExpiredError:
            return self._openapi(renew=True).play_url(video_id) if self._source is not None else None


def _expired(token: StsToken, margin: float = 30.0) -> bool:
    return token.expiration is not None and token.expiration <= datetime.now(UTC) + timedelta(seconds=margin)


def _json_or_error(resp: requests.Response, what: str) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        raise ServiceError(f"{what}: the app server answered HTTP {resp.status_code} with a body that "
                           "is not JSON", "MalformedResponse", status=resp.status_code,
                           retryable=resp.status_code >= 500) from None
    if not isinstance(body, dict):
        raise ServiceError(f"{what}: the app server answered with JSON that is not an object",
                           "MalformedResponse", status=resp.status_code)
    if resp.status_code >= 300:
        raise error_from_response(what, resp.status_code, body)
    return body


class AppServerCredentials(CredentialProvider):
    """Your application server's URLs, as in the upload SDK's documented flow.

    ``create_url`` returns ``{VideoId, UploadAddress, UploadAuth}`` for the query parameters of
    CreateUploadVideo; ``refresh_url`` the same for ``VideoId``; ``image_url`` returns
    ``{ImageId, ImageURL, UploadAddress, UploadAuth}``; ``sts_url`` returns
    ``{"SecurityTokenInfo": {...}}`` and is used for whatever the other URLs do not cover.

    >>> AppServerCredentials.from_base("http://127.0.0.1:8777/_app").create_url
    'http://127.0.0.1:8777/_app/create-upload-video'
    """

    def __init__(self, create_url: str | None = None, refresh_url: str | None = None,
                 image_url: str | None = None, sts_url: str | None = None, *,
                 vod_endpoint: str | None = None, region: str = "cn-shanghai",
                 params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None,
                 timeout: float = 30.0, session: requests.Session | None = None) -> None:
        if not (create_url or sts_url):
            raise CredentialError("AppServerCredentials needs create_url or sts_url", "MissingCredentials")
        self.create_url, self.refresh_url, self.image_url, self.sts_url = create_url, refresh_url, image_url, sts_url
        self.vod_endpoint = vod_endpoint
        self._extra = dict(params or {})
        self._headers = dict(headers or {})
        self._timeout = timeout
        self._session = session or requests.Session()
        self._sts = (StsCredentials(source=self._fetch_sts, region=region, endpoint=vod_endpoint, timeout=timeout)
                     if sts_url else None)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_session", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._session = requests.Session()
        if self._sts is not None:
            self._sts._source = self._fetch_sts  # re-bind to this copy

    @classmethod
    def from_base(cls, base_url: str, **kwargs: Any) -> AppServerCredentials:
        """URLs named as the local service (and the SDK demos) name them, under ``base_url``."""
        base = base_url.rstrip("/")
        return cls(f"{base}/create-upload-video", f"{base}/refresh-upload-video",
                   f"{base}/create-upload-image", f"{base}/sts", **kwargs)

    def __repr__(self) -> str:
        return f"AppServerCredentials(create_url={self.create_url!r}, sts_url={self.sts_url!r})"

    def _get(self, url: str, params: Mapping[str, Any], what: str) -> dict[str, Any]:
        query = {**self._extra, **{k: v for k, v in params.items() if v is not None}}
        try:
            resp = self._session.get(url, params=query, headers=self._headers, timeout=self._timeout)
        except requests.RequestException as exc:
            raise NetworkError(f"{what} at {url} failed: {type(exc).__name__}") from None
        return _json_or_error(resp, what)

    def _fetch_sts(self) -> StsToken:
        assert self.sts_url
        return sts_from_mapping(self._get(self.sts_url, {}, "STS"))

    def _need_sts(self, what: str) -> StsCredentials:
        if self._sts is None:
            raise CredentialError(f"AppServerCredentials has no URL for {what} (and no sts_url)",
                                  "MissingCredentials")
        return self._sts

    def create_video(self, params: Mapping[str, Any]) -> UploadTicket:
        if self.create_url:
            return UploadTicket.from_response("video", self._get(self.create_url, params, "create-upload-video"))
        return self._need_sts("create-upload-video").create_video(params)

    def refresh_video(self, video_id: str) -> UploadTicket:
        if self.refresh_url:
            body = self._get(self.refresh_url, {"VideoId": video_id}, "refresh-upload-video")
            return UploadTicket.from_response("video", body)
        return self._need_sts("refresh-upload-video").refresh_video(video_id)

    def create_image(self, params: Mapping[str, Any]) -> UploadTicket:
        if self.image_url:
            return UploadTicket.from_response("image", self._get(self.image_url, params, "create-upload-image"))
        return self._need_sts("create-upload-image").create_image(params)

    def sts_token(self) -> StsToken:
        return self._need_sts("an STS token").sts_token()

    def play_url(self, video_id: str) -> str | None:
        return self._sts.play_url(video_id) if self._sts is not None else None
