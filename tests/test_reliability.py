"""Reliability: faults, crashes, restarts and expiries against the real local service.

* 100 uploads under 5 % connection resets + 5 % 503s (VOD API and OSS alike): all Success,
  bytes identical, exactly one video per file;
* ``kill -9`` of an uploader process at 20 seeded points (4 files x 5 kills): every file resumes
  to identical bytes, one video each, and already-stored parts are not sent again;
* the local service is stopped mid-upload and restarted on the same port and data dir: the
  uploader's retries carry the upload through;
* the upload token expires mid-upload, with a credential provider and with SDK-style callbacks
  (``on_upload_token_expired`` -> ``resume_upload_with_auth``);
* client side: the resume store's disk is full, or the file goes bad mid-upload: a clear error
  for that file, the rest of the queue goes on.

The whole module runs in well under three minutes.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import oss2
import pytest
import requests

from vodwidget import VODUpload
from vodwidget.local import LocalVod
from vodwidget.local.attach import local_credentials

pytestmark = pytest.mark.reliability
ROOT = Path(__file__).resolve().parent.parent
KiB = 1024
MiB = 1024 * KiB


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[LocalVod]:
    """A service of this test's own: faults and the request log are not shared with other tests."""
    with LocalVod(data_dir=tmp_path / "svc", port=0) as s:
        yield s


def root_bucket(svc) -> oss2.Bucket:
    return oss2.Bucket(oss2.Auth(svc.access_key_id, svc.access_key_secret), svc.oss_endpoint, svc.bucket)


def md5_bytes(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def stored_md5(svc, key: str) -> str:
    return md5_bytes(root_bucket(svc).get_object(key).read())


def write_random(path: Path, size: int, seed: int) -> Path:
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def ops(svc, name: str, status: int | None = 200) -> list:
    return [e for e in svc.request_log if e.op == name and (status is None or e.status == status)]


# -- 1. 100 uploads under connection resets and 503s ------------------------------------------------
@pytest.mark.slow
def test_100_uploads_survive_resets_and_503s(svc, tmp_path: Path) -> None:
    files = []
    for i in range(100):
        # Every 20th file is multipart (3 parts of 128 KiB); the rest go in one PutObject.
        size = 300 * KiB if i % 20 == 0 else 8 * KiB + i * 97
        files.append(write_random(tmp_path / f"f{i:03d}.mp4", size, seed=i))
    svc.set_faults("reset=0.05,503=0.05,scope=all", seed=2024)
    up = VODUpload(credentials=local_credentials(svc), resume_store=tmp_path / "store", retry_count=8,
                   retry_duration=0.02, part_size=128 * KiB, multipart_threshold=128 * KiB,
                   max_concurrent_files=4, timeout=10)
    infos = [up.add_file(p) for p in files]
    up.start_upload()
    faults = collections.Counter(decision for _, _, decision in svc.fault_log)
    svc.set_faults(None)

    print(f"100 uploads: faults survived {dict(faults)}, retries {sum(i.retries for i in infos)}")
    failed = [(i.name, i.error_code, i.error_message) for i in infos if i.state != "Success"]
    assert not failed
    # The faults really happened, to VOD calls and to OSS requests.
    assert faults["reset"] >= 5 and faults["503"] >= 5, faults
    assert sum(i.retries for i in infos) >= faults["reset"] + faults["503"] - 5
    # Bytes identical, fetched back with the service's root key.
    for info, path in zip(infos, files, strict=True):
        assert stored_md5(svc, info.object) == md5_bytes(path.read_bytes()), info.name
    # No duplicate media: one successful CreateUploadVideo per file, 100 distinct videos.
    assert len(ops(svc, "CreateUploadVideo")) == 100
    assert len({i.video_id for i in infos}) == 100
    assert all(svc.video(i.video_id)["Status"] == "Normal" for i in infos)
    assert len(ops(svc, "InitiateMultipartUpload")) == 5


# -- 2. SIGKILL at 20 points -------------------------------------------------------------------------
UPLOADER = """
import json, os, sys
from vodwidget import VODUpload
from vodwidget.local.attach import LocalEndpoint, local_credentials
ep = LocalEndpoint(**json.loads(os.environ["VODWIDGET_TEST_SVC"]))
up = VODUpload(credentials=local_credentials(ep), resume_store=sys.argv[2], part_size=256 * 1024,
               parallel=2, retry_count=3, retry_duration=0.1)
info = up.add_file(sys.argv[1])
up.start_upload()
print(json.dumps({"state": info.state, "video_id": info.video_id, "resumed": info.resumed,
                  "object": info.object, "code": info.error_code, "message": info.error_message}))
"""


def _endpoint_env(svc) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["VODWIDGET_TEST_SVC"] = json.dumps({
        "vod_endpoint": svc.vod_endpoint, "oss_endpoint": svc.oss_endpoint, "app_server": svc.app_server,
        "region": svc.region, "access_key_id": svc.access_key_id, "access_key_secret": svc.access_key_secret,
        "data_dir": str(svc.data_dir), "bucket": svc.bucket, "port": svc.port})
    return env


def _parts_stored(svc, since: int) -> int:
    return sum(1 for e in svc.request_log[since:] if e.op == "UploadPart" and e.status == 200)


def _file_parts(svc, since: int) -> int:
    """Distinct parts the service has stored for uploads started after log position ``since``."""
    return len({(e.query.get("uploadId"), e.query.get("partNumber")) for e in svc.request_log[since:]
                if e.op == "UploadPart" and e.status == 200})


@pytest.mark.slow
def test_sigkill_at_20_points_resumes_to_identical_bytes(svc, tmp_path: Path) -> None:
    rng = random.Random(7)
    env = _endpoint_env(svc)
    store = tmp_path / "store"
    # Each OSS request is held 30 ms so that the kills land mid-upload, not after it.
    svc.set_faults("slow=1,delay=0.03,scope=oss", seed=1)
    n_parts = 32  # 8 MiB in 256 KiB parts
    kills = 0
    for f in range(4):
        path = write_random(tmp_path / f"big{f}.mp4", 8 * MiB, seed=100 + f)
        file_start = len(svc.request_log)
        # Five kill points per file at distinct, increasing counts of stored parts (seeded).
        for target in sorted(rng.sample(range(1, n_parts - 1), 5)):
            proc = subprocess.Popen([sys.executable, "-c", UPLOADER, str(path), str(store)], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline and _file_parts(svc, file_start) < target:
                time.sleep(0.003)
            assert proc.poll() is None, f"the uploader ended before kill point {target}: {proc.communicate()}"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
        done = subprocess.run([sys.executable, "-c", UPLOADER, str(path), str(store)], env=env,
                              capture_output=True, text=True, cwd=ROOT, timeout=120)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["state"] == "Success", (result, done.stderr[-2000:])
        assert result["resumed"] is True
        assert stored_md5(svc, result["object"]) == md5_bytes(path.read_bytes())
        # Exactly one video for this file, whatever the kills did.
        creates = [e for e in ops(svc, "CreateUploadVideo")[0:] if e.time >= svc.request_log[file_start].time]
        assert len(creates) == 1, creates
        assert len({e.query.get("uploadId") for e in svc.request_log[file_start:]
                    if e.op == "UploadPart"}) == 1, "the resumed runs must continue the same multipart upload"
    svc.set_faults(None)
    assert kills == 20
    # Parts the service stored more than once: a kill between the part's answer and the
    # checkpoint would cause one. Partial in-flight bodies (at most 2 x 256 KiB per kill) are lost
    # by definition and not counted here.
    stored = collections.Counter((e.query.get("uploadId"), e.query.get("partNumber"))
                                 for e in ops(svc, "UploadPart"))
    resent_parts = sum(n - 1 for n in stored.values())
    assert len(stored) == 4 * n_parts
    assert resent_parts <= 4, f"{resent_parts} parts were stored twice"
    print(f"20 kills: {resent_parts} already-stored parts sent again")


# -- 3. the service restarts mid-upload ----------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(cond, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@pytest.mark.slow
def test_service_restart_mid_upload(tmp_path: Path) -> None:
    data, port = tmp_path / "svc", _free_port()
    path = write_random(tmp_path / "restart.mp4", 4 * MiB, seed=3)
    first = LocalVod(data_dir=data, port=port).start()
    second = None
    try:
        first.set_faults("slow=1,delay=0.05,scope=oss", seed=1)
        up = VODUpload(credentials=local_credentials(first), resume_store=tmp_path / "store",
                       part_size=256 * KiB, parallel=2, retry_count=6, retry_duration=0.3, timeout=10)
        info = up.add_file(path)
        run = up.start_upload(wait=False)
        _wait_for(lambda: len(ops(first, "UploadPart")) >= 4)
        first.stop()
        time.sleep(0.5)  # requests meanwhile are refused: the uploader backs off and retries
        assert info.state == "Uploading"
        second = LocalVod(data_dir=data, port=port).start()
        assert run.wait(120)
        assert info.state == "Success", (info.error_code, info.error_message)
        assert info.retries >= 1
        assert stored_md5(second, info.object) == md5_bytes(path.read_bytes())
        assert second.video(info.video_id)["Status"] == "Normal"
        # The second service finished the same multipart upload (not a new one).
        assert not ops(second, "InitiateMultipartUpload")
    finally:
        first.stop()
        if second is not None:
            second.stop()


# -- 4. the token expires mid-upload --------------------------------------------------------------------
@pytest.mark.parametrize("how", ["expire_after_parts", "token_ttl"])
def test_token_expiry_with_a_provider(svc, tmp_path: Path, how: str) -> None:
    path = write_random(tmp_path / "exp.mp4", 2 * MiB, seed=4)
    if how == "token_ttl":
        svc.token_ttl = 1.0  # every UploadAuth lives 1 s; parts are held 0.15 s each
        svc.set_faults("slow=1,delay=0.15,scope=oss", seed=1)
    else:
        svc.set_faults("expire_after_parts=3", seed=1)
    up = VODUpload(credentials=local_credentials(svc), resume_store=False, part_size=128 * KiB, parallel=2,
                   retry_count=2, retry_duration=0.05)
    expired: list[str] = []
    up._callbacks["token_expired"] = lambda info: expired.append(info.name)
    info = up.add_file(path)
    up.start_upload()
    svc.set_faults(None)
    assert info.state == "Success", (info.error_code, info.error_message)
    assert stored_md5(svc, info.object) == md5_bytes(path.read_bytes())
    refreshes = ops(svc, "RefreshUploadVideo")
    assert refreshes and len(expired) == len(refreshes)
    assert any(e.op == "UploadPart" and e.status == 403 for e in svc.request_log)
    assert len(ops(svc, "CreateUploadVideo")) == 1


def test_token_expiry_with_sdk_callbacks(svc, tmp_path: Path) -> None:
    """No provider: the app server's create / refresh URLs answer the SDK's callbacks."""
    path = write_random(tmp_path / "cb.mp4", 2 * MiB, seed=5)
    svc.set_faults("expire_after_parts=3", seed=1)
    app = svc.app_server
    calls: collections.Counter = collections.Counter()

    def started(info) -> None:
        calls["started"] += 1
        r = requests.get(f"{app}/create-upload-video", params={"Title": "cb", "FileName": info.name}, timeout=10)
        body = r.json()
        up.set_upload_auth_and_address(info, body["UploadAuth"], body["UploadAddress"], body["VideoId"])

    def token_expired(info) -> None:
        calls["expired"] += 1
        r = requests.get(f"{app}/refresh-upload-video", params={"VideoId": info.video_id}, timeout=10)
        up.resume_upload_with_auth(r.json()["UploadAuth"], info)

    up = VODUpload(on_upload_started=started, on_upload_token_expired=token_expired, resume_store=False,
                   part_size=128 * KiB, parallel=2, retry_count=2, retry_duration=0.05, auth_timeout=10)
    info = up.add_file(path)
    up.start_upload()
    svc.set_faults(None)
    assert info.state == "Success", (info.error_code, info.error_message)
    assert stored_md5(svc, info.object) == md5_bytes(path.read_bytes())
    assert calls["started"] == 1 and calls["expired"] >= 2
    assert len(ops(svc, "app:refresh-upload-video")) == calls["expired"]


# -- 5. client-side trouble ------------------------------------------------------------------------------
@pytest.fixture
def full_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory where writing fails: a full 64 KiB tmpfs (root can mount one), else a read-only
    directory (which only stops non-root users)."""
    d = tmp_path / "full"
    d.mkdir()
    mounted = shutil.which("mount") and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(d)], capture_output=True).returncode == 0
    try:
        if mounted:
            fd = os.open(d / "filler", os.O_WRONLY | os.O_CREAT)
            try:
                while True:
                    os.write(fd, bytes(4096))
            except OSError:  # ENOSPC: the disk is full now
                pass
            finally:
                os.close(fd)
            yield d, "No space left on device"
        elif os.geteuid() != 0:
            d.chmod(0o500)
            yield d, "Permission denied"
        else:
            pytest.skip("cannot mount a tmpfs here and root ignores read-only directories")
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(d)], capture_output=True)
        else:
            d.chmod(0o700)


def test_resume_store_on_a_full_disk(full_dir, tmp_path: Path, svc) -> None:
    from vodwidget.samples import make_sample_image

    d, why = full_dir
    up = VODUpload(credentials=local_credentials(svc), resume_store=d, retry_count=0)
    video = up.add_file(write_random(tmp_path / "v.mp4", 64 * KiB, seed=6))
    image = up.add_file(make_sample_image(tmp_path / "i.png"))
    up.start_upload()
    assert video.state == "Failure" and video.error_code == "ResumeStoreUnwritable"
    assert why in video.error_message and str(d) in video.error_message, (video.error_code, video.error_message)
    print("full resume store:", video.error_code, video.error_message)
    assert image.state == "Success"  # images keep no resume record; the queue went on


@pytest.mark.slow
def test_file_truncated_mid_upload(svc, tmp_path: Path) -> None:
    path = write_random(tmp_path / "shrinks.mp4", 3 * MiB, seed=8)
    other = write_random(tmp_path / "fine.mp4", 256 * KiB, seed=9)
    svc.set_faults("slow=1,delay=0.1,scope=oss", seed=1)
    # A part whose bytes vanished leaves the service waiting for a body that never comes: the
    # request's timeout ends it, so keep that short here.
    up = VODUpload(credentials=local_credentials(svc), resume_store=False, part_size=256 * KiB, parallel=2,
                   retry_count=1, retry_duration=0.05, max_concurrent_files=2, timeout=2)
    bad = up.add_file(path)
    good = up.add_file(other)
    run = up.start_upload(wait=False)
    _wait_for(lambda: len(ops(svc, "UploadPart")) >= 2)
    with open(path, "r+b") as f:
        f.truncate(300 * KiB)
    t0 = time.monotonic()
    assert run.wait(60)
    svc.set_faults(None)
    print(f"truncated mid-upload: settled {time.monotonic() - t0:.1f} s after the truncation")
    assert bad.state == "Failure"
    print("truncated mid-upload:", bad.error_code, bad.error_message)
    assert bad.error_code == "FileChanged", (bad.error_code, bad.error_message)
    assert time.monotonic() - t0 < 10, "a short read fails at once, not after the request timeout"
    assert good.state == "Success"
    assert stored_md5(svc, good.object) == md5_bytes(other.read_bytes())

