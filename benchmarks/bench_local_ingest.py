"""Ingest throughput of the local service: one oss2.resumable_upload into ``python -m vodwidget.local``.

Usage: ``python benchmarks/bench_local_ingest.py [--size-mib 1024] [--part-mib 10] [--threads 4]``.
Prints MB/s and the service's peak RSS (sampled with psutil); the test file is deleted afterwards.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import oss2
import psutil

from vodwidget.openapi import VodApiClient

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--part-mib", type=int, default=10)
    ap.add_argument("--threads", type=int, default=4)
    args = ap.parse_args()
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(var, None)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        src = Path(tmp) / "src.bin"
        block = os.urandom(8 << 20)  # repeated random block: incompressible enough, fast to write
        with open(src, "wb") as fh:
            for _ in range(args.size_mib // 8):
                fh.write(block)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-m", "vodwidget.local", "--port", "0", "--data",
                                 str(Path(tmp) / "data")], stdout=subprocess.PIPE, text=True, env=env)
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            p = psutil.Process(proc.pid)
            while not done.is_set():
                try:
                    peak = max(peak, p.memory_info().rss)
                except psutil.Error:
                    return
                time.sleep(0.05)

        try:
            info = json.loads(proc.stdout.readline())
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            api = VodApiClient(info["access_key_id"], info["access_key_secret"], endpoint=info["vod_endpoint"])
            resp = api.call("CreateUploadVideo", {"Title": "bench", "FileName": "bench.mp4"})
            address = json.loads(base64.b64decode(resp["UploadAddress"]))
            auth = json.loads(base64.b64decode(resp["UploadAuth"]))
            bucket = oss2.Bucket(oss2.StsAuth(auth["AccessKeyId"], auth["AccessKeySecret"], auth["SecurityToken"]),
                                 address["Endpoint"], address["Bucket"], enable_crc=True)
            size = src.stat().st_size
            t0 = time.perf_counter()
            oss2.resumable_upload(bucket, address["FileName"], str(src), store=oss2.ResumableStore(root=tmp),
                                  part_size=args.part_mib << 20, num_threads=args.threads)
            elapsed = time.perf_counter() - t0
            done.set()
            sampler.join()
            print(json.dumps({"bytes": size, "seconds": round(elapsed, 2),
                              "MB_per_s": round(size / elapsed / 1e6, 1),
                              "MiB_per_s": round(size / elapsed / (1 << 20), 1),
                              "service_peak_rss_MiB": round(peak / (1 << 20), 1)}))
        finally:
            done.set()
            proc.terminate()
            proc.wait(timeout=30)
            src.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
