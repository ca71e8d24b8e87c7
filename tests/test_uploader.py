"""VODUpload against the real local service: callbacks, queue calls, auth modes, expiry, retries."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from conftest import file_md5

from vodwidget import (
    AppServerCredentials,
    InvalidInputError,
    OpenApiCredentials,
    StsCredentials,
    VODUpload,
)
from vodwidget.local.attach import local_credentials

MiB = 1024 * 1024


def parts_sent(svc, key: str) -> list[int]:
    """Part numbers successfully uploaded to ``key`` according to the service's request log."""
    return [int(e.query["partNumber"]) for e in svc.request_log
            if e.op == "UploadPart" and e.status == 200 and e.path.endswith(key.split("/")[-1])]


class Recorder:
    """Collects SDK callbacks in order."""

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.lock = threading.Lock()

    def __call__(self, name):
        def cb(info, *args):
            with self.lock:
                self.events.append((name, info.name, *args))
        return cb

    def kwargs(self) -> dict:
        return {f"on_upload_{n}": self(n) for n in
                ("started", "succeed", "failed", "canceled", "token_expired", "end")}

    def names(self, file: str | None = None) -> list[str]:
        """Callback names in order; per file, without the queue-wide "end"."""
        return [e[0] for e in self.events if file is None or (e[1] == file and e[0] != "end")]


@pytest.mark.parametrize("mode", ["openapi", "appserver", "sts"])
def test_provider_modes_upload_video_and_image(local_vod, make_media, object_md5, mode):
    rec = Recorder()
    up = VODUpload(credentials=local_credentials(local_vod, mode), **rec.kwargs())
    video = make_media(f"{mode}.mp4")
    image = make_media(f"{mode}.png")
    vinfo = up.add_file(video, user_data={"Vod": {"Title": "T " + mode, "CateId": "7", "Tags": "a,b"}})
    iinfo = up.add_file(image)
    files = up.start_upload()
    assert [f.state for f in files] == ["Success", "Success"]
    assert vinfo.video_id and local_vod.video(vinfo.video_id)["Status"] == "Normal"
    row = local_vod.video(vinfo.video_id)
    assert (row["Title"], str(row["CateId"]), row["Tags"]) == ("T " + mode, "7", "a,b")
    assert object_md5(local_vod, vinfo.object) == file_md5(video)
    assert iinfo.image_url and iinfo.image_id
    got = requests.get(iinfo.image_url, timeout=10)
    assert got.status_code == 200 and got.content == image.read_bytes()
    assert rec.names(video.name) == ["started", "succeed"]
    assert rec.names(image.name) == ["started", "succeed"]
    assert rec.events[-1][0] == "end" and rec.names().count("end") == 1
    assert vinfo.percent == 100.0 and vinfo.loaded == vinfo.size


def test_sdk_camelcase_names(local_vod, make_media):
    seen = []
    up = VODUpload(userId="1303", retryCount=2, retryDuration=0.1,
                   credentials=local_credentials(local_vod),
                   onUploadstarted=lambda info: seen.append("started"),
                   onUploadSucceed=lambda info: seen.append(("succeed", info.videoId)),
                   onUploadProgress=lambda info, total, frac: seen.append("progress"),
                   onUploadEnd=lambda info: seen.append("end"))
    info = up.addFile(str(make_media("camel.mp4")), None, None, None, '{"Vod":{"Title":"camel"}}')
    assert up.listFiles() == [info]
    up.startUpload()
    assert seen[0] == "started" and seen[-1] == "end"
    assert ("succeed", info.video_id) in seen and "progress" in seen
    assert up.retry.count == 2 and up.user_id == "1303"
    for name in ("deleteFile", "cancelFile", "resumeFile", "cleanList", "stopUpload", "setUploadAuthAndAddress",
                 "setSTSToken", "resumeUploadWithAuth", "resumeUploadWithSTSToken", "getCheckpoint"):
        assert callable(getattr(up, name))
    up.cleanList()
    assert up.listFiles() == []
    with pytest.raises(TypeError, match="onUploadWhatever"):
        VODUpload(onUploadWhatever=print)


def test_manual_upload_auth_mode_as_documented(local_vod, make_media, object_md5):
    """credentials=None: on_upload_started asks the app server and answers with
    set_upload_auth_and_address, exactly like the SDK's web demo."""
    app = local_vod.app_server
    up_holder: list[VODUpload] = []

    def started(info):
        if info.kind == "image":
            r = requests.get(f"{app}/create-upload-image", params={"ImageType": "default", "ImageExt": "png"}).json()
            up_holder[0].set_upload_auth_and_address(info, r["UploadAuth"], r["UploadAddress"], r["ImageId"],
                                                     image_url=r["ImageURL"])
        elif info.video_id:
            r = requests.get(f"{app}/refresh-upload-video", params={"VideoId": info.video_id}).json()
            up_holder[0].set_upload_auth_and_address(info, r["UploadAuth"], r["UploadAddress"], r["VideoId"])
        else:
            r = requests.get(f"{app}/create-upload-video", params={"Title": info.name, "FileName": info.name}).json()
            up_holder[0].set_upload_auth_and_address(info, r["UploadAuth"], r["UploadAddress"], r["VideoId"])

    up = VODUpload(on_upload_started=started)
    up_holder.append(up)
    v = up.add_file(make_media("manual.mp4"))
    i = up.add_file(make_media("manual.png"))
    up.start_upload()
    assert (v.state, i.state) == ("Success", "Success")
    assert object_md5(local_vod, v.object) == file_md5(v.file)
    assert local_vod.video(v.video_id)["Status"] == "Normal"
    assert i.image_url.startswith(local_vod.oss_endpoint) or i.image_url.startswith("http")


def test_manual_sts_mode_creates_media_itself(local_vod, make_media):
    """set_sts_token: the uploader signs CreateUploadVideo/CreateUploadImage with the STS key."""
    up_holder: list[VODUpload] = []

    def started(info):
        sts = requests.get(f"{local_vod.app_server}/sts").json()["SecurityTokenInfo"]
        up_holder[0].set_sts_token(info, sts["AccessKeyId"], sts["AccessKeySecret"], sts["SecretToken"])

    up = VODUpload(on_upload_started=started, vod_endpoint=local_vod.vod_endpoint)
    up_holder.append(up)
    v = up.add_file(make_media("sts.mp4"))
    i = up.add_file(make_media("sts.png"))
    local_vod.clear_log()
    up.start_upload()
    assert (v.state, i.state) == ("Success", "Success")
    signed = {e.op: e.access_key_id for e in local_vod.request_log if e.op in ("CreateUploadVideo", "CreateUploadImage")}
    assert set(signed) == {"CreateUploadVideo", "CreateUploadImage"}
    assert all(ak.startswith("STS.") for ak in signed.values())


def test_no_credentials_and_no_callback_fails_clearly(make_media):
    rec = Recorder()
    up = VODUpload(on_upload_failed=rec("failed"), on_upload_end=rec("end"), resume_store=False)
    up.add_file(make_media("nocreds.mp4"))
    [info] = up.start_upload()
    assert info.state == "Failure" and info.error_code == "MissingCredentials"
    assert "credentials" in info.error_message
    assert rec.names() == ["failed", "end"]


def test_manual_mode_times_out_when_callback_does_not_answer(make_media):
    up = VODUpload(on_upload_started=lambda info: None, auth_timeout=0.3, resume_store=False)
    up.add_file(make_media("silent.mp4"))
    [info] = up.start_upload()
    assert info.error_code == "AuthTimeout"
    assert "set_upload_auth_and_address" in info.error_message


def test_callback_order_on_failure_and_the_queue_goes_on(local_vod, make_media, tmp_path):
    rec = Recorder()
    up = VODUpload(credentials=local_credentials(local_vod), retry_duration=0.05, **rec.kwargs())
    good = make_media("good.mp4")
    doomed = make_media("doomed.mp4")
    up.add_file(doomed)
    up.add_file(good)
    doomed.unlink()  # gone between add_file and upload
    files = up.start_upload()
    assert [f.state for f in files] == ["Failure", "Success"]
    assert files[0].error_code == "FileNotFound"
    assert rec.names("doomed.mp4") == ["failed"]  # fails before asking for credentials
    failed = [e for e in rec.events if e[0] == "failed"][0]
    assert failed[2] == "FileNotFound" and "gone" in failed[3]
    assert rec.names("good.mp4") == ["started", "succeed"]
    assert rec.events[-1][0] == "end"


def test_user_callback_exception_does_not_break_upload(local_vod, make_media):
    def boom(info, *a):
        raise RuntimeError("user bug")

    up = VODUpload(credentials=local_credentials(local_vod), on_upload_started=boom, on_upload_progress=boom)
    up.add_file(make_media("boom.mp4"))
    assert up.start_upload()[0].state == "Success"


def _slow_big(local_vod, make_media, name: str, size: int = 24 * MiB):
    # A slowed service makes the upload last long enough to act on it mid-way.
    local_vod.set_faults("slow=1,delay=0.15", seed=1)
    return make_media(name, size)


def test_cancel_within_a_second_then_resume_sends_no_finished_part_again(local_vod, make_media, object_md5):
    rec = Recorder()
    up = VODUpload(credentials=local_credentials(local_vod), part_size=1 * MiB, parallel=2, **rec.kwargs())
    path = _slow_big(local_vod, make_media, "cancel.mp4", 12 * MiB)
    try:
        info = up.add_file(path)
        run = up.start_upload(wait=False)
        deadline = time.time() + 30
        while info.loaded < 3 * MiB and time.time() < deadline:
            time.sleep(0.02)
        t0 = time.monotonic()
        up.cancel_file(0)
        took = time.monotonic() - t0
        assert run.wait(30)
        assert info.state == "Canceled" and took < 2.0, took  # "within about a second", with CI slack
        before = parts_sent(local_vod, info.object)
        assert 0 < len(before) < 12
        local_vod.set_faults(None)
        up.resume_file(0)
        assert info.state == "Ready"
        up.start_upload()
    finally:
        local_vod.set_faults(None)
    assert info.state == "Success"
    sent = parts_sent(local_vod, info.object)
    assert sorted(sent) == list(range(1, 13)), "every part exactly once, none re-sent after resume"
    assert object_md5(local_vod, info.object) == file_md5(path)
    assert rec.names("cancel.mp4") == ["started", "canceled", "started", "succeed"]


def test_stop_upload_then_start_continues(local_vod, make_media, object_md5):
    up = VODUpload(credentials=local_credentials(local_vod), part_size=1 * MiB, parallel=2)
    path = _slow_big(local_vod, make_media, "stop.mp4", 10 * MiB)
    try:
        info = up.add_file(path)
        waiting = up.add_file(make_media("waiting.mp4"))
        up.max_concurrent_files = 1
        up.start_upload(wait=False)
        deadline = time.time() + 30
        while info.loaded < 2 * MiB and time.time() < deadline:
            time.sleep(0.02)
        up.stop_upload()
        assert info.state == "Stopped" and waiting.state == "Ready"
        assert up.wait(10) and not up.running, "a stopped queue's runner ends"
    finally:
        local_vod.set_faults(None)
    files = up.start_upload()
    assert [f.state for f in files] == ["Success", "Success"]
    assert info.resumed and object_md5(local_vod, info.object) == file_md5(path)
    sent = parts_sent(local_vod, info.object)
    assert sorted(sent) == list(range(1, 11)), "stop then start re-sends no finished part"


def test_queue_methods(local_vod, make_media):
    up = VODUpload(credentials=local_credentials(local_vod))
    a, b, c = (up.add_file(make_media(n)) for n in ("qa.mp4", "qb.png", "qc.mp4"))
    assert up.list_files() == [a, b, c]
    assert up.delete_file(1) is b and up.list_files() == [a, c]
    up.cancel_file(c)  # not started yet: canceled at once
    assert c.state == "Canceled"
    files = up.start_upload()
    assert [f.state for f in files] == ["Success", "Canceled"]
    up.resume_file(1)
    assert c.state == "Ready"
    assert [f.state for f in up.start_upload()] == ["Success", "Success"]
    with pytest.raises(InvalidInputError, match="no file at index 5"):
        up.cancel_file(5)
    up.clean_list()
    assert up.list_files() == []


def test_max_concurrent_files_is_respected(local_vod, make_media):
    active, peak = 0, 0
    lock = threading.Lock()

    def started(info):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)

    def ended(info, *a):
        nonlocal active
        with lock:
            active -= 1

    up = VODUpload(credentials=local_credentials(local_vod), max_concurrent_files=2,
                   on_upload_started=started, on_upload_succeed=ended, on_upload_failed=ended)
    for i in range(6):
        up.add_file(make_media(f"conc{i}.png"))
    assert all(f.state == "Success" for f in up.start_upload())
    assert peak == 2


def test_progress_is_throttled_and_monotonic(local_vod, make_media):
    seen: list[tuple[float, float]] = []
    up = VODUpload(credentials=local_credentials(local_vod), part_size=1 * MiB,
                   on_upload_progress=lambda info, total, frac: seen.append((time.monotonic(), frac)))
    info = up.add_file(make_media("progress.mp4", 16 * MiB))
    t0 = time.monotonic()
    up.start_upload()
    elapsed = time.monotonic() - t0
    assert info.state == "Success" and seen[-1][1] == 1.0
    # at most ~10 per second (plus the final and resume flushes)
    assert len(seen) <= 10 * elapsed + 4, (len(seen), elapsed)
    assert all(b[1] >= a[1] for a, b in zip(seen, seen[1:], strict=False))


@pytest.mark.parametrize("mode", ["openapi", "sts"])
def test_token_expiry_mid_upload_with_provider(local_vod, make_media, object_md5, mode):
    rec = Recorder()
    up = VODUpload(credentials=local_credentials(local_vod, mode), part_size=256 * 1024, parallel=3,
                   **rec.kwargs())
    path = make_media(f"expire-{mode}.mp4", 3 * MiB)  # 12 parts; tokens die every 4 parts
    local_vod.set_faults("expire_after_parts=4")
    local_vod.clear_log()
    try:
        [info] = up.start_upload() if up.add_file(path) else []
    finally:
        local_vod.set_faults(None)
    assert info.state == "Success", (info.error_code, info.error_message)
    assert rec.names().count("token_expired") >= 2
    refreshes = [e for e in local_vod.request_log if e.op == "RefreshUploadVideo" and e.status == 200]
    assert len(refreshes) >= 2
    sent = parts_sent(local_vod, info.object)
    assert sorted(sent) == list(range(1, 13)), "no part uploaded twice"
    assert object_md5(local_vod, info.object) == file_md5(path)


def test_token_expiry_mid_upload_manual_mode(local_vod, make_media, object_md5):
    """credentials=None: on_upload_token_expired answers with resume_upload_with_auth."""
    app = local_vod.app_server
    holder: list[VODUpload] = []
    expired = []

    def started(info):
        r = requests.get(f"{app}/create-upload-video", params={"Title": "m", "FileName": info.name}).json()
        holder[0].set_upload_auth_and_address(info, r["UploadAuth"], r["UploadAddress"], r["VideoId"])

    def token_expired(info):
        expired.append(info.video_id)
        r = requests.get(f"{app}/refresh-upload-video", params={"VideoId": info.video_id}).json()
        holder[0].resume_upload_with_auth(r["UploadAuth"])

    up = VODUpload(on_upload_started=started, on_upload_token_expired=token_expired,
                   part_size=256 * 1024, parallel=3)
    holder.append(up)
    path = make_media("expire-manual.mp4", 3 * MiB)
    info = up.add_file(path)
    local_vod.set_faults("expire_after_parts=5")
    local_vod.clear_log()
    try:
        up.start_upload()
    finally:
        local_vod.set_faults(None)
    assert info.state == "Success", (info.error_code, info.error_message)
    assert len(expired) >= 2 and set(expired) == {info.video_id}
    assert sorted(parts_sent(local_vod, info.object)) == list(range(1, 13))
    assert object_md5(local_vod, info.object) == file_md5(path)


def test_token_expiry_manual_sts_mode(local_vod, make_media):
    """STS flavour of the SDK flow: resume_upload_with_sts_token, the uploader refreshes itself."""
    holder: list[VODUpload] = []

    def sts():
        return requests.get(f"{local_vod.app_server}/sts").json()["SecurityTokenInfo"]

    def started(info):
        s = sts()
        holder[0].set_sts_token(info, s["AccessKeyId"], s["AccessKeySecret"], s["SecretToken"])

    def token_expired(info):
        s = sts()
        holder[0].resume_upload_with_sts_token(s["AccessKeyId"], s["AccessKeySecret"], s["SecretToken"],
                                               s["Expiration"])

    up = VODUpload(on_upload_started=started, on_upload_token_expired=token_expired,
                   vod_endpoint=local_vod.vod_endpoint, part_size=256 * 1024)
    holder.append(up)
    info = up.add_file(make_media("expire-sts.mp4", 2 * MiB))
    local_vod.set_faults("expire_after_parts=3")
    try:
        up.start_upload()
    finally:
        local_vod.set_faults(None)
    assert info.state == "Success", (info.error_code, info.error_message)


def test_expired_token_without_an_answer_fails_clearly(local_vod, make_media):
    app = local_vod.app_server
    holder: list[VODUpload] = []

    def started(info):
        r = requests.get(f"{app}/create-upload-video", params={"Title": "x", "FileName": info.name}).json()
        holder[0].set_upload_auth_and_address(info, r["UploadAuth"], r["UploadAddress"], r["VideoId"])

    up = VODUpload(on_upload_started=started, on_upload_token_expired=lambda info: None,
                   auth_timeout=0.5, part_size=256 * 1024, parallel=1, retry_duration=0.05)
    holder.append(up)
    up.add_file(make_media("expire-noanswer.mp4", 2 * MiB))
    ok = up.add_file(make_media("after-expiry.png"))
    local_vod.set_faults("expire_after_parts=2")
    try:
        files = up.start_upload()
    finally:
        local_vod.set_faults(None)
    assert files[0].state == "Failure" and files[0].error_code == "SecurityTokenExpired"
    assert "resume_upload_with_auth" in files[0].error_message
    assert ok.state == "Success"


def test_retries_survive_resets_and_503s(local_vod, make_media, object_md5):
    up = VODUpload(credentials=local_credentials(local_vod), retry_count=6, retry_duration=0.02,
                   part_size=256 * 1024, parallel=3)
    files = [up.add_file(make_media(f"flaky{i}.mp4", 1 * MiB + i * 1000)) for i in range(3)]
    files.append(up.add_file(make_media("flaky.png")))
    local_vod.set_faults("reset=0.1,503=0.1", seed=11)
    try:
        up.start_upload()
        decisions = [d for _, _, d in local_vod.fault_log]
    finally:
        local_vod.set_faults(None)
    assert "reset" in decisions and "503" in decisions
    assert all(f.state == "Success" for f in files), [(f.error_code, f.error_message) for f in files]
    assert sum(f.retries for f in files) >= decisions.count("reset") + decisions.count("503") - 1
    for f in files:
        assert object_md5(local_vod, f.object) == file_md5(f.file)


def test_retries_run_out_then_fail_and_the_queue_goes_on(local_vod, make_media):
    rec = Recorder()
    up = VODUpload(credentials=local_credentials(local_vod), retry_count=2, retry_duration=0.01, **rec.kwargs())
    info = up.add_file(make_media("always503.png"))
    local_vod.set_faults("503=1")
    try:
        up.start_upload()
    finally:
        local_vod.set_faults(None)
    assert info.state == "Failure" and info.error_code == "ServiceUnavailable"
    assert info.retries == 2
    assert rec.names() == ["started", "failed", "end"]


def test_deleted_video_is_forgotten_and_created_anew(local_vod, make_media, object_md5, tmp_path):
    """A remembered video deleted on the service: InvalidVideo.NotFound -> new video, user told."""
    from vodwidget.openapi import VodApiClient

    store = tmp_path / "store"
    path = make_media("deleted.mp4", 2 * MiB)
    up = VODUpload(credentials=local_credentials(local_vod), resume_store=store, part_size=256 * 1024)
    info = up.add_file(path)
    local_vod.set_faults("slow=1,delay=0.2")
    try:
        run = up.start_upload(wait=False)
        while info.loaded < 512 * 1024 and not run.done:
            time.sleep(0.02)
        up.cancel_file(0)
        run.wait(30)
    finally:
        local_vod.set_faults(None)
    assert info.state == "Canceled"
    old_id = info.video_id
    assert up.get_checkpoint(path).video_id == old_id
    VodApiClient(local_vod.access_key_id, local_vod.access_key_secret,
                 endpoint=local_vod.vod_endpoint).call("DeleteVideo", {"VideoIds": old_id})

    up2 = VODUpload(credentials=local_credentials(local_vod), resume_store=store, part_size=256 * 1024)
    seen_at_start = []
    up2._callbacks["started"] = lambda i: seen_at_start.append(i.video_id)
    info2 = up2.add_file(path)
    up2.start_upload()
    assert seen_at_start == [old_id], "video_id is set when on_upload_started fires for a remembered file"
    assert info2.state == "Success" and info2.video_id != old_id
    assert f"the remembered video {old_id} no longer exists" in info2.message  # the user is told
    assert local_vod.video(info2.video_id)["Status"] == "Normal"
    assert object_md5(local_vod, info2.object) == file_md5(path)
    assert up2.get_checkpoint(path) is None  # forgotten after success


def test_plain_oss_upload_with_sts_token(local_vod, make_media, object_md5):
    """addFile(file, endpoint, bucket, object) + set_sts_token: straight to that OSS object,
    no VOD media created (the SDK's plain-OSS mode)."""
    key = "plain/uploads/direct.mp4"
    sts = local_vod.issue_upload_auth(key)  # an STS key that may write exactly that object
    holder: list[VODUpload] = []

    def started(info):
        holder[0].set_sts_token(info, sts["AccessKeyId"], sts["AccessKeySecret"], sts["SecurityToken"])

    up = VODUpload(on_upload_started=started, resume_store=False)
    holder.append(up)
    path = make_media("direct.mp4")
    local_vod.clear_log()
    info = up.add_file(path, local_vod.oss_endpoint, local_vod.bucket, key)
    up.start_upload()
    assert info.state == "Success", (info.error_code, info.error_message)
    assert object_md5(local_vod, key) == file_md5(path) and info.video_id is None
    assert not [e for e in local_vod.request_log if e.op == "CreateUploadVideo"]
    with pytest.raises(InvalidInputError, match="together"):
        up.add_file(path, local_vod.oss_endpoint, None, key)


def test_repr_and_provider_reprs_hold_no_secret(local_vod, make_media):
    creds = [local_credentials(local_vod, m) for m in ("openapi", "appserver", "sts")]
    creds.append(OpenApiCredentials("id", "very-secret-value-1"))
    creds.append(StsCredentials("STS.x", "very-secret-value-2", "very-secret-token-3"))
    creds.append(AppServerCredentials.from_base(local_vod.app_server))
    up = VODUpload(credentials=creds[0])
    info = up.add_file(make_media("repr.mp4"))
    up.start_upload()
    text = " ".join(repr(x) for x in (*creds, up, info, info.as_dict()))
    for secret in (local_vod.access_key_secret, "very-secret-value-1", "very-secret-value-2", "very-secret-token-3"):
        assert secret not in text
