"""upload_manifest on a dask.distributed LocalCluster (2 worker processes) with injected faults."""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import oss2
import pandas as pd
import pytest

from vodwidget.batch import upload_manifest
from vodwidget.local import LocalVod
from vodwidget.local.attach import LocalEndpoint, local_credentials
from vodwidget.samples import make_sample_image, make_sample_video

distributed = pytest.importorskip("distributed")
REPO = Path(__file__).resolve().parents[1]
VIDEOS, IMAGES = 40, 160


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.slow
@pytest.mark.reliability
def test_200_files_on_two_dask_workers_with_faults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    media = tmp_path / "media"
    paths = [make_sample_video(media / f"v{i:03d}.mp4", seconds=0.2, width=64, height=48, label=i)
             for i in range(VIDEOS)]
    paths += [make_sample_image(media / f"i{i:03d}.png", 40, 30, label=i) for i in range(IMAGES)]
    assert len({_md5(p) for p in paths}) == VIDEOS + IMAGES  # distinct content, so mix-ups show
    manifest = pd.DataFrame({"path": [str(p) for p in paths], "title": [p.stem for p in paths],
                             "tags": "batch,dask"})
    results = tmp_path / "results.csv"
    # Worker processes must import vodwidget even when it is not installed (a source checkout).
    monkeypatch.setenv("PYTHONPATH", str(REPO))

    with LocalVod(data_dir=tmp_path / "vod", port=0) as svc, \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        svc.set_faults("reset=0.03,503=0.03", seed=7)
        # LocalVod itself holds locks and a server thread; a frozen LocalEndpoint pickles, and the
        # provider (with its own session and locks) is built on each worker from it.
        endpoint = LocalEndpoint(svc.vod_endpoint, svc.oss_endpoint, svc.app_server, svc.region,
                                 svc.access_key_id, svc.access_key_secret, str(svc.data_dir), svc.bucket, svc.port)
        creds = functools.partial(local_credentials, endpoint, "appserver")

        started = time.monotonic()
        with distributed.get_task_stream(client) as stream:
            table = upload_manifest(manifest, credentials=creds, executor=client.get_executor(),
                                    max_concurrent_files=4, results=results, progress=False)
        elapsed = time.monotonic() - started
        injected = [f for f in svc.fault_log if f[2] in ("reset", "503")]
        print(f"\n{len(paths)} files on 2 dask workers in {elapsed:.1f} s ({len(paths) / elapsed:.1f} files/s), "
              f"{len(injected)} faults injected")

        bad = table[table["state"] != "Success"]
        assert bad.empty, bad[["path", "error_code", "error_message"]].to_string()
        # The run really went through faults, and the workers retried past them.
        assert len(injected) >= 3 and table["retries"].sum() >= len(injected)
        assert len({t["worker"] for t in stream.data if t["key"].startswith("_upload_chunk")}) == 2

        # No duplicate media: one created video or image per row, all of them uploaded.
        log = svc.request_log
        created = [e for e in log if e.op in ("app:create-upload-video", "app:create-upload-image")
                   and e.status == 200]
        assert len(created) == VIDEOS + IMAGES
        assert svc.store.query("SELECT count(*) FROM videos")[0][0] == VIDEOS
        assert svc.store.query("SELECT count(*) FROM images")[0][0] == IMAGES
        assert table["video_id"].dropna().nunique() == VIDEOS
        assert table["image_id"].dropna().nunique() == IMAGES
        for vid in table["video_id"].dropna():
            assert svc.video(vid)["Status"] == "Normal"

        # Bytes identical: every object read back with the root key matches its local file.
        svc.set_faults(None)
        bucket = oss2.Bucket(oss2.Auth(svc.access_key_id, svc.access_key_secret), svc.oss_endpoint, svc.bucket)
        objects = {r["path"]: svc.video(r["video_id"])["ObjectKey"] if r["video_id"] else
                   svc.image(r["image_id"])["ObjectKey"] for r in table.to_dict("records")}
        for path, key in objects.items():
            assert hashlib.md5(bucket.get_object(key).read()).hexdigest() == _md5(Path(path)), path

        # Re-running the same manifest with the results file uploads nothing.
        svc.clear_log()
        again = upload_manifest(manifest, credentials=creds, executor=client.get_executor(),
                                results=results, progress=False)
        assert (again["state"] == "Success").all()
        # (The reads above may still be logged a moment late; everything else counts.)
        assert [e.op for e in svc.request_log if e.op != "GetObject"] == []
        assert again["video_id"].tolist() == table["video_id"].tolist()

        # The CLI on the same cluster, naming the row that failed.
        small = tmp_path / "cli.csv"
        extra = [make_sample_image(media / f"cli-{i}.png", 40, 30, label=500 + i) for i in range(4)]
        small.write_text("path\n" + "".join(f"{p}\n" for p in extra) + f"{media / 'absent.png'}\n")
        svc.clear_log()
        cli = subprocess.run(
            [sys.executable, "-m", "vodwidget", "batch", str(small), "--results", str(tmp_path / "cli.results.csv"),
             "--app-server", svc.app_server, "--vod-endpoint", svc.vod_endpoint,
             "--scheduler", cluster.scheduler_address],
            env=dict(os.environ), capture_output=True, text=True, timeout=120)
        assert cli.returncode == 1, cli.stderr
        assert "row 5 failed" in cli.stderr and "absent.png" in cli.stderr and "FileNotFound" in cli.stderr
        assert "5 rows: 1 Failure, 4 Success" in cli.stdout
        creates = [e for e in svc.request_log if e.op == "app:create-upload-image" and e.status == 200]
        assert len(creates) == 4
        assert svc.access_key_secret not in cli.stdout + cli.stderr
