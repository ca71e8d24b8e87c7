"""Small, real media files for demos, tutorials and tests (no binaries in the repository).

>>> import tempfile, os
>>> p = make_sample_image(os.path.join(tempfile.mkdtemp(), "x.png"))
>>> open(p, "rb").read(4) == b"\\x89PNG"
True
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from pathlib import Path

__all__ = ["make_sample_video", "make_sample_image", "make_sample_set"]


def make_sample_video(path: str | os.PathLike[str], seconds: float = 2.0, width: int = 320,
                      height: int = 240, fps: int = 25, label: int = 0) -> Path:
    """Write an H.264 MP4 of moving colour bars with PyAV (``pip install av``)."""
    try:
        import av
        import numpy as np
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("making a sample video needs PyAV: pip install 'vodwidget[media]'") from exc
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(out), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        xs = np.arange(width)[None, :]
        ys = np.arange(height)[:, None]
        for i in range(max(1, int(seconds * fps))):
            t = i / fps
            r = (127 + 127 * np.sin(xs / 20 + t * 3 + label)).astype(np.uint8).repeat(height, 0)
            g = (127 + 127 * np.sin(ys / 15 - t * 2)).astype(np.uint8).repeat(width, 1)
            b = np.full((height, width), (label * 40 + i * 3) % 256, np.uint8)
            frame = av.VideoFrame.from_ndarray(np.dstack([r, g, b]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out


def make_sample_image(path: str | os.PathLike[str], width: int = 160, height: int = 120, label: int = 0) -> Path:
    """Write a PNG gradient (pure Python: zlib + struct, no imaging library needed)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        for x in range(width):
            rows += bytes(((x * 255) // max(1, width - 1), (y * 255) // max(1, height - 1),
                           int(127 + 127 * math.sin(label + x / 9.0)) & 255))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(bytes(rows), 6)) + chunk(b"IEND", b"")
    out.write_bytes(png)
    return out


def make_sample_set(folder: str | os.PathLike[str], videos: int = 1, images: int = 1,
                    seconds: float = 2.0) -> list[Path]:
    """A folder of ``videos`` MP4s and ``images`` PNGs with distinct content."""
    root = Path(folder)
    paths = [make_sample_video(root / f"sample-{i + 1:03d}.mp4", seconds=seconds, label=i) for i in range(videos)]
    paths += [make_sample_image(root / f"sample-{i + 1:03d}.png", label=i) for i in range(images)]
    return paths
