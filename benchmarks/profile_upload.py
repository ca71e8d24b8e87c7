"""Where vodwidget's upload time goes: cProfile of every thread of one upload, plus a CPU budget.

The service runs in its own process (as in ``make bench``); the uploader runs here with a
``cProfile.Profile`` per thread (the part workers are threads, which plain cProfile would miss).
Prints the top functions by own time and by cumulative time, and the share of the process's CPU
spent in CRC64, in reading the file, in the socket, and in progress bookkeeping.

Not part of ``make bench``: ``python benchmarks/profile_upload.py [SIZE_MIB] [--top N]``.
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


BUCKETS = {
    "CRC64 (crcmod)": ("crcmod", "Crc64", "_crc64"),
    "socket send": ("sendall", "socket.send", "ssl"),
    "file read": ("read' of '_io", "method 'read'", "readinto"),
    "progress + cancel checks": ("progress", "callback", "ProgressMeter", "_counting", "add"),
    "lock waits / sleeps": ("acquire", "wait", "sleep"),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("size_mib", nargs="?", type=int, default=256)
    ap.add_argument("--top", type=int, default=25)
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
    print(f"{args.size_mib} MiB in {wall:.2f} s = {mbps(args.size_mib * MiB, wall):.1f} MB/s; "
          f"process CPU {cpu:.2f} s ({cpu / wall:.0%} of one core); {len(_profiles)} threads profiled")
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        stats.stream = out  # type: ignore[attr-defined]
        stats.sort_stats(order).print_stats(args.top)
        print(f"\n--- top {args.top} by {order} ---")
        print("\n".join(line for line in out.getvalue().splitlines() if line.strip()))
    # Own-time per bucket (functions matched by name; threads' wait time shows as lock waits).
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    print("\n--- own time by bucket (all threads, incl. waiting) ---")
    for name, needles in BUCKETS.items():
        t = sum(v[2] for k, v in stats.stats.items()  # type: ignore[attr-defined]
                if any(n in f"{k[0]}:{k[2]}" for n in needles))
        print(f"{name:<28} {t:7.2f} s  ({t / total:.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
