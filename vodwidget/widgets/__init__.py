"""Notebook widgets for vodwidget: one :class:`UploadPanel` to display, and its pieces.

>>> from vodwidget.widgets import UploadPanel
>>> panel = UploadPanel()          # offers "Use local service" when no credentials are given
>>> "choose a service" in repr(panel)
True
>>> panel.close()
"""

from vodwidget.widgets.form import MetadataForm
from vodwidget.widgets.panel import UploadPanel
from vodwidget.widgets.picker import UPLOAD_LIMIT, FilePicker
from vodwidget.widgets.queue import QueueRow, QueueView

__all__ = ["UploadPanel", "FilePicker", "MetadataForm", "QueueView", "QueueRow", "UPLOAD_LIMIT"]
