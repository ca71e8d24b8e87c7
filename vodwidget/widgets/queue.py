"""The queue view: one row per file (on the visible page only), an overall bar and a summary line.

Rows observe their :class:`~vodwidget.models.UploadInfo` and redraw at most ~10 times a second
(:class:`Throttle`), sending each widget's changes in one ``hold_sync()`` message. Buttons only
command the uploader (cancel, resume, retry, remove); the uploader does the work.

>>> from vodwidget import VODUpload
>>> view = QueueView(VODUpload(resume_store=False))
>>> print(repr(view))
Queue: 0 files
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from vodwidget.models import (
    CANCELED,
    FAILURE,
    FINISHED_STATES,
    READY,
    STATES,
    STOPPED,
    SUCCESS,
    UPLOADING,
    UploadInfo,
)
from vodwidget.uploader import VODUpload
from vodwidget.widgets.fs import human_size
from vodwidget.widgets.thumbs import ICONS, thumbnail

__all__ = ["QueueView", "QueueRow", "Throttle", "format_eta"]

PlayUrl = Callable[[UploadInfo], "str | None"]
_ROW_TRAITS = ["state", "message", "loaded", "percent", "speed", "eta", "size", "video_id", "image_url",
               "error_code", "error_message", "retries", "resumed"]
_BAR_STYLE = {SUCCESS: "success", FAILURE: "danger", CANCELED: "warning", STOPPED: "warning"}
# JupyterLab's stylesheet makes links look like plain text; results should look clickable.
_LINK = 'style="color:#0b5cad;text-decoration:underline"'
_STATE_COLOR = {SUCCESS: "#1b7f3b", FAILURE: "#b00020", CANCELED: "#8a6d00", STOPPED: "#8a6d00",
                UPLOADING: "#0b5cad", READY: "#555"}


class Throttle:
    """Call ``fn`` at most once per ``interval`` seconds; calls in between coalesce into one
    trailing call, so the last state is always shown. ``urgent=True`` calls at once (state changes)."""

    def __init__(self, fn: Callable[[], None], interval: float = 0.1) -> None:
        self._fn = fn
        self.interval = interval
        self._lock = threading.Lock()
        self._last = 0.0
        self._timer: threading.Timer | None = None
        self._closed = False

    def __call__(self, urgent: bool = False) -> None:
        with self._lock:
            if self._closed:
                return
            now = time.monotonic()
            wait = self.interval - (now - self._last)
            if not urgent and wait > 0:
                if self._timer is None:
                    self._timer = threading.Timer(wait, self._fire)
                    self._timer.daemon = True
                    self._timer.start()
                return
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._last = now
        self._fn()

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
            if self._closed:
                return
            self._last = time.monotonic()
        self._fn()

    @property
    def pending(self) -> bool:
        return self._timer is not None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None


def format_eta(seconds: float | None) -> str:
    """``ETA 1 min 5 s`` style text.

    >>> format_eta(65), format_eta(None), format_eta(7200)
    ('1 min 5 s', '-', '2 h 0 min')
    """
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def result_html(info: UploadInfo, play_url: str | None) -> str:
    """The success line: a copyable videoId and play link, or the image link and thumbnail."""
    if info.kind == "image" and info.image_url:
        url = _esc(info.image_url)
        return (f'<img src="{url}" style="height:40px;vertical-align:middle;margin-right:6px" alt="">'
                f'<a href="{url}" target="_blank" class="vodwidget-image-url" {_LINK}>imageUrl</a> '
                f'<code style="user-select:all;font-size:11px;word-break:break-all">{url}</code>')
    if info.video_id:
        out = (f'videoId <code class="vodwidget-video-id" style="user-select:all">{_esc(info.video_id)}</code>')
        if play_url:
            out += f' <a href="{_esc(play_url)}" target="_blank" class="vodwidget-play" {_LINK}>\N{BLACK RIGHT-POINTING TRIANGLE} play</a>'
        return out
    return ""


class QueueRow(w.HBox):
    """One file: thumbnail, name, bar, percent/speed/ETA, state, result or error, and its buttons."""

    def __init__(self, info: UploadInfo, queue: QueueView, interval: float = 0.1) -> None:
        self.info = info
        self.queue = queue
        thumb = thumbnail(info.file, info.kind)
        if thumb is not None:
            self.thumb: w.Widget = w.Image(value=thumb, format="png", layout=w.Layout(width="64px"))
        else:
            self.thumb = w.HTML(f'<span style="font-size:28px">{ICONS.get(info.kind, "?")}</span>',
                                layout=w.Layout(width="64px"))
        self.name = w.HTML(f"<b>{_esc(info.name)}</b> <small>{info.kind}, {human_size(info.size)}</small>")
        self.bar = w.FloatProgress(min=0.0, max=100.0, layout=w.Layout(width="220px"))
        self.stats = w.HTML()
        self.state = w.HTML()
        self.detail = w.HTML()
        button = dict(layout=w.Layout(width="auto"))
        self.cancel_button = w.Button(description="Cancel", icon="stop", tooltip="Cancel this file", **button)
        self.resume_button = w.Button(description="Resume", icon="play", tooltip="Continue where it stopped",
                                      **button)
        self.retry_button = w.Button(description="Retry", icon="repeat", tooltip="Try this file again", **button)
        self.remove_button = w.Button(description="Remove", icon="trash", tooltip="Remove from the list",
                                      **button)
        self.cancel_button.on_click(lambda _: queue.uploader.cancel_file(info))
        self.resume_button.on_click(lambda _: self._again())
        self.retry_button.on_click(lambda _: self._again())
        self.remove_button.on_click(lambda _: queue.remove(info))
        super().__init__(layout=w.Layout(align_items="center", border_bottom="1px solid #eee"))
        self.children = [
            self.thumb,
            w.VBox([w.HBox([self.name, self.state]), w.HBox([self.bar, self.stats]), self.detail],
                   layout=w.Layout(flex="1 1 auto", min_width="0")),
            # The buttons keep their width; a long result URL wraps instead of squeezing them.
            w.HBox([self.cancel_button, self.resume_button, self.retry_button, self.remove_button],
                   layout=w.Layout(flex="0 0 auto")),
        ]
        self.add_class("vodwidget-row")
        self._render_lock = threading.RLock()
        self._throttle = Throttle(self.render, interval)
        self.render()
        info.observe(self._changed, names=_ROW_TRAITS)

    def _again(self) -> None:
        self.queue.uploader.resume_file(self.info)
        self.queue.start()

    def _changed(self, change: dict[str, Any]) -> None:
        # State changes show at once; progress coalesces to <= 1 redraw per interval.
        self._throttle(urgent=change["name"] == "state")

    def render(self) -> None:
        """Copy the info's traits to the widgets (one message per widget that changed)."""
        i = self.info
        with self._render_lock:
            state = i.state
            if state == UPLOADING:
                stats = f"{i.percent:.1f}% \N{MIDDLE DOT} {human_size(i.speed)}/s \N{MIDDLE DOT} ETA {format_eta(i.eta)}"
            else:
                stats = f"{i.percent:.1f}%"
            shown = i.message and i.message.lower() != state.lower() and state not in (SUCCESS, READY)
            note = f" <small>{_esc(i.message)}</small>" if shown else ""
            state_html = f'<span style="color:{_STATE_COLOR[state]}" class="vodwidget-state">{state}</span>{note}'
            if state == FAILURE:
                detail = (f'<span style="color:#b00020" class="vodwidget-error">{_esc(i.error_code)}: '
                          f"{_esc(i.error_message)}</span>")
            elif state == SUCCESS:
                detail = result_html(i, self.queue.play_url(i))
            else:
                detail = ""
            with self.bar.hold_sync():
                self.bar.value = float(i.percent)
                self.bar.bar_style = _BAR_STYLE.get(state, "info")
            self.stats.value = stats
            self.state.value = state_html
            self.detail.value = detail
            self.cancel_button.disabled = state not in (READY, UPLOADING, STOPPED)
            self.resume_button.disabled = state not in (CANCELED, STOPPED)
            self.retry_button.disabled = state != FAILURE

    def text(self) -> str:
        """One line of plain text (the fallback for front ends without widgets)."""
        i = self.info
        line = f"{i.name:<28} {i.kind:<5} {i.state:<9} {i.percent:5.1f}%"
        if i.state == UPLOADING:
            line += f"  {human_size(i.speed)}/s  ETA {format_eta(i.eta)}"
        if i.state == FAILURE:
            line += f"  {i.error_code}: {i.error_message}"
        elif i.state == SUCCESS:
            if i.kind == "image":
                line += f"  imageUrl={i.image_url}"
            else:
                play = self.queue.play_url(i)
                line += f"  videoId={i.video_id}" + (f"  play={play}" if play else "")
        return line

    def close(self) -> None:
        if hasattr(self, "_throttle"):  # Widget.__del__ may close a half-built row
            self._throttle.close()
        try:
            self.info.unobserve(self._changed, names=_ROW_TRAITS)
        except ValueError:
            pass
        for child in _descendants(self):
            child.close()
        super().close()

    def __repr__(self) -> str:
        return f"QueueRow({self.text().strip()})"

    def _repr_mimebundle_(self, **kwargs):  # noqa: ANN201
        data = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = repr(self)
        return data


class QueueView(w.VBox):
    """All files of an uploader: summary line, overall bar, one page of rows, prev/next.

    Only the visible page has row widgets, so a queue of thousands of files stays light.
    """

    def __init__(self, uploader: VODUpload, page_size: int = 20, play_url: PlayUrl | None = None,
                 start: Callable[[], None] | None = None, interval: float = 0.1) -> None:
        self.uploader = uploader
        self.page_size = max(1, int(page_size))
        self.page = 0
        self.interval = interval
        self._play_url = play_url
        self._start = start
        self.rows: dict[UploadInfo, QueueRow] = {}
        self._watched: set[UploadInfo] = set()
        self._lock = threading.RLock()
        self.summary = w.HTML()
        self.overall = w.FloatProgress(min=0.0, max=100.0, description="Overall",
                                       layout=w.Layout(width="420px"))
        self.overall_text = w.HTML()
        self.prev_button = w.Button(description="Prev", icon="chevron-left", layout=w.Layout(width="auto"))
        self.next_button = w.Button(description="Next", icon="chevron-right", layout=w.Layout(width="auto"))
        self.page_label = w.HTML()
        self.rows_box = w.VBox()
        self.prev_button.on_click(lambda _: self.show_page(self.page - 1))
        self.next_button.on_click(lambda _: self.show_page(self.page + 1))
        super().__init__()
        self.children = [self.summary, w.HBox([self.overall, self.overall_text]), self.rows_box,
                         w.HBox([self.prev_button, self.page_label, self.next_button])]
        self._totals = Throttle(self._render_totals, interval)
        self._totals_lock = threading.Lock()
        # Files added or removed through the uploader itself (not these buttons) show up too;
        # a burst of add_file calls coalesces into one refresh per interval.
        self._relist = Throttle(self.refresh, interval)
        uploader.observe(self._files_changed, names="files")
        self.refresh()

    def _files_changed(self, change: dict[str, Any]) -> None:
        self._relist()

    # -- commands ---------------------------------------------------------------------------
    def play_url(self, info: UploadInfo) -> str | None:
        return self._play_url(info) if self._play_url is not None else None

    def start(self) -> None:
        """Start (or keep) the uploader's background run."""
        if self._start is not None:
            self._start()
        elif not self.uploader.running:
            self.uploader.start_upload(wait=False)

    def remove(self, info: UploadInfo) -> None:
        """Remove one file from the uploader's list (stopping it first if it is uploading)."""
        self.uploader.delete_file(info)
        self.refresh()

    def clear_finished(self) -> int:
        """Remove Success, Failure and Canceled files; return how many."""
        done = [i for i in self.uploader.files if i.state in FINISHED_STATES]
        for info in done:
            self.uploader.delete_file(info)
        self.refresh()
        return len(done)

    def show_page(self, page: int) -> None:
        self.page = page
        self.refresh()

    # -- view -------------------------------------------------------------------------------
    @property
    def pages(self) -> int:
        return max(1, -(-len(self.uploader.files) // self.page_size))

    def refresh(self) -> None:
        """Match rows to the uploader's list: watch new files, build rows for the visible page only."""
        with self._lock:
            files = self.uploader.files
            current = set(files)
            for info in current - self._watched:
                info.observe(self._totals_changed, names=["state", "loaded", "size"])
            for info in self._watched - current:
                info.unobserve(self._totals_changed, names=["state", "loaded", "size"])
            self._watched = current
            pages = max(1, -(-len(files) // self.page_size))
            self.page = min(max(0, self.page), pages - 1)
            start = self.page * self.page_size
            visible = files[start:start + self.page_size]
            for info in list(self.rows):
                if info not in visible:
                    self.rows.pop(info).close()
            for info in visible:
                if info not in self.rows:
                    self.rows[info] = QueueRow(info, self, self.interval)
            self.rows_box.children = [self.rows[i] for i in visible]
            with self.page_label.hold_sync():
                if files:
                    self.page_label.value = (f"page {self.page + 1} of {pages} "
                                             f"(files {start + 1}-{start + len(visible)} of {len(files)})")
                else:
                    self.page_label.value = "<i>no files yet: pick some above and press Add to queue</i>"
            self.prev_button.disabled = self.page == 0
            self.next_button.disabled = self.page >= pages - 1
        self._render_totals()

    def _totals_changed(self, change: dict[str, Any]) -> None:
        self._totals(urgent=change["name"] == "state")

    def counts(self) -> dict[str, int]:
        """Files per state, in the order of the states."""
        found: dict[str, int] = {}
        for info in self.uploader.files:
            found[info.state] = found.get(info.state, 0) + 1
        return {s: found[s] for s in STATES if s in found}

    def _sums(self) -> tuple[int, int]:
        files = self.uploader.files
        return sum(i.loaded for i in files), sum(i.size for i in files)

    def summary_text(self) -> str:
        files = self.uploader.files
        if not files:
            return "0 files"
        loaded, size = self._sums()
        parts = ", ".join(f"{s} {n}" for s, n in self.counts().items())
        pct = 100.0 * loaded / size if size else 0.0
        return f"{len(files)} file{'s' * (len(files) != 1)}: {parts}; {human_size(loaded)} of {human_size(size)} ({pct:.0f}%)"

    def _render_totals(self) -> None:
        # Called from worker threads and the throttle's timer: compute and assign under one lock,
        # so an older computation can never be written after a newer one. (The file list is read
        # from the uploader's `files` trait, which takes no uploader lock: no lock-order cycle.)
        with self._totals_lock:
            loaded, size = self._sums()
            text = self.summary_text()
            self.summary.value = f'<span class="vodwidget-summary">{_esc(text)}</span>'
            pct = 100.0 * loaded / size if size else 0.0
            with self.overall.hold_sync():
                self.overall.value = pct
                counts = self.counts()
                self.overall.bar_style = ("danger" if counts.get(FAILURE) else "success"
                                          if size and counts.get(SUCCESS) == sum(counts.values()) else "info")
            self.overall_text.value = f"{pct:.0f}%"

    def text(self) -> str:
        lines = [f"Queue: {self.summary_text()}"]
        with self._lock:
            rows = [self.rows[i] for i in self.uploader.files if i in self.rows]
        lines += ["  " + r.text() for r in rows]
        if self.pages > 1:
            lines.append(f"  (page {self.page + 1} of {self.pages})")
        return "\n".join(lines)

    def close(self) -> None:
        if not hasattr(self, "_totals"):  # Widget.__del__ on a half-built view
            return super().close()
        self._totals.close()
        self._relist.close()
        try:
            self.uploader.unobserve(self._files_changed, names="files")
        except ValueError:
            pass
        with self._lock:
            for info in self._watched:
                info.unobserve(self._totals_changed, names=["state", "loaded", "size"])
            self._watched = set()
            for row in self.rows.values():
                row.close()
            self.rows.clear()
        for child in _descendants(self):
            child.close()
        super().close()

    def __repr__(self) -> str:
        return self.text()

    def _repr_mimebundle_(self, **kwargs):  # noqa: ANN201
        data = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = repr(self)
        return data


def _descendants(widget: w.Widget) -> list[w.Widget]:
    out: list[w.Widget] = []
    stack = list(getattr(widget, "children", ()))
    while stack:
        child = stack.pop()
        out.append(child)
        stack.extend(getattr(child, "children", ()))
    return out
