"""``vodwidget.upload()``: one call for scripts, with tqdm bars (tqdm.auto: text or notebook).

>>> from vodwidget.local import LocalVod                               # doctest: +SKIP
>>> with LocalVod() as svc:                                            # doctest: +SKIP
...     rows = upload(["clip.mp4"], credentials=svc.credentials(), title="Clip")
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from vodwidget.credentials import CredentialProvider
from vodwidget.errors import InvalidInputError
from vodwidget.metadata import build_user_data
from vodwidget.models import FINISHED_STATES, UploadInfo
from vodwidget.uploader import VODUpload

__all__ = ["upload", "TqdmProgress"]


class TqdmProgress:
    """Observes UploadInfo traits and drives tqdm bars: one overall, one per file in flight.

    Bars are throttled by tqdm itself (``mininterval``); per-file bars vanish when the file ends,
    and a one-line outcome is written instead, so a long batch leaves a readable log.
    """

    def __init__(self, files: Iterable[UploadInfo], *, file: Any = None, disable: bool | None = None) -> None:
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        # Outcome lines go where the bars go: stderr in a terminal (stdout carries the results),
        # the cell's stdout in a notebook (stderr would paint them as warnings).
        notebook = tqdm.__module__.startswith("tqdm.notebook")
        self._file = file if file is not None else (sys.stdout if notebook else sys.stderr)
        file = self._file if not notebook else file
        self._disable = disable
        self._lock = threading.Lock()
        self._bars: dict[UploadInfo, Any] = {}
        self._seen: dict[UploadInfo, int] = {}
        files = list(files)
        self.overall = tqdm(total=sum(f.size for f in files), unit="B", unit_scale=True, unit_divisor=1024,
                            desc=f"{len(files)} file{'s' * (len(files) != 1)}", file=file, disable=disable,
                            position=0, dynamic_ncols=True)
        for info in files:
            self._seen[info] = info.loaded
            info.observe(self._on_loaded, names="loaded")
            info.observe(self._on_state, names="state")

    def _on_loaded(self, change: Mapping[str, Any]) -> None:
        info: UploadInfo = change["owner"]
        with self._lock:
            delta = change["new"] - self._seen.get(info, 0)
            self._seen[info] = change["new"]
            bar = self._bars.get(info)
            if bar is None and info.state == "Uploading":
                bar = self._tqdm(total=info.size, unit="B", unit_scale=True, unit_divisor=1024,
                                 desc=info.name[:30], file=self._file, disable=self._disable, leave=False,
                                 dynamic_ncols=True, initial=max(0, change["old"]))
                self._bars[info] = bar
            if bar is not None:
                bar.update(delta)
            self.overall.update(delta)

    def _on_state(self, change: Mapping[str, Any]) -> None:
        info: UploadInfo = change["owner"]
        if change["new"] not in FINISHED_STATES and change["new"] != "Stopped":
            return
        with self._lock:
            bar = self._bars.pop(info, None)
            if bar is not None:
                bar.close()
            result = info.video_id or info.image_url or ""
            detail = f"{info.error_code}: {info.error_message}" if info.state == "Failure" else result
            self.overall.write(f"{info.state:<8} {info.name}  {detail}", file=self._file)

    def close(self) -> None:
        with self._lock:
            for bar in self._bars.values():
                bar.close()
            self._bars.clear()
            self.overall.close()


def upload(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], credentials: CredentialProvider,
           *, title: str | None = None, cate_id: int | str | None = None, tags: str | list[str] | None = None,
           description: str | None = None, user_data: str | Mapping[str, Any] | None = None,
           progress: bool = True, **uploader_options: Any) -> list[dict[str, Any]]:
    """Upload files and return one result row per file (see :meth:`UploadInfo.as_dict`).

    Metadata keywords apply to every file (``title`` defaults to each file's name); ``user_data``
    (a ``{"Vod": ...}`` JSON string or dict) is used as-is instead. Files that cannot be queued
    (missing, bad type) come back as Failure rows; the others are uploaded.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    fields = build_user_data(title=title, cate_id=cate_id, tags=tags, description=description)
    data = user_data if user_data is not None else (fields if fields["Vod"] else None)
    uploader = VODUpload(credentials=credentials, **uploader_options)
    rows: list[dict[str, Any] | UploadInfo] = []
    for path in paths:
        try:
            rows.append(uploader.add_file(path, user_data=data))
        except InvalidInputError as exc:
            rows.append({"path": os.fspath(path), "name": os.path.basename(os.fspath(path)), "kind": None,
                         "state": "Failure", "size": None, "video_id": None, "image_id": None,
                         "image_url": None, "bucket": None, "object": None, "retries": 0, "resumed": False,
                         "seconds": None, "error_code": exc.code, "error_message": exc.message})
    queued = uploader.list_files()
    bars = TqdmProgress(queued, disable=not progress or None) if queued else None
    try:
        uploader.start_upload()
    finally:
        if bars is not None:
            bars.close()
    return [r.as_dict() if isinstance(r, UploadInfo) else r for r in rows]
