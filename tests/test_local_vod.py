"""VOD OpenAPI subset of the local service, driven by unmodified aliyunsdkcore + aliyunsdkvod."""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient

from vodwidget.openapi import sign


def _tiny_mp4(path, seconds: int = 1) -> bytes:
    """A real H.264 file (64x48) so the service's PyAV probe has something to read."""
    av = pytest.importorskip("av")
    import numpy as np

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(10 * seconds):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 20 % 255, dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path.read_bytes()


def _server_error(fn) -> ServerException:
    with pytest.raises(ServerException) as exc:
        fn()
    return exc.value


def test_create_upload_get_info_and_play(local_vod, vod_call, upload_bucket, tmp_path):
    data = _tiny_mp4(tmp_path / "clip.mp4")
    resp = vod_call(local_vod, "CreateUploadVideo", {
        "Title": "my video", "FileName": "a b*~.mp4", "FileSize": len(data), "CateId": 7,
        "Tags": "x,y", "Description": "d", "UserData": '{"k": 1}'})
    assert set(resp) == {"RequestId", "VideoId", "UploadAddress", "UploadAuth"}
    err = _server_error(lambda: vod_call(local_vod, "GetPlayInfo", {"VideoId": resp["VideoId"]}))
    assert err.get_error_code() == "InvalidVideo.NoneStream"
    bucket, key = upload_bucket(resp)
    assert key.startswith("sv/") and key.endswith(".mp4")
    bucket.put_object(key, data)
    video = vod_call(local_vod, "GetVideoInfo", {"VideoId": resp["VideoId"]})["Video"]
    assert video["Status"] == "Normal" and video["Title"] == "my video" and video["CateId"] == 7
    assert video["Size"] == len(data) and video["Tags"] == "x,y" and video["StorageLocation"]
    assert 0.5 < video["Duration"] < 2 and local_vod.video(resp["VideoId"])["Width"] == 64
    play = vod_call(local_vod, "GetPlayInfo", {"VideoId": resp["VideoId"]})
    info = play["PlayInfoList"]["PlayInfo"][0]
    assert info["Definition"] == "OD" and info["StreamType"] == "video" and info["Format"] == "mp4"
    assert play["VideoBase"]["Status"] == "Normal" and info["Width"] == 64 and info["Height"] == 48
    got = requests.get(info["PlayURL"], timeout=10)
    assert got.status_code == 200 and hashlib.md5(got.content).digest() == hashlib.md5(data).digest()
    assert got.headers["Content-Type"] == "video/mp4" and got.headers["Accept-Ranges"] == "bytes"
    part = requests.get(info["PlayURL"], headers={"Range": "bytes=4-11"}, timeout=10)
    assert part.status_code == 206 and part.content == data[4:12]
    assert part.headers["Content-Range"] == f"bytes 4-11/{len(data)}"


def test_refresh_returns_same_key_new_credentials(local_vod, vod_call, upload_bucket):
    resp = vod_call(local_vod, "CreateUploadVideo", {"Title": "t", "FileName": "x.mov"})
    again = vod_call(local_vod, "RefreshUploadVideo", {"VideoId": resp["VideoId"]})
    assert again["VideoId"] == resp["VideoId"] and again["UploadAddress"] == resp["UploadAddress"]
    assert again["UploadAuth"] != resp["UploadAuth"]
    bucket, key = upload_bucket(again)
    bucket.put_object(key, b"refreshed")


def test_create_upload_image_and_delete(local_vod, vod_call, upload_bucket):
    resp = vod_call(local_vod, "CreateUploadImage", {"ImageType": "cover", "ImageExt": "png", "Title": "pic"})
    assert {"ImageId", "ImageURL", "FileURL", "UploadAddress", "UploadAuth"} <= set(resp)
    bucket, key = upload_bucket(resp)
    assert key.startswith("image/default/") and key.endswith("-6-2.png")
    bucket.put_object(key, b"\x89PNG fake image")
    got = requests.get(resp["ImageURL"], timeout=10)
    assert got.status_code == 200 and got.content == b"\x89PNG fake image"
    assert got.headers["Content-Type"] == "image/png"
    info = vod_call(local_vod, "GetImageInfo", {"ImageId": resp["ImageId"]})["ImageInfo"]
    assert info["Status"] == "Normal" and info["ImageType"] == "cover" and info["Title"] == "pic"
    assert info["Mezzanine"]["FileSize"] == 15
    vod_call(local_vod, "DeleteImage", {"DeleteImageType": "ImageURL", "ImageURLs": resp["ImageURL"]})
    err = _server_error(lambda: vod_call(local_vod, "GetImageInfo", {"ImageId": resp["ImageId"]}))
    assert (err.get_error_code(), err.get_http_status()) == ("InvalidImage.NotFound", 404)
    assert requests.get(resp["ImageURL"], timeout=10).status_code == 404
    other = vod_call(local_vod, "CreateUploadImage", {"ImageType": "default"})
    vod_call(local_vod, "DeleteImage", {"DeleteImageType": "ImageId", "ImageIds": other["ImageId"]})
    assert local_vod.image(other["ImageId"]) is None


def test_wrong_secret_and_unknown_key(local_vod, vod_call):
    bad = AcsClient(local_vod.access_key_id, "wrong-secret", "cn-shanghai")
    err = _server_error(lambda: vod_call(local_vod, "GetVideoInfo", {"VideoId": "x"}, client=bad))
    assert err.get_error_code() in ("InvalidAccessKeySecret", "SignatureDoesNotMatch")
    assert err.get_http_status() == 400
    unknown = AcsClient("LTAInobody", "s", "cn-shanghai")
    err = _server_error(lambda: vod_call(local_vod, "GetVideoInfo", {"VideoId": "x"}, client=unknown))
    assert (err.get_error_code(), err.get_http_status()) == ("InvalidAccessKeyId.NotFound", 404)


def test_delete_video_then_refresh_is_not_found(local_vod, vod_call, upload_bucket, root_bucket):
    resp = vod_call(local_vod, "CreateUploadVideo", {"Title": "t", "FileName": "gone.mp4"})
    bucket, key = upload_bucket(resp)
    bucket.put_object(key, b"soon gone")
    out = vod_call(local_vod, "DeleteVideo", {"VideoIds": f"{resp['VideoId']},{'0' * 32}"})
    assert out["NonExistVideoIds"] == ["0" * 32]
    err = _server_error(lambda: vod_call(local_vod, "RefreshUploadVideo", {"VideoId": resp["VideoId"]}))
    assert (err.get_error_code(), err.get_http_status()) == ("InvalidVideo.NotFound", 404)
    assert not root_bucket(local_vod).object_exists(key)


def test_missing_and_invalid_parameters(local_vod, vod_call):
    err = _server_error(lambda: vod_call(local_vod, "CreateUploadVideo", {"FileName": "a.mp4"}))
    assert err.get_error_code() == "MissingParameter" and "Title" in err.get_error_msg()
    err = _server_error(lambda: vod_call(local_vod, "CreateUploadVideo", {"Title": "t", "FileName": "noext"}))
    assert (err.get_error_code(), err.get_http_status()) == ("InvalidParameter", 400)
    err = _server_error(lambda: vod_call(local_vod, "GetVideoInfo", {}))
    assert err.get_error_code() == "MissingParameter" and "VideoId" in err.get_error_msg()


def test_sts_credentials_work_and_expire(local_vod, vod_call, upload_bucket):
    sts = local_vod.issue_sts()
    assert sts["AccessKeyId"].startswith("STS.") and sts["Expiration"].endswith("Z")
    client = AcsClient(region_id="cn-shanghai", credential=StsTokenCredential(
        sts["AccessKeyId"], sts["AccessKeySecret"], sts["SecurityToken"]))
    resp = vod_call(local_vod, "CreateUploadVideo", {"Title": "t", "FileName": "s.mp4"}, client=client)
    assert vod_call(local_vod, "GetVideoInfo", {"VideoId": resp["VideoId"]}, client=client)["Video"]["Status"] == "Uploading"
    wrong = AcsClient(region_id="cn-shanghai", credential=StsTokenCredential(
        sts["AccessKeyId"], sts["AccessKeySecret"], local_vod.issue_sts()["SecurityToken"]))
    err = _server_error(lambda: vod_call(local_vod, "GetVideoInfo", {"VideoId": "x"}, client=wrong))
    assert err.get_error_code() == "InvalidSecurityToken.MismatchWithAccessKey"
    # An UploadAuth is an STS key for one object: not for the VOD API.
    import base64
    import json

    auth = json.loads(base64.b64decode(resp["UploadAuth"]))
    upload_only = AcsClient(region_id="cn-shanghai", credential=StsTokenCredential(
        auth["AccessKeyId"], auth["AccessKeySecret"], auth["SecurityToken"]))
    err = _server_error(lambda: vod_call(local_vod, "GetVideoInfo", {"VideoId": resp["VideoId"]}, client=upload_only))
    assert (err.get_error_code(), err.get_http_status()) == ("Forbidden.RAM", 403)
    local_vod.token_ttl = 1
    try:
        short = local_vod.issue_sts()
    finally:
        local_vod.token_ttl = 3000.0
    time.sleep(1.2)
    expired = AcsClient(region_id="cn-shanghai", credential=StsTokenCredential(
        short["AccessKeyId"], short["AccessKeySecret"], short["SecurityToken"]))
    err = _server_error(lambda: vod_call(local_vod, "GetVideoInfo", {"VideoId": "x"}, client=expired))
    assert (err.get_error_code(), err.get_http_status()) == ("InvalidSecurityToken.Expired", 400)


def _signed(svc, action, params, method="POST", **overrides):
    full = {"Action": action, "Version": "2017-03-21", "Format": "JSON", "RegionId": "cn-shanghai",
            "AccessKeyId": svc.access_key_id, "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
            "SignatureType": "", "SignatureNonce": uuid.uuid4().hex,
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), **params, **overrides}
    full["Signature"] = sign(method, full, svc.access_key_secret)
    return full


def test_nonce_replay_and_timestamps(local_vod):
    url = local_vod.vod_endpoint + "/"
    params = _signed(local_vod, "CreateUploadImage", {"ImageType": "default"})
    assert requests.post(url, params=params, timeout=10).status_code == 200
    replay = requests.post(url, params=params, timeout=10)
    assert (replay.status_code, replay.json()["Code"]) == (400, "SignatureNonceUsed")
    old = (datetime.now(UTC) - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = requests.post(url, params=_signed(local_vod, "GetVideoInfo", {"VideoId": "x"}, Timestamp=old), timeout=10)
    assert (r.status_code, r.json()["Code"]) == (400, "InvalidTimeStamp.Expired")
    r = requests.post(url, params=_signed(local_vod, "GetVideoInfo", {"VideoId": "x"}, Timestamp="yesterday"), timeout=10)
    assert (r.status_code, r.json()["Code"]) == (400, "InvalidTimeStamp.Format")
    body = r.json()
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}


def test_get_method_and_form_body(local_vod, vod_call):
    resp = vod_call(local_vod, "CreateUploadVideo", {"Title": "via get", "FileName": "g.mp4"}, method="GET")
    assert vod_call(local_vod, "GetVideoInfo", {"VideoId": resp["VideoId"]}, method="GET")["Video"]["Title"] == "via get"
    form = _signed(local_vod, "GetVideoInfo", {"VideoId": resp["VideoId"]})
    r = requests.post(local_vod.vod_endpoint + "/", data=form, timeout=10)
    assert r.status_code == 200 and r.json()["Video"]["VideoId"] == resp["VideoId"]
    tampered = dict(form, VideoId="other", SignatureNonce=uuid.uuid4().hex)
    r = requests.get(local_vod.vod_endpoint + "/", params=tampered, timeout=10)
    assert r.json()["Code"] == "SignatureDoesNotMatch"
    assert r.json()["Message"].startswith("Specified signature is not matched with our calculation. server string to sign is:GET&%2F&")
