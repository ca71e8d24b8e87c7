"""Peak RSS of the vodwidget uploader process for 256 MiB, 1 GiB and 4 GiB files: must stay flat.

The uploader runs in a subprocess (``_workers.py vodwidget``); its RSS is sampled every 20 ms with
psutil (the child's ``ru_maxrss`` is useless here: Linux carries the parent's peak across
fork + exec). Before the big file, free disk is
checked: the file, the service's stored copy and its part files need about 2.5x the file size;
when space is short the size is halved until it fits, and the report says so.

Run alone: ``python benchmarks/bench_memory.py``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    MiB,
    Service,
    delete_object,
    free_bytes,
    local_service,
    make_file,
    mbps,
    run_worker,
)

DEFAULT_SIZES_MIB = (256, 1024, 4096)
DISK_FACTOR = 2.5  # file + the service's parts + the assembled object, with some room


def run(svc: Service, work: Path, sizes_mib: tuple[int, ...] = DEFAULT_SIZES_MIB,
        known: dict[int, dict[str, Any]] | None = None, say=print) -> dict[str, Any]:
    """``known`` holds rows already measured the same way (by bench_upload) to save time."""
    rows: dict[int, dict[str, Any]] = {}
    notes: list[str] = []
    for size_mib in sizes_mib:
        if known and size_mib in known:
            rows[size_mib] = {**known[size_mib], "requested_mib": size_mib, "source": "throughput run"}
            continue
        actual = size_mib
        free = min(free_bytes(work), free_bytes(svc.data_dir))
        while actual * MiB * DISK_FACTOR > free and actual > 64:
            actual //= 2
        if actual != size_mib:
            notes.append(f"{size_mib} MiB scaled down to {actual} MiB: only {free / 2**30:.1f} GiB free "
                         f"(needs ~{size_mib * DISK_FACTOR / 1024:.1f} GiB)")
        path = make_file(work / f"mem-{actual}MiB.mp4", actual * MiB, seed=actual)
        try:
            r = run_worker(svc, "vodwidget", str(path), timeout=1800)
        finally:
            path.unlink()
        delete_object(svc, r["key"])
        rows[size_mib] = {"size": actual * MiB, "requested_mib": size_mib, "peak_rss": r.peak_rss,
                          "seconds": r["seconds"], "mbps": mbps(actual * MiB, r["seconds"]),
                          "source": "own run"}
        say(f"  {actual:>5} MiB  peak RSS {r.peak_rss / MiB:6.1f} MiB  {rows[size_mib]['mbps']:.1f} MB/s")
    rss = [row["peak_rss"] for row in rows.values()]
    spread = (max(rss) - min(rss)) / MiB
    return {"rows": rows, "notes": notes, "spread_mib": spread, "flat": spread < 32}


def markdown(result: dict[str, Any]) -> str:
    lines = ["| file size | peak RSS of the uploader process | MB/s | measured in |", "|---:|---:|---:|---|"]
    for _, row in sorted(result["rows"].items()):
        lines.append(f"| {row['size'] / MiB:.0f} MiB | {row['peak_rss'] / MiB:.1f} MiB | {row['mbps']:.1f} | "
                     f"{row['source']} |")
    verdict = "flat" if result["flat"] else "NOT flat"
    lines += ["", f"Spread between smallest and largest file: {result['spread_mib']:.1f} MiB ({verdict}; "
              "the threshold is 32 MiB, i.e. about 4 threads x 8 MiB of buffers)."]
    lines += [f"- Note: {n}" for n in result["notes"]]
    return "\n".join(lines)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="vodbench-") as work, local_service() as svc:
        result = run(svc, Path(work))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
