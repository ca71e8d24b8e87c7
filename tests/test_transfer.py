"""Transfer engine details: part sizing, error classification, CRC, streaming from disk."""

from __future__ import annotations

import threading

import oss2
import pytest
from conftest import file_md5

from vodwidget.credentials import StsToken, UploadAddress
from vodwidget.errors import (
    CanceledError,
    CredentialError,
    NetworkError,
    ServiceError,
    TokenExpiredError,
)
from vodwidget.transfer import Checkpoint, RetryPolicy, Transfer, choose_part_size, classify

MiB = 1024 * 1024


def test_part_size_keeps_threads_busy_and_fits_10000_parts():
    assert choose_part_size(25 * MiB, 4) == 3_276_800  # 8 parts for 4 threads
    assert choose_part_size(1024 * MiB, 4) == 10 * MiB
    assert choose_part_size(2 * MiB, 4) == 1 * MiB
    huge = 200 * 1024 * MiB
    assert huge / choose_part_size(huge, 4) <= 10_000
    assert choose_part_size(50 * MiB, 4, preferred=5 * MiB) == 5 * MiB
    assert choose_part_size(50 * MiB, 4, preferred=1) == 100 * 1024  # OSS minimum


def test_retry_backoff_is_capped():
    policy = RetryPolicy(count=5, duration=2.0, backoff=2.0, max_delay=10)
    assert [policy.delay(i) for i in range(5)] == [2.0, 4.0, 8.0, 10, 10]


def test_classify_oss_errors():
    def server(status, code):
        return oss2.exceptions.ServerError(status, {"x-oss-request-id": "r"}, b"", {"Code": code, "Message": "m"})

    assert isinstance(classify(server(403, "SecurityTokenExpired"), "op"), TokenExpiredError)
    assert isinstance(classify(server(403, "InvalidAccessKeyId"), "op"), TokenExpiredError)
    assert isinstance(classify(server(403, "AccessDenied"), "op"), CredentialError)
    err = classify(server(503, "ServiceUnavailable"), "op")
    assert isinstance(err, ServiceError) and err.retryable and err.code == "ServiceUnavailable"
    assert not classify(server(400, "InvalidArgument"), "op").retryable
    assert isinstance(classify(oss2.exceptions.InconsistentError("crc", "r"), "op"), NetworkError)
    assert classify(oss2.exceptions.RequestError(ConnectionResetError("reset")), "op").retryable
    assert classify(PermissionError(13, "Permission denied"), "op").code == "FileNotReadable"


def _ticket(svc, key):
    auth = svc.issue_upload_auth(key)
    return StsToken(auth["AccessKeyId"], auth["AccessKeySecret"], auth["SecurityToken"])


def test_multipart_streams_in_parallel_and_checks_crc(local_vod, make_media, object_md5):
    path = make_media("transfer.mp4", 6 * MiB + 123)
    key = "transfer/direct.mp4"
    local_vod.clear_log()
    t = Transfer(str(path), path.stat().st_size, UploadAddress(local_vod.oss_endpoint, local_vod.bucket, key),
                 _ticket(local_vod, key), renew=lambda s: s, part_size=1 * MiB, parallel=3)
    crc = t.run()
    assert crc is not None and crc > 0
    assert sorted(t.sent_parts) == list(range(1, 8))
    assert object_md5(local_vod, key) == file_md5(path)
    head = oss2.Bucket(oss2.Auth(local_vod.access_key_id, local_vod.access_key_secret), local_vod.oss_endpoint,
                       local_vod.bucket).head_object(key)
    assert head.server_crc == crc


def test_resume_with_a_stale_upload_id_starts_a_new_upload(local_vod, make_media, object_md5):
    path = make_media("stale.mp4", 3 * MiB)
    key = "transfer/stale.mp4"
    saved = []
    cp = Checkpoint("no-such-upload-id", 1 * MiB, persist=lambda c: saved.append(c.upload_id))
    t = Transfer(str(path), path.stat().st_size, UploadAddress(local_vod.oss_endpoint, local_vod.bucket, key),
                 _ticket(local_vod, key), renew=lambda s: s, checkpoint=cp, part_size=1 * MiB)
    t.run()
    assert saved and saved[0] != "no-such-upload-id"
    assert object_md5(local_vod, key) == file_md5(path)


def test_renewal_failure_stops_every_thread_with_that_error(local_vod, make_media):
    path = make_media("renewfail.mp4", 3 * MiB)
    key = "transfer/renewfail.mp4"
    calls = []

    def renew(stale):
        calls.append(threading.current_thread().name)
        raise TokenExpiredError("no new token", "SecurityTokenExpired")

    local_vod.set_faults("expire_after_parts=1")
    try:
        t = Transfer(str(path), path.stat().st_size, UploadAddress(local_vod.oss_endpoint, local_vod.bucket, key),
                     _ticket(local_vod, key), renew=renew, part_size=512 * 1024, parallel=3)
        with pytest.raises(TokenExpiredError):
            t.run()
    finally:
        local_vod.set_faults(None)
    assert len(calls) == 1, "one renewal attempt shared by all threads"


def test_cancel_before_start_raises_canceled(local_vod, make_media):
    path = make_media("precancel.mp4", 2 * MiB)
    key = "transfer/precancel.mp4"
    ev = threading.Event()
    ev.set()
    t = Transfer(str(path), path.stat().st_size, UploadAddress(local_vod.oss_endpoint, local_vod.bucket, key),
                 _ticket(local_vod, key), renew=lambda s: s, cancel=ev, part_size=512 * 1024)
    with pytest.raises(CanceledError):
        t.run()


def test_fast_crc64_combine_matches_oss2_and_the_whole_file():
    import os
    import random

    from oss2.utils import Crc64

    from vodwidget.crc64 import combine, combine_all, crc

    rng = random.Random(5)
    datas = [os.urandom(rng.randint(0, 3000)) for _ in range(25)]
    assert combine_all((crc(d), len(d)) for d in datas) == crc(b"".join(datas))
    a, b = rng.getrandbits(64), rng.getrandbits(64)
    assert combine(a, b, 10 * MiB) == Crc64(0).combine(a, b, 10 * MiB)
    assert crc(b"123456789") == 0x995DC9BBDF1939FA  # the CRC-64/XZ check value
