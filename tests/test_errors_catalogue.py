"""The bad-input catalogue: every entry of docs/errors.md is a case here, and the doc is generated
from this table (``test_doc_is_generated_from_this_table``), so the two cannot drift.

Each case makes one bad input against the real uploader and the real local service (or, for bad
server answers, a small aiohttp proxy in front of it that corrupts exactly one thing) and returns
the ``(code, message)`` it got; the test compares both exactly, after replacing run-specific parts
(temp dirs, ports, addresses) with placeholders. Where the error belongs to one file, a good file
queued next to it must still succeed.

Regenerate the doc after changing a case or a message::

    VODWIDGET_WRITE_DOCS=1 .venv/bin/python -m pytest tests/test_errors_catalogue.py -k doc
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from vodwidget import VODUpload
from vodwidget.credentials import AppServerCredentials, OpenApiCredentials
from vodwidget.errors import InvalidInputError, VodUploadError
from vodwidget.local.attach import local_credentials
from vodwidget.samples import make_sample_image

DOC = Path(__file__).resolve().parent.parent / "docs" / "errors.md"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# -- a misbehaving server: a proxy in front of the local service ----------------------------------
class Proxy:
    """Forwards every request to the local service; ``corrupt(kind, op, status, headers, body)``
    may change the answer. UploadAddress endpoints in VOD answers are rewritten to the proxy, so
    OSS traffic passes through it too (OSS and POP signatures do not cover the host)."""

    def __init__(self, upstream: str, corrupt: Callable[..., tuple[int, dict, bytes]]) -> None:
        self.upstream = upstream.rstrip("/")
        self.corrupt = corrupt
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @staticmethod
    def op(method: str, path: str, query: str) -> tuple[str, str]:
        if path == "/":
            m = re.search(r"(?:^|&)Action=([A-Za-z]+)", query)
            return "vod", m.group(1) if m else ""
        if path.startswith("/_app/"):
            return "app", path[6:]
        if method == "POST" and re.search(r"(?:^|&)uploads(?:=|&|$)", query):
            return "oss", "InitiateMultipartUpload"
        if method == "PUT" and "partNumber=" in query:
            return "oss", "UploadPart"
        if method == "POST" and "uploadId=" in query:
            return "oss", "CompleteMultipartUpload"
        return "oss", {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject"}.get(method, method)

    async def _handle(self, request):
        from aiohttp import web

        body = await request.read()
        path, _, query = request.raw_path.partition("?")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        from yarl import URL

        # Byte-exact forwarding: no re-encoded URL, no Content-Type added (both are signed by OSS).
        async with self._session.request(request.method, URL(self.upstream + request.raw_path, encoded=True),
                                         data=body, headers=headers, allow_redirects=False,
                                         skip_auto_headers=("Content-Type",)) as resp:
            status, data = resp.status, await resp.read()
            out = {k: v for k, v in resp.headers.items()
                   if k.lower() not in ("content-length", "transfer-encoding", "content-encoding", "connection")}
        kind, op = self.op(request.method, path, query)
        if kind == "vod" and data.startswith(b"{"):
            data = self._rewrite_address(data)
        status, out, data = self.corrupt(kind, op, status, out, data)
        return web.Response(status=status, headers=out, body=data)

    def _rewrite_address(self, data: bytes) -> bytes:
        body = json.loads(data)
        if "UploadAddress" in body:
            addr = json.loads(base64.b64decode(body["UploadAddress"]))
            addr["Endpoint"] = self.url
            body["UploadAddress"] = base64.b64encode(json.dumps(addr).encode()).decode()
        return json.dumps(body).encode()

    def __enter__(self) -> Proxy:
        import aiohttp
        from aiohttp import web

        ready = threading.Event()
        sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        loop = asyncio.new_event_loop()

        async def serve() -> None:
            self._session = aiohttp.ClientSession(auto_decompress=False)
            app = web.Application(client_max_size=64 << 20)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(serve())
            ready.set()
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        loop = self._loop
        assert loop is not None and self._thread is not None

        async def close() -> None:
            await self._runner.cleanup()
            await self._session.close()

        asyncio.run_coroutine_threadsafe(close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)
        loop.close()


# -- the context a case runs in ---------------------------------------------------------------------
@dataclass
class Ctx:
    svc: Any
    tmp: Path

    def video(self, name: str = "good.mp4", size: int = 64 * 1024) -> Path:
        """A small file VOD takes as a video (named .mp4; content the sniffer does not know)."""
        p = self.tmp / name
        p.write_bytes(os.urandom(size))
        return p

    def uploader(self, credentials: Any = "default", **kw: Any) -> VODUpload:
        kw.setdefault("retry_count", 0)
        kw.setdefault("retry_duration", 0.05)
        kw.setdefault("resume_store", False)
        creds = local_credentials(self.svc) if credentials == "default" else credentials
        return VODUpload(credentials=creds, **kw)

    def raised(self, fn: Callable[[], Any]) -> tuple[str, str]:
        try:
            fn()
        except VodUploadError as exc:
            return exc.code, exc.message
        raise AssertionError("no error was raised")

    def add_fails(self, path: Path | str, user_data: Any = None, **where: Any) -> tuple[str, str]:
        """``add_file`` must raise, queue nothing, and the good file queued before must upload."""
        up = self.uploader()
        good = up.add_file(self.video())
        with pytest.raises(InvalidInputError) as err:
            up.add_file(path, user_data=user_data, **where)
        assert up.list_files() == [good], "a rejected file must not be queued"
        up.start_upload()
        assert good.state == "Success", (good.error_code, good.error_message)
        return err.value.code, err.value.message

    def upload_fails(self, up: VODUpload, bad: Path, spoil: Callable[[], Any] = lambda: None,
                     others_continue: bool = True) -> tuple[str, str]:
        """Queue ``bad`` and a good file, ``spoil()``, upload: ``bad`` fails, the good one succeeds."""
        info = up.add_file(bad)
        good = up.add_file(self.video("other.mp4")) if others_continue else None
        spoil()
        up.start_upload()
        assert info.state == "Failure", info.state
        if good is not None:
            assert good.state == "Success", (good.error_code, good.error_message)
        return info.error_code, info.error_message


def _fifo(ctx: Ctx) -> Path:
    p = ctx.tmp / "pipe.mp4"
    os.mkfifo(p)
    return p


def _write(ctx: Ctx, name: str, data: bytes) -> Path:
    p = ctx.tmp / name
    p.write_bytes(data)
    return p


def _png(ctx: Ctx, name: str) -> Path:
    return make_sample_image(ctx.tmp / name)


def _delete_later(ctx: Ctx) -> tuple[str, str]:
    bad = ctx.video("gone.mp4")
    return ctx.upload_fails(ctx.uploader(), bad, spoil=bad.unlink)


def _truncate_later(ctx: Ctx) -> tuple[str, str]:
    bad = ctx.video("shrunk.mp4")
    return ctx.upload_fails(ctx.uploader(), bad, spoil=lambda: bad.write_bytes(b""))


def _dir_later(ctx: Ctx) -> tuple[str, str]:
    bad = ctx.video("swapped.mp4")

    def swap() -> None:
        bad.unlink()
        bad.mkdir()

    return ctx.upload_fails(ctx.uploader(), bad, spoil=swap)


def _ud(value: Any) -> Callable[[Ctx], tuple[str, str]]:
    return lambda ctx: ctx.add_fails(ctx.video("ud.mp4"), user_data=value)


def _creds_fail(make: Callable[[Ctx], Any], **kw: Any) -> Callable[[Ctx], tuple[str, str]]:
    """Credentials are per uploader: every file fails the same way (nothing to continue)."""
    def run(ctx: Ctx) -> tuple[str, str]:
        return ctx.upload_fails(ctx.uploader(make(ctx), **kw), ctx.video("c.mp4"), others_continue=False)
    return run


def _no_answer(ctx: Ctx) -> tuple[str, str]:
    up = ctx.uploader(None, on_upload_started=lambda info: None, auth_timeout=0.3)
    return ctx.upload_fails(up, ctx.video("c.mp4"), others_continue=False)


def _bad_upload_auth(value: str) -> Callable[[Ctx], tuple[str, str]]:
    def run(ctx: Ctx) -> tuple[str, str]:
        up = ctx.uploader(None)
        info = up.add_file(ctx.video())
        addr = base64.b64encode(json.dumps({"Endpoint": ctx.svc.oss_endpoint, "Bucket": ctx.svc.bucket,
                                            "FileName": "x/y.mp4"}).encode()).decode()
        return ctx.raised(lambda: up.set_upload_auth_and_address(info, value, addr, "v"))
    return run


def _outside_scope(ctx: Ctx) -> tuple[str, str]:
    """An UploadAuth for one object used for another: the service answers 403 AccessDenied."""
    provider = local_credentials(ctx.svc)
    ticket = provider.create_video({"Title": "t", "FileName": "a.mp4"})
    up = ctx.uploader(None)

    def started(info: Any) -> None:
        addr = {"Endpoint": ctx.svc.oss_endpoint, "Bucket": ctx.svc.bucket, "FileName": "sv/other/elsewhere.mp4"}
        auth = {"AccessKeyId": ticket.token.access_key_id, "AccessKeySecret": ticket.token.access_key_secret,
                "SecurityToken": ticket.token.security_token}
        up.set_upload_auth_and_address(info, base64.b64encode(json.dumps(auth).encode()).decode(),
                                       base64.b64encode(json.dumps(addr).encode()).decode(), ticket.media_id)

    up._callbacks["started"] = started
    return ctx.upload_fails(up, ctx.video("c.mp4"), others_continue=False)


def _closed_port() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return f"http://127.0.0.1:{port}"


def _through_proxy(corrupt: Callable[..., tuple[int, dict, bytes]], name: str = "p.mp4",
                   size: int = 64 * 1024, multipart: bool = False,
                   others_continue: bool = False) -> Callable[[Ctx], tuple[str, str]]:
    def run(ctx: Ctx) -> tuple[str, str]:
        with Proxy(ctx.svc.vod_endpoint, corrupt) as proxy:
            creds = OpenApiCredentials(ctx.svc.access_key_id, ctx.svc.access_key_secret, endpoint=proxy.url)
            extra = {"part_size": 128 * 1024, "multipart_threshold": 128 * 1024} if multipart else {}
            up = ctx.uploader(creds, **extra)
            return ctx.upload_fails(up, ctx.video(name, size), others_continue=others_continue)
    return run


def _when(kind: str, op: str, change: Callable[[int, dict, bytes], tuple[int, dict, bytes]]):
    def corrupt(k: str, o: str, status: int, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
        if k == kind and o == op:
            return change(status, headers, body)
        return status, headers, body
    return corrupt


def _vod_body(body: bytes, status: int = 200, ctype: str = "application/json"):
    return _when("vod", "CreateUploadVideo", lambda s, h, b: (status, {**h, "Content-Type": ctype}, body))


def _crc(s: int, h: dict, b: bytes) -> tuple[int, dict, bytes]:
    h = dict(h)
    h["x-oss-hash-crc64ecma"] = str((int(h.get("x-oss-hash-crc64ecma", "0")) + 1) % (1 << 64))
    return s, h, b


def _app_not_json(ctx: Ctx) -> tuple[str, str]:
    def corrupt(k, o, s, h, b):
        return (200, {"Content-Type": "text/html"}, b"<html>login</html>") if k == "app" else (s, h, b)

    with Proxy(ctx.svc.vod_endpoint, corrupt) as proxy:
        creds = AppServerCredentials.from_base(proxy.url + "/_app", vod_endpoint=ctx.svc.vod_endpoint)
        return ctx.upload_fails(ctx.uploader(creds), ctx.video("a.mp4"), others_continue=False)


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    what: str
    where: str  # how the error reaches you
    code: str
    message: str  # exact, after _normalize
    run: Callable[[Ctx], tuple[str, str]]


ADD = "`add_file` raises `InvalidInputError`; nothing queued"
FAIL = "the file ends in `Failure` with `error_code`/`error_message`; the rest of the queue uploads"
FAIL_ALL = "the file ends in `Failure` (`on_upload_failed(info, code, message)`)"
CALL = "the call raises"

CASES: list[Case] = [
    # files
    Case("missing-file", "file", "a path that does not exist", ADD, "FileNotFound",
         "<tmp>/nope.mp4: no such file", lambda c: c.add_fails(c.tmp / "nope.mp4")),
    Case("directory", "file", "a directory", ADD, "NotAFile", "<tmp>: not a regular file",
         lambda c: c.add_fails(c.tmp)),
    Case("fifo", "file", "a named pipe (FIFO)", ADD, "NotAFile", "<tmp>/pipe.mp4: not a regular file",
         lambda c: c.add_fails(_fifo(c))),
    Case("empty", "file", "an empty file", ADD, "EmptyFile", "empty.mp4 is empty; there is nothing to upload",
         lambda c: c.add_fails(_write(c, "empty.mp4", b""))),
    Case("text", "file", "a text file (`.txt`)", ADD, "UnsupportedFileType",
         "notes.txt: unsupported file type .txt; expected a video, audio or image (PNG/JPEG/GIF) file",
         lambda c: c.add_fails(_write(c, "notes.txt", b"hello"))),
    Case("no-extension", "file", "no extension, unknown content", ADD, "UnsupportedFileType",
         "README: unsupported file type (no extension); expected a video, audio or image (PNG/JPEG/GIF) file",
         lambda c: c.add_fails(_write(c, "README", b"hello"))),
    Case("webp", "file", "a WEBP image", ADD, "UnsupportedFileType",
         "pic.webp is a WEBP image; VOD images must be PNG, JPEG or GIF",
         lambda c: c.add_fails(_write(c, "pic.webp", b"RIFF\0\0\0\0WEBPVP8 " + bytes(64)))),
    Case("bmp", "file", "a BMP image", ADD, "UnsupportedFileType",
         "pic.bmp is a BMP image; VOD images must be PNG, JPEG or GIF",
         lambda c: c.add_fails(_write(c, "pic.bmp", b"BM" + bytes(4) + bytes(4) + bytes(64)))),
    Case("png-named-mp4", "file", "a PNG renamed `.mp4`", ADD, "FileTypeMismatch",
         "shot.mp4 is named like a video file but its content is PNG; rename it or pick the right file",
         lambda c: c.add_fails(_png(c, "shot.mp4"))),
    Case("mp4-named-jpg", "file", "an MP4 renamed `.jpg`", ADD, "FileTypeMismatch",
         "clip.jpg is named like an image file but its content is MP4; rename it or pick the right file",
         lambda c: c.add_fails(_write(c, "clip.jpg", b"\0\0\0\x18ftypisom" + bytes(64)))),
    Case("fake-image", "file", "a `.png` whose bytes are not an image", ADD, "FileTypeMismatch",
         "fake.png is named like an image but its content is not PNG, JPEG or GIF",
         lambda c: c.add_fails(_write(c, "fake.png", os.urandom(256)))),
    Case("deleted-after-add", "file", "the file is deleted after `add_file`", FAIL, "FileNotFound",
         "<tmp>/gone.mp4: the file is gone", _delete_later),
    Case("emptied-after-add", "file", "the file is truncated to 0 bytes after `add_file`", FAIL, "EmptyFile",
         "shrunk.mp4 is empty; there is nothing to upload", _truncate_later),
    Case("dir-after-add", "file", "the file is replaced by a directory after `add_file`", FAIL,
         "FileNotReadable", "<tmp>/swapped.mp4: cannot read it (Is a directory)", _dir_later),
    # userData
    Case("ud-not-json", "userData", "`'{Vod: 1}'` (not JSON)", ADD, "InvalidUserData",
         'userData is not valid JSON (Expecting property name enclosed in double quotes at position 1); '
         'expected e.g. {"Vod": {"Title": "My video"}}', _ud("{Vod: 1}")),
    Case("ud-no-vod", "userData", '`{"Title": "t"}` (no `Vod` level)', ADD, "InvalidUserData",
         'the first level of userData must be "Vod" alone (found: Title); e.g. {"Vod": {"Title": "My video"}}',
         _ud({"Title": "t"})),
    Case("ud-extra-top", "userData", '`{"Vod": {}, "x": 1}` (a second top-level key)', ADD, "InvalidUserData",
         'the first level of userData must be "Vod" alone (found: Vod, x); e.g. {"Vod": {"Title": "My video"}}',
         _ud({"Vod": {}, "x": 1})),
    Case("ud-vod-not-object", "userData", '`{"Vod": "t"}`', ADD, "InvalidUserData",
         'userData "Vod" must be an object, e.g. {"Vod": {"Title": "My video"}}', _ud({"Vod": "t"})),
    Case("ud-unknown-field", "userData", '`{"Vod": {"Titel": "t"}}` (a typo)', ADD, "InvalidUserData",
         "unknown field(s) in userData.Vod: Titel; known fields: AppId, CateId, CoverURL, Description, EntityId, "
         "ImageType, IsShowWaterMark, Priority, ReferenceId, StorageLocation, Tags, TemplateGroupId, Title, "
         "UserData, WorkflowId", _ud({"Vod": {"Titel": "t"}})),
    Case("ud-title-long", "userData", "a Title of 129 bytes", ADD, "InvalidUserData",
         "userData.Vod.Title is 129 bytes; the limit is 128", _ud({"Vod": {"Title": "x" * 129}})),
    Case("ud-title-utf8", "userData", "a Title of 43 Chinese characters (129 UTF-8 bytes)", ADD, "InvalidUserData",
         "userData.Vod.Title is 129 bytes; the limit is 128", _ud({"Vod": {"Title": "视" * 43}})),
    Case("ud-description-long", "userData", "a Description of 1025 bytes", ADD, "InvalidUserData",
         "userData.Vod.Description is 1025 bytes; the limit is 1024", _ud({"Vod": {"Description": "d" * 1025}})),
    Case("ud-cateid", "userData", '`CateId: "abc"`', ADD, "InvalidUserData",
         "userData.Vod.CateId must be a whole number, not 'abc'", _ud({"Vod": {"CateId": "abc"}})),
    Case("ud-cateid-bool", "userData", "`CateId: true`", ADD, "InvalidUserData",
         "userData.Vod.CateId must be a whole number, not True", _ud({"Vod": {"CateId": True}})),
    Case("ud-tags", "userData", "17 tags", ADD, "InvalidUserData", "userData.Vod.Tags has 17 tags; the limit is 16",
         _ud({"Vod": {"Tags": [f"t{i}" for i in range(17)]}})),
    Case("ud-title-type", "userData", "`Title: [1, 2]`", ADD, "InvalidUserData",
         "userData.Vod.Title must be text, not list", _ud({"Vod": {"Title": [1, 2]}})),
    Case("ud-type", "userData", "userData given as the number `42`", ADD, "InvalidUserData",
         "userData must be a JSON string or a dict, not int", _ud(42)),
    # arguments
    Case("partial-address", "argument", "`add_file(path, endpoint=...)` without bucket and object", ADD,
         "InvalidAddress", "give endpoint, bucket and object together (or none of them)",
         lambda c: c.add_fails(c.video("x.mp4"), endpoint="http://127.0.0.1:1")),
    Case("bad-index", "argument", "`delete_file(99)` on a list of 1", CALL, "NoSuchFile",
         "no file at index 99 (the list has 1)",
         lambda c: c.raised(lambda: (u := c.uploader(), u.add_file(c.video()), u.delete_file(99)))),
    Case("foreign-info", "argument", "`cancel_file(info)` with another uploader's file", CALL, "NoSuchFile",
         "that file is not in this uploader's list",
         lambda c: c.raised(lambda: c.uploader().cancel_file(c.uploader().add_file(c.video())))),
    Case("nobody-waiting", "argument", "`resume_upload_with_auth(...)` when no file waits for a token", CALL,
         "NoFileWaiting", "no file is waiting for new credentials",
         lambda c: c.raised(lambda: c.uploader().resume_upload_with_auth("e30="))),
    Case("upload-auth-not-b64", "credentials", "an UploadAuth that is not base64 JSON", CALL,
         "InvalidUploadAuth", "UploadAuth is not base64-encoded JSON", _bad_upload_auth("not base64!")),
    Case("upload-auth-incomplete", "credentials", "an UploadAuth without SecurityToken", CALL,
         "InvalidUploadAuth", "UploadAuth lacks SecurityToken",
         _bad_upload_auth(base64.b64encode(b'{"AccessKeyId": "a", "AccessKeySecret": "b"}').decode())),
    # credentials
    Case("wrong-secret", "credentials", "a wrong AccessKeySecret", FAIL_ALL, "SignatureDoesNotMatch",
         "CreateUploadVideo: Specified signature is not matched with our calculation; check the AccessKeySecret",
         _creds_fail(lambda c: OpenApiCredentials(c.svc.access_key_id, "wrong-secret-123",
                                                  endpoint=c.svc.vod_endpoint))),
    Case("unknown-key", "credentials", "an AccessKeyId the service does not know", FAIL_ALL,
         "InvalidAccessKeyId.NotFound", "CreateUploadVideo: Specified access key is not found.",
         _creds_fail(lambda c: OpenApiCredentials("LTAInosuchkey", "secret", endpoint=c.svc.vod_endpoint))),
    Case("bogus-sts", "credentials", "an STS triple with a made-up SecurityToken", FAIL_ALL,
         "InvalidAccessKeyId.NotFound", "CreateUploadVideo: Specified access key is not found.",
         _creds_fail(lambda c: OpenApiCredentials("STS.made-up", "s", "CAISmadeup", endpoint=c.svc.vod_endpoint))),
    Case("no-credentials", "credentials", "no `credentials=` and no `on_upload_started`", FAIL_ALL,
         "MissingCredentials",
         "no credentials: pass credentials=... to VODUpload, or answer on_upload_started with "
         "set_upload_auth_and_address() or set_sts_token()", _creds_fail(lambda c: None)),
    Case("no-answer", "credentials", "`on_upload_started` that never answers (auth_timeout=0.3)", FAIL_ALL,
         "AuthTimeout", "no credentials arrived within 0.3 s: on_upload_started should call "
         "set_upload_auth_and_address() or set_sts_token()", _no_answer),
    Case("outside-scope", "credentials", "an UploadAuth used for an object it was not issued for", FAIL_ALL,
         "AccessDenied", "PutObject: You have no right to access this object because of the STS policy of this UploadAuth "
         "(it covers one object key). (HTTP 403)",
         _outside_scope),
    Case("appserver-no-urls", "credentials", "`AppServerCredentials()` without any URL", CALL,
         "MissingCredentials", "AppServerCredentials needs create_url or sts_url",
         lambda c: c.raised(AppServerCredentials)),
    # endpoints
    Case("vod-port-closed", "endpoint", "a VOD endpoint where nothing listens", FAIL_ALL, "NetworkError",
         "CreateUploadVideo to http://127.0.0.1:<port> failed: ConnectionError: <details>",
         _creds_fail(lambda c: OpenApiCredentials(c.svc.access_key_id, c.svc.access_key_secret,
                                                  endpoint=_closed_port()))),
    Case("vod-wrong-path", "endpoint", "an app server URL that is 404 (`/_app/nope`)", FAIL_ALL, "NotFound",
         "create-upload-video: No app server route 'nope'; known: create-upload-video, refresh-upload-video, "
         "create-upload-image, sts",
         _creds_fail(lambda c: AppServerCredentials(create_url=c.svc.app_server + "/nope"))),
    # server answers
    Case("vod-truncated-json", "server", "VOD answers `200` with truncated JSON", FAIL_ALL, "MalformedResponse",
         "CreateUploadVideo: the service answered HTTP 200 with a body that is not JSON",
         _through_proxy(_vod_body(b'{"RequestId": "x", "VideoId'))),
    Case("vod-html-500", "server", "VOD answers `500` with an HTML page", FAIL_ALL, "MalformedResponse",
         "CreateUploadVideo: the service answered HTTP 500 with a body that is not JSON",
         _through_proxy(_vod_body(b"<html>oops</html>", 500, "text/html"))),
    Case("vod-json-array", "server", "VOD answers `200` with a JSON array", FAIL_ALL, "MalformedResponse",
         "CreateUploadVideo: unexpected JSON body", _through_proxy(_vod_body(b"[1, 2]"))),
    Case("vod-no-auth", "server", "VOD answers without UploadAuth", FAIL_ALL, "MalformedResponse",
         "the answer has no UploadAuth", _through_proxy(_vod_body(b'{"RequestId": "x", "VideoId": "v"}'))),
    Case("vod-address-garbage", "server", "VOD answers with an UploadAddress that is not base64 JSON", FAIL_ALL,
         "InvalidUploadAddress", "UploadAddress is not base64-encoded JSON",
         _through_proxy(_when("vod", "CreateUploadVideo", lambda s, h, b: (
             s, h, json.dumps({**json.loads(b), "UploadAddress": "%%%"}).encode())))),
    Case("app-not-json", "server", "the app server answers an HTML login page", FAIL_ALL, "MalformedResponse",
         "create-upload-video: the app server answered HTTP 200 with a body that is not JSON", _app_not_json),
    Case("oss-put-crc", "server", "OSS answers PutObject with a wrong `x-oss-hash-crc64ecma`", FAIL_ALL,
         "CrcMismatch", "PutObject: CRC64 mismatch between the bytes sent and the bytes stored",
         _through_proxy(_when("oss", "PutObject", _crc), others_continue=False)),
    Case("oss-part-crc", "server", "OSS answers UploadPart with a wrong CRC64", FAIL_ALL, "CrcMismatch",
         "UploadPart <n>: CRC64 mismatch between the bytes sent and the bytes stored",
         _through_proxy(_when("oss", "UploadPart", _crc), size=300 * 1024, multipart=True)),
    Case("oss-complete-crc", "server", "OSS answers CompleteMultipartUpload with a wrong CRC64", FAIL_ALL,
         "CrcMismatch", "CompleteMultipartUpload: the stored object's CRC64 differs from the file's",
         _through_proxy(_when("oss", "CompleteMultipartUpload", _crc), size=300 * 1024, multipart=True)),
    Case("oss-init-xml", "server", "OSS answers InitiateMultipartUpload with malformed XML", FAIL_ALL,
         "MalformedResponse",
         "InitiateMultipartUpload: the service answered with malformed XML (no element found: line 1, column 41)",
         _through_proxy(_when("oss", "InitiateMultipartUpload",
                              lambda s, h, b: (s, h, b"<InitiateMultipartUploadResult><UploadId>")),
                        size=300 * 1024, multipart=True)),
    Case("oss-503", "server", "OSS answers every PutObject `503` (retry_count=0)", FAIL_ALL, "ServiceUnavailable",
         "PutObject: busy (HTTP 503)",
         _through_proxy(_when("oss", "PutObject", lambda s, h, b: (
             503, {"Content-Type": "application/xml"},
             b"<?xml version='1.0'?><Error><Code>ServiceUnavailable</Code><Message>busy</Message>"
             b"<RequestId>r</RequestId></Error>")))),
]


def _normalize(text: str, ctx: Ctx) -> str:
    text = text.replace(str(ctx.tmp), "<tmp>")
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", text)
    text = re.sub(r"(failed: ConnectionError): .*", r"\1: <details>", text)
    text = re.sub(r"^UploadPart \d+:", "UploadPart <n>:", text)
    return text


@pytest.fixture
def ctx(local_vod, tmp_path: Path) -> Iterator[Ctx]:
    local_vod.set_faults(None)
    yield Ctx(local_vod, tmp_path)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, ctx: Ctx) -> None:
    code, message = case.run(ctx)
    message = _normalize(message, ctx)
    print(f"{case.id}: {code}: {message}")
    assert (code, message) == (case.code, case.message)


def test_catalogue_is_big_and_unique() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)
    assert {c.category for c in CASES} >= {"file", "userData", "credentials", "endpoint", "server"}


def render() -> str:
    """docs/errors.md, from CASES."""
    lines = [
        "# Bad inputs and the errors they give",
        "",
        "Generated from `tests/test_errors_catalogue.py` (each row is a test against the real local",
        "service; bad server answers come from a proxy that corrupts one answer). Regenerate with",
        "`VODWIDGET_WRITE_DOCS=1 .venv/bin/python -m pytest tests/test_errors_catalogue.py -k doc`.",
        "",
        "Every error is a `vodwidget.VodUploadError` with a short `code` and a `message` for people",
        "(secrets are redacted). For a file in the queue they land in `info.error_code` /",
        "`info.error_message`, the file's state becomes `Failure`, `on_upload_failed(info, code, message)`",
        "fires and the other files go on. Placeholders: `<tmp>` is the folder of the file, `<port>` a",
        "port number, `<n>` a part number, `<details>` the connection error's own text.",
        "",
    ]
    titles = {"file": "Files", "userData": "userData", "argument": "Arguments", "credentials": "Credentials",
              "endpoint": "Endpoints", "server": "Server answers"}
    n = 0
    for cat, title in titles.items():
        rows = [c for c in CASES if c.category == cat]
        lines += [f"## {title}", "", "| # | bad input | how it shows | code | message |", "|---:|---|---|---|---|"]
        for c in rows:
            n += 1
            msg = c.message.replace("|", "\\|")
            lines.append(f"| {n} | {c.what} | {c.where} | `{c.code}` | {msg} |")
        lines.append("")
    return "\n".join(lines)


def test_doc_is_generated_from_this_table() -> None:
    text = render()
    if os.environ.get("VODWIDGET_WRITE_DOCS"):
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(text)
    assert DOC.read_text() == text, "docs/errors.md is stale: regenerate it (see this module's docstring)"
