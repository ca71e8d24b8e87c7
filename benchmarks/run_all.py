"""``make bench``: every benchmark on one local service subprocess; writes RESULTS.md and throughput.png.

1. one file at 16 MiB .. 1 GiB: MB/s of vodwidget vs oss2.resumable_upload vs voduploadsdk vs the
   service's ingest ceiling (10 MiB parts, 4 threads everywhere), ratios at 1 GiB; then 256 MiB
   again with 50 ms added to every OSS answer (what a real network's round trips cost);
2. 500 small images: files/s of vodwidget vs voduploadsdk;
3. peak RSS of the vodwidget uploader process at 256 MiB, 1 GiB and 4 GiB (flat?);
4. widget comm message rate while an UploadPanel shows a 10-file upload;
5. bytes re-sent when the uploader is SIGKILLed at 50 % and resumed, with an MD5 check;
6. where vodwidget's time goes: ``profile_upload.py --json`` (cProfile of every thread, 256 MiB).

Options: ``--quick`` (small sizes, for a smoke test; does not overwrite RESULTS.md unless
``--out`` is given), ``--out PATH``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_memory  # noqa: E402
import bench_resume  # noqa: E402
import bench_small  # noqa: E402
import bench_upload  # noqa: E402
import bench_widgets  # noqa: E402
from _common import HERE, MiB, free_bytes, local_service, machine_info  # noqa: E402


def say(text: str) -> None:
    print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run every vodwidget benchmark; write RESULTS.md and a plot.")
    ap.add_argument("--quick", action="store_true", help="small sizes only (a smoke test)")
    ap.add_argument("--out", type=Path, default=None, help="where to write the Markdown (default RESULTS.md)")
    args = ap.parse_args(argv)
    quick = args.quick
    out = args.out or (HERE / ("RESULTS-quick.md" if quick else "RESULTS.md"))
    png = out.with_name("throughput-quick.png" if quick else "throughput.png")
    sizes = (4, 16, 32) if quick else bench_upload.DEFAULT_SIZES_MIB
    mem_sizes = (16, 32, 64) if quick else bench_memory.DEFAULT_SIZES_MIB

    info = machine_info()
    started = time.monotonic()
    sections: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="vodbench-") as tmp, local_service() as svc:
        work = Path(tmp)
        say(f"local service: {svc.vod_endpoint} (pid {svc.pid}); work dir {work} "
            f"({free_bytes(work) / 2**30:.1f} GiB free)")

        say("1. throughput by file size")
        up = bench_upload.run(svc, work, sizes, rounds=1 if quick else 2, say=say)
        bench_upload.plot(up, png)
        sections["upload"] = bench_upload.markdown(up)
        rat = bench_upload.ratios(up)
        say("   vodwidget / peer at the largest size: "
            + ", ".join(f"{k} {v:.2f}" for k, v in rat.items()))

        say("1b. throughput with per-request latency")
        lat = bench_upload.run_latency(svc, work, 32 if quick else 256, say=say)
        sections["latency"] = bench_upload.latency_markdown(lat)

        say("2. small files")
        small = bench_small.run(svc, work, 50 if quick else 500, say=say)
        sections["small"] = bench_small.markdown(small)

        say("3. peak RSS by file size")
        known = {s: {**up["best"][s]["vodwidget"], "size": s * MiB} for s in mem_sizes if s in up["best"]}
        mem = bench_memory.run(svc, work, mem_sizes, known=known, say=say)
        sections["memory"] = bench_memory.markdown(mem)

        say("4. widget message rate")
        widgets = bench_widgets.run(svc, work, say=say)
        sections["widgets"] = bench_widgets.markdown(widgets)

        say("5. resume after SIGKILL at 50 %")
        resume = bench_resume.run(svc, work, 64 if quick else 1024, say=say)
        sections["resume"] = bench_resume.markdown(resume)

    say("6. profile of one vodwidget upload")
    sections["profile"] = profile_section(64 if quick else 256)

    minutes = (time.monotonic() - started) / 60
    import os

    # Other work on the machine skews every number; say how busy it was.
    info["load_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = render(info, sections, png.name, minutes, quick)
    out.write_text(text)
    say(f"wrote {out} and {png} in {minutes:.1f} min")
    return 0


def profile_section(size_mib: int) -> str:
    """Run profile_upload.py in its own process (it patches threading to profile every thread)."""
    import json
    import subprocess

    from _common import clean_env

    out = subprocess.run([sys.executable, str(HERE / "profile_upload.py"), str(size_mib), "--json"],
                         capture_output=True, text=True, env=clean_env(), timeout=600)
    if out.returncode != 0:
        return f"Profile failed: {out.stderr[-500:]}"
    p = json.loads(out.stdout.strip().splitlines()[-1])
    say(f"  {size_mib} MiB: wall {p['wall']:.2f} s, process CPU {p['cpu']:.2f} s")
    lines = [f"One {p['size_mib']} MiB upload under cProfile (all {p['threads']} threads; profiling slows "
             f"it): wall {p['wall']:.2f} s, uploader process CPU {p['cpu']:.2f} s "
             f"({p['cpu'] / p['wall']:.0%} of one core). Own time of matching functions, summed over threads:",
             "", "| where | thread-seconds |", "|---|---:|"]
    lines += [f"| {name} | {t:.2f} |" for name, t in p["buckets"].items()]
    return "\n".join(lines)


def render(info: dict[str, str], s: dict[str, str], png: str, minutes: float, quick: bool) -> str:
    machine = "\n".join(f"| {k} | {v} |" for k, v in info.items())
    return f"""# vodwidget benchmarks{' (quick smoke run)' if quick else ''}

Generated by `make bench` (`benchmarks/run_all.py`) on {info['date']} in {minutes:.1f} minutes. Do not edit by hand.

Every uploader runs in its own Python process; the local service (`python -m vodwidget.local`)
is one more process for the whole run, so nobody shares a GIL. All peers use 10 MiB parts and
4 threads: `VODUpload(part_size=10 MiB, parallel=4)`, `oss2.resumable_upload(part_size=10 MiB,
num_threads=4, multipart_threshold=10 MiB)`, voduploadsdk `setMultipartUpload(10 MiB, 10 MiB, 4)`
(it sends parts one at a time whatever the thread count). voduploadsdk is pointed at the local
service by `region_provider.add_endpoint('vod', 'cn-shanghai', host)` and its ReportUploadProgress
call to the public VOD host is a no-op; vodwidget and the service are never patched. The
"service ceiling" is the same bytes as one signed UploadPart per part on 4 threads, with CRC off
and no progress callback: no uploader logic at all. The service and the uploader share this
machine's CPUs, so these are numbers about the client's overhead, not about Alibaba Cloud.

## Machine

| | |
|---|---|
{machine}

## 1. Throughput of one file (MB/s)

{s['upload']}

![throughput against file size]({png})

### 1b. The same with network-like latency

{s['latency']}

## 2. Many small files

{s['small']}

## 3. Memory: peak RSS of the uploader process

{s['memory']}

## 4. Widget message rate

{s['widgets']}

## 5. Cost of a resume after SIGKILL at 50 %

{s['resume']}

## 6. Where vodwidget's time goes

{s['profile']}
"""


if __name__ == "__main__":
    sys.exit(main())
