"""The picker's pieces without a service: filesystem rules, picker navigation, browser-upload
spooling, thumbnails and the metadata form (driven through their widgets)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from vodwidget.errors import InvalidInputError
from vodwidget.samples import make_sample_image, make_sample_video
from vodwidget.widgets import FilePicker, MetadataForm
from vodwidget.widgets.fs import KIND_FILTERS, human_size, inside, list_dir
from vodwidget.widgets.thumbs import thumbnail

NOW = datetime.now(UTC)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/{a.mp4, B.png, notes.txt, .hidden.mp4, sub/c.mov, sub/deeper/}, outside/secret.mp4,
    root/escape -> ../outside (a link out), root/link.mp4 -> sub/c.mov (a link in)."""
    root = tmp_path / "root"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.mp4").write_bytes(b"\0" * 2048)
    make_sample_image(root / "B.png")
    (root / "notes.txt").write_text("not media")
    (root / ".hidden.mp4").write_bytes(b"\0")
    (root / "sub" / "c.mov").write_bytes(b"\0" * 10)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.mp4").write_bytes(b"\0" * 5)
    os.symlink(outside, root / "escape")
    os.symlink(outside / "secret.mp4", root / "out.mp4")
    os.symlink(root / "sub" / "c.mov", root / "link.mp4")
    return root


def test_list_dir_filters_sorts_and_stays_inside(tree: Path) -> None:
    entries = list_dir(tree, extensions=KIND_FILTERS["Videos and images"])
    assert [e.label for e in entries] == ["sub/", "a.mp4  (2.0 KB)", f"B.png  ({human_size((tree / 'B.png').stat().st_size)})",
                                          "link.mp4  (10 B)"]
    # Links leading out of the root (a folder and a file) are not listed; hidden files neither.
    assert not {"escape", "out.mp4", ".hidden.mp4", "notes.txt"} & {e.name for e in entries}
    assert "notes.txt" in {e.name for e in list_dir(tree)}        # no filter: every file
    assert [e.name for e in list_dir(tree, extensions={"png"})] == ["sub", "B.png"]
    assert [e.name for e in list_dir(tree, "sub")] == ["deeper", "c.mov"]


@pytest.mark.parametrize("where", ["..", "../outside", "sub/../..", "escape", "/etc", "out.mp4"])
def test_inside_refuses_escapes(tree: Path, where: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        inside(tree, where)
    assert err.value.code == "OutsideRoot"


def test_inside_accepts_paths_within(tree: Path) -> None:
    assert inside(tree, "sub/deeper/..") == (tree / "sub").resolve()
    assert inside(tree, "link.mp4") == (tree / "sub" / "c.mov").resolve()
    assert inside(tree, str(tree / "a.mp4")) == (tree / "a.mp4").resolve()


def test_picker_navigates_filters_and_selects(tree: Path) -> None:
    picker = FilePicker(tree)
    try:
        assert picker.up_button.disabled
        assert [label for label, _ in picker.folders.options] == ["sub/"]
        picker.folders.value = "sub"                 # what clicking the folder does
        assert picker.folder == "sub"
        assert [Path(p).name for _, p in picker.files.options] == ["c.mov"]
        assert not picker.up_button.disabled
        picker.open_folder("../..")                  # refused, says why, stays put
        assert picker.folder == "sub" and "outside" in picker.message.value
        picker.up_button.click()
        assert picker.folder == "."
        picker.kind.value = "Images"
        assert [Path(p).name for _, p in picker.files.options] == ["B.png"]
        picker.kind.value = "Videos and images"
        picker.files.value = tuple(p for label, p in picker.files.options if label.startswith(("a.mp4", "B.png")))
        assert [p.name for p in picker.selected] == ["a.mp4", "B.png"]
        assert picker.summary.value.startswith("2 selected")
        picker.select_all.click()
        assert len(picker.selected) == 3
        with pytest.raises(InvalidInputError):
            picker.select("notes.txt")
        assert "selected=" in repr(picker)
    finally:
        picker.close()


def test_browser_upload_is_spooled_and_limited(tree: Path) -> None:
    picker = FilePicker(tree, upload_limit=1000)
    try:
        assert "1000 B" in picker.upload_note.value
        small = os.urandom(600)
        picker.upload.value = ({"name": "../../evil/clip.mp4", "type": "video/mp4", "size": len(small),
                                "content": memoryview(small), "last_modified": NOW},)
        [spooled] = picker.uploaded
        assert spooled.name == "clip.mp4" and spooled.read_bytes() == small
        assert not spooled.is_relative_to(tree)      # the browser's path is ignored
        assert picker.upload.value == ()             # bytes do not stay in the widget (or the notebook)
        assert spooled in picker.selected
        big = os.urandom(1500)
        picker.upload.value = ({"name": "big.mp4", "type": "video/mp4", "size": len(big),
                                "content": memoryview(big), "last_modified": NOW},)
        assert len(picker.uploaded) == 1
        assert "big.mp4 is 1.5 KB; the limit for browser uploads is 1000 B" in picker.message.value
        spool = spooled.parent.parent
    finally:
        picker.close()
    assert not spool.exists()


def test_thumbnails(tmp_path: Path) -> None:
    image = thumbnail(make_sample_image(tmp_path / "x.png", width=320, height=240), "image")
    video = thumbnail(make_sample_video(tmp_path / "x.mp4", seconds=0.2), "video")
    from PIL import Image

    for data in (image, video):
        assert data is not None and data[:8] == b"\x89PNG\r\n\x1a\n"
        import io

        assert max(Image.open(io.BytesIO(data)).size) <= 64
    (tmp_path / "junk.mp4").write_bytes(os.urandom(4096))
    assert thumbnail(tmp_path / "junk.mp4", "video") is None     # the row shows an icon instead
    assert thumbnail(tmp_path / "missing.png", "image") is None


def test_form_builds_user_data_and_shows_errors_inline() -> None:
    form = MetadataForm()
    try:
        form.cate_id.value = "42"
        form.tags.value = "a, b"
        form.description.value = "desc"
        assert form.user_data("/x/holiday.mp4") == {
            "Vod": {"Title": "holiday", "CateId": "42", "Tags": "a, b", "Description": "desc"}}
        form.title.value = "Given"
        assert form.user_data("/x/holiday.mp4")["Vod"]["Title"] == "Given"
        form.cate_id.value = "forty-two"             # typing shows the problem at once, no traceback
        assert "CateId must be a whole number" in form.error.value
        assert not form.valid
        form.cate_id.value = ""
        assert form.error.value == "" and form.valid
        form.tags.value = ",".join(f"t{i}" for i in range(17))
        assert "17 tags; the limit is 16" in form.error.value
        assert "error: " in repr(form)
    finally:
        form.close()
