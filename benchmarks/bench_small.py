"""Many small files: 500 PNG images, files/s of vodwidget vs Alibaba's voduploadsdk.

Each image costs a CreateUploadImage call and one PutObject. voduploadsdk uploads one image per
call, so a loop is its best case; vodwidget runs its queue with the default
``max_concurrent_files=2`` and, for reference, with 8.

Run alone: ``python benchmarks/bench_small.py [COUNT]``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Service, local_service, run_worker  # noqa: E402

CASES = (
    ("vodwidget", ["vodwidget-small", "2"], "vodwidget VODUpload (max_concurrent_files=2, default)"),
    ("vodwidget-8", ["vodwidget-small", "8"], "vodwidget VODUpload (max_concurrent_files=8)"),
    ("voduploadsdk", ["voduploadsdk-small"], "voduploadsdk uploadImage loop"),
)


def make_images(folder: Path, count: int) -> list[Path]:
    from vodwidget.samples import make_sample_image

    folder.mkdir(parents=True, exist_ok=True)
    return [make_sample_image(folder / f"img{i:04d}.png", label=i) for i in range(count)]


def run(svc: Service, work: Path, count: int = 500, say=print) -> dict[str, Any]:
    folder = work / "small"
    paths = make_images(folder, count)
    total = sum(p.stat().st_size for p in paths)
    rows = {}
    for name, args, label in CASES:
        mode, *rest = args
        r = run_worker(svc, mode, str(folder), *rest)
        if r["ok"] != count:
            raise RuntimeError(f"{name}: only {r['ok']} of {count} images succeeded")
        rows[name] = {"label": label, "seconds": r["seconds"], "files_per_s": count / r["seconds"],
                      "peak_rss": r.peak_rss}
        say(f"  {label:<55} {rows[name]['files_per_s']:7.1f} files/s")
    return {"count": count, "bytes": total, "rows": rows}


def markdown(result: dict[str, Any]) -> str:
    base = result["rows"]["voduploadsdk"]["files_per_s"]
    lines = [f"{result['count']} PNG images, {result['bytes'] / result['count'] / 1024:.1f} KiB each on average.", "",
             "| uploader | seconds | files/s | vs voduploadsdk |", "|---|---:|---:|---:|"]
    for row in result["rows"].values():
        lines.append(f"| {row['label']} | {row['seconds']:.2f} | {row['files_per_s']:.1f} | "
                     f"{row['files_per_s'] / base:.2f}x |")
    return "\n".join(lines)


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with tempfile.TemporaryDirectory(prefix="vodbench-") as work, local_service() as svc:
        result = run(svc, Path(work), count)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
