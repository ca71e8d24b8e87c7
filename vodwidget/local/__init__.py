"""The embedded local VOD + OSS service (one port, real wire protocols, data on disk).

>>> from vodwidget.local import LocalVod, DEFAULT_PORT
>>> DEFAULT_PORT
8777
"""

from vodwidget.local.server import DEFAULT_PORT, LocalVod, RequestLogEntry

__all__ = ["LocalVod", "DEFAULT_PORT", "RequestLogEntry"]
