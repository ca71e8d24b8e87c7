"""Widget message rate while an :class:`~vodwidget.widgets.UploadPanel` shows a 10-file upload.

Every comm the widgets open is a counting comm (``comm.create_comm`` is swapped for a factory of
``comm.base_comm.BaseComm`` subclasses that count each message and its JSON size instead of
writing to a kernel socket), so the count is exactly what a kernel would send to the browser.
The panel and uploader are the real ones, talking to the local service subprocess.

Run alone: ``python benchmarks/bench_widgets.py``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PART_SIZE, MiB, Service, local_service, make_file  # noqa: E402

FILES = 10
FILE_MIB = 24  # 3 parts each: long enough (a few seconds in all) for the throttle to matter


class _Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: list[float] = []
        self.bytes = 0
        self.by_type: dict[str, int] = {}


def _install(counter: _Counter):
    import comm
    from comm.base_comm import BaseComm

    class CountingComm(BaseComm):
        def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None,
                        **keys: Any) -> None:
            size = len(json.dumps(data, default=str)) + sum(len(b) for b in buffers or ())
            with counter.lock:
                counter.times.append(time.monotonic())
                counter.bytes += size
                counter.by_type[msg_type] = counter.by_type.get(msg_type, 0) + 1

    original = comm.create_comm
    comm.create_comm = lambda *a, **k: CountingComm(*a, **k)
    return original


def run(svc: Service, work: Path, say=print) -> dict[str, Any]:
    try:
        from vodwidget.widgets import UploadPanel
    except ImportError as exc:
        return {"measured": False, "why": f"vodwidget.widgets.UploadPanel is not importable ({exc})"}
    import comm

    counter = _Counter()
    original = _install(counter)
    try:
        paths = [make_file(work / f"w{i}.mp4", FILE_MIB * MiB, seed=100 + i) for i in range(FILES)]
        panel = UploadPanel(credentials=svc.endpoint(), root=str(work), part_size=PART_SIZE, parallel=4,
                            resume_store=False)
        panel.add_files(paths)
        with counter.lock:
            before = len(counter.times)
        t0 = time.monotonic()
        panel.start()
        panel.wait(600)
        seconds = time.monotonic() - t0
        time.sleep(0.3)  # the throttles' trailing updates
        infos = panel.uploader.list_files()
        ok = sum(i.state == "Success" for i in infos)
        with counter.lock:
            during = [t for t in counter.times[before:] if t <= t0 + seconds + 0.3]
            by_type = dict(counter.by_type)
            total_bytes = counter.bytes
        # Peak: the busiest one-second window.
        peak = max((sum(1 for u in during if s <= u < s + 1.0) for s in during), default=0)
        panel.close()
    finally:
        comm.create_comm = original
    result = {"measured": True, "files": FILES, "file_mib": FILE_MIB, "ok": ok, "seconds": seconds,
              "messages": len(during), "rate": len(during) / seconds if seconds else 0.0, "peak_1s": peak,
              "by_type": by_type, "bytes_all": total_bytes}
    say(f"  {len(during)} comm messages in {seconds:.1f} s = {result['rate']:.1f}/s (peak {peak} in 1 s)")
    return result


def markdown(r: dict[str, Any]) -> str:
    if not r.get("measured"):
        return f"Not measured: {r['why']}."
    return "\n".join([
        f"UploadPanel showing {r['files']} files of {r['file_mib']} MiB uploading "
        f"({r['ok']}/{r['files']} succeeded in {r['seconds']:.1f} s):", "",
        "| measure | value |", "|---|---:|",
        f"| comm messages during the upload | {r['messages']} |",
        f"| average rate | {r['rate']:.1f} messages/s |",
        f"| busiest 1-second window | {r['peak_1s']} messages |",
        f"| messages by type (whole run, incl. opening the panel) | "
        f"{', '.join(f'{k}: {v}' for k, v in sorted(r['by_type'].items()))} |",
    ])


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="vodbench-") as work, local_service() as svc:
        result = run(svc, Path(work))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
