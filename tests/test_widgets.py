"""UploadPanel driven through its widgets against the real local service (real HTTP, real oss2).

Clicks are ``button.click()``, picks are the picker's own widgets; nothing under test is mocked.
The comm layer is instrumented (``Widget._send`` counted) to measure what would go to the browser.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import ipywidgets
import pytest
import requests

from vodwidget.local.attach import local_credentials
from vodwidget.models import SUCCESS
from vodwidget.openapi import VodApiClient
from vodwidget.samples import make_sample_image, make_sample_video
from vodwidget.widgets import UploadPanel
from vodwidget.widgets.queue import QueueRow


def wait_for(cond: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def secrets_of(svc) -> list[str]:
    """The root secret, every STS secret and token the service issued, and a fresh UploadAuth."""
    found = [svc.access_key_secret, svc.media_key]
    for row in svc.store.query("SELECT secret, token FROM creds"):
        found += [row["secret"], row["token"]]
    resp = VodApiClient(svc.access_key_id, svc.access_key_secret, endpoint=svc.vod_endpoint).call(
        "CreateUploadVideo", {"Title": "probe", "FileName": "probe.mp4"})
    auth = json.loads(base64.b64decode(resp["UploadAuth"]))
    found += [resp["UploadAuth"], auth["AccessKeySecret"], auth["SecurityToken"]]
    return [s for s in found if s]


def assert_no_secrets(svc, *extra_text: str) -> None:
    """No secret in any live widget's state, in the manager state a notebook saves, or in texts."""
    from ipywidgets.widgets.widget import _instances

    def dump(obj: object) -> str:
        return json.dumps(obj, default=lambda o: bytes(o).decode("latin-1") if isinstance(o, (bytes, memoryview))
                          else str(o))

    states = [dump(widget.get_state()) for widget in list(_instances.values())]
    assert len(states) > 20
    blobs = [*states, dump(ipywidgets.Widget.get_manager_state()), *extra_text]
    for secret in secrets_of(svc):
        for blob in blobs:
            assert secret not in blob


@pytest.fixture
def panel_factory(local_vod):
    made: list[UploadPanel] = []

    def make(root: Path, **options) -> UploadPanel:
        panel = UploadPanel(credentials=local_vod, root=root, **options)
        made.append(panel)
        return panel

    yield make
    for panel in made:
        panel.close()
    local_vod.set_faults(None)


def test_panel_uploads_video_and_image_with_metadata(local_vod, media_dir: Path, panel_factory) -> None:
    video = make_sample_video(media_dir / "holiday.mp4", seconds=1)
    image = make_sample_image(media_dir / "cover.png")
    (media_dir / "readme.txt").write_text("not media")
    panel = panel_factory(media_dir)
    assert "Use local service" not in repr(panel) and panel.service is local_vod

    picker = panel.picker
    assert [label.split("  ")[0] for label, _ in picker.files.options] == ["cover.png", "holiday.mp4"]
    picker.select("holiday.mp4")
    assert panel.form.title.placeholder == "holiday"          # the Title defaults to the file name
    picker.select("cover.png")
    panel.form.cate_id.value = "7"
    panel.form.tags.value = "beach,2024"
    panel.add_button.click()
    assert "Added 2 files" in panel.message.value and picker.selected == []
    rows = list(panel.queue.rows.values())
    assert [r.info.name for r in rows] == ["holiday.mp4", "cover.png"]
    assert all(isinstance(r.thumb, ipywidgets.Image) for r in rows)   # first frame / scaled image
    assert "Ready" in rows[0].state.value and not rows[0].cancel_button.disabled

    panel.start_button.click()
    assert panel.wait(60)
    v_row, i_row = rows
    wait_for(lambda: "Success" in v_row.state.value and "Success" in i_row.state.value, 5, "rows to show Success")
    vinfo, iinfo = v_row.info, i_row.info
    assert v_row.bar.value == 100.0 and v_row.bar.bar_style == "success" and v_row.stats.value == "100.0%"
    assert vinfo.video_id in v_row.detail.value
    # The play link is looked up on the panel's own thread once the row shows Success.
    wait_for(lambda: 'class="vodwidget-play"' in v_row.detail.value, 10, "the play link")
    assert iinfo.image_url in i_row.detail.value and "<img" in i_row.detail.value
    assert v_row.cancel_button.disabled and v_row.retry_button.disabled and not v_row.remove_button.disabled
    wait_for(lambda: panel.queue.overall.value == 100.0, 2, "the overall bar to reach 100%")
    assert "2 files: Success 2" in panel.queue.summary.value

    # The form's metadata reached the service.
    row = local_vod.video(vinfo.video_id)
    assert (row["Title"], str(row["CateId"]), row["Tags"]) == ("holiday", "7", "beach,2024")

    # Results: a DataFrame with a play URL that serves the exact bytes; the image URL too.
    results = panel.results
    assert list(results["state"]) == [SUCCESS, SUCCESS]
    play = results.loc[0, "play_url"]
    assert play and results.loc[0, "video_id"] == vinfo.video_id
    assert requests.get(play, timeout=10).content == video.read_bytes()
    got = requests.get(results.loc[1, "image_url"], timeout=10)
    assert got.status_code == 200 and got.content == image.read_bytes()

    # Text fallback for front ends without widgets: files, states, percent, results.
    text = panel._repr_mimebundle_()["text/plain"]
    for needle in ("holiday.mp4", "cover.png", "Success", "100.0%", vinfo.video_id, iinfo.image_url, play):
        assert needle in text
    assert_no_secrets(local_vod, text, repr(panel.uploader), results.to_json())


def test_bad_input_is_reported_inline_and_the_rest_is_queued(media_dir: Path, panel_factory) -> None:
    make_sample_image(media_dir / "ok.png")
    (media_dir / "fake.png").write_bytes(b"this is not a png at all")
    panel = panel_factory(media_dir)
    panel.picker.select("fake.png", "ok.png")
    panel.form.cate_id.value = "abc"
    panel.add_button.click()                                   # refused: metadata first
    assert "Fix the metadata first" in panel.message.value and panel.uploader.list_files() == []
    assert "CateId must be a whole number" in panel.form.error.value
    panel.form.cate_id.value = ""
    panel.add_button.click()
    assert [i.name for i in panel.uploader.list_files()] == ["ok.png"]
    assert "fake.png: FileTypeMismatch" in panel.message.value


def test_cancel_resume_retry_remove(local_vod, media_dir: Path, panel_factory) -> None:
    big = media_dir / "big.mp4"
    big.write_bytes(os.urandom(3 * 1024 * 1024))              # random bytes named .mp4: ~30 parts
    gone = make_sample_image(media_dir / "gone.png")
    panel = panel_factory(media_dir, part_size=100 * 1024, parallel=1, resume_store=False)
    panel.picker.select("big.mp4", "gone.png")
    panel.add_button.click()
    gone_bytes = gone.read_bytes()
    gone.unlink()                                              # fails at start: FileNotFound
    big_row, gone_row = panel.queue.rows.values()
    local_vod.set_faults("slow=1,delay=0.3,scope=oss")
    panel.start_button.click()

    wait_for(lambda: gone_row.info.state == "Failure", 20, "the missing file to fail")
    wait_for(lambda: "FileNotFound" in gone_row.detail.value, 2, "the error in the row")
    assert not gone_row.retry_button.disabled and gone_row.resume_button.disabled

    wait_for(lambda: big_row.info.loaded > 0, 30, "the big file to make progress")
    t0 = time.monotonic()
    big_row.cancel_button.click()
    assert time.monotonic() - t0 < 3
    wait_for(lambda: "Canceled" in big_row.state.value, 2, "the row to show Canceled")
    sent = big_row.info.loaded
    assert 0 < sent < big_row.info.size and not big_row.resume_button.disabled
    assert big_row.cancel_button.disabled

    local_vod.set_faults(None)
    big_row.resume_button.click()                              # continues on the background run
    gone.write_bytes(gone_bytes)
    gone_row.retry_button.click()
    assert panel.wait(60)
    wait_for(lambda: "Success" in big_row.state.value and "Success" in gone_row.state.value, 5, "both Success")
    play = panel.play_url(big_row.info, wait=True)
    assert requests.get(play, timeout=10).content == big.read_bytes()

    gone_row.remove_button.click()
    assert [i.name for i in panel.uploader.list_files()] == ["big.mp4"]
    assert list(panel.queue.rows.values()) == [big_row] and "1 file: Success 1" in panel.queue.summary.value
    panel.clear_button.click()
    assert panel.uploader.list_files() == [] and not panel.queue.rows_box.children


def test_thousand_file_queue_renders_one_page(tmp_path: Path, panel_factory) -> None:
    root = tmp_path / "many"
    root.mkdir()
    head = b"\x00\x00\x00\x18ftypisom" + b"\0" * 500          # sniffed as MP4, not decodable: icon
    for n in range(1000):
        (root / f"clip{n:04d}.mp4").write_bytes(head)
    panel = panel_factory(root)
    t0 = time.perf_counter()
    panel.picker.select_all.click()
    panel.add_button.click()
    built = time.perf_counter() - t0
    queue = panel.queue
    alive = [w for w in ipywidgets.widgets.widget._instances.values() if isinstance(w, QueueRow)]
    print(f"\n1,000-file queue: select all + add + first page built in {built:.2f} s; "
          f"{len(alive)} row widgets alive")
    assert len(queue.rows_box.children) == 20 and len(alive) == 20
    assert "1000 files: Ready 1000" in queue.summary.value
    assert "page 1 of 50" in queue.page_label.value and queue.prev_button.disabled
    assert all(isinstance(r.thumb, ipywidgets.HTML) for r in queue.rows.values())   # icons
    queue.next_button.click()
    assert [r.info.name for r in queue.rows_box.children][:2] == ["clip0020.mp4", "clip0021.mp4"]
    assert "files 21-40 of 1000" in queue.page_label.value
    alive = [w for w in ipywidgets.widgets.widget._instances.values() if isinstance(w, QueueRow)]
    assert len(alive) == 20                                     # the first page's rows were closed
    assert built < 30


@pytest.mark.slow
def test_message_rate_during_ten_file_upload(local_vod, media_dir: Path, panel_factory, monkeypatch) -> None:
    for n in range(10):
        (media_dir / f"f{n}.mp4").write_bytes(os.urandom(1024 * 1024))
    panel = panel_factory(media_dir, part_size=100 * 1024, parallel=2, resume_store=False)
    panel.picker.select_all.click()
    panel.add_button.click()
    sent: list[tuple[float, str]] = []
    lock = threading.Lock()
    original = ipywidgets.Widget._send

    def counting_send(self, msg, buffers=None):   # the comm layer: what the browser would receive
        if msg.get("method") == "update":
            with lock:
                sent.append((time.monotonic(), self.model_id))
        return original(self, msg, buffers)

    monkeypatch.setattr(ipywidgets.Widget, "_send", counting_send)
    local_vod.set_faults("slow=1,delay=0.05,scope=oss")
    t0 = time.monotonic()
    panel.start_button.click()
    assert panel.wait(120)
    elapsed = time.monotonic() - t0
    local_vod.set_faults(None)
    wait_for(lambda: all(r.info.state == SUCCESS for r in panel.queue.rows.values()), 5, "all Success")
    per_widget: dict[str, list[float]] = {}
    for t, model in sent:
        per_widget.setdefault(model, []).append(t)
    # Busiest one-second window of any single widget.
    peak = max(max(sum(1 for u in ts if t <= u < t + 1.0) for t in ts) for ts in per_widget.values())
    rate = len(sent) / elapsed
    print(f"\n10-file upload: {len(sent)} update messages in {elapsed:.2f} s = {rate:.1f} msg/s "
          f"over {len(per_widget)} widgets; busiest widget {peak} msgs in 1 s")
    assert peak <= 15                                           # ~10/s throttle + state changes
    assert len(sent) < 40 * 10 * max(1.0, elapsed)              # far below one per part per trait
    assert_no_secrets(local_vod, repr(panel))


def test_use_local_service_starts_and_close_stops_it(tmp_path: Path) -> None:
    make_sample_image(tmp_path / "media" / "x.png")
    panel = UploadPanel(root=tmp_path / "media")
    try:
        assert "No credentials given" in panel.service_note.value and panel.uploader is None
        panel.add_button.click()
        assert "Choose a service first" in panel.message.value
        svc = panel.use_local_service(port=0, data_dir=tmp_path / "svc")   # what the button runs
        assert panel.local_service is svc and "Started a local VOD service" in panel.service_note.value
        assert "started by this panel" in repr(panel)
        panel.picker.select("x.png")
        panel.start_button.click()                             # Start queues the selection first
        assert panel.wait(30)
        [info] = panel.uploader.list_files()
        assert info.state == SUCCESS and svc.image(info.image_id)["Status"] == "Normal"
        assert local_credentials(svc).__class__.__name__ in panel.header.value
        url = svc.vod_endpoint
    finally:
        panel.close()
    with pytest.raises(requests.RequestException):
        requests.get(url + "/_admin/info", timeout=2)


def test_public_names() -> None:
    import vodwidget.widgets as widgets

    assert widgets.__all__ == ["UploadPanel", "FilePicker", "MetadataForm", "QueueView", "QueueRow", "UPLOAD_LIMIT"]


def test_queue_follows_the_uploader_and_play_urls_never_block_the_worker(local_vod, media_dir, panel_factory):
    """Files added or removed through the uploader itself get (or lose) their row; the play URL
    lookup runs on the panel's thread, so a slow VOD API does not hold up on_upload_succeed."""
    video = make_sample_video(media_dir / "direct.mp4", seconds=0.2, width=64, height=48)
    panel = panel_factory(media_dir)
    info = panel.uploader.add_file(video)
    wait_for(lambda: info in panel.queue.rows, 2, "a row for a file added through the uploader")
    succeeded: list[float] = []
    panel.uploader._callbacks["succeed"] = lambda i: succeeded.append(time.monotonic())
    became: list[float] = []
    info.observe(lambda c: became.append(time.monotonic()) if c["new"] == "Success" else None, names="state")
    local_vod.set_faults("slow=1,delay=1.5,scope=vod")
    try:
        panel.uploader.start_upload()
    finally:
        local_vod.set_faults(None)
    assert succeeded and became and succeeded[0] - became[0] < 1.0, "success callback not delayed by GetPlayInfo"
    wait_for(lambda: "vodwidget-play" in panel.queue.rows[info].detail.value, 10, "the play link, once looked up")
    panel.uploader.delete_file(info)
    wait_for(lambda: info not in panel.queue.rows, 2, "the row of a file removed through the uploader")
