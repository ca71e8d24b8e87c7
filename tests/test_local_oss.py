"""OSS subset of the local service, driven by the unmodified oss2 client over real HTTP."""

from __future__ import annotations

import hashlib
import io
import os
import time
from pathlib import Path

import oss2
import pytest
import requests

from vodwidget.local import LocalVod
from vodwidget.local.ossauth import v1_signature, v1_string_to_sign


def _new_video(svc, vod_call, name="clip.mp4") -> dict:
    return vod_call(svc, "CreateUploadVideo", {"Title": "t", "FileName": name})


def test_put_object_with_upload_auth_marks_video_normal(local_vod, vod_call, upload_bucket, root_bucket):
    resp = _new_video(local_vod, vod_call)
    assert local_vod.video(resp["VideoId"])["Status"] == "Uploading"
    bucket, key = upload_bucket(resp)
    data = os.urandom(200_000)
    result = bucket.put_object(key, data)
    assert result.etag == hashlib.md5(data).hexdigest().upper()
    assert result.crc is not None  # oss2 verified x-oss-hash-crc64ecma against its own CRC
    assert root_bucket(local_vod).get_object(key).read() == data
    video = local_vod.video(resp["VideoId"])
    assert video["Status"] == "Normal" and video["Size"] == len(data)


@pytest.mark.slow
def test_resumable_upload_25mib_multipart(local_vod, vod_call, upload_bucket, root_bucket, tmp_path):
    resp = _new_video(local_vod, vod_call)
    bucket, key = upload_bucket(resp)
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(25 << 20))
    local_vod.clear_log()
    oss2.resumable_upload(bucket, key, str(path), store=oss2.ResumableStore(root=str(tmp_path)),
                          multipart_threshold=1 << 20, part_size=1 << 20, num_threads=4)
    ops = [e.op for e in local_vod.request_log]
    assert ops.count("UploadPart") == 25 and ops.count("CompleteMultipartUpload") == 1
    got = hashlib.md5(root_bucket(local_vod).get_object(key).read()).hexdigest()
    assert got == hashlib.md5(path.read_bytes()).hexdigest()
    head = root_bucket(local_vod).head_object(key)
    assert head.object_type == "Multipart" and head.etag.endswith("-25")
    assert local_vod.video(resp["VideoId"])["Status"] == "Normal"


def test_wrong_secret_is_signature_mismatch(local_vod, vod_call):
    _, auth = _auth_of(vod_call, local_vod)
    bad = oss2.Bucket(oss2.StsAuth(auth[0], "wrong-secret", auth[2]), local_vod.oss_endpoint, local_vod.bucket)
    with pytest.raises(oss2.exceptions.SignatureDoesNotMatch):
        bad.put_object(auth[3], b"x")
    root = oss2.Bucket(oss2.Auth(local_vod.access_key_id, "nope"), local_vod.oss_endpoint, local_vod.bucket)
    with pytest.raises(oss2.exceptions.SignatureDoesNotMatch):
        root.get_object("anything")
    unknown = oss2.Bucket(oss2.Auth("LTAIunknown", "nope"), local_vod.oss_endpoint, local_vod.bucket)
    with pytest.raises(oss2.exceptions.ServerError) as exc:
        unknown.get_object("anything")
    assert exc.value.status == 403 and exc.value.code == "InvalidAccessKeyId"


def _auth_of(vod_call, svc):
    import base64
    import json

    resp = _new_video(svc, vod_call)
    auth = json.loads(base64.b64decode(resp["UploadAuth"]))
    key = json.loads(base64.b64decode(resp["UploadAddress"]))["FileName"]
    return resp, (auth["AccessKeyId"], auth["AccessKeySecret"], auth["SecurityToken"], key)


def test_token_used_after_ttl_is_security_token_expired(local_vod, vod_call, upload_bucket):
    local_vod.token_ttl = 1
    try:
        resp = _new_video(local_vod, vod_call)
    finally:
        local_vod.token_ttl = 3000.0
    bucket, key = upload_bucket(resp)
    bucket.put_object(key, b"in time")
    time.sleep(1.2)
    with pytest.raises(oss2.exceptions.ServerError) as exc:
        bucket.put_object(key, b"too late")
    assert exc.value.status == 403 and exc.value.code == "SecurityTokenExpired"
    # A fresh auth for the same video works again (what a client's refresh does).
    fresh = vod_call(local_vod, "RefreshUploadVideo", {"VideoId": resp["VideoId"]})
    bucket2, key2 = upload_bucket(fresh)
    assert key2 == key
    bucket2.put_object(key, b"after refresh")


def test_token_of_another_object_is_denied(local_vod, vod_call, upload_bucket):
    first = _new_video(local_vod, vod_call)
    second = _new_video(local_vod, vod_call)
    bucket, _ = upload_bucket(first)
    _, other_key = upload_bucket(second)
    with pytest.raises(oss2.exceptions.AccessDenied):
        bucket.put_object(other_key, b"x")
    with pytest.raises(oss2.exceptions.AccessDenied):
        bucket.init_multipart_upload(other_key)
    sts = local_vod.issue_sts()  # VOD-scoped STS may not touch OSS at all
    vod_only = oss2.Bucket(oss2.StsAuth(sts["AccessKeyId"], sts["AccessKeySecret"], sts["SecurityToken"]),
                           local_vod.oss_endpoint, local_vod.bucket)
    with pytest.raises(oss2.exceptions.AccessDenied):
        vod_only.put_object(other_key, b"x")


def _all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_traversal_keys_rejected_and_nothing_written_outside(local_vod, root_bucket):
    bucket = root_bucket(local_vod)
    outside = local_vod.data_dir.parent
    before = _all_files(outside)
    for key in ("../../x", "a/../../x", "/abs", "\\win", "a\\..\\..\\x", "nul\0byte", "k" * 1024):
        with pytest.raises(oss2.exceptions.ServerError) as exc:
            bucket.put_object(key, b"evil")
        assert exc.value.status == 400 and exc.value.code == "InvalidObjectName", key
    after = _all_files(outside)
    assert {p for p in after - before if not p.is_relative_to(local_vod.data_dir)} == set()
    assert not any(p.name == "x" for p in after)


def test_keys_with_slashes_spaces_and_unicode_round_trip(local_vod, root_bucket):
    bucket = root_bucket(local_vod)
    key = "dir/a b+ü%2F.txt"
    bucket.put_object(key, b"hello")
    assert bucket.get_object(key).read() == b"hello"
    assert not bucket.object_exists("dir/a b+ü/.txt")


def test_range_get_is_206_with_content_range(local_vod, root_bucket):
    bucket = root_bucket(local_vod)
    data = os.urandom(10_000)
    etag = bucket.put_object("range/obj.bin", data).etag
    result = bucket.get_object("range/obj.bin", byte_range=(100, 199))
    assert result.status == 206 and result.read() == data[100:200]
    assert result.headers["Content-Range"] == "bytes 100-199/10000"
    assert result.etag == etag  # never rewritten by the web framework
    tail = bucket.get_object("range/obj.bin", byte_range=(None, 10))
    assert tail.read() == data[-10:]
    with pytest.raises(oss2.exceptions.ServerError) as exc:
        bucket.get_object("range/obj.bin", byte_range=(20_000, 20_010))
    assert exc.value.status == 416


def test_list_parts_pagination_and_complete_validation(local_vod, root_bucket):
    bucket = root_bucket(local_vod)
    key = "mp/obj.bin"
    upload_id = bucket.init_multipart_upload(key).upload_id
    parts = {}
    for n in (1, 2, 3):
        data = os.urandom(100 * 1024 if n < 3 else 10)
        parts[n] = oss2.models.PartInfo(n, bucket.upload_part(key, upload_id, n, data).etag, size=len(data))
    page = bucket.list_parts(key, upload_id, max_parts=2)
    assert page.is_truncated and page.next_marker == "2" and [p.part_number for p in page.parts] == [1, 2]
    page2 = bucket.list_parts(key, upload_id, marker=page.next_marker, max_parts=2)
    assert not page2.is_truncated and [p.part_number for p in page2.parts] == [3]
    listed = list(oss2.PartIterator(bucket, key, upload_id, max_parts=1))
    assert [(p.part_number, p.etag, p.size) for p in listed] == [(n, p.etag, p.size) for n, p in parts.items()]
    uploads = [u.upload_id for u in oss2.MultipartUploadIterator(bucket, prefix="mp/")]
    assert upload_id in uploads

    def complete_error(plist):
        with pytest.raises(oss2.exceptions.ServerError) as exc:
            # Build the XML by hand: oss2 sorts the list itself, which would hide a bad order.
            body = "<CompleteMultipartUpload>" + "".join(
                f"<Part><PartNumber>{p.part_number}</PartNumber><ETag>\"{p.etag}\"</ETag></Part>" for p in plist
            ) + "</CompleteMultipartUpload>"
            resp = bucket._do("POST", bucket.bucket_name, key, params={"uploadId": upload_id}, data=body)
            resp.read()
        return exc.value.code

    assert complete_error([parts[2], parts[1], parts[3]]) == "InvalidPartOrder"
    assert complete_error([parts[1], oss2.models.PartInfo(2, "0" * 32)]) == "InvalidPart"
    small = os.urandom(10)
    parts[2] = oss2.models.PartInfo(2, bucket.upload_part(key, upload_id, 2, small).etag)
    assert complete_error([parts[1], parts[2], parts[3]]) == "EntityTooSmall"
    bucket.abort_multipart_upload(key, upload_id)
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        bucket.list_parts(key, upload_id)


def test_head_missing_object_is_404(local_vod, root_bucket):
    bucket = root_bucket(local_vod)
    with pytest.raises(oss2.exceptions.NotFound) as exc:
        bucket.head_object("does/not/exist")
    assert exc.value.status == 404 and exc.value.code == "NoSuchKey"
    bucket.put_object("head/x.txt", b"12345")
    head = bucket.head_object("head/x.txt")
    assert head.content_length == 5 and head.content_type == "text/plain"
    bucket.delete_object("head/x.txt")
    assert not bucket.object_exists("head/x.txt")


def test_content_md5_is_checked(local_vod, root_bucket):
    bucket = root_bucket(local_vod)
    with pytest.raises(oss2.exceptions.InvalidDigest):
        bucket.put_object("md5/a", b"abc", headers={"Content-MD5": "not-base64!"})
    with pytest.raises(oss2.exceptions.ServerError) as exc:
        bucket.put_object("md5/a", b"abc", headers={"Content-MD5": oss2.utils.content_md5(b"xyz")})
    assert exc.value.code == "BadDigest"
    bucket.put_object("md5/a", b"abc", headers={"Content-MD5": oss2.utils.content_md5(b"abc")})
    assert bucket.get_object("md5/a").read() == b"abc"


def test_body_that_ends_early_creates_nothing(local_vod, root_bucket):
    bucket = root_bucket(local_vod)

    def cancel(done, total):
        if done > 64 * 1024:
            raise KeyboardInterrupt  # not an Exception: oss2 must not swallow it

    with pytest.raises(KeyboardInterrupt):
        bucket.put_object("short/body", io.BytesIO(os.urandom(4 << 20)), progress_callback=cancel)
    time.sleep(0.3)
    assert not bucket.object_exists("short/body")
    assert list((local_vod.data_dir / "tmp").iterdir()) == []


def test_signature_v4(local_vod):
    auth = oss2.AuthV4(local_vod.access_key_id, local_vod.access_key_secret)
    bucket = oss2.Bucket(auth, local_vod.oss_endpoint, local_vod.bucket, region="cn-shanghai")
    bucket.put_object("v4/a b.txt", b"v4 body")
    assert bucket.get_object("v4/a b.txt").read() == b"v4 body"
    bad = oss2.Bucket(oss2.AuthV4(local_vod.access_key_id, "bad"), local_vod.oss_endpoint,
                      local_vod.bucket, region="cn-shanghai")
    with pytest.raises(oss2.exceptions.SignatureDoesNotMatch):
        bad.get_object("v4/a b.txt")


def test_virtual_hosted_style_and_cors(local_vod, root_bucket):
    root_bucket(local_vod).put_object("vh/key.txt", b"virtual")
    svc = local_vod
    date = oss2.utils.http_date()
    sts = v1_string_to_sign("GET", {"date": date}, svc.bucket, "vh/key.txt", {})
    headers = {"Host": f"{svc.bucket}.oss-cn-shanghai.aliyuncs.com", "Date": date,
               "Authorization": f"OSS {svc.access_key_id}:{v1_signature(svc.access_key_secret, sts)}"}
    resp = requests.get(f"{svc.oss_endpoint}/vh%2Fkey.txt", headers=headers, timeout=10)
    assert resp.status_code == 200 and resp.content == b"virtual"
    pre = requests.options(f"{svc.oss_endpoint}/{svc.bucket}/vh/key.txt", timeout=10, headers={
        "Origin": "http://example.test", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization,x-oss-date"})
    assert pre.status_code == 200 and pre.headers["Access-Control-Allow-Origin"] == "*"
    assert "ETag" in resp.headers["Access-Control-Expose-Headers"]


@pytest.mark.slow
def test_restart_keeps_objects_and_resumes_multipart(tmp_path, vod_call, upload_bucket):
    data_dir = tmp_path / "svc"
    store = oss2.ResumableStore(root=str(tmp_path))
    path = tmp_path / "resume.bin"
    path.write_bytes(os.urandom(12 << 20))
    with LocalVod(data_dir=data_dir) as svc:
        first = {"bucket": svc.bucket, "ak": svc.access_key_id}
        resp = _new_video(svc, vod_call)
        bucket, key = upload_bucket(resp)
        root = oss2.Bucket(oss2.Auth(svc.access_key_id, svc.access_key_secret), svc.oss_endpoint, svc.bucket)
        root.put_object("kept/obj.txt", b"survives restart")

        def stop_after_some(done, total):
            if done >= 4 << 20:
                raise RuntimeError("interrupted")

        with pytest.raises(RuntimeError, match="interrupted"):
            oss2.resumable_upload(bucket, key, str(path), store=store, multipart_threshold=1 << 20,
                                  part_size=1 << 20, num_threads=1, progress_callback=stop_after_some)
        uploaded_before = sum(e.op == "UploadPart" and e.status == 200 for e in svc.request_log)
    assert 0 < uploaded_before < 12
    with LocalVod(data_dir=data_dir) as svc2:
        assert (svc2.bucket, svc2.access_key_id) == (first["bucket"], first["ak"])
        root2 = oss2.Bucket(oss2.Auth(svc2.access_key_id, svc2.access_key_secret), svc2.oss_endpoint, svc2.bucket)
        assert root2.get_object("kept/obj.txt").read() == b"survives restart"
        fresh = vod_call(svc2, "RefreshUploadVideo", {"VideoId": resp["VideoId"]})
        bucket2, key2 = upload_bucket(fresh)
        assert key2 == key
        oss2.resumable_upload(bucket2, key, str(path), store=store, multipart_threshold=1 << 20,
                              part_size=1 << 20, num_threads=2)
        ops = [e.op for e in svc2.request_log]
        assert "InitiateMultipartUpload" not in ops
        assert ops.count("UploadPart") == 12 - uploaded_before
        assert hashlib.md5(root2.get_object(key).read()).digest() == hashlib.md5(path.read_bytes()).digest()
        assert svc2.video(resp["VideoId"])["Status"] == "Normal"
