"""What kind of media a file is (video, audio, image), from its first bytes and its name.

Content wins when it is recognised, so a PNG renamed ``.mp4`` is caught; the extension decides
when the bytes are not a format we can sniff (many containers have no fixed magic number).

>>> kind_from_name("clip.MP4")
'video'
"""

from __future__ import annotations

import os
from pathlib import Path

from vodwidget.errors import InvalidInputError

__all__ = ["MediaType", "detect", "kind_from_name", "VIDEO_EXTENSIONS", "AUDIO_EXTENSIONS", "IMAGE_EXTENSIONS"]

VIDEO_EXTENSIONS = frozenset(
    "mp4 m4v mov qt mkv webm flv f4v avi wmv asf ts mts m2ts mpg mpeg vob 3gp 3g2 rm rmvb mxf dv ogv m3u8".split()
)
AUDIO_EXTENSIONS = frozenset("mp3 m4a aac wav flac ogg oga opus wma ape amr aiff".split())
# CreateUploadImage accepts these ImageExt values.
IMAGE_EXTENSIONS = frozenset("png jpg jpeg gif".split())


class MediaType:
    """``kind`` ('video' | 'audio' | 'image') and the extension to declare to VOD."""

    __slots__ = ("kind", "ext")

    def __init__(self, kind: str, ext: str) -> None:
        self.kind = kind
        self.ext = ext

    def __repr__(self) -> str:
        return f"MediaType({self.kind!r}, {self.ext!r})"

    @property
    def vod_kind(self) -> str:
        """Audio goes through CreateUploadVideo like video."""
        return "image" if self.kind == "image" else "video"


def kind_from_name(name: str) -> str | None:
    ext = Path(name).suffix.lower().lstrip(".")
    if ext in VIDEO_EXTENSIONS:
        return "video"
    if ext in AUDIO_EXTENSIONS:
        return "audio"
    if ext in IMAGE_EXTENSIONS:
        return "image"
    return None


def sniff(head: bytes) -> MediaType | None:
    """Recognise common formats by their magic numbers."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaType("image", "png")
    if head.startswith(b"\xff\xd8\xff"):
        return MediaType("image", "jpg")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return MediaType("image", "gif")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return MediaType("unsupported-image", "webp")
    if head.startswith(b"BM") and len(head) > 14 and head[6:10] == b"\0\0\0\0":
        return MediaType("unsupported-image", "bmp")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B "):
            return MediaType("audio", "m4a")
        if brand == b"qt  ":
            return MediaType("video", "mov")
        return MediaType("video", "mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return MediaType("video", "webm" if b"webm" in head[:64] else "mkv")
    if head.startswith(b"FLV"):
        return MediaType("video", "flv")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return MediaType("video", "avi")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return MediaType("audio", "wav")
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return MediaType("video", "wmv")
    if head.startswith(b"fLaC"):
        return MediaType("audio", "flac")
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return MediaType("audio", "mp3")
    if len(head) > 376 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47:
        return MediaType("video", "ts")
    if head.startswith(b"\x00\x00\x01\xba") or head.startswith(b"\x00\x00\x01\xb3"):
        return MediaType("video", "mpg")
    return None


def detect(path: str | os.PathLike[str]) -> MediaType:
    """Return the file's media type or raise :class:`InvalidInputError` saying why not.

    The caller has already checked that the file exists and is readable.
    """
    p = Path(path)
    with open(p, "rb") as f:
        head = f.read(512)
    if not head:
        raise InvalidInputError(f"{p.name} is empty; there is nothing to upload", "EmptyFile")
    by_name = kind_from_name(p.name)
    ext = p.suffix.lower().lstrip(".")
    sniffed = sniff(head)
    if sniffed is not None and sniffed.kind.startswith("unsupported"):
        raise InvalidInputError(
            f"{p.name} is a {sniffed.ext.upper()} image; VOD images must be PNG, JPEG or GIF",
            "UnsupportedFileType",
        )
    if sniffed is not None:
        if by_name is not None and (by_name == "image") != (sniffed.kind == "image"):
            raise InvalidInputError(
                f"{p.name} is named like {'an' if by_name == 'image' else 'a'} {by_name} file "
                f"but its content is {sniffed.ext.upper()}; rename it or pick the right file",
                "FileTypeMismatch",
            )
        # Keep the user's extension when the name already says the same kind (".mov" stays ".mov").
        return MediaType(sniffed.kind if by_name is None else by_name, ext if by_name else sniffed.ext)
    if by_name is None:
        raise InvalidInputError(
            f"{p.name}: unsupported file type {('.' + ext) if ext else '(no extension)'}; "
            "expected a video, audio or image (PNG/JPEG/GIF) file",
            "UnsupportedFileType",
        )
    if by_name == "image":
        # An image whose bytes match no image format would be rejected by VOD's image pipeline.
        raise InvalidInputError(
            f"{p.name} is named like an image but its content is not PNG, JPEG or GIF",
            "FileTypeMismatch",
        )
    return MediaType(by_name, ext)
