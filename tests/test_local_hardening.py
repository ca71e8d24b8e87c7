"""The local service refuses replays, keeps secrets out of its log, and survives racing Completes."""

from __future__ import annotations

import concurrent.futures as cf
import os

import oss2
import requests

from vodwidget.openapi import VodApiClient


def _root_bucket(svc):
    return oss2.Bucket(oss2.Auth(svc.access_key_id, svc.access_key_secret), svc.oss_endpoint, svc.bucket)


def test_signed_request_without_a_date_is_refused(local_vod):
    """Signed over an empty date line and sent without Date: valid signature, but replayable
    forever - so it must be refused."""
    import base64
    import hashlib
    import hmac

    bucket = _root_bucket(local_vod)
    bucket.put_object("hardening/dated.txt", b"x")
    resource = f"/{local_vod.bucket}/hardening/dated.txt"
    sig = base64.b64encode(hmac.new(local_vod.access_key_secret.encode(), f"GET\n\n\n\n{resource}".encode(),
                                    hashlib.sha1).digest()).decode()
    r = requests.get(f"{local_vod.oss_endpoint}{resource}", timeout=10,
                     headers={"Authorization": f"OSS {local_vod.access_key_id}:{sig}"})
    assert r.status_code == 403 and b"AccessDenied" in r.content, r.content
    assert bucket.get_object("hardening/dated.txt").read() == b"x"  # a dated request still works


def test_v4_request_with_an_old_date_is_refused(local_vod, monkeypatch):
    import datetime as dt

    import pytest

    auth = oss2.AuthV4(local_vod.access_key_id, local_vod.access_key_secret)
    bucket = oss2.Bucket(auth, local_vod.oss_endpoint, local_vod.bucket, region=local_vod.region)
    bucket.put_object("hardening/v4.txt", b"v4")
    assert bucket.get_object("hardening/v4.txt").read() == b"v4"

    class Then(dt.datetime):  # the client's clock, set back: a captured request replayed later
        @classmethod
        def utcnow(cls):
            return dt.datetime(2020, 1, 1)

    monkeypatch.setattr(oss2.auth, "datetime", Then)
    with pytest.raises(oss2.exceptions.ServerError) as err:
        bucket.get_object("hardening/v4.txt")
    assert err.value.status == 403 and err.value.code == "RequestTimeTooSkewed"


def test_request_log_keeps_no_secret(local_vod):
    sts = local_vod.issue_sts()
    client = VodApiClient(sts["AccessKeyId"], sts["AccessKeySecret"], sts["SecurityToken"],
                          endpoint=local_vod.vod_endpoint)
    local_vod.clear_log()
    client.call("CreateUploadVideo", {"Title": "t", "FileName": "a.mp4"})
    text = repr(local_vod.request_log)
    assert sts["SecurityToken"] not in text and "'Signature': '***'" in text


def test_admin_refuses_cross_site_simple_posts(local_vod):
    r = requests.post(f"{local_vod.vod_endpoint}/_admin/faults", data='{"spec": "503=1"}',
                      headers={"Content-Type": "text/plain", "Origin": "http://evil.example"}, timeout=10)
    assert r.status_code == 415 and "Access-Control-Allow-Origin" not in r.headers
    assert requests.get(f"{local_vod.vod_endpoint}/_admin/faults", timeout=10).json()["spec"] == ""


def test_racing_completes_and_abort_never_break_the_object(local_vod):
    bucket = _root_bucket(local_vod)
    key = "hardening/race.bin"
    parts_data = [os.urandom(3 * 1024 * 1024) for _ in range(4)]
    upload_id = bucket.init_multipart_upload(key).upload_id
    parts = [oss2.models.PartInfo(n + 1, bucket.upload_part(key, upload_id, n + 1, d).etag)
             for n, d in enumerate(parts_data)]

    def complete():
        try:
            return bucket.complete_multipart_upload(key, upload_id, parts).status
        except oss2.exceptions.OssError as exc:
            return (exc.status, exc.code)

    def abort():
        try:
            return bucket.abort_multipart_upload(key, upload_id).status
        except oss2.exceptions.OssError as exc:
            return (exc.status, exc.code)

    with cf.ThreadPoolExecutor(3) as pool:
        results = [f.result() for f in [pool.submit(complete), pool.submit(complete), pool.submit(abort)]]
    assert 200 in results
    assert all(r == 200 or r == (404, "NoSuchUpload") for r in results), results
    assert bucket.get_object(key).read() == b"".join(parts_data)
    assert not list((local_vod.data_dir / "tmp").glob("complete-*"))
