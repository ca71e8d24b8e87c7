"""UploadPanel: pick files, describe them, upload them, see the results - one widget to display().

It composes :class:`FilePicker`, :class:`MetadataForm` and :class:`QueueView` around one
:class:`~vodwidget.VODUpload`. Uploads run on the uploader's background thread, so other cells run
meanwhile. With no credentials it offers the embedded local service, so a first run needs no account.

Example (in a notebook)::

    from vodwidget.widgets import UploadPanel
    panel = UploadPanel()            # press "Use local service", or pass credentials=...
    panel                            # pick files, Add to queue, Start
    panel.results                    # a DataFrame: one row per file, with videoId / imageUrl / play_url
"""

from __future__ import annotations

import html
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import ipywidgets as w

from vodwidget.credentials import CredentialProvider
from vodwidget.errors import InvalidInputError
from vodwidget.models import SUCCESS, UploadInfo
from vodwidget.uploader import UploadRun, VODUpload
from vodwidget.widgets.form import MetadataForm
from vodwidget.widgets.picker import UPLOAD_LIMIT, FilePicker
from vodwidget.widgets.queue import QueueView, _descendants

__all__ = ["UploadPanel"]

_RESULT_COLUMNS = ["path", "name", "kind", "state", "size", "video_id", "image_id", "image_url", "play_url",
                   "bucket", "object", "retries", "resumed", "seconds", "error_code", "error_message"]


def _is_local_service(obj: Any) -> bool:
    """A LocalVod or a LocalEndpoint (without importing the aiohttp server for other providers)."""
    if obj is None or isinstance(obj, CredentialProvider):
        return False
    from vodwidget.local import LocalVod
    from vodwidget.local.attach import LocalEndpoint

    return isinstance(obj, (LocalVod, LocalEndpoint))


class UploadPanel(w.VBox):
    """Everything needed to upload from a notebook, as one widget.

    ``uploader``: a configured :class:`~vodwidget.VODUpload` (its files show in the queue);
    ``credentials``: a provider, or a ``LocalVod`` / ``LocalEndpoint`` (then videos get play links);
    neither: the panel offers "Use local service". ``root``: the folder the file picker may browse.
    Other keyword arguments go to ``VODUpload`` when the panel creates it.
    """

    def __init__(self, uploader: VODUpload | None = None, credentials: Any = None,
                 root: str | os.PathLike[str] = ".", *, service: Any = None, page_size: int = 20,
                 upload_limit: int = UPLOAD_LIMIT, **uploader_options: Any) -> None:
        self.local_service: Any = None  # a LocalVod this panel started (stopped by close())
        self._service: Any = service if _is_local_service(service) else None
        self._options = uploader_options
        self._page_size = page_size
        self._play_urls: dict[str, str | None] = {}
        self._play_pending: dict[str, Future] = {}
        self._play_lock = threading.Lock()
        # GetPlayInfo lookups run here, never on the uploader's threads.
        self._play_pool = ThreadPoolExecutor(1, thread_name_prefix="vodwidget-playurl")
        self.run: UploadRun | None = None
        self.uploader: VODUpload | None = None
        self.queue: QueueView | None = None
        if _is_local_service(credentials):
            from vodwidget.local.attach import local_credentials

            self._service = credentials
            credentials = local_credentials(credentials)

        self.header = w.HTML()
        self.service_note = w.HTML()
        self.local_button = w.Button(description="Use local service", icon="server", button_style="primary",
                                     tooltip="Attach to a running `vodwidget local`, or start one in this kernel")
        self.service_box = w.VBox([self.service_note, self.local_button])
        self.picker = FilePicker(root, upload_limit=upload_limit, layout=w.Layout(width="55%"))
        self.form = MetadataForm(layout=w.Layout(width="45%"))
        self.add_button = w.Button(description="Add to queue", icon="plus", tooltip="Queue the selected files")
        self.start_button = w.Button(description="Start", icon="upload", button_style="success",
                                     tooltip="Upload every queued file (in the background)")
        self.stop_button = w.Button(description="Stop all", icon="pause",
                                    tooltip="Pause the queue; Start continues where it stopped")
        self.clear_button = w.Button(description="Clear finished", icon="eraser",
                                     tooltip="Remove Success, Failure and Canceled files from the list")
        self.message = w.HTML()
        self.queue_box = w.VBox()
        super().__init__()
        self.add_class("vodwidget-panel")
        self.children = [
            self.header, self.service_box,
            w.HBox([self.picker, self.form]),
            w.HBox([self.add_button, self.start_button, self.stop_button, self.clear_button]),
            self.message, self.queue_box,
        ]
        self.local_button.on_click(lambda _: self.use_local_service())
        self.add_button.on_click(lambda _: self.add_selected())
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.clear_button.on_click(lambda _: self.clear_finished())
        self.picker.files.observe(lambda _: self.form.suggest_title(self.picker.selected), names="value")

        if uploader is None and credentials is not None:
            uploader = VODUpload(credentials=credentials, **uploader_options)
        if uploader is not None:
            self._use(uploader)
        else:
            self._show_service("<b>No credentials given.</b> Use the local VOD service (runs on this machine, "
                               "no account needed), or create the panel with "
                               "<code>UploadPanel(credentials=...)</code>.")

    # -- service ----------------------------------------------------------------------------
    def use_local_service(self, port: int | None = None, data_dir: str | os.PathLike[str] | None = None) -> Any:
        """Attach to the local service on ``port`` (default 8777), or start one in this kernel.

        A service the panel starts lives until :meth:`close`. ``port=0`` always starts a new one
        on a free port. Returns the service (a ``LocalVod`` or ``LocalEndpoint``).
        """
        from vodwidget.local import DEFAULT_PORT, LocalVod
        from vodwidget.local.attach import find_running, local_credentials

        if self.uploader is not None:
            raise InvalidInputError("this panel already has an uploader", "AlreadyConfigured")
        svc = find_running(port=port) if port != 0 else None
        if svc is not None:
            note = f"Using the local VOD service running at <code>{html.escape(svc.vod_endpoint)}</code>."
        else:
            try:
                svc = LocalVod(data_dir=data_dir, port=DEFAULT_PORT if port is None else port).start()
            except OSError:  # the port is taken by something that is not our service
                svc = LocalVod(data_dir=data_dir, port=0).start()
            self.local_service = svc
            note = (f"Started a local VOD service in this kernel at <code>{html.escape(svc.vod_endpoint)}</code> "
                    f"(data in <code>{html.escape(str(svc.data_dir))}</code>); it stops with "
                    "<code>panel.close()</code> or when the kernel ends.")
        self._service = svc
        self._use(VODUpload(credentials=local_credentials(svc), **self._options))
        self._show_service(note, button=False)
        return svc

    def _show_service(self, note: str, button: bool = True) -> None:
        self.service_note.value = note
        self.local_button.layout.display = None if button else "none"
        self.service_box.layout.display = None

    def _use(self, uploader: VODUpload) -> None:
        self.uploader = uploader
        self.queue = QueueView(uploader, page_size=self._page_size, play_url=self.play_url, start=self.start)
        self.queue_box.children = [self.queue]
        self.service_box.layout.display = "none"
        creds = uploader.credentials
        where = getattr(uploader, "vod_endpoint", None) or "the VOD service"
        who = type(creds).__name__ if creds is not None else "your on_upload_started callback"
        self.header.value = (f"<b>Upload to ApsaraVideo VOD</b> \N{MIDDLE DOT} <small>{html.escape(str(where))} "
                             f"\N{MIDDLE DOT} credentials: {html.escape(who)}</small>")
        for b in (self.add_button, self.start_button, self.stop_button, self.clear_button):
            b.disabled = False

    @property
    def service(self) -> Any:
        """The local service this panel talks to (for play links), or None."""
        return self._service

    # -- commands ---------------------------------------------------------------------------
    def _need_uploader(self) -> VODUpload | None:
        if self.uploader is None:
            self._say("Choose a service first: press <b>Use local service</b> or pass credentials.", error=True)
        return self.uploader

    def add_selected(self) -> list[UploadInfo]:
        """Queue the picker's selection with the form's metadata; bad files are reported, the rest queued."""
        if self._need_uploader() is None:
            return []
        paths = self.picker.selected
        if not paths:
            self._say("Pick one or more files first (or upload small ones from your computer).", error=True)
            return []
        return self.add_files(paths)

    def add_files(self, paths: list[str | os.PathLike[str]]) -> list[UploadInfo]:
        """Queue ``paths`` with the form's metadata (each file's name is its default Title)."""
        up = self._need_uploader()
        if up is None:
            return []
        if not self.form.validate():
            self._say("Fix the metadata first: " + html.escape(self.form.error_text), error=True)
            return []
        added: list[UploadInfo] = []
        problems: list[str] = []
        for p in paths:
            try:
                added.append(up.add_file(p, user_data=self.form.user_data(p)))
            except InvalidInputError as exc:  # one bad file is reported; the others are queued
                problems.append(f"{html.escape(Path(p).name)}: {html.escape(exc.code)}: {html.escape(exc.message)}")
        self.picker.clear()
        assert self.queue is not None
        self.queue.refresh()
        text = f"Added {len(added)} file{'s' * (len(added) != 1)} to the queue."
        if problems:
            self._say(text + " Not added:<br>" + "<br>".join(problems), error=True)
        else:
            self._say(text)
        return added

    def start(self) -> UploadRun | None:
        """Upload every queued file on a background thread (the selection is queued first)."""
        up = self._need_uploader()
        if up is None:
            return None
        if self.picker.selected:
            self.add_selected()
        if not up.files:
            self._say("Nothing to upload yet: pick files and press <b>Add to queue</b>.", error=True)
            return None
        run = up.start_upload(wait=False)
        assert isinstance(run, UploadRun)
        self.run = run
        self._say("Uploading in the background; other cells can run meanwhile.")
        return run

    def stop(self) -> None:
        """Pause the queue (files in flight become Stopped; Start continues them)."""
        if self.uploader is not None:
            self.uploader.stop_upload()
            self._say("Stopped. Press Start to continue.")

    def clear_finished(self) -> int:
        """Remove finished files (Success, Failure, Canceled) from the list."""
        if self.queue is None:
            return 0
        n = self.queue.clear_finished()
        self._say(f"Removed {n} finished file{'s' * (n != 1)}.")
        return n

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the background run settles (for scripts and tests); True if it did."""
        return self.uploader.wait(timeout) if self.uploader is not None else True

    def _say(self, text: str, error: bool = False) -> None:
        self.message.value = f'<span style="color:#b00020">{text}</span>' if error else text

    # -- results ----------------------------------------------------------------------------
    def play_url(self, info: UploadInfo, wait: bool = False) -> str | None:
        """PlayURL of an uploaded video (GetPlayInfo through the credential provider), or None.

        Rows call this while rendering, on whatever thread changed the trait (often the
        uploader's worker), so by default it never blocks: the first call starts the lookup on
        the panel's own thread and the row is redrawn when the answer comes. ``wait=True``
        blocks (for ``results``, called from a cell).
        """
        if info.kind == "image" or not info.video_id or info.state != SUCCESS:
            return None
        provider = self.uploader.credentials if self.uploader is not None else None
        if provider is None:
            return None
        vid = info.video_id
        with self._play_lock:
            if vid in self._play_urls:
                return self._play_urls[vid]
            future = self._play_pending.get(vid)
            if future is None:
                future = self._play_pool.submit(self._lookup_play_url, provider, info, vid)
                self._play_pending[vid] = future
        return future.result() if wait else None

    def _lookup_play_url(self, provider: Any, info: UploadInfo, vid: str) -> str | None:
        try:
            url = provider.play_url(vid)
        except Exception:  # not playable yet, or no API access: the row keeps showing the videoId
            url = None
        with self._play_lock:
            self._play_urls[vid] = url  # negative answers are cached too: no repeated lookups
            self._play_pending.pop(vid, None)
        row = self.queue.rows.get(info) if self.queue is not None else None
        if url and row is not None:
            row.render()
        return url

    @property
    def results(self) -> Any:
        """One row per file (``UploadInfo.as_dict()`` plus ``play_url``): a pandas DataFrame when
        pandas is installed, else a list of dicts."""
        files = self.uploader.files if self.uploader is not None else ()
        rows = [{**i.as_dict(), "play_url": self.play_url(i, wait=True)} for i in files]
        try:
            import pandas as pd
        except ImportError:
            return rows
        return pd.DataFrame(rows, columns=_RESULT_COLUMNS)

    # -- lifecycle and text -----------------------------------------------------------------
    def close(self) -> None:
        """Stop uploads, close every widget, delete browser uploads, stop a service the panel started."""
        # Also called by Widget.__del__, possibly on a half-built panel: look before touching.
        uploader = getattr(self, "uploader", None)
        if uploader is not None and uploader.running:
            uploader.stop_upload()
            uploader.wait(30)
        for part in ("queue", "picker", "form"):
            if getattr(self, part, None) is not None:
                getattr(self, part).close()
        if getattr(self, "_play_pool", None) is not None:
            self._play_pool.shutdown(wait=False, cancel_futures=True)
        for child in _descendants(self):
            child.close()
        super().close()
        if getattr(self, "local_service", None) is not None:
            self.local_service.stop()
            self.local_service = None

    def text(self) -> str:
        """The panel as plain text: service, queue state, results."""
        svc = self._service
        where = (f"local service {svc.vod_endpoint}" + (" (started by this panel)" if self.local_service else "")
                 if svc is not None else (getattr(self.uploader, "vod_endpoint", None) or "no service yet"))
        lines = [f"UploadPanel: {where}; picker root {self.picker.root}"]
        if self.queue is None:
            lines.append("  choose a service: panel.use_local_service() or UploadPanel(credentials=...)")
        else:
            lines.append(self.queue.text())
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text())

    def _repr_mimebundle_(self, **kwargs):  # noqa: ANN201 - the whole text, not ipywidgets' first 110 chars
        data = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = self.text()
        return data
