"""Throughput of one file: vodwidget vs raw oss2.resumable_upload vs Alibaba's voduploadsdk vs the
service's ingest ceiling, at several file sizes (10 MiB parts, 4 threads for everyone).

Peers run interleaved at each size so drifting machine load hits them alike; the largest size
runs ``rounds`` times (every size does: the machine is shared, one round is too noisy) and the
best round counts. Every stored object is checked (MD5 against the
file) and then deleted so the service's disk stays small.

Run alone: ``python benchmarks/bench_upload.py [--sizes 16,64]`` (sizes in MiB).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    MiB,
    Service,
    delete_object,
    local_service,
    make_file,
    mbps,
    md5_file,
    md5_object,
    run_worker,
)

PEERS = ("vodwidget", "oss2", "voduploadsdk", "ceiling")
LABELS = {
    "vodwidget": "vodwidget VODUpload",
    "oss2": "oss2.resumable_upload",
    "voduploadsdk": "voduploadsdk (Alibaba)",
    "ceiling": "service ceiling (raw UploadPart)",
}
DEFAULT_SIZES_MIB = (16, 64, 256, 1024)


def run(svc: Service, work: Path, sizes_mib: tuple[int, ...] = DEFAULT_SIZES_MIB, rounds: int = 2,
        say=print) -> dict[str, Any]:
    """Return ``{"runs": [...], "best": {size: {peer: row}}}``; each row has seconds, MB/s, peak RSS."""
    runs: list[dict[str, Any]] = []
    best: dict[int, dict[str, dict[str, Any]]] = {}
    for size_mib in sizes_mib:
        size = size_mib * MiB
        path = make_file(work / f"bench-{size_mib}MiB.mp4", size, seed=size_mib)
        digest = md5_file(path)
        for rnd in range(rounds):
            for peer in PEERS:
                r = run_worker(svc, peer, str(path))
                ok = md5_object(svc, r["key"]) == digest if rnd == 0 else None
                delete_object(svc, r["key"])
                row = {"peer": peer, "size": size, "round": rnd, "seconds": r["seconds"],
                       "mbps": mbps(size, r["seconds"]), "peak_rss": r.peak_rss,
                       "cpu": r["cpu_user"] + r["cpu_sys"], "md5_ok": ok}
                if ok is False:
                    raise RuntimeError(f"{peer}: the stored object differs from the file ({size_mib} MiB)")
                runs.append(row)
                say(f"  {size_mib:>5} MiB  {peer:<13} {row['mbps']:7.1f} MB/s  "
                    f"peak RSS {row['peak_rss'] / MiB:6.1f} MiB  cpu {row['cpu']:5.1f} s")
                cur = best.setdefault(size_mib, {}).get(peer)
                if cur is None or row["mbps"] > cur["mbps"]:
                    best[size_mib][peer] = row
        path.unlink()
    return {"runs": runs, "best": best, "sizes_mib": list(sizes_mib), "rounds": rounds}


def set_faults(svc: Service, spec: str | None, seed: int = 1) -> None:
    """Set the service subprocess's fault spec through its admin URL."""
    import requests

    r = requests.post(f"{svc.vod_endpoint}/_admin/faults", json={"spec": spec, "seed": seed}, timeout=10)
    r.raise_for_status()


def run_latency(svc: Service, work: Path, size_mib: int = 256, delay: float = 0.05, say=print) -> dict[str, Any]:
    """The same upload when every OSS request waits ``delay`` s before the service answers - what a
    real network's round trips add. Serial parts pay it once per part; 4 threads a quarter of that."""
    size = size_mib * MiB
    path = make_file(work / f"latency-{size_mib}MiB.mp4", size, seed=size_mib)
    rows: dict[str, dict[str, Any]] = {}
    set_faults(svc, f"slow=1,delay={delay},scope=oss")
    try:
        for peer in PEERS:
            r = run_worker(svc, peer, str(path))
            delete_object(svc, r["key"])
            rows[peer] = {"seconds": r["seconds"], "mbps": mbps(size, r["seconds"])}
            say(f"  {size_mib:>5} MiB +{delay * 1000:.0f} ms/request  {peer:<13} {rows[peer]['mbps']:7.1f} MB/s")
    finally:
        set_faults(svc, None)
        path.unlink()
    return {"size_mib": size_mib, "delay": delay, "rows": rows}


def latency_markdown(result: dict[str, Any]) -> str:
    me = result["rows"]["vodwidget"]["mbps"]
    lines = [f"{result['size_mib']} MiB with {result['delay'] * 1000:.0f} ms added before the service answers each "
             "OSS request (the service's `slow=1,delay=...` fault), one round:", "",
             "| peer | seconds | MB/s | vodwidget / peer |", "|---|---:|---:|---:|"]
    for peer in PEERS:
        row = result["rows"][peer]
        lines.append(f"| {LABELS[peer]} | {row['seconds']:.2f} | {row['mbps']:.1f} | {me / row['mbps']:.2f} |")
    return "\n".join(lines)


def ratios(result: dict[str, Any]) -> dict[str, float]:
    """At the largest size: vodwidget's throughput over each peer's."""
    top = result["best"][max(result["best"])]
    me = top["vodwidget"]["mbps"]
    return {peer: me / top[peer]["mbps"] for peer in PEERS if peer != "vodwidget"}


def markdown(result: dict[str, Any]) -> str:
    sizes = sorted(result["best"])
    lines = ["| peer | " + " | ".join(f"{s} MiB" for s in sizes) + " |",
             "|---|" + "---:|" * len(sizes)]
    for peer in PEERS:
        cells = [f"{result['best'][s][peer]['mbps']:.1f}" for s in sizes]
        lines.append(f"| {LABELS[peer]} | " + " | ".join(cells) + " |")
    top = result["best"][sizes[-1]]
    lines.insert(0, f"Best of {result['rounds']} rounds at every size.\n")
    lines += ["", f"At {sizes[-1]} MiB (best of {result['rounds']} rounds; MB = 10^6 bytes; "
              "seconds = CreateUploadVideo + transfer, measured inside the uploader process):", "",
              "| peer | seconds | MB/s | vodwidget / peer | CPU s (user+sys) | peak RSS MiB |",
              "|---|---:|---:|---:|---:|---:|"]
    rat = ratios(result)
    for peer in PEERS:
        row = top[peer]
        ratio = "1.00" if peer == "vodwidget" else f"{rat[peer]:.2f}"
        lines.append(f"| {LABELS[peer]} | {row['seconds']:.2f} | {row['mbps']:.1f} | {ratio} | "
                     f"{row['cpu']:.1f} | {row['peak_rss'] / MiB:.1f} |")
    return "\n".join(lines)


def plot(result: dict[str, Any], out: Path) -> None:
    """Throughput against file size, one line per peer (log-2 x axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(result["best"])
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for peer, marker in zip(PEERS, "osD^", strict=True):
        ax.plot(sizes, [result["best"][s][peer]["mbps"] for s in sizes], marker=marker, label=LABELS[peer])
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [f"{s} MiB" if s < 1024 else f"{s // 1024} GiB" for s in sizes])
    ax.set_xlabel("file size")
    ax.set_ylabel("MB/s (10^6 B/s)")
    ax.set_ylim(bottom=0)
    ax.set_title("Upload throughput to the local VOD service (10 MiB parts, 4 threads)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES_MIB)), help="MiB, comma-separated")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(","))
    with tempfile.TemporaryDirectory(prefix="vodbench-") as work, local_service() as svc:
        result = run(svc, Path(work), sizes, args.rounds)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
