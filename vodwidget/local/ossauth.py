"""OSS request signatures as oss2 2.19.1 computes them: V1 (``OSS ak:sig``, HMAC-SHA1, also
presigned URLs) and V4 (``OSS4-HMAC-SHA256``, HMAC-SHA256 with a dated scope).

The server rebuilds the client's string-to-sign from the raw request and compares signatures.

>>> v1_string_to_sign("PUT", {"content-type": "text/plain", "date": "D", "x-oss-meta-a": "1"},
...                   "bkt", "a b.txt", {"partNumber": "1", "uploadId": "U", "max-parts": "9"})
'PUT\\n\\ntext/plain\\nD\\nx-oss-meta-a:1\\n/bkt/a b.txt?partNumber=1&uploadId=U'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import oss2.auth

__all__ = ["AuthInfo", "parse_authorization", "v1_string_to_sign", "v1_signature", "v4_string_to_sign",
           "v4_signature", "SUBRESOURCES"]

# The client decides what is signed; reuse its own list so both sides always agree.
SUBRESOURCES = frozenset(oss2.auth.Auth._subresource_key_set)
_V4_DEFAULT_SIGNED = ("content-type", "content-md5")


@dataclass
class AuthInfo:
    version: str  # "v1", "v4" or "presigned"
    access_key_id: str
    signature: str
    credential_scope: str = ""  # v4: yyyymmdd/region/oss/aliyun_v4_request
    additional_headers: list[str] = field(default_factory=list)


_V4_RE = re.compile(r"^OSS4-HMAC-SHA256\s+(.*)$")


def parse_authorization(value: str) -> AuthInfo | None:
    """Parse an ``Authorization`` header; None if it has neither known form."""
    value = value.strip()
    if value.startswith("OSS "):
        ak, sep, sig = value[4:].rpartition(":")
        return AuthInfo("v1", ak.strip(), sig.strip()) if sep and ak.strip() else None
    m = _V4_RE.match(value)
    if not m:
        return None
    parts: dict[str, str] = {}
    for item in m.group(1).split(","):
        name, _, val = item.strip().partition("=")
        parts[name.strip()] = val.strip()
    cred = parts.get("Credential", "")
    ak, _, scope = cred.partition("/")
    if not ak or not scope or "Signature" not in parts:
        return None
    extra = [h for h in parts.get("AdditionalHeaders", "").split(";") if h]
    return AuthInfo("v4", ak, parts["Signature"], scope, extra)


def _canon_resource(bucket: str, key: str, query: Mapping[str, str]) -> str:
    resource = f"/{bucket}/{key}" if bucket else "/"
    subs = sorted((k, v) for k, v in query.items() if k in SUBRESOURCES)
    if subs:
        resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in subs)
    return resource


def v1_string_to_sign(method: str, headers: Mapping[str, str], bucket: str, key: str,
                      query: Mapping[str, str], date: str | None = None) -> str:
    """``headers`` keys must be lower-case; ``date`` overrides (presigned URLs sign ``Expires``)."""
    if date is None:
        date = headers.get("x-oss-date") or headers.get("date", "")
    canon_headers = "".join(
        f"{k}:{headers[k]}\n" for k in sorted(headers) if k.startswith("x-oss-")
    )
    return (
        f"{method}\n{headers.get('content-md5', '')}\n{headers.get('content-type', '')}\n{date}\n"
        + canon_headers
        + _canon_resource(bucket, key, query)
    )


def v1_signature(secret: str, string_to_sign: str) -> str:
    return base64.b64encode(
        hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha1).digest()
    ).decode()


def _v4_encode(text: str, keep_slash: bool) -> str:
    out = []
    for b in text.encode():
        c = chr(b)
        if c.isascii() and (c.isalnum() or c in "_-~.") or (keep_slash and c == "/"):
            out.append(c)
        else:
            out.append(f"%{b:02X}")
    return "".join(out)


def v4_string_to_sign(method: str, headers: Mapping[str, str], bucket: str, key: str,
                      query: Mapping[str, str], info: AuthInfo) -> str:
    """Canonical request and string-to-sign exactly as oss2's ProviderAuthV4 builds them."""
    uri = _v4_encode(f"/{bucket}/{key}" if bucket else "/", True)
    encoded = sorted((_v4_encode(k, False), _v4_encode(v, False)) for k, v in query.items())
    canon_query = "&".join(f"{k}={v}" if v else k for k, v in encoded)
    extra = sorted(info.additional_headers)
    signed = sorted(
        k for k in headers
        if k.startswith("x-oss-") or k in _V4_DEFAULT_SIGNED or k in extra
    )
    canon_headers = "".join(f"{k}:{headers[k]}\n" for k in signed)
    canonical = "\n".join([
        method, uri, canon_query, canon_headers, ";".join(extra),
        headers.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD"),
    ])
    return "\n".join([
        "OSS4-HMAC-SHA256", headers.get("x-oss-date", ""), info.credential_scope,
        hashlib.sha256(canonical.encode()).hexdigest(),
    ])


def v4_signature(secret: str, scope: str, string_to_sign: str) -> str:
    date, region, product, _terminal = (scope.split("/") + ["", "", "", ""])[:4]
    key = ("aliyun_v4" + secret).encode()
    for piece in (date, region, product, "aliyun_v4_request"):
        key = hmac.new(key, piece.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
