"""MetadataForm: Title, CateId, Tags and Description -> the ``{"Vod": {...}}`` userData of each file.

Validation is :func:`vodwidget.metadata.build_user_data`'s; a bad value shows its sentence inline,
never a traceback.

>>> form = MetadataForm()
>>> form.cate_id.value = "12"
>>> form.user_data("/data/clip.mp4")
{'Vod': {'Title': 'clip', 'CateId': '12'}}
>>> form.cate_id.value = "twelve"
>>> form.valid
False
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import ipywidgets as w

from vodwidget.errors import InvalidInputError
from vodwidget.metadata import build_user_data

__all__ = ["MetadataForm"]


class MetadataForm(w.VBox):
    """Metadata applied to the files queued next. An empty Title means "each file's name"."""

    def __init__(self, **kwargs: Any) -> None:
        self.title = w.Text(description="Title", placeholder="(the file name)")
        self.cate_id = w.Text(description="CateId", placeholder="category id, a whole number")
        self.tags = w.Text(description="Tags", placeholder="comma-separated, up to 16")
        self.description = w.Textarea(description="Description", rows=2)
        self.error = w.HTML()
        self.error_text = ""
        super().__init__(**kwargs)
        self.children = [w.HTML("<b>Metadata</b> (for the files you add next)"), self.title,
                         self.cate_id, self.tags, self.description, self.error]
        for field in (self.title, self.cate_id, self.tags, self.description):
            field.observe(lambda _: self.validate(), names="value")

    def suggest_title(self, paths: list[Path]) -> None:
        """Show the name a single selected file would get; several files keep their own names."""
        self.title.placeholder = Path(paths[0]).stem if len(paths) == 1 else "(each file's name)"

    def user_data(self, path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """The userData for ``path`` (its stem is the Title when the Title field is empty).

        Raises :class:`~vodwidget.errors.InvalidInputError` and shows its message in the form.
        """
        title = self.title.value.strip() or (Path(path).stem if path is not None else None)
        try:
            data = build_user_data(title=title, cate_id=self.cate_id.value.strip() or None,
                                   tags=self.tags.value.strip() or None,
                                   description=self.description.value.strip() or None)
        except InvalidInputError as exc:
            self._show(exc)
            raise
        self._show(None)
        return data

    def validate(self) -> bool:
        """Check the fields now; show the problem inline. True when they are fine."""
        try:
            self.user_data("x")
        except InvalidInputError:
            return False
        return True

    @property
    def valid(self) -> bool:
        return self.validate()

    def _show(self, exc: InvalidInputError | None) -> None:
        self.error_text = "" if exc is None else exc.message
        self.error.value = "" if exc is None else (
            f'<span style="color:#b00020">{html.escape(exc.message)}</span>')

    def close(self) -> None:
        for child in self.children:
            child.close()
        super().close()

    def __repr__(self) -> str:
        fields = {"Title": self.title.value, "CateId": self.cate_id.value, "Tags": self.tags.value,
                  "Description": self.description.value}
        shown = ", ".join(f"{k}={v!r}" for k, v in fields.items() if v)
        err = f"; error: {self.error_text}" if self.error_text else ""
        return f"MetadataForm({shown or 'empty'}{err})"

    def _repr_mimebundle_(self, **kwargs):  # noqa: ANN201
        data = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = repr(self)
        return data
