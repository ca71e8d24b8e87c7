"""Seeded fault injection: resets, 503s, delays and tokens that expire after N parts."""

from __future__ import annotations

import time
from collections.abc import Iterator

import oss2
import pytest
import requests
from aliyunsdkcore.acs_exception.exceptions import ServerException

from vodwidget.local import LocalVod


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalVod]:
    with LocalVod(data_dir=tmp_path_factory.mktemp("faults")) as s:
        yield s


@pytest.fixture(autouse=True)
def _no_faults_after(svc):
    yield
    svc.set_faults(None)


def test_reset_drops_connection_and_stores_nothing(svc, root_bucket):
    bucket = root_bucket(svc)
    svc.set_faults("reset=1", seed=1)
    with pytest.raises(oss2.exceptions.RequestError):
        bucket.put_object("reset/obj", b"y" * (256 * 1024))
    assert svc.fault_log == [(1, "PutObject", "reset")]
    svc.set_faults(None)
    assert not bucket.object_exists("reset/obj")
    assert [e.status for e in svc.request_log if e.op == "PutObject"][-1] == 0


def test_503_is_a_server_error_for_oss2_and_the_sdk(svc, root_bucket, vod_call):
    bucket = root_bucket(svc)
    svc.set_faults("503=1")
    with pytest.raises(oss2.exceptions.ServerError) as exc:
        bucket.put_object("e503/obj", b"z")
    assert exc.value.status == 503 and exc.value.code == "ServiceUnavailable"
    # Default scope is OSS only: the VOD API still answers.
    vod_call(svc, "CreateUploadImage", {"ImageType": "default"})
    svc.set_faults("503=1,scope=vod")
    with pytest.raises(ServerException) as err:
        vod_call(svc, "CreateUploadImage", {"ImageType": "default"})
    assert err.value.get_http_status() == 503 and err.value.get_error_code() == "ServiceUnavailable"
    bucket.put_object("e503/obj", b"z")  # OSS is out of scope now


def _run(svc, bucket, seed: int) -> list[str]:
    svc.set_faults("reset=0.2,503=0.2,slow=0.2,delay=0.01", seed=seed)
    for _ in range(25):
        try:
            bucket.head_object("seq/obj")
        except (oss2.exceptions.RequestError, oss2.exceptions.ServerError):
            pass
    return [decision for _, _, decision in svc.fault_log]


def test_same_seed_same_decisions(svc, root_bucket):
    bucket = root_bucket(svc)
    bucket.put_object("seq/obj", b"s")
    first = _run(svc, bucket, 7)
    second = _run(svc, bucket, 7)
    assert first == second and len(first) == 25
    assert {"reset", "503", "slow", "ok"} <= set(first)
    assert _run(svc, bucket, 8) != first


def test_slow_delays_the_answer(svc, root_bucket):
    bucket = root_bucket(svc)
    bucket.put_object("slow/obj", b"s")
    svc.set_faults("slow=1,delay=0.5")
    t0 = time.monotonic()
    bucket.get_object("slow/obj").read()
    assert time.monotonic() - t0 >= 0.5


def test_token_expires_after_n_parts(svc, vod_call, upload_bucket):
    svc.set_faults("expire_after_parts=2")
    resp = vod_call(svc, "CreateUploadVideo", {"Title": "t", "FileName": "p.mp4"})
    bucket, key = upload_bucket(resp)
    upload_id = bucket.init_multipart_upload(key).upload_id
    part = b"p" * (100 * 1024)
    etags = [bucket.upload_part(key, upload_id, n, part).etag for n in (1, 2)]
    with pytest.raises(oss2.exceptions.ServerError) as exc:
        bucket.upload_part(key, upload_id, 3, part)
    assert exc.value.status == 403 and exc.value.code == "SecurityTokenExpired"
    fresh, _ = upload_bucket(vod_call(svc, "RefreshUploadVideo", {"VideoId": resp["VideoId"]}))
    etags.append(fresh.upload_part(key, upload_id, 3, part).etag)
    fresh.complete_multipart_upload(key, upload_id, [oss2.models.PartInfo(n + 1, e) for n, e in enumerate(etags)])
    assert svc.video(resp["VideoId"])["Status"] == "Normal"


def test_admin_faults_endpoint(svc):
    url = f"{svc.vod_endpoint}/_admin/faults"
    r = requests.post(url, json={"spec": "503=0.5,scope=all", "seed": 3}, timeout=10)
    assert r.status_code == 200 and r.json()["spec"].startswith("reset=0,503=0.5")
    assert svc.faults.seed == 3 and requests.get(url, timeout=10).json()["seed"] == 3
    assert requests.put(url, json={"spec": "bogus=1"}, timeout=10).status_code == 400
    assert requests.post(url, json={"spec": ""}, timeout=10).json()["spec"] == ""
    with pytest.raises(ValueError):
        svc.set_faults("reset=2")
