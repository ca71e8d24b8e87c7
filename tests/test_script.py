"""vodwidget.upload(): the one-call API for scripts, with tqdm bars."""

from __future__ import annotations

import io

import vodwidget
from vodwidget.progress import ProgressMeter
from vodwidget.script import TqdmProgress


def test_upload_returns_rows_and_keeps_going_past_bad_paths(local_vod, make_media, tmp_path):
    rows = vodwidget.upload([make_media("s1.mp4"), tmp_path / "missing.mp4", make_media("s2.png")],
                            local_vod.credentials(), title="Scripted", tags=["a", "b"], progress=False)
    assert [r["state"] for r in rows] == ["Success", "Failure", "Success"]
    assert rows[1]["error_code"] == "FileNotFound"
    assert local_vod.video(rows[0]["video_id"])["Title"] == "Scripted"
    assert rows[2]["image_url"]


def test_tqdm_bars_show_each_file_and_the_total(local_vod, make_media):
    up = vodwidget.VODUpload(credentials=local_vod.credentials(), part_size=256 * 1024)
    infos = [up.add_file(make_media("bar1.mp4", 2 * 1024 * 1024)), up.add_file(make_media("bar2.png"))]
    out = io.StringIO()
    bars = TqdmProgress(infos, file=out, disable=False)
    up.start_upload()
    bars.close()
    text = out.getvalue()
    assert "Success  bar1.mp4" in text and "Success  bar2.png" in text
    assert "2 files" in text and "100%" in text
    assert bars.overall.n == sum(i.size for i in infos)


def test_progress_meter_throttles_and_smooths():
    emitted = []
    meter = ProgressMeter(1000, emitted.append, interval=10.0)
    for _ in range(99):
        meter.add(10)
    assert len(emitted) == 1, "one emit per interval (the first), however many adds"
    meter.add(10)
    assert emitted[-1].percent == 100.0 and emitted[-1].eta == 0.0, "completion always emits"
    meter.add(-500)
    meter.flush()
    assert emitted[-1].loaded == 500
