"""Traitlets state of each file in the queue: the contract that widgets and progress bars observe.

Credentials are never traits: nothing secret can reach a widget, a repr or a saved notebook.

>>> info = UploadInfo(file="/tmp/a.mp4", name="a.mp4", size=10, kind="video")
>>> info.state
'Ready'
"""

from __future__ import annotations

import time
from typing import Any

from traitlets import Bool, Dict, Enum, Float, HasTraits, Int, Unicode, observe

__all__ = ["UploadInfo", "STATES", "FINISHED_STATES"]

READY, UPLOADING, STOPPED, CANCELED, SUCCESS, FAILURE = (
    "Ready", "Uploading", "Stopped", "Canceled", "Success", "Failure",
)
STATES = (READY, UPLOADING, STOPPED, CANCELED, SUCCESS, FAILURE)
FINISHED_STATES = frozenset({SUCCESS, FAILURE, CANCELED})


class UploadInfo(HasTraits):
    """One file's upload: what it is, where it goes, how far it got, and how it ended."""

    file = Unicode(help="Absolute path of the local file.")
    name = Unicode(help="File name shown to people.")
    size = Int(0, help="File size in bytes.")
    kind = Enum(["video", "audio", "image"], default_value="video", help="Media kind.")
    ext = Unicode(help="Extension declared to VOD (mp4, png, ...).")
    user_data = Dict(help='The validated object under "Vod" in userData (Title, CateId, ...).')

    state = Enum(STATES, default_value=READY, help="Ready, Uploading, Stopped, Canceled, Success or Failure.")
    message = Unicode("", help="Latest human-readable status note (e.g. 'refreshing credentials').")
    loaded = Int(0, help="Bytes confirmed sent.")
    percent = Float(0.0, help="0-100.")
    speed = Float(0.0, help="Smoothed bytes per second.")
    eta = Float(None, allow_none=True, help="Seconds left at the current speed, or None.")
    retries = Int(0, help="Requests retried after a network error or 5xx.")
    resumed = Bool(False, help="True when this run continues an upload remembered from before.")
    resent_bytes = Int(0, help="Bytes sent again because a part had to be retried.")

    video_id = Unicode(None, allow_none=True, help="VideoId (video and audio).")
    image_id = Unicode(None, allow_none=True, help="ImageId (images).")
    image_url = Unicode(None, allow_none=True, help="ImageURL (images).")
    endpoint = Unicode(None, allow_none=True, help="OSS endpoint the file goes to.")
    bucket = Unicode(None, allow_none=True, help="OSS bucket.")
    object = Unicode(None, allow_none=True, help="OSS object key.")

    error_code = Unicode(None, allow_none=True, help="Code of the last failure (service or vodwidget).")
    error_message = Unicode(None, allow_none=True, help="Redacted message of the last failure.")
    started_at = Float(None, allow_none=True, help="time.time() when the upload started.")
    finished_at = Float(None, allow_none=True, help="time.time() when it ended.")

    @observe("state")
    def _stamp(self, change: dict[str, Any]) -> None:
        if change["new"] == UPLOADING and self.started_at is None:
            self.started_at = time.time()
        if change["new"] in FINISHED_STATES:
            self.finished_at = time.time()

    # The SDK's JavaScript names, for code ported from it.
    @property
    def videoId(self) -> str | None:  # noqa: N802
        return self.video_id

    @property
    def imageUrl(self) -> str | None:  # noqa: N802
        return self.image_url

    @property
    def isImage(self) -> bool:  # noqa: N802
        return self.kind == "image"

    @property
    def userData(self) -> dict[str, Any]:  # noqa: N802
        return {"Vod": dict(self.user_data)}

    @property
    def seconds(self) -> float | None:
        """Wall time of the last run, once finished."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def as_dict(self) -> dict[str, Any]:
        """The results row: what a table or a JSON line shows (no secrets exist here to leak)."""
        return {
            "path": self.file,
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "size": self.size,
            "video_id": self.video_id,
            "image_id": self.image_id,
            "image_url": self.image_url,
            "bucket": self.bucket,
            "object": self.object,
            "retries": self.retries,
            "resumed": self.resumed,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "error_code": self.error_code,
            "error_message": self.error_message,
        }

    def __repr__(self) -> str:
        result = self.video_id or self.image_url or ""
        extra = f", error={self.error_code!r}" if self.error_code else ""
        return (f"UploadInfo({self.name!r}, kind={self.kind!r}, state={self.state!r}, "
                f"percent={self.percent:.1f}, result={result!r}{extra})")
