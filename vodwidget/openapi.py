"""ApsaraVideo VOD OpenAPI: POP RPC signing (HMAC-SHA1, signature version 1.0) and a small client.

The same signing code serves the client (:class:`VodApiClient`) and the local service's verifier,
so both agree by construction; the local service is additionally tested against Alibaba's own SDK.

>>> params = {"Action": "GetVideoInfo", "VideoId": "v1"}
>>> string_to_sign("GET", params).startswith("GET&%2F&Action%3DGetVideoInfo")
True
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

import requests

from vodwidget.errors import (
    CredentialError,
    NetworkError,
    NotFoundError,
    ServiceError,
    TokenExpiredError,
)
from vodwidget.redact import get_logger, register_secret

__all__ = ["percent_encode", "string_to_sign", "sign", "VodApiClient", "API_VERSION"]

API_VERSION = "2017-03-21"
log = get_logger(__name__)


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as POP expects: only ``A-Z a-z 0-9 - _ . ~`` stay literal."""
    return quote(str(value), safe="~")


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    """``METHOD&%2F&<encoded canonical query>`` over every parameter except ``Signature``."""
    canonical = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}"
        for k, v in sorted(params.items())
        if k != "Signature"
    )
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical)}"


def sign(method: str, params: Mapping[str, str], access_key_secret: str) -> str:
    """Base64 HMAC-SHA1 of :func:`string_to_sign`, keyed with ``secret + "&"``."""
    digest = hmac.new(
        (access_key_secret + "&").encode(), string_to_sign(method, params).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode()


# Codes that mean "these credentials are no longer good"; a refresh may help.
_EXPIRED_CODES = {"InvalidSecurityToken.Expired", "SecurityTokenExpired", "InvalidAccessKeyId.Expired"}
_CREDENTIAL_CODES = {
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId.NotFound",
    "InvalidAccessKeyId.Inactive",
    "InvalidAccessKeySecret",
    "InvalidSecurityToken.MismatchWithAccessKey",
    "InvalidSecurityToken.Malformed",
    "Forbidden.RAM",
    "Forbidden",
}
# Server-side conditions worth another try.
_RETRYABLE_CODES = {"Throttling", "Throttling.User", "ServiceUnavailable", "InternalError"}


class VodApiClient:
    """Signs and sends VOD OpenAPI calls with an AccessKey or an STS triple.

    >>> client = VodApiClient("id", "secret", endpoint="http://127.0.0.1:1")
    >>> client.endpoint
    'http://127.0.0.1:1'
    """

    def __init__(
        self,
        access_key_id: str,
        access_key_secret: str,
        security_token: str | None = None,
        *,
        region: str = "cn-shanghai",
        endpoint: str | None = None,
        timeout: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        register_secret(access_key_secret)
        register_secret(security_token)
        self.access_key_id = access_key_id
        self._secret = access_key_secret
        self._token = security_token
        self.region = region
        self.endpoint = (endpoint or default_endpoint(region)).rstrip("/")
        if "://" not in self.endpoint:
            self.endpoint = "http://" + self.endpoint
        self.timeout = timeout
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"VodApiClient(access_key_id={self.access_key_id!r}, endpoint={self.endpoint!r})"

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_session", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._session = requests.Session()
        register_secret(self._secret)
        register_secret(self._token)

    def signed_params(self, action: str, params: Mapping[str, object], method: str = "POST") -> dict[str, str]:
        """The full, signed parameter set for ``action`` (what goes on the query string)."""
        full: dict[str, str] = {
            "Action": action,
            "Version": API_VERSION,
            "Format": "JSON",
            "RegionId": self.region,
            "AccessKeyId": self.access_key_id,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
            "SignatureNonce": uuid.uuid4().hex,
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if self._token:
            full["SecurityToken"] = self._token
        for key, value in params.items():
            if value is None:
                continue
            full[key] = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        full["Signature"] = sign(method, full, self._secret)
        return full

    def call(self, action: str, params: Mapping[str, object] | None = None) -> dict:
        """POST ``action`` and return the decoded JSON body, or raise a :mod:`vodwidget.errors` error."""
        query = self.signed_params(action, params or {}, "POST")
        try:
            resp = self._session.post(self.endpoint + "/", params=query, timeout=self.timeout)
        except requests.RequestException as exc:
            raise NetworkError(f"{action} to {self.endpoint} failed: {type(exc).__name__}: {exc}") from None
        try:
            body = resp.json()
        except ValueError:
            raise ServiceError(
                f"{action}: the service answered HTTP {resp.status_code} with a body that is not JSON",
                "MalformedResponse",
                status=resp.status_code,
                retryable=resp.status_code >= 500,
            ) from None
        if not isinstance(body, dict):
            raise ServiceError(f"{action}: unexpected JSON body", "MalformedResponse", status=resp.status_code)
        if 200 <= resp.status_code < 300:
            return body
        raise error_from_response(action, resp.status_code, body)


def error_from_response(action: str, status: int, body: Mapping) -> ServiceError | CredentialError:
    """Map a POP error body to the right exception class."""
    code = str(body.get("Code") or "SDK.UnknownServerError")
    message = str(body.get("Message") or "")
    if code == "SignatureDoesNotMatch":
        # The service appends its string-to-sign; that is noise for a person.
        message = message.split(". server string to sign", 1)[0].split(":", 1)[0].rstrip(".") + \
            "; check the AccessKeySecret"
    request_id = body.get("RequestId")
    text = f"{action}: {message}"
    if code in _EXPIRED_CODES:
        return TokenExpiredError(text, code, status=status, request_id=request_id)
    if code in _CREDENTIAL_CODES:
        return CredentialError(text, code, status=status, request_id=request_id)
    if code.endswith(".NotFound"):
        return NotFoundError(text, code, status=status, request_id=request_id)
    retryable = status >= 500 or code in _RETRYABLE_CODES
    return ServiceError(text, code, status=status, request_id=request_id, retryable=retryable)


_REGIONAL = {"cn-shanghai", "cn-hangzhou", "cn-shenzhen", "cn-beijing"}


def default_endpoint(region: str) -> str:
    """The public VOD endpoint for ``region`` (what aliyunsdkcore resolves)."""
    if region in _REGIONAL:
        return "https://vod.cn-shanghai.aliyuncs.com"
    if region in {"ap-southeast-1", "eu-central-1", "ap-northeast-1", "ap-south-1", "us-west-1", "eu-west-1"}:
        return f"https://vod.{region}.aliyuncs.com"
    return "https://vod.aliyuncs.com"
