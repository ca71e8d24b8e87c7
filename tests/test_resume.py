"""Remembered uploads: crash (SIGKILL) and restart of the uploader process, shared store safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import file_md5

from vodwidget import InvalidInputError, VODUpload
from vodwidget.resume import ResumeRecord, ResumeStore, file_identity

MiB = 1024 * 1024

UPLOADER = textwrap.dedent("""
    import json, sys
    from vodwidget import VODUpload
    from vodwidget.local.attach import LocalEndpoint
    ep = LocalEndpoint(**json.loads(sys.argv[1]))
    up = VODUpload(credentials=ep.credentials(), resume_store=sys.argv[3], part_size=256 * 1024, parallel=2,
                   on_upload_started=lambda i: print("started", i.video_id, flush=True))
    info = up.add_file(sys.argv[2])
    up.start_upload()
    print("result", info.state, info.video_id, info.error_code, flush=True)
""")


def _endpoint_json(svc) -> str:
    return json.dumps({k: getattr(svc, k) for k in ("vod_endpoint", "oss_endpoint", "app_server", "region",
                                                     "access_key_id", "access_key_secret")})


def _parts(svc, key: str) -> list[int]:
    return [int(e.query["partNumber"]) for e in svc.request_log
            if e.op == "UploadPart" and e.status == 200 and e.path.endswith(key.split("/")[-1])]


@pytest.mark.slow
def test_sigkill_mid_upload_then_a_new_process_continues(local_vod, make_media, object_md5, tmp_path):
    path = make_media("crash.mp4", 6 * MiB)  # 24 parts
    store = tmp_path / "store"
    local_vod.set_faults("slow=1,delay=0.05", seed=3)
    local_vod.clear_log()
    try:
        proc = subprocess.Popen([sys.executable, "-c", UPLOADER, _endpoint_json(local_vod), str(path), str(store)],
                                stdout=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            done = [e for e in local_vod.request_log if e.op == "UploadPart" and e.status == 200]
            if len(done) >= 8:
                break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        local_vod.set_faults(None)
    record = ResumeStore(store).load(file_identity(path))
    assert record is not None and record.video_id and record.upload_id, "record on disk before parts"
    before = set(_parts(local_vod, record.object))
    assert 0 < len(before) < 24
    creates_before = sum(e.op == "CreateUploadVideo" for e in local_vod.request_log)
    log_mark = len(local_vod.request_log)

    out = subprocess.run([sys.executable, "-c", UPLOADER, _endpoint_json(local_vod), str(path), str(store)],
                         capture_output=True, text=True, timeout=120)
    lines = out.stdout.split("\n")
    assert f"started {record.video_id}" in lines, out.stdout + out.stderr  # video_id known at start
    assert f"result Success {record.video_id} None" in lines, out.stdout + out.stderr
    ops = [e.op for e in local_vod.request_log]
    assert ops.count("RefreshUploadVideo") == 1
    assert sum(op == "CreateUploadVideo" for op in ops) == creates_before, "one video, not two"
    second_run = [int(e.query["partNumber"]) for e in local_vod.request_log[log_mark:]
                  if e.op == "UploadPart" and e.status == 200]
    assert not set(second_run) & before, f"finished parts re-sent: {sorted(set(second_run) & before)}"
    assert sorted(before | set(second_run)) == list(range(1, 25))
    assert object_md5(local_vod, record.object) == file_md5(path)
    assert ResumeStore(store).load(file_identity(path)) is None, "forgotten after success"


def test_record_identity_changes_when_the_file_changes(tmp_path):
    p = tmp_path / "a.mp4"
    p.write_bytes(b"x" * 100)
    first = file_identity(p)
    p.write_bytes(b"y" * 100)
    os.utime(p, ns=(1, 1))
    assert file_identity(p) != first


def test_store_is_atomic_and_tolerates_corrupt_records(tmp_path):
    store = ResumeStore(tmp_path)
    rec = ResumeRecord("a" * 64, "/x.mp4", 10, "video", video_id="v1", upload_id="u1", part_size=100)
    store.save(rec)
    assert store.load("a" * 64).video_id == "v1"
    (tmp_path / ("b" * 64 + ".json")).write_text("{not json")
    assert store.load("b" * 64) is None
    assert [r.identity for r in store.records()] == ["a" * 64]
    assert not list(tmp_path.glob(".tmp-*"))
    assert store.load("../../etc/passwd") is None
    with pytest.raises(ValueError):
        store.save(ResumeRecord("../../etc/passwd", "/x", 1, "video"))


def test_two_processes_never_upload_the_same_file_at_once(local_vod, make_media, tmp_path):
    """The record lock is held by a live process: a second uploader gets FileBusy, not a
    duplicate video; once the first ends, the file can be uploaded."""
    path = make_media("busy.mp4")
    store = ResumeStore(tmp_path / "store")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from vodwidget.resume import ResumeStore, file_identity
        lock = ResumeStore({str(store.root)!r}).lock(file_identity({str(path)!r}))
        print("locked", flush=True)
        sys.stdin.readline()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        up = VODUpload(credentials=local_vod.credentials(), resume_store=store)
        info = up.add_file(path)
        up.start_upload()
        assert info.state == "Failure" and info.error_code == "FileBusy"
    finally:
        holder.communicate("\n", timeout=10)
    up.resume_file(info)
    up.start_upload()
    assert info.state == "Success"


def test_resume_store_false_remembers_nothing(local_vod, make_media, tmp_path, monkeypatch):
    monkeypatch.setenv("VODWIDGET_RESUME_DIR", str(tmp_path / "should-stay-empty"))
    up = VODUpload(credentials=local_vod.credentials(), resume_store=False)
    info = up.add_file(make_media("noresume.mp4"))
    up.start_upload()
    assert info.state == "Success" and up.get_checkpoint(info.file) is None
    assert not (tmp_path / "should-stay-empty").exists()


def test_same_file_twice_in_one_uploader_is_busy_for_the_second(local_vod, make_media, tmp_path):
    path = make_media("twice.mp4", 2 * MiB)
    up = VODUpload(credentials=local_vod.credentials(), resume_store=tmp_path / "s", part_size=256 * 1024)
    a = up.add_file(path)
    b = up.add_file(path)
    up.start_upload()
    states = sorted([a.state, b.state])
    assert states == ["Failure", "Success"]
    failed = a if a.state == "Failure" else b
    assert failed.error_code == "FileBusy"
    with pytest.raises(InvalidInputError):
        up.add_file(Path(tmp_path) / "nope.mp4")
