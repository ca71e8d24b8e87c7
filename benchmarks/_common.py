"""Shared benchmark plumbing: the local service in its own process, uploader subprocesses with RSS
sampling, fast test files, machine info.

Every uploader under test runs in a fresh interpreter (``benchmarks/_workers.py``) so it shares
neither the GIL nor memory with the service or with the other peers; the service itself is one
``python -m vodwidget.local`` process for the whole run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKERS = HERE / "_workers.py"
MiB = 1024 * 1024
GiB = 1024 * MiB
PART_SIZE = 10 * MiB
THREADS = 4
SVC_ENV = "VODWIDGET_BENCH_SVC"
if str(ROOT) not in sys.path:  # a plain checkout works too, not only after `pip install -e .`
    sys.path.insert(0, str(ROOT))  # the service's endpoints + root key, handed to workers by env (not argv)


def clean_env() -> dict[str, str]:
    """The environment for child processes: no proxies (127.0.0.1 traffic must stay local)."""
    env = dict(os.environ)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(var, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONUNBUFFERED"] = "1"
    # Works from a plain checkout too (not only after `pip install -e .`).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@dataclass
class Service:
    """A ``python -m vodwidget.local`` child process and what its first stdout line said."""

    proc: subprocess.Popen
    info: dict[str, Any]
    data_dir: Path

    def __getattr__(self, name: str) -> Any:
        try:
            return self.info[name]
        except KeyError:
            raise AttributeError(name) from None

    def endpoint(self):
        """A :class:`vodwidget.local.attach.LocalEndpoint` for in-process clients."""
        from vodwidget.local.attach import LocalEndpoint

        i = self.info
        return LocalEndpoint(i["vod_endpoint"], i["oss_endpoint"], i["app_server"], i["region"],
                             i["access_key_id"], i["access_key_secret"], i["data_dir"], i["bucket"], i["port"])

    def root_bucket(self):
        import oss2

        return oss2.Bucket(oss2.Auth(self.access_key_id, self.access_key_secret), self.oss_endpoint, self.bucket)


@contextlib.contextmanager
def local_service(data_dir: Path | None = None) -> Iterator[Service]:
    """Start the local service in a subprocess on a free port; stop it (SIGTERM) on exit."""
    tmp = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="vodbench-svc-"))
    proc = subprocess.Popen([sys.executable, "-m", "vodwidget.local", "--port", "0", "--data", str(tmp)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=clean_env(),
                            cwd=ROOT)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            raise RuntimeError(f"the local service did not start (exit code {proc.poll()})")
        yield Service(proc, json.loads(line), tmp)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if data_dir is None:
            shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class WorkerResult:
    """What a worker printed (its last stdout line, JSON) plus what we measured from outside."""

    data: dict[str, Any]
    peak_rss: int  # bytes, sampled every ~20 ms with psutil
    wall: float  # seconds including interpreter start-up
    returncode: int

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


def read_counter(path: Path) -> int:
    """The socket byte count a worker started with ``counter=`` keeps in ``path``."""
    return int.from_bytes(Path(path).read_bytes()[:8], sys.byteorder, signed=True)


def worker_env(svc: Service, counter: Path | None = None) -> dict[str, str]:
    env = clean_env()
    env[SVC_ENV] = json.dumps(svc.info)
    if counter is not None:
        env["VODWIDGET_BENCH_COUNTER"] = str(counter)
    return env


def run_worker(svc: Service, *args: str, timeout: float = 900.0, counter: Path | None = None) -> WorkerResult:
    """Run ``_workers.py ARGS`` with the service's coordinates in the environment; sample its RSS.
    With ``counter``, the worker counts the bytes it sends to sockets in that file."""
    env = worker_env(svc, counter)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(WORKERS), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        try:
            p = psutil.Process(proc.pid)
            while not stop.is_set():
                peak = max(peak, p.memory_info().rss)
                stop.wait(0.02)
        except psutil.Error:
            pass

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        stop.set()
        sampler.join()
    wall = time.perf_counter() - t0
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"worker {args} failed ({proc.returncode}):\n{err[-3000:]}")
    data = json.loads(lines[-1])
    # Not the child's ru_maxrss: Linux keeps it across fork+exec, so it starts at the parent's RSS.
    return WorkerResult(data, peak, wall, proc.returncode)


def make_file(path: Path, size: int, seed: int = 0) -> Path:
    """Write ``size`` bytes of incompressible data fast: a random 8 MiB block, each copy tagged
    with its offset so no two blocks are equal (content dedup cannot flatter anyone)."""
    rng = random.Random(seed)
    block = bytearray(rng.randbytes(8 * MiB))
    with open(path, "wb") as f:
        written = 0
        while written < size:
            n = min(len(block), size - written)
            block[:16] = written.to_bytes(16, "big")
            f.write(memoryview(block)[:n])
            written += n
    return path


def md5_file(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MiB):
            h.update(chunk)
    return h.hexdigest()


def md5_object(svc: Service, key: str) -> str:
    h = hashlib.md5()
    for chunk in svc.root_bucket().get_object(key):
        h.update(chunk)
    return h.hexdigest()


def delete_object(svc: Service, key: str | None) -> None:
    """Free the service's disk after a measurement."""
    if key:
        with contextlib.suppress(Exception):
            svc.root_bucket().delete_object(key)


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def machine_info() -> dict[str, str]:
    """CPU count and model, RAM, Python and the versions of every package the numbers depend on."""
    model = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    pkgs = ["vodwidget", "oss2", "requests", "urllib3", "fastcrc", "crcmod", "voduploadsdk", "aliyun-python-sdk-core",
            "aiohttp", "psutil"]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpus": str(os.cpu_count()),
        "cpu_model": model,
        "ram": f"{psutil.virtual_memory().total / GiB:.1f} GiB",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": ", ".join(f"{p} {_version(p)}" for p in pkgs),
        "load_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def mbps(size: int, seconds: float) -> float:
    """MB/s with MB = 10^6 bytes."""
    return size / seconds / 1e6 if seconds > 0 else float("nan")
