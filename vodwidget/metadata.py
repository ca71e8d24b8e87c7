"""userData: the JSON the SDK takes with each file, whose first level must be ``"Vod"``.

Its fields become parameters of CreateUploadVideo / CreateUploadImage. Everything is checked
before any network call, so a typo fails fast with a sentence that says what to fix.

>>> parse_user_data('{"Vod":{"Title":"t","CateId":"234"}}')
{'Title': 't', 'CateId': '234'}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from vodwidget.errors import InvalidInputError

__all__ = ["parse_user_data", "build_user_data", "video_params", "image_params"]

# Limits as the VOD API documents them (bytes, UTF-8).
_LIMITS = {"Title": 128, "Description": 1024, "Tags": 1024, "CoverURL": 1024}
_STRING_FIELDS = {
    "Title", "Description", "Tags", "CoverURL", "TemplateGroupId", "WorkflowId", "StorageLocation",
    "AppId", "ReferenceId", "ImageType", "EntityId",
}
_INT_FIELDS = {"CateId", "Priority"}
_OTHER_FIELDS = {"UserData", "IsShowWaterMark"}
KNOWN_FIELDS = frozenset(_STRING_FIELDS | _INT_FIELDS | _OTHER_FIELDS)


def _fail(message: str) -> InvalidInputError:
    return InvalidInputError(message, "InvalidUserData")


def parse_user_data(user_data: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate ``user_data`` and return the object under ``"Vod"`` (normalised; may be empty)."""
    if user_data is None or (isinstance(user_data, str) and not user_data.strip()):
        return {}
    if isinstance(user_data, (str, bytes)):
        try:
            data = json.loads(user_data)
        except ValueError as exc:
            raise _fail(f"userData is not valid JSON ({exc.msg} at position {exc.pos}); "
                        'expected e.g. {"Vod": {"Title": "My video"}}') from None
    elif isinstance(user_data, Mapping):
        data = dict(user_data)
    else:
        raise _fail(f"userData must be a JSON string or a dict, not {type(user_data).__name__}")
    if not isinstance(data, dict) or set(data) != {"Vod"}:
        found = ", ".join(sorted(map(str, data))) if isinstance(data, dict) else type(data).__name__
        raise _fail(f'the first level of userData must be "Vod" alone (found: {found or "nothing"}); '
                    'e.g. {"Vod": {"Title": "My video"}}')
    vod = data["Vod"]
    if not isinstance(vod, dict):
        raise _fail('userData "Vod" must be an object, e.g. {"Vod": {"Title": "My video"}}')
    unknown = sorted(set(vod) - KNOWN_FIELDS)
    if unknown:
        raise _fail(f"unknown field(s) in userData.Vod: {', '.join(unknown)}; "
                    f"known fields: {', '.join(sorted(KNOWN_FIELDS))}")
    out: dict[str, Any] = {}
    for key, value in vod.items():
        if value is None or value == "":
            continue
        if key == "Tags" and isinstance(value, (list, tuple)):
            value = ",".join(str(v).strip() for v in value if str(v).strip())
        if key in _INT_FIELDS:
            if isinstance(value, bool) or not str(value).strip().lstrip("-").isdigit():
                raise _fail(f"userData.Vod.{key} must be a whole number, not {value!r}")
            value = str(int(str(value).strip()))
        elif key in _STRING_FIELDS:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise _fail(f"userData.Vod.{key} must be text, not {type(value).__name__}")
            value = str(value)
        limit = _LIMITS.get(key)
        if limit and len(str(value).encode()) > limit:
            raise _fail(f"userData.Vod.{key} is {len(str(value).encode())} bytes; the limit is {limit}")
        out[key] = value
    if "Tags" in out:
        tags = [t for t in out["Tags"].split(",") if t.strip()]
        if len(tags) > 16:
            raise _fail(f"userData.Vod.Tags has {len(tags)} tags; the limit is 16")
    return out


def build_user_data(title: str | None = None, cate_id: int | str | None = None,
                    tags: str | list[str] | None = None, description: str | None = None,
                    **extra: Any) -> dict[str, Any]:
    """The ``{"Vod": {...}}`` object for the common fields, validated.

    >>> build_user_data(title="t", tags=["a", "b"])
    {'Vod': {'Title': 't', 'Tags': 'a,b'}}
    """
    fields = {"Title": title, "CateId": cate_id, "Tags": tags, "Description": description, **extra}
    return {"Vod": parse_user_data({"Vod": {k: v for k, v in fields.items() if v not in (None, "")}})}


def _custom(vod: Mapping[str, Any]) -> str | None:
    custom = vod.get("UserData")
    if custom is None:
        return None
    return custom if isinstance(custom, str) else json.dumps(custom, ensure_ascii=False)


def video_params(vod: Mapping[str, Any], file_name: str, file_size: int, default_title: str) -> dict[str, Any]:
    """CreateUploadVideo parameters for a file."""
    params: dict[str, Any] = {
        "Title": vod.get("Title") or default_title[:128],
        "FileName": file_name,
        "FileSize": file_size,
    }
    for key in ("Description", "CoverURL", "CateId", "Tags", "TemplateGroupId", "WorkflowId",
                "StorageLocation", "AppId", "ReferenceId", "EntityId"):
        if key in vod:
            params[key] = vod[key]
    if _custom(vod):
        params["UserData"] = _custom(vod)
    return params


def image_params(vod: Mapping[str, Any], ext: str, original_name: str, default_title: str) -> dict[str, Any]:
    """CreateUploadImage parameters for a file."""
    params: dict[str, Any] = {
        "ImageType": vod.get("ImageType", "default"),
        "ImageExt": "jpg" if ext == "jpeg" else ext,
        "Title": vod.get("Title") or default_title[:128],
        "OriginalFileName": original_name,
    }
    for key in ("Description", "CateId", "Tags", "StorageLocation", "AppId"):
        if key in vod:
            params[key] = vod[key]
    if _custom(vod):
        params["UserData"] = _custom(vod)
    return params
