"""Cost of a resume: bytes sent again after ``kill -9`` of the uploader at 50 %.

1. A vodwidget uploader subprocess with a resume store starts a 1 GiB file (10 MiB parts, 4 threads).
2. Its resume record (written before the first part goes out) names the multipart upload; the
   service's ListParts (root key) is polled until half the parts are stored, then SIGKILL.
3. A second uploader process adds the same file: it must find the record, ask the server which
   parts it holds and send only the others.

Bytes on the wire are counted under each uploader process's sockets (``_workers.py`` wraps
``socket.sendall``/``send`` and keeps the total in an mmap'd file the parent reads at the instant
of the kill; Linux's ``wchar`` does not count ``send()``): re-sent = run 1 + run 2 - an
uninterrupted upload of the same file. Split as: in-flight bytes lost by the kill (run 1 minus the parts the server kept) and bytes
of already-stored parts sent again by run 2 (run 2 minus the parts it had to send). The stored
object's MD5 must equal the file's.

Run alone: ``python benchmarks/bench_resume.py [SIZE_MIB]``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    PART_SIZE,
    WORKERS,
    MiB,
    Service,
    delete_object,
    local_service,
    make_file,
    md5_file,
    md5_object,
    read_counter,
    run_worker,
    worker_env,
)


def _record(resume_dir: Path) -> dict[str, Any] | None:
    for p in resume_dir.glob("*.json"):
        try:
            data = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if data.get("upload_id"):
            return data
    return None


def _stored_parts(svc: Service, key: str, upload_id: str) -> dict[int, int]:
    import oss2

    return {p.part_number: p.size for p in oss2.PartIterator(svc.root_bucket(), key, upload_id)}


def run(svc: Service, work: Path, size_mib: int = 1024, say=print) -> dict[str, Any]:
    size = size_mib * MiB
    path = make_file(work / f"resume-{size_mib}MiB.mp4", size, seed=7)
    digest = md5_file(path)
    n_parts = -(-size // PART_SIZE)
    try:
        # The reference: the same file, uninterrupted, without a resume store.
        ref = run_worker(svc, "vodwidget", str(path), counter=work / "count-ref")
        delete_object(svc, ref["key"])
        baseline = read_counter(work / "count-ref")

        resume_dir = work / "resume-store"
        resume_dir.mkdir()
        env = worker_env(svc, work / "count-1")
        proc = subprocess.Popen([sys.executable, str(WORKERS), "vodwidget", str(path), str(resume_dir)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        t0 = time.monotonic()
        record = None
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the uploader finished before it could be killed ({proc.returncode})")
            if time.monotonic() - t0 > 600:
                proc.kill()
                raise RuntimeError("the uploader never reached 50 %")
            record = record or _record(resume_dir)
            if record and len(_stored_parts(svc, record["object"], record["upload_id"])) >= n_parts / 2:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
        proc.wait()
        wchar1 = read_counter(work / "count-1")
        # Bytes already in the socket buffers still reach the service after the kill and may
        # complete a part; let it settle before asking what it kept.
        time.sleep(1.5)
        kept = _stored_parts(svc, record["object"], record["upload_id"])
        kept_bytes = sum(kept.values())
        say(f"  killed at {len(kept)}/{n_parts} parts stored ({kept_bytes / size:.0%})")

        second = run_worker(svc, "vodwidget", str(path), str(resume_dir), counter=work / "count-2")
        ok = md5_object(svc, second["key"]) == digest
        same_video = second["video_id"] == record["video_id"]
        delete_object(svc, second["key"])
        wchar2 = read_counter(work / "count-2")
        overhead = baseline - size  # headers, JSON, the resume record: what any upload writes besides the file
        resent = wchar1 + wchar2 - baseline
        in_flight = wchar1 - kept_bytes - overhead / 2
        again = wchar2 - (size - kept_bytes) - overhead / 2
        result = {
            "size": size, "parts": n_parts, "parts_kept": len(kept), "kept_bytes": kept_bytes,
            "wchar_kill": wchar1, "wchar_resume": wchar2, "wchar_reference": baseline,
            "resent_bytes": resent, "in_flight_lost": in_flight, "stored_parts_sent_again": again,
            "md5_ok": ok, "same_video": same_video, "resumed": second["resumed"],
            "resume_seconds": second["seconds"], "reference_seconds": ref["seconds"],
        }
        say(f"  re-sent {resent / MiB:.1f} MiB (limit: {4 * PART_SIZE / MiB:.0f} MiB in flight); MD5 "
            f"{'identical' if ok else 'DIFFERENT'}; same VideoId: {same_video}")
        if not ok:
            raise RuntimeError("the resumed object differs from the file")
        return result
    finally:
        path.unlink(missing_ok=True)


def markdown(r: dict[str, Any]) -> str:
    m = MiB
    return "\n".join([
        "| measure | value |", "|---|---:|",
        f"| file | {r['size'] / m:.0f} MiB, {r['parts']} parts of 10 MiB, 4 threads |",
        f"| parts stored when SIGKILL hit | {r['parts_kept']} ({r['kept_bytes'] / r['size']:.0%}) |",
        f"| bytes sent by the killed run | {r['wchar_kill'] / m:.1f} MiB |",
        f"| bytes sent by the resumed run | {r['wchar_resume'] / m:.1f} MiB |",
        f"| bytes sent by an uninterrupted upload | {r['wchar_reference'] / m:.1f} MiB |",
        f"| **re-sent bytes** (killed + resumed - uninterrupted) | **{r['resent_bytes'] / m:.1f} MiB** "
        f"({r['resent_bytes'] / r['size']:.1%} of the file) |",
        f"| of which: in-flight part bytes lost by the kill | {r['in_flight_lost'] / m:.1f} MiB |",
        f"| of which: already-stored parts sent again | {r['stored_parts_sent_again'] / m:.1f} MiB |",
        f"| resumed run reused the VideoId / said resumed | {r['same_video']} / {r['resumed']} |",
        f"| resumed run seconds (vs uninterrupted) | {r['resume_seconds']:.1f} ({r['reference_seconds']:.1f}) |",
        f"| stored object MD5 equals the file's | {r['md5_ok']} |",
    ])


def main() -> int:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    with tempfile.TemporaryDirectory(prefix="vodbench-") as work, local_service() as svc:
        result = run(svc, Path(work), size)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
