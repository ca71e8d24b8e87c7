"""The demo AppServer (/_app/...) and the admin endpoints, over real HTTP with requests."""

from __future__ import annotations

import base64
import json

import oss2
import requests
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient


def test_create_and_refresh_upload_video(local_vod, upload_bucket):
    app = local_vod.app_server
    created = requests.post(f"{app}/create-upload-video", json={
        "Title": "from app", "FileName": "c.mp4", "FileSize": 3, "CateId": 1, "Tags": "a",
        "UserData": {"x": 1}}, timeout=10)
    assert created.status_code == 200
    body = created.json()
    assert {"VideoId", "UploadAddress", "UploadAuth", "RequestId"} <= set(body)
    assert json.loads(base64.b64decode(body["UploadAuth"]))["AccessKeyId"].startswith("STS.")
    bucket, key = upload_bucket(body)
    bucket.put_object(key, b"abc")
    assert local_vod.video(body["VideoId"])["Status"] == "Normal"
    assert local_vod.video(body["VideoId"])["UserData"] == '{"x": 1}'
    refreshed = requests.get(f"{app}/refresh-upload-video", params={"videoId": body["VideoId"]}, timeout=10)
    assert refreshed.status_code == 200 and refreshed.json()["UploadAddress"] == body["UploadAddress"]
    gone = requests.post(f"{app}/refresh-upload-video", data={"VideoId": "0" * 32}, timeout=10)
    assert gone.status_code == 404
    assert gone.json()["Code"] == "InvalidVideo.NotFound" and gone.json()["RequestId"]


def test_create_upload_image_and_errors(local_vod, upload_bucket):
    app = local_vod.app_server
    r = requests.get(f"{app}/create-upload-image", params={"ImageType": "default", "ImageExt": "jpg"}, timeout=10)
    body = r.json()
    assert {"ImageId", "ImageURL", "FileURL", "UploadAddress", "UploadAuth"} <= set(body)
    bucket, key = upload_bucket(body)
    bucket.put_object(key, b"jpeg bytes")
    assert requests.get(body["ImageURL"], timeout=10).content == b"jpeg bytes"
    bad = requests.post(f"{app}/create-upload-video", json={"Title": "t"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["Code"] == "MissingParameter"
    assert requests.get(f"{app}/nope", timeout=10).status_code == 404


def test_sts_endpoint_gives_vod_scoped_token(local_vod, vod_call):
    info = requests.get(f"{local_vod.app_server}/sts", timeout=10).json()["SecurityTokenInfo"]
    assert set(info) == {"AccessKeyId", "AccessKeySecret", "SecretToken", "Expiration"}
    assert info["Expiration"].endswith("Z")
    client = AcsClient(region_id="cn-shanghai", credential=StsTokenCredential(
        info["AccessKeyId"], info["AccessKeySecret"], info["SecretToken"]))
    resp = vod_call(local_vod, "CreateUploadVideo", {"Title": "t", "FileName": "s.mp4"}, client=client)
    assert vod_call(local_vod, "GetVideoInfo", {"VideoId": resp["VideoId"]}, client=client)["Video"]["Title"] == "t"
    bucket = oss2.Bucket(oss2.StsAuth(info["AccessKeyId"], info["AccessKeySecret"], info["SecretToken"]),
                         local_vod.oss_endpoint, local_vod.bucket)
    try:
        bucket.put_object("direct.bin", b"x")
        raise AssertionError("a VOD-scoped token wrote to OSS")
    except oss2.exceptions.AccessDenied:
        pass


def test_admin_info_has_no_secrets(local_vod):
    r = requests.get(f"{local_vod.vod_endpoint}/_admin/info", timeout=10)
    info = r.json()
    assert info["bucket"] == local_vod.bucket and info["region"] == "cn-shanghai"
    assert info["vod_endpoint"] == local_vod.vod_endpoint and info["pid"] > 0
    assert local_vod.access_key_secret not in r.text
    assert local_vod.request_log[-1].op == "admin:info"
