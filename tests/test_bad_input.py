"""Bad input: each case gives a clear error (code + message), loses nothing, and the rest of the
queue still uploads. Add-time problems raise InvalidInputError; run-time ones fail only that file."""

from __future__ import annotations

import base64
import json
import os
import socket

import pytest

from vodwidget import (
    AppServerCredentials,
    CredentialError,
    InvalidInputError,
    OpenApiCredentials,
    StsCredentials,
    VODUpload,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write(tmp_path, name: str, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


# (id, make(tmp_path, make_media) -> (path, add_file kwargs), code, message fragment)
ADD_TIME = [
    ("missing-file", lambda t, m: (t / "nope.mp4", {}), "FileNotFound", "no such file"),
    ("directory", lambda t, m: (t, {}), "NotAFile", "not a regular file"),
    ("empty-file", lambda t, m: (write(t, "empty.mp4", b""), {}), "EmptyFile", "empty"),
    ("text-file", lambda t, m: (write(t, "notes.txt", b"hello world"), {}), "UnsupportedFileType", ".txt"),
    ("no-extension", lambda t, m: (write(t, "blob", os.urandom(600)), {}), "UnsupportedFileType",
     "no extension"),
    ("png-named-mp4", lambda t, m: (write(t, "fake.mp4", PNG), {}), "FileTypeMismatch", "content is PNG"),
    ("noise-named-png", lambda t, m: (write(t, "fake.png", os.urandom(600)), {}), "FileTypeMismatch",
     "not PNG, JPEG or GIF"),
    ("webp-image", lambda t, m: (write(t, "pic.webp", b"RIFF\0\0\0\0WEBPVP8 " + b"\0" * 64), {}),
     "UnsupportedFileType", "WEBP"),
    ("bmp-image", lambda t, m: (write(t, "pic.bmp", b"BM" + b"\0" * 4 + b"\0\0\0\0" + b"\0" * 64), {}),
     "UnsupportedFileType", "BMP"),
    ("user-data-not-json", lambda t, m: (m("u1.mp4"), {"user_data": "{Vod: title}"}), "InvalidUserData",
     "not valid JSON"),
    ("user-data-array", lambda t, m: (m("u2.mp4"), {"user_data": "[1, 2]"}), "InvalidUserData",
     'must be "Vod"'),
    ("user-data-without-vod", lambda t, m: (m("u3.mp4"), {"user_data": '{"Title": "t"}'}), "InvalidUserData",
     'first level of userData must be "Vod"'),
    ("user-data-vod-and-more", lambda t, m: (m("u4.mp4"), {"user_data": '{"Vod": {}, "X": 1}'}),
     "InvalidUserData", "found: Vod, X"),
    ("vod-not-object", lambda t, m: (m("u5.mp4"), {"user_data": '{"Vod": "title"}'}), "InvalidUserData",
     "must be an object"),
    ("unknown-field", lambda t, m: (m("u6.mp4"), {"user_data": '{"Vod": {"Titel": "t"}}'}), "InvalidUserData",
     "unknown field(s) in userData.Vod: Titel"),
    ("cate-id-not-number", lambda t, m: (m("u7.mp4"), {"user_data": {"Vod": {"CateId": "music"}}}),
     "InvalidUserData", "CateId must be a whole number"),
    ("title-too-long", lambda t, m: (m("u8.mp4"), {"user_data": {"Vod": {"Title": "é" * 70}}}),
     "InvalidUserData", "Title is 140 bytes; the limit is 128"),
    ("too-many-tags", lambda t, m: (m("u9.mp4"), {"user_data": {"Vod": {"Tags": [f"t{i}" for i in range(17)]}}}),
     "InvalidUserData", "17 tags; the limit is 16"),
    ("description-too-long", lambda t, m: (m("u10.mp4"), {"user_data": {"Vod": {"Description": "d" * 1025}}}),
     "InvalidUserData", "limit is 1024"),
    ("user-data-wrong-type", lambda t, m: (m("u11.mp4"), {"user_data": 42}), "InvalidUserData",
     "JSON string or a dict"),
    ("title-not-text", lambda t, m: (m("u12.mp4"), {"user_data": {"Vod": {"Title": ["a"]}}}), "InvalidUserData",
     "Title must be text"),
    ("partial-oss-address", lambda t, m: (m("u13.mp4"), {"endpoint": "http://127.0.0.1:1", "bucket": "b"}),
     "InvalidAddress", "together"),
]


@pytest.mark.parametrize("case", ADD_TIME, ids=[c[0] for c in ADD_TIME])
def test_add_time_bad_input_is_rejected_and_the_queue_goes_on(local_vod, make_media, tmp_path, case):
    _, make, code, fragment = case
    up = VODUpload(credentials=local_vod.credentials())
    good = up.add_file(make_media("good-neighbour.png"))
    path, kwargs = make(tmp_path, make_media)
    with pytest.raises(InvalidInputError) as err:
        up.add_file(path, **kwargs)
    assert err.value.code == code
    assert fragment in err.value.message, err.value.message
    assert isinstance(err.value, ValueError)
    assert up.list_files() == [good], "a rejected file queues nothing"
    assert [f.state for f in up.start_upload()] == ["Success"]


def _runtime_cases(svc):
    dead = f"http://127.0.0.1:{_free_port()}"
    return {
        "wrong-secret": (OpenApiCredentials(svc.access_key_id, "wrong-secret-123456", endpoint=svc.vod_endpoint),
                         "SignatureDoesNotMatch", "check the AccessKeySecret"),
        "unknown-key": (OpenApiCredentials("LTAInobody", "whatever-secret-1", endpoint=svc.vod_endpoint),
                        "InvalidAccessKeyId.NotFound", "CreateUploadVideo"),
        "endpoint-down": (OpenApiCredentials(svc.access_key_id, svc.access_key_secret, endpoint=dead),
                          "NetworkError", "failed"),
        "app-server-404": (AppServerCredentials(f"{svc.app_server}/no-such-route",
                                                image_url=f"{svc.app_server}/no-such-route"), "NotFound",
                           "no-such-route"),
        "app-server-down": (AppServerCredentials(f"{dead}/create", image_url=f"{dead}/image"), "NetworkError", "failed"),
        "expired-sts-no-source": (StsCredentials(*_expired_sts(svc), endpoint=svc.vod_endpoint),
                                  "InvalidSecurityToken.Expired", "CreateUploadVideo"),
    }


def _expired_sts(svc):
    old = svc.token_ttl
    svc.token_ttl = 0.01
    try:
        sts = svc.issue_sts()
    finally:
        svc.token_ttl = old
    import time
    time.sleep(0.05)
    return sts["AccessKeyId"], sts["AccessKeySecret"], sts["SecurityToken"]


@pytest.mark.parametrize("name", ["wrong-secret", "unknown-key", "endpoint-down", "app-server-404",
                                  "app-server-down", "expired-sts-no-source"])
def test_bad_credentials_fail_every_file_clearly(local_vod, make_media, name):
    creds, code, fragment = _runtime_cases(local_vod)[name]
    failed = []
    up = VODUpload(credentials=creds, retry_count=1, retry_duration=0.01,
                   on_upload_failed=lambda info, c, m: failed.append((c, m)))
    up.add_file(make_media(f"{name}.mp4"))
    up.add_file(make_media(f"{name}.png"))
    files = up.start_upload()
    assert [f.state for f in files] == ["Failure", "Failure"]
    assert [f.error_code for f in files] == [code, code]
    assert fragment in files[0].error_message, files[0].error_message
    assert len(failed) == 2
    assert local_vod.access_key_secret not in json.dumps([f.as_dict() for f in files])


def test_file_removed_after_add_fails_alone(local_vod, make_media):
    up = VODUpload(credentials=local_vod.credentials())
    gone = make_media("soon-gone.mp4")
    up.add_file(gone)
    good = up.add_file(make_media("stays.mp4"))
    gone.unlink()
    files = up.start_upload()
    assert (files[0].error_code, good.state) == ("FileNotFound", "Success")
    assert "gone" in files[0].error_message


def test_garbage_upload_auth_fails_that_file_at_once(local_vod, make_media):
    holder: list[VODUpload] = []
    raised = []

    def started(info):
        try:
            holder[0].set_upload_auth_and_address(info, "not-base64!", base64.b64encode(b"{}").decode(), "v")
        except CredentialError as exc:
            raised.append(exc.code)

    up = VODUpload(on_upload_started=started, auth_timeout=30, resume_store=False)
    holder.append(up)
    info = up.add_file(make_media("garbage-auth.mp4"))
    up.start_upload()
    assert raised == ["InvalidUploadAuth"]
    assert info.state == "Failure" and info.error_code == "InvalidUploadAuth"
    assert info.seconds is not None and info.seconds < 10, "fails at once, not after auth_timeout"


def test_missing_environment_credentials_say_what_to_set(monkeypatch):
    monkeypatch.delenv("ALIBABA_CLOUD_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", raising=False)
    with pytest.raises(CredentialError, match="ALIBABA_CLOUD_ACCESS_KEY_ID"):
        OpenApiCredentials.from_env()
