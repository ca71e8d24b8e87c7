"""Use the local service from a client: find a running ``vodwidget local``, or start one for a while.

Kept apart from the server so that ``vodwidget upload --local`` and notebooks can reach a service
started in another process (its root key is read from its data dir, never from the network).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from vodwidget.credentials import (
    AppServerCredentials,
    CredentialProvider,
    OpenApiCredentials,
    StsCredentials,
)
from vodwidget.redact import register_secret

__all__ = ["LocalEndpoint", "local_credentials", "find_running", "attach_or_start", "CREDENTIAL_MODES"]

CREDENTIAL_MODES = ("openapi", "appserver", "sts")


@dataclass(frozen=True)
class LocalEndpoint:
    """Where a running local service listens, and its root key (never shown in ``repr``)."""

    vod_endpoint: str
    oss_endpoint: str
    app_server: str
    region: str
    access_key_id: str
    access_key_secret: str = field(repr=False)
    data_dir: str = ""
    bucket: str = ""
    port: int = 0

    def credentials(self, mode: str = "openapi") -> CredentialProvider:
        return local_credentials(self, mode)


def local_credentials(svc: Any, mode: str = "openapi") -> CredentialProvider:
    """A ready provider for a local service (a ``LocalVod`` or a :class:`LocalEndpoint`).

    ``openapi``: OpenAPI calls signed with the root key; ``appserver``: the service's AppServer
    URLs (create / refresh / image / sts); ``sts``: STS triples fetched from its ``/sts`` URL.
    """
    if mode == "openapi":
        return OpenApiCredentials(svc.access_key_id, svc.access_key_secret, region=svc.region,
                                  endpoint=svc.vod_endpoint)
    if mode == "appserver":
        return AppServerCredentials.from_base(svc.app_server, vod_endpoint=svc.vod_endpoint, region=svc.region)
    if mode == "sts":
        return StsCredentials(source=f"{svc.app_server}/sts", region=svc.region, endpoint=svc.vod_endpoint)
    raise ValueError(f"unknown credentials mode {mode!r}; choose one of {', '.join(CREDENTIAL_MODES)}")


def find_running(host: str = "127.0.0.1", port: int | None = None, timeout: float = 1.0) -> LocalEndpoint | None:
    """The service listening on ``host:port`` (default port 8777), or None."""
    from vodwidget.local import DEFAULT_PORT

    port = port or int(os.environ.get("VODWIDGET_LOCAL_PORT") or 0) or DEFAULT_PORT
    url = f"http://{host}:{port}/_admin/info"
    try:
        info = requests.get(url, timeout=timeout).json()
        ident = json.loads((Path(info["data_dir"]) / "credentials.json").read_text())
    except (requests.RequestException, ValueError, KeyError, OSError, TypeError):
        return None
    if ident.get("access_key_id") != info.get("access_key_id"):
        return None
    register_secret(ident["access_key_secret"])
    return LocalEndpoint(info["vod_endpoint"], info["oss_endpoint"], info["app_server"], info["region"],
                         ident["access_key_id"], ident["access_key_secret"], info["data_dir"],
                         info.get("bucket", ""), int(info.get("port", 0)))


@contextlib.contextmanager
def attach_or_start(port: int | None = None, data_dir: str | Path | None = None,
                    say: Callable[[str], None] | None = None) -> Iterator[Any]:
    """Yield a running local service: the one on ``port`` if there is one, else a new one that
    lives for the ``with`` block (on the fixed default port and the persistent default data dir,
    so the URLs it hands out work again whenever ``vodwidget local`` runs).

    ``VODWIDGET_LOCAL_PORT`` / ``VODWIDGET_LOCAL_DATA`` override the default port and data dir."""
    from vodwidget.local import DEFAULT_PORT, LocalVod

    # Environment overrides let a second, isolated service (tests, a shared machine) stand in.
    port = port or int(os.environ.get("VODWIDGET_LOCAL_PORT") or 0) or None
    data_dir = data_dir or os.environ.get("VODWIDGET_LOCAL_DATA") or None

    def _say(msg: str) -> None:
        (say or (lambda m: print(m, file=sys.stderr)))(msg)

    running = find_running(port=port or DEFAULT_PORT)
    if running is not None:
        _say(f"using the local service running at {running.vod_endpoint}")
        yield running
        return
    try:
        svc = LocalVod(data_dir=data_dir, port=port or DEFAULT_PORT).start()
    except OSError:
        # The port is taken by something else: a free port still works for this run.
        svc = LocalVod(data_dir=data_dir, port=0).start()
    _say(f"started the local service at {svc.vod_endpoint} (data in {svc.data_dir})")
    try:
        yield svc
    finally:
        svc.stop()
        _say("stopped the local service this command started; run `vodwidget local` "
             "to keep the printed URLs working")
