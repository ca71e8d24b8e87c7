"""LocalVod: VOD OpenAPI + OSS + app server + media on one port, served from a background thread.

>>> import tempfile
>>> with LocalVod(data_dir=tempfile.mkdtemp(), port=0) as svc:
...     svc.vod_endpoint == f"http://127.0.0.1:{svc.port}" and svc.bucket.startswith("outin-")
True
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import platformdirs
from aiohttp import web

from vodwidget.local import appserver, media, oss, vod
from vodwidget.local.common import CORS_HEADERS, iso_z, note, noted
from vodwidget.local.faults import Faults
from vodwidget.local.faults import inject as faults_inject
from vodwidget.local.store import Store
from vodwidget.redact import get_logger, register_secret

__all__ = ["LocalVod", "RequestLogEntry", "DEFAULT_PORT", "default_data_dir"]

DEFAULT_PORT = 8777
VERSION = "1"
log = get_logger(__name__)

# Bodies are streamed to disk, so the aiohttp limit only guards request.read()/post() callers.
_CLIENT_MAX_SIZE = 64 << 20


def default_data_dir() -> Path:
    """Per-user data directory of the local service."""
    return Path(platformdirs.user_data_dir("vodwidget")) / "local"


# Query parameters that carry secrets or replayable proofs; the request log keeps their names only.
_SECRET_PARAMS = frozenset({"signature", "securitytoken", "security-token", "accesskeysecret", "auth_key"})


@dataclass(frozen=True)
class RequestLogEntry:
    """One answered (or deliberately dropped, status 0) request."""

    time: float
    method: str
    path: str
    query: dict
    status: int
    op: str
    access_key_id: str | None


class LocalVod:
    """The embedded local VOD + OSS service; see the module docstring for an example."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        token_ttl: float = 3000.0,
        url_auth_ttl: float | None = None,
        faults: str | None = None,
        seed: int | None = None,
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.host = host
        self.port = port
        self.token_ttl = float(token_ttl)
        self.url_auth_ttl = url_auth_ttl
        self.region = "cn-shanghai"
        self.faults = Faults(faults, seed)
        # Bounded: a long-running `vodwidget local` must not grow without limit.
        self._log: collections.deque[RequestLogEntry] = collections.deque(maxlen=100_000)
        self._log_lock = threading.Lock()
        self._nonces: dict[tuple[str, str], float] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self.store: Store | None = None  # type: ignore[assignment]
        #: Per multipart upload: Complete and Abort hold it (used on the loop thread only).
        self.upload_locks: dict[str, asyncio.Lock] = {}
        self._load_identity()

    # -- identity ---------------------------------------------------------------------------
    def _load_identity(self) -> None:
        """Root key, media signing key and bucket: created once, then read from credentials.json."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "credentials.json"
        try:
            ident = json.loads(path.read_text())
        except FileNotFoundError:
            ident = {
                "access_key_id": "LTAI" + secrets.token_hex(10),
                "access_key_secret": secrets.token_urlsafe(22),
                "media_key": secrets.token_hex(16),
                "bucket": "outin-" + secrets.token_hex(5),
            }
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(ident, fh)
        self.access_key_id: str = ident["access_key_id"]
        self.access_key_secret: str = ident["access_key_secret"]
        self.media_key: str = ident["media_key"]
        self.bucket: str = ident["bucket"]
        register_secret(self.access_key_secret)
        register_secret(self.media_key)

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        host = "[::1]" if host == "::" else (f"[{host}]" if ":" in host else host)
        return f"http://{host}:{self.port}"

    @property
    def vod_endpoint(self) -> str:
        return self.base_url

    @property
    def oss_endpoint(self) -> str:
        return self.base_url

    @property
    def app_server(self) -> str:
        return self.base_url + "/_app"

    @property
    def storage_location(self) -> str:
        return f"{self.bucket}.oss-{self.region}.aliyuncs.com"

    def is_bucket(self, name: str) -> bool:
        return name == self.bucket

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> LocalVod:
        """Bind the port, open the store and serve on a daemon thread; returns once listening."""
        if self._thread is not None:
            return self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.create_server((self.host, self.port), family=family)
        self.port = sock.getsockname()[1]
        try:
            self.store = Store(self.data_dir)
        except BaseException:
            sock.close()
            raise
        loop = asyncio.new_event_loop()
        # Part uploads hash and write on worker threads; give them room to run in parallel.
        executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="localvod-io")
        loop.set_default_executor(executor)
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(sock))
            except BaseException as exc:  # reported to start()
                failure.append(exc)
                sock.close()
                loop.run_until_complete(loop.shutdown_default_executor())
                loop.close()
                ready.set()
                return
            ready.set()
            loop.run_forever()
            # Wind down on this thread: the caller of stop() may have its own running loop
            # (a Jupyter kernel), where run_until_complete would fail.
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=f"localvod-{self.port}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread = None
            self.store.close()
            raise failure[0]
        log.info("local VOD service listening on %s (data %s)", self.base_url, self.data_dir)
        return self

    async def _serve(self, sock: socket.socket) -> None:
        app = web.Application(client_max_size=_CLIENT_MAX_SIZE)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # access_log=None: query strings carry signatures and tokens.
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    def stop(self) -> None:
        """Stop serving and close the store (in-flight requests get ~2 s to finish)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._runner is not None:
            fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop)
            try:
                fut.result(timeout=15)
            except Exception:  # stopping anyway
                log.exception("error while stopping the local service")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=15)
        self._loop = self._thread = self._runner = None
        if self.store is not None:
            self.store.close()

    def __enter__(self) -> LocalVod:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalVod(base_url={self.base_url!r}, data_dir={str(self.data_dir)!r})"

    # -- credentials ------------------------------------------------------------------------
    def lookup_key(self, ak: str) -> dict[str, Any] | None:
        """Secret, kind (root/vod/upload), token and scope of an AccessKeyId, or None."""
        if ak == self.access_key_id:
            return {"secret": self.access_key_secret, "kind": "root", "token": None}
        row = self.store.get_cred(ak)
        return dict(row) if row is not None else None

    def _new_sts(self, kind: str, bucket: str | None, key: str | None) -> dict[str, Any]:
        ak = "STS." + secrets.token_urlsafe(18).replace("-", "x").replace("_", "y")
        secret = secrets.token_urlsafe(30)
        token = "CAIS" + secrets.token_urlsafe(120)
        ttl = float(self.token_ttl)
        expires = time.time() + ttl
        register_secret(secret)
        register_secret(token)
        self.store.add_cred(ak, secret, token, kind, bucket, key, expires)
        return {"AccessKeyId": ak, "AccessKeySecret": secret, "SecurityToken": token,
                "ttl": ttl, "expires": expires}

    def credentials(self, mode: str = "openapi") -> Any:
        """A ready credential provider for this service: ``openapi`` (root key), ``appserver``
        (the ``/_app`` URLs) or ``sts`` (STS triples from ``/_app/sts``).

        >>> with LocalVod(port=0) as svc:                      # doctest: +SKIP
        ...     VODUpload(credentials=svc.credentials("appserver"))
        """
        from vodwidget.local.attach import local_credentials

        return local_credentials(self, mode)

    def issue_sts(self, scope: str = "vod") -> dict[str, str]:
        """An STS triple allowed to call the VOD API (what ``/_app/sts`` hands out)."""
        if scope != "vod":
            raise ValueError("only scope='vod' is supported")
        cred = self._new_sts("vod", None, None)
        return {"AccessKeyId": cred["AccessKeyId"], "AccessKeySecret": cred["AccessKeySecret"],
                "SecurityToken": cred["SecurityToken"], "Expiration": iso_z(cred["expires"])}

    def issue_upload_auth(self, key: str) -> dict[str, str]:
        """UploadAuth fields: an STS key that may write exactly ``key`` in the bucket."""
        cred = self._new_sts("upload", self.bucket, key)
        return {"AccessKeyId": cred["AccessKeyId"], "AccessKeySecret": cred["AccessKeySecret"],
                "SecurityToken": cred["SecurityToken"], "Expiration": str(int(cred["ttl"])),
                "ExpireUTCTime": iso_z(cred["expires"]), "Region": self.region}

    def use_nonce(self, ak: str, nonce: str, until: float) -> bool:
        """Record a SignatureNonce, remembered until ``until`` (epoch seconds); False if it is
        still remembered. The caller passes the request's Timestamp plus the allowed skew, so a
        request stamped in the future cannot be replayed once a fixed window has passed."""
        now = time.time()
        with self._log_lock:
            if len(self._nonces) > 10000:
                self._nonces = {k: t for k, t in self._nonces.items() if t > now}
            kept = self._nonces.get((ak, nonce))
            if kept is not None and kept > now:
                return False
            self._nonces[(ak, nonce)] = max(until, now)
            return True

    # -- observation ------------------------------------------------------------------------
    @property
    def request_log(self) -> list[RequestLogEntry]:
        with self._log_lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._log_lock:
            self._log.clear()

    def set_faults(self, spec: str | None, seed: int | None = None) -> None:
        """Replace the fault spec (ValueError if malformed); restarts the seeded sequence."""
        self.faults.set(spec, seed)

    @property
    def fault_log(self) -> list[tuple[int, str, str]]:
        return self.faults.snapshot()

    def video(self, video_id: str) -> dict | None:
        return self.store.get_media("videos", video_id)

    def image(self, image_id: str) -> dict | None:
        return self.store.get_media("images", image_id)

    async def object_stored(self, bucket: str, key: str) -> None:
        """A whole object arrived: the videos/images it belongs to become Normal."""
        await vod.object_stored(self, bucket, key)

    # -- HTTP -------------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path, _, raw_query = request.raw_path.partition("?")
        try:
            if path.startswith("/_admin/"):
                resp = await self._admin(request, path)
            elif path == "/_app" or path.startswith("/_app/"):
                resp = await self._with_faults("app", request, appserver.handle_app)
            elif path.startswith("/_media/"):
                resp = await self._with_faults("media", request, media.handle_media)
            elif path == "/" and not self._virtual_host(request):
                resp = await vod.handle_vod(self, request)
            else:
                resp = await oss.handle_oss(self, request)
        except Exception:
            log.exception("unhandled error in %s %s", request.method, path)
            noted(request).setdefault("op", "error")
            resp = web.json_response({"Code": "InternalError", "Message": "internal error"},
                                     status=500, headers=CORS_HEADERS)
        entry = RequestLogEntry(
            time=time.time(), method=request.method, path=path,
            query={k: ("***" if k.lower() in _SECRET_PARAMS else v)
                   for k, v in parse_qsl(raw_query, keep_blank_values=True)},
            status=noted(request).get("status", resp.status), op=noted(request).get("op", ""),
            access_key_id=noted(request).get("access_key_id"),
        )
        with self._log_lock:
            self._log.append(entry)
        return resp

    def _virtual_host(self, request: web.Request) -> bool:
        label = request.headers.get("Host", "").split(".", 1)[0]
        return "." in request.headers.get("Host", "") and self.is_bucket(label)

    async def _with_faults(self, kind: str, request: web.Request, handler: Any) -> web.StreamResponse:
        decision = await faults_inject(self.faults, kind, request.path, request)
        if decision == "reset":
            note(request, status=0)
            return web.Response(status=500)  # never sent: the transport is gone
        if decision == "503":
            return web.json_response({"Code": "ServiceUnavailable", "Message": "injected fault"},
                                     status=503, headers=CORS_HEADERS)
        return await handler(self, request)

    async def _admin(self, request: web.Request, path: str) -> web.StreamResponse:
        # No CORS headers here, and writes need a JSON content type: a web page in the user's
        # browser could otherwise send a "simple" cross-origin POST and change the service.
        if path == "/_admin/info" and request.method == "GET":
            note(request, op="admin:info")
            return web.json_response(self.info())
        if path == "/_admin/faults":
            note(request, op="admin:faults")
            if request.method in ("POST", "PUT"):
                if request.content_type != "application/json":
                    return web.json_response({"Code": "UnsupportedMediaType",
                                              "Message": "send the fault spec as application/json"}, status=415)
                try:
                    body = await request.json()
                    self.set_faults(body.get("spec"), body.get("seed"))
                except (ValueError, TypeError, AttributeError) as exc:
                    return web.json_response({"Code": "InvalidParameter", "Message": str(exc)}, status=400)
            return web.json_response({"spec": str(self.faults.spec), "seed": self.faults.seed,
                                      "log": self.fault_log})
        note(request, op="admin:unknown")
        return web.json_response({"Code": "NotFound", "Message": path}, status=404)

    def info(self) -> dict[str, Any]:
        """What ``/_admin/info`` shows: no secrets."""
        return {
            "version": VERSION, "pid": os.getpid(), "data_dir": str(self.data_dir),
            "vod_endpoint": self.vod_endpoint, "oss_endpoint": self.oss_endpoint,
            "app_server": self.app_server, "bucket": self.bucket, "region": self.region,
            "port": self.port, "access_key_id": self.access_key_id,
        }
