"""Public media URLs: Range, content types and CDN type-A auth_key expiry."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import requests

from vodwidget.local import LocalVod


def test_url_auth_key_expires(tmp_path, vod_call, upload_bucket):
    with LocalVod(data_dir=tmp_path / "svc", url_auth_ttl=1) as svc:
        resp = vod_call(svc, "CreateUploadVideo", {"Title": "t", "FileName": "v.mp4"})
        bucket, key = upload_bucket(resp)
        bucket.put_object(key, b"0123456789")
        url = vod_call(svc, "GetPlayInfo", {"VideoId": resp["VideoId"]})["PlayInfoList"]["PlayInfo"][0]["PlayURL"]
        auth_key = parse_qs(urlsplit(url).query)["auth_key"][0]
        ts, rand, uid, digest = auth_key.split("-")
        assert uid == "0" and len(digest) == 32 and abs(int(ts) - time.time()) < 5
        assert requests.get(url, timeout=10).content == b"0123456789"
        assert requests.get(url, headers={"Range": "bytes=2-3"}, timeout=10).content == b"23"
        assert requests.get(url.split("?")[0], timeout=10).status_code == 403
        tampered = url[:-1] + ("0" if url[-1] != "0" else "1")
        assert requests.get(tampered, timeout=10).status_code == 403
        time.sleep(2.1)
        assert requests.get(url, timeout=10).status_code == 403
        fresh = vod_call(svc, "GetPlayInfo", {"VideoId": resp["VideoId"]})["PlayInfoList"]["PlayInfo"][0]["PlayURL"]
        assert requests.get(fresh, timeout=10).status_code == 200


def test_media_head_range_and_unsatisfiable(local_vod, root_bucket):
    root_bucket(local_vod).put_object("media/a.webm", b"x" * 100)
    url = f"{local_vod.vod_endpoint}/_media/{local_vod.bucket}/media/a.webm"
    head = requests.head(url, timeout=10)
    assert head.status_code == 200 and head.headers["Content-Length"] == "100"
    assert head.headers["Content-Type"] == "video/webm"
    assert requests.get(url, headers={"Range": "bytes=90-"}, timeout=10).content == b"x" * 10
    assert requests.get(url, headers={"Range": "bytes=100-"}, timeout=10).status_code == 416
    assert requests.get(url + "-missing", timeout=10).status_code == 404
