"""One uploader under test, in its own interpreter: ``python benchmarks/_workers.py MODE ARGS...``.

The service's coordinates come in the ``VODWIDGET_BENCH_SVC`` environment variable (never argv,
which ``ps`` shows). The last stdout line is a JSON object: ``seconds`` (the upload alone, after
imports), ``key`` (the OSS object, so the caller can check and delete it), ``maxrss`` and CPU times.

Modes (all pinned to 10 MiB parts and 4 threads unless the mode says otherwise):

* ``vodwidget FILE [RESUME_DIR]`` - ``VODUpload(part_size=10 MiB, parallel=4)``
* ``oss2 FILE`` - CreateUploadVideo, then ``oss2.resumable_upload(num_threads=4, part_size=10 MiB)``
* ``voduploadsdk FILE`` - Alibaba's ``AliyunVodUploader.uploadLocalVideo`` (parts are serial)
* ``ceiling FILE`` - CreateUploadVideo, then one raw signed UploadPart per part on 4 threads:
  body = the part's bytes, no CRC, no progress callback; the service's ingest ceiling
* ``vodwidget-small DIR`` / ``voduploadsdk-small DIR`` - every image in DIR
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
PART_SIZE = 10 * MiB
THREADS = 4


def _count_socket_bytes(counter_file: str) -> None:
    """Count every byte this process hands to a socket in an 8-byte mmap'd file, so a parent can
    read the total at the instant it SIGKILLs us (Linux' wchar does not count send()). This is
    instrumentation of the socket layer under every peer alike, not of the uploader."""
    import mmap
    import socket

    with open(counter_file, "wb") as f:
        f.write(bytes(8))
    fd = os.open(counter_file, os.O_RDWR)
    view = mmap.mmap(fd, 8)
    counter = memoryview(view).cast("q")
    import threading

    lock = threading.Lock()
    sendall, send = socket.socket.sendall, socket.socket.send

    def add(n: int) -> None:
        with lock:
            counter[0] += n

    def counting_sendall(self, data, *args):
        result = sendall(self, data, *args)
        add(memoryview(data).nbytes)
        return result

    def counting_send(self, data, *args):
        n = send(self, data, *args)
        add(n)
        return n

    socket.socket.sendall = counting_sendall  # type: ignore[method-assign]
    socket.socket.send = counting_send  # type: ignore[method-assign]


def _svc() -> dict[str, Any]:
    return json.loads(os.environ["VODWIDGET_BENCH_SVC"])


def _endpoint():
    from vodwidget.local.attach import LocalEndpoint

    i = _svc()
    return LocalEndpoint(i["vod_endpoint"], i["oss_endpoint"], i["app_server"], i["region"],
                         i["access_key_id"], i["access_key_secret"], i["data_dir"], i["bucket"], i["port"])


def _ticket(path: Path):
    """CreateUploadVideo through vodwidget's signed OpenAPI client (the same call every peer makes)."""
    from vodwidget.local.attach import local_credentials

    return local_credentials(_endpoint(), "openapi").create_video(
        {"Title": path.stem, "FileName": path.name, "FileSize": path.stat().st_size})


def run_vodwidget(path: Path, resume_dir: str | None = None) -> dict[str, Any]:
    from vodwidget import VODUpload
    from vodwidget.local.attach import local_credentials

    up = VODUpload(credentials=local_credentials(_endpoint(), "openapi"), part_size=PART_SIZE,
                   parallel=THREADS, resume_store=resume_dir or False, max_concurrent_files=1)
    info = up.add_file(path)
    t0 = time.perf_counter()
    up.start_upload()
    seconds = time.perf_counter() - t0
    if info.state != "Success":
        raise SystemExit(f"vodwidget upload failed: {info.error_code}: {info.error_message}")
    return {"seconds": seconds, "key": info.object, "video_id": info.video_id, "resumed": info.resumed,
            "resent_bytes": info.resent_bytes}


def run_oss2(path: Path) -> dict[str, Any]:
    import tempfile

    import oss2

    t0 = time.perf_counter()
    ticket = _ticket(path)
    tok, addr = ticket.token, ticket.address
    bucket = oss2.Bucket(oss2.StsAuth(tok.access_key_id, tok.access_key_secret, tok.security_token),
                         addr.endpoint, addr.bucket)
    with tempfile.TemporaryDirectory() as store_dir:
        oss2.resumable_upload(bucket, addr.object, str(path), store=oss2.ResumableStore(root=store_dir),
                              multipart_threshold=PART_SIZE, part_size=PART_SIZE, num_threads=THREADS)
    return {"seconds": time.perf_counter() - t0, "key": addr.object, "video_id": ticket.media_id}


def run_ceiling(path: Path) -> dict[str, Any]:
    """The fastest a client can feed this service: one signed PUT per part, bytes already in memory
    for each request (read just before it), CRC off, no progress callbacks, 4 threads."""
    import oss2

    t0 = time.perf_counter()
    ticket = _ticket(path)
    tok, addr = ticket.token, ticket.address
    bucket = oss2.Bucket(oss2.StsAuth(tok.access_key_id, tok.access_key_secret, tok.security_token),
                         addr.endpoint, addr.bucket, enable_crc=False,
                         session=oss2.Session(pool_size=THREADS + 2))
    size = path.stat().st_size
    upload_id = bucket.init_multipart_upload(addr.object).upload_id
    parts = [(n + 1, n * PART_SIZE, min(PART_SIZE, size - n * PART_SIZE)) for n in range(-(-size // PART_SIZE))]

    def send(part: tuple[int, int, int]) -> oss2.models.PartInfo:
        number, offset, length = part
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(length)
        return oss2.models.PartInfo(number, bucket.upload_part(addr.object, upload_id, number, data).etag)

    with ThreadPoolExecutor(THREADS) as pool:
        done = list(pool.map(send, parts))
    bucket.complete_multipart_upload(addr.object, upload_id, done)
    return {"seconds": time.perf_counter() - t0, "key": addr.object, "video_id": ticket.media_id}


def _patched_voduploadsdk():
    """Point Alibaba's SDK at the local service - patches of the PEER only, per its source:
    the VOD endpoint is process-global in aliyunsdkcore's region provider (the SDK's AcsClient is
    created inside AliyunVodUploader), requests default to http, and ReportUploadProgress (an
    unsigned POST to the hard-coded vod.cn-shanghai.aliyuncs.com after every part) is a no-op."""
    from aliyunsdkcore.profile import region_provider
    from voduploadsdk import AliyunVodUploader as module

    host = _svc()["vod_endpoint"].split("://", 1)[1]
    region_provider.add_endpoint("vod", "cn-shanghai", host)
    module._VodResumableUploader._VodResumableUploader__reportUploadProgress = lambda self, *a, **k: None
    svc = _svc()
    uploader = module.AliyunVodUploader(svc["access_key_id"], svc["access_key_secret"])
    uploader.setMultipartUpload(PART_SIZE, PART_SIZE, THREADS)
    return module, uploader


def _quiet(fn):
    """voduploadsdk prints a line per part; keep it out of our JSON stdout."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return fn()


def run_voduploadsdk(path: Path) -> dict[str, Any]:
    from voduploadsdk.UploadVideoRequest import UploadVideoRequest

    _, uploader = _patched_voduploadsdk()
    request = UploadVideoRequest(str(path), path.stem)
    t0 = time.perf_counter()
    info = _quiet(lambda: uploader.uploadLocalVideo(request))
    return {"seconds": time.perf_counter() - t0, "key": info["UploadAddress"]["FileName"],
            "video_id": info["VideoId"]}


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))


def run_vodwidget_small(folder: Path, files_at_once: str = "2") -> dict[str, Any]:
    from vodwidget import VODUpload
    from vodwidget.local.attach import local_credentials

    up = VODUpload(credentials=local_credentials(_endpoint(), "openapi"), part_size=PART_SIZE,
                   parallel=THREADS, resume_store=False, max_concurrent_files=int(files_at_once))
    infos = [up.add_file(p) for p in _images(folder)]
    t0 = time.perf_counter()
    up.start_upload()
    seconds = time.perf_counter() - t0
    ok = sum(i.state == "Success" for i in infos)
    return {"seconds": seconds, "files": len(infos), "ok": ok, "keys": [i.object for i in infos]}


def run_voduploadsdk_small(folder: Path) -> dict[str, Any]:
    from voduploadsdk.UploadImageRequest import UploadImageRequest

    _, uploader = _patched_voduploadsdk()
    files = _images(folder)
    t0 = time.perf_counter()
    ok = 0
    for p in files:
        image_id, _url = _quiet(lambda p=p: uploader.uploadImage(UploadImageRequest(str(p), p.stem)))
        ok += bool(image_id)
    return {"seconds": time.perf_counter() - t0, "files": len(files), "ok": ok}


MODES = {
    "vodwidget": run_vodwidget, "oss2": run_oss2, "voduploadsdk": run_voduploadsdk, "ceiling": run_ceiling,
    "vodwidget-small": run_vodwidget_small, "voduploadsdk-small": run_voduploadsdk_small,
}


def main(argv: list[str]) -> int:
    mode, target, *rest = argv
    counter = os.environ.get("VODWIDGET_BENCH_COUNTER")
    if counter:
        _count_socket_bytes(counter)
    result = MODES[mode](Path(target), *rest)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    result.update(maxrss=ru.ru_maxrss * 1024, cpu_user=ru.ru_utime, cpu_sys=ru.ru_stime)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
