"""FilePicker: choose files on the kernel's file system (confined to a root) or upload small ones.

The kernel's disk is where big media usually lives next to a notebook, so the main picker browses
it: folders, multi-select, a video/image type filter and sizes. The browser upload
(``ipywidgets.FileUpload``) holds the bytes in kernel memory, so it is for small files only; they
are spooled to a temporary folder that :meth:`FilePicker.close` removes.

>>> import tempfile, os
>>> root = tempfile.mkdtemp()
>>> open(os.path.join(root, "a.mp4"), "wb").close()
>>> picker = FilePicker(root)
>>> picker.files.options[0][0]
'a.mp4  (0 B)'
"""

from __future__ import annotations

import html
import os
import shutil
import tempfile
from pathlib import Path

import ipywidgets as w
from traitlets import Int, Unicode

from vodwidget.errors import InvalidInputError
from vodwidget.widgets.fs import KIND_FILTERS, human_size, inside, list_dir

__all__ = ["FilePicker", "UPLOAD_LIMIT"]

UPLOAD_LIMIT = 50 * 1024 * 1024
_UP = "\N{UPWARDS ARROW} .. (parent folder)"


class FilePicker(w.VBox):
    """Browse ``root`` on the kernel's machine and pick files; or upload small files from the browser.

    ``selected`` (paths, in the order shown) are the picked files plus the spooled uploads.
    """

    folder = Unicode(".", help="Current folder, relative to the root (never outside it).")
    upload_limit = Int(UPLOAD_LIMIT, help="Largest browser upload accepted, in bytes.")

    def __init__(self, root: str | os.PathLike[str] = ".", upload_limit: int = UPLOAD_LIMIT, **kwargs) -> None:
        self.root = Path(root).expanduser().resolve()
        self._spool: Path | None = None
        self.uploaded: list[Path] = []
        self.where = w.HTML()
        self.up_button = w.Button(description="Up", icon="arrow-up", tooltip="Parent folder",
                                  layout=w.Layout(width="70px"))
        self.refresh_button = w.Button(description="", icon="refresh", tooltip="List the folder again",
                                       layout=w.Layout(width="40px"))
        self.kind = w.Dropdown(options=list(KIND_FILTERS), value="Videos and images",
                               description="Show", layout=w.Layout(width="220px"))
        self.folders = w.Select(options=[], rows=4, description="Folders",
                                layout=w.Layout(width="auto"))
        self.files = w.SelectMultiple(options=[], rows=8, description="Files",
                                      layout=w.Layout(width="auto"))
        self.select_all = w.Button(description="Select all", layout=w.Layout(width="100px"))
        self.summary = w.HTML()
        self.upload = w.FileUpload(accept="video/*,audio/*,image/png,image/jpeg,image/gif", multiple=True,
                                   description="Upload small files", layout=w.Layout(width="auto"))
        self.upload_note = w.HTML()
        self.message = w.HTML()
        super().__init__(**kwargs)
        self.upload_limit = upload_limit
        self.upload_note.value = (f"<small>Small files only: up to {human_size(upload_limit)} each "
                                  "(the browser sends them through the kernel's memory). For larger "
                                  "files, copy them next to the notebook and pick them above.</small>")
        self.children = [
            w.HBox([self.up_button, self.refresh_button, self.where]),
            self.kind, self.folders, self.files,
            w.HBox([self.select_all, self.summary]),
            w.HBox([self.upload]), self.upload_note, self.message,
        ]
        self.up_button.on_click(lambda _: self.open_folder(".."))
        self.refresh_button.on_click(lambda _: self.refresh())
        self.select_all.on_click(lambda _: self._select_all())
        self.kind.observe(lambda _: self.refresh(), names="value")
        self.folders.observe(self._on_folder, names="value")
        self.files.observe(lambda _: self._show_summary(), names="value")
        self.upload.observe(self._on_upload, names="value")
        self.refresh()

    # -- browsing ---------------------------------------------------------------------------
    def open_folder(self, folder: str) -> None:
        """Go to ``folder`` (relative to the current one); a path outside the root is refused."""
        try:
            target = inside(self.root, Path(self.root, self.folder, folder))
        except InvalidInputError as exc:
            self._say(exc.message, error=True)
            return
        self.folder = target.relative_to(self.root).as_posix()
        self.refresh()

    def refresh(self) -> None:
        """List the current folder again (after files changed on disk)."""
        try:
            entries = list_dir(self.root, self.folder, KIND_FILTERS[self.kind.value])
        except InvalidInputError as exc:
            self._say(exc.message, error=True)
            entries = []
        keep = set(self.files.value)
        dirs = [(e.label, e.name) for e in entries if e.is_dir]
        files = [(e.label, e.path) for e in entries if not e.is_dir]
        with self.hold_sync():
            self._navigating = True
            try:
                self.folders.options = ([(_UP, "..")] if self.folder != "." else []) + dirs
                self.folders.value = None
                # An empty folder list is just noise: show it only when there is somewhere to go.
                self.folders.layout.display = None if self.folders.options else "none"
            finally:
                self._navigating = False
            self.files.options = files
            self.files.value = tuple(p for _, p in files if p in keep)
            shown = "/" if self.folder == "." else "/" + html.escape(self.folder)
            self.where.value = f"<code>{html.escape(self.root.name or str(self.root))}{shown}</code>"
            self.up_button.disabled = self.folder == "."
        self._show_summary()

    def _on_folder(self, change: dict) -> None:
        if getattr(self, "_navigating", False) or change["new"] is None:
            return
        self.open_folder(change["new"])

    def _select_all(self) -> None:
        self.files.value = tuple(p for _, p in self.files.options)

    # -- selection --------------------------------------------------------------------------
    def select(self, *names: str) -> None:
        """Pick files of the current folder by name (what clicking them does).

        >>> # picker.select("a.mp4", "b.png")
        """
        by_name = {Path(p).name: p for _, p in self.files.options}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise InvalidInputError(f"not in this folder (or filtered out): {', '.join(missing)}", "NoSuchFile")
        self.files.value = tuple(dict.fromkeys((*self.files.value, *(by_name[n] for n in names))))

    @property
    def selected(self) -> list[Path]:
        """Picked files (re-checked to be inside the root) and spooled uploads."""
        picked = []
        for p in self.files.value:
            try:
                picked.append(inside(self.root, p))
            except InvalidInputError:
                continue  # the folder changed under us (e.g. a link was retargeted): skip it
        return picked + list(self.uploaded)

    def clear(self) -> None:
        """Forget the selection (after the files were queued); spooled files stay on disk."""
        self.uploaded = []
        self.files.value = ()
        self._show_summary()

    def _show_summary(self) -> None:
        chosen = self.selected
        if not chosen:
            self.summary.value = "<i>nothing selected</i>"
            return
        total = sum(p.stat().st_size for p in chosen if p.exists())
        extra = f" ({len(self.uploaded)} uploaded)" if self.uploaded else ""
        self.summary.value = f"{len(chosen)} selected{extra}, {human_size(total)}"

    # -- browser uploads --------------------------------------------------------------------
    def _on_upload(self, change: dict) -> None:
        items = change["new"]
        if not items:
            return
        notes = []
        for item in items:
            name = Path(str(item.get("name") or "upload")).name  # never a path from the browser
            content = item.get("content") or b""
            size = int(item.get("size") or len(content))
            if size > self.upload_limit:
                notes.append(f"{html.escape(name)} is {human_size(size)}; the limit for browser uploads "
                             f"is {human_size(self.upload_limit)}. Copy it next to the notebook and pick it "
                             "in the file list instead.")
                continue
            if self._spool is None:
                self._spool = Path(tempfile.mkdtemp(prefix="vodwidget-upload-"))
            # One folder per upload keeps the original name (the title default) without clashes.
            target = Path(tempfile.mkdtemp(dir=self._spool)) / name
            with open(target, "wb") as f:
                f.write(memoryview(content))
            self.uploaded.append(target)
        # The bytes were copied to disk: drop them from the widget so they neither sit in kernel
        # memory nor get saved into the notebook with the widget state.
        self.upload.value = ()
        self._say("<br>".join(notes), error=True) if notes else self._say("")
        self._show_summary()

    def _say(self, text: str, error: bool = False) -> None:
        self.message.value = f'<span style="color:#b00020">{text}</span>' if error and text else text

    def close(self) -> None:
        """Close the widgets and delete the spooled uploads."""
        if getattr(self, "_spool", None) is not None:
            shutil.rmtree(self._spool, ignore_errors=True)
            self._spool = None
        for child in self._descendants():
            child.close()
        super().close()

    def _descendants(self) -> list[w.Widget]:
        out: list[w.Widget] = []
        stack = list(self.children)
        while stack:
            child = stack.pop()
            out.append(child)
            stack.extend(getattr(child, "children", ()))
        return out

    def __repr__(self) -> str:
        names = [p.name for p in self.selected]
        return (f"FilePicker(root={str(self.root)!r}, folder={self.folder!r}, "
                f"{len(self.files.options)} files shown, selected={names!r})")

    def _repr_mimebundle_(self, **kwargs):  # noqa: ANN201 - full text, not ipywidgets' 110 chars
        data = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = repr(self)
        return data
