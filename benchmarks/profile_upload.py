"""Where vodwidget's upload time goes: cProfile of every thread of one upload, plus a CPU budget.

The service runs in its own process (as in ``make bench``); the uploader runs here with a
``cProfile.Profile`` per thread (the part workers are threads, which plain cProfile would miss).
Prints the top functions by own time and by cumulative time, and thread time spent in CRC64,
waiting for the service, sending, reading the file, and progress bookkeeping.

``python benchmarks/profile_upload.py [SIZE_MIB] [--top N] [--json]`` (``make bench`` runs it
with ``--json`` on 256 MiB for the RESULTS.md summary).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PART_SIZE, THREADS, MiB, local_service, make_file, mbps  # noqa: E402

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()


def _profile_threads() -> None:
    """Give every thread started from now on its own profiler (merged at the end)."""
    original = threading.Thread.run

    def run(self: threading.Thread) -> None:
        prof = cProfile.Profile()
        with _lock:
            _profiles.append(prof)
        prof.enable()
        try:
            original(self)
        finally:
            prof.disable()

    threading.Thread.run = run  # type: ignore[method-assign]


# Own time of matching functions, summed over all threads (a thread blocked in recv_into is
# waiting for the service; one blocked in acquire is idle).
BUCKETS = {
    "CRC64 of the bytes (fastcrc in vodwidget, crcmod in oss2)": ("crcmod", "crc64", "fastcrc"),
    "waiting for the service's answer (recv_into)": ("recv_into",),
    "handing bytes to the socket (sendall)": ("sendall",),
    "reading the file": ("method 'read' of '_io",),
    "progress bookkeeping": ("progress.py", "_counting", "_on_progress"),
    "idle (lock waits)": ("acquire' of '_thread",),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("size_mib", nargs="?", type=int, default=256)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--json", action="store_true", help="print only a JSON summary (for run_all)")
    args = ap.parse_args()
    from vodwidget import VODUpload

    with tempfile.TemporaryDirectory(prefix="vodprof-") as work, local_service() as svc:
        path = make_file(Path(work) / "prof.mp4", args.size_mib * MiB)
        from vodwidget.local.attach import local_credentials

        up = VODUpload(credentials=local_credentials(svc.endpoint()), part_size=PART_SIZE, parallel=THREADS,
                       resume_store=False, max_concurrent_files=1)
        info = up.add_file(path)
        _profile_threads()
        main_prof = cProfile.Profile()
        cpu0, t0 = time.process_time(), time.perf_counter()
        main_prof.enable()
        up.start_upload()
        main_prof.disable()
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        assert info.state == "Success", info.error_message
    stats = pstats.Stats(main_prof)
    for p in _profiles:
        stats.add(p)
    buckets = {}
    for name, needles in BUCKETS.items():
        buckets[name] = sum(v[2] for k, v in stats.stats.items()  # type: ignore[attr-defined]
                            if any(n in f"{k[0]}:{k[2]}" for n in needles))
    if args.json:
        import json

        print(json.dumps({"size_mib": args.size_mib, "wall": wall, "cpu": cpu, "threads": len(_profiles),
                          "buckets": buckets}))
        return 0
    print(f"{args.size_mib} MiB in {wall:.2f} s = {mbps(args.size_mib * MiB, wall):.1f} MB/s; "
          f"process CPU {cpu:.2f} s ({cpu / wall:.0%} of one core); {len(_profiles)} threads profiled")
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        stats.stream = out  # type: ignore[attr-defined]
        stats.sort_stats(order).print_stats(args.top)
        print(f"\n--- top {args.top} by {order} ---")
        print("\n".join(line for line in out.getvalue().splitlines() if line.strip()))
    print("\n--- own time by bucket, summed over threads ---")
    for name, t in buckets.items():
        print(f"{name:<52} {t:7.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
