"""Small thumbnails for queue rows: an image scaled down, a video's first frame, or None.

Pillow scales images and PyAV decodes a video's first frame when they are importable; without
them (or for a file they cannot read) the caller shows an icon. Results are cached by path,
size and mtime because paging rebuilds rows.

>>> import tempfile, os
>>> from vodwidget.samples import make_sample_image
>>> png = thumbnail(make_sample_image(os.path.join(tempfile.mkdtemp(), "x.png")), "image")
>>> png[:4] == b"\\x89PNG"
True
"""

from __future__ import annotations

import io
import os
from functools import lru_cache

__all__ = ["thumbnail", "ICONS", "THUMB_SIZE"]

THUMB_SIZE = (64, 48)
# Shown when there is no thumbnail (no PyAV, unreadable file, audio).
ICONS = {"video": "\N{FILM FRAMES}", "audio": "\N{MUSICAL NOTE}", "image": "\N{FRAME WITH PICTURE}"}
# Without Pillow an image is shown as is, but only when small: its bytes go to the browser.
_RAW_IMAGE_LIMIT = 256 * 1024


def thumbnail(path: str | os.PathLike[str], kind: str) -> bytes | None:
    """PNG bytes of a small preview of ``path`` (``kind``: 'video', 'audio' or 'image'), or None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _cached(os.fspath(path), kind, st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=256)
def _cached(path: str, kind: str, size: int, mtime_ns: int) -> bytes | None:
    try:
        if kind == "image":
            return _image(path, size)
        if kind == "video":
            return _video_frame(path)
    except Exception:  # a preview is a nicety: any decoder error means "show the icon"
        return None
    return None


def _png(img) -> bytes:  # noqa: ANN001 - a PIL image
    img.thumbnail(THUMB_SIZE)
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def _image(path: str, size: int) -> bytes | None:
    try:
        from PIL import Image
    except ImportError:
        if size > _RAW_IMAGE_LIMIT:
            return None
        with open(path, "rb") as f:
            return f.read()
    with Image.open(path) as img:
        return _png(img)


def _video_frame(path: str) -> bytes | None:
    try:
        import av
    except ImportError:
        return None
    with av.open(path) as container:
        if not container.streams.video:
            return None
        for frame in container.decode(video=0):
            return _png(frame.to_image())
    return None
