"""Moving one file's bytes into OSS with ``oss2``: single PUT or parallel multipart, resumable.

The engine is policy, oss2 is transport:

* files up to ``multipart_threshold`` go in one streamed ``put_object``; larger ones in parts
  uploaded by ``parallel`` threads, each part streamed from disk (memory stays flat in file size);
* CRC64 is computed here (fastcrc) and checked against the service's answer on every PUT and
  part, and on the completed object;
* every request is retried ``retry_count`` times on connection errors, timeouts, 5xx and CRC
  mismatches, ``retry_duration`` seconds apart with exponential backoff;
* an expired STS token (``SecurityTokenExpired``/``InvalidAccessKeyId``) asks ``renew`` once for
  all threads and the failed request is repeated with the new token; finished parts are kept;
* resume: with a :class:`Checkpoint` holding an upload id, the server's ListParts decides what is
  done; only missing parts are sent. The checkpoint is persisted before the first part goes out;
* a file that shrinks mid-upload fails at once (``FileChanged``) instead of stalling the request;
* cancel: setting ``cancel`` aborts in-flight requests within one 256 KiB block and raises
  :class:`~vodwidget.errors.CanceledError`, leaving the multipart upload resumable.
"""

from __future__ import annotations

import logging
import math
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

import oss2
import requests
from oss2.exceptions import ClientError, InconsistentError, OssError, RequestError, ServerError
from oss2.models import PartInfo

from vodwidget import crc64
from vodwidget.crc64 import combine_all
from vodwidget.credentials import StsToken, UploadAddress
from vodwidget.errors import (
    CanceledError,
    CredentialError,
    InvalidInputError,
    NetworkError,
    ServiceError,
    TokenExpiredError,
    VodUploadError,
)
from vodwidget.redact import get_logger

__all__ = ["Transfer", "Checkpoint", "RetryPolicy", "choose_part_size", "make_session", "MIN_PART_SIZE"]

log = get_logger(__name__)
T = TypeVar("T")

# oss2 logs request headers and strings-to-sign (both carry the SecurityToken) at DEBUG. Logger
# filters only act on records created at that very logger, so each oss2 module logger gets one.
for _name in [n for n in logging.root.manager.loggerDict if n == "oss2" or n.startswith("oss2.")]:
    get_logger(_name)

MIN_PART_SIZE = 100 * 1024  # OSS's minimum for all parts but the last
MAX_PARTS = 10_000
_EXPIRY_CODES = {"SecurityTokenExpired", "InvalidAccessKeyId"}
_READ_CHUNK = 1024 * 1024
# urllib3 reads a streamed body 16 KiB at a time, and each read goes through oss2's CRC and
# progress adapters in Python. 256 KiB blocks cut that per-byte overhead ~16x; memory stays at one
# block per request in flight, and cancel (checked once per block) stays prompt on slow links.
SEND_BLOCK = 256 * 1024


class _LargeBlockAdapter(requests.adapters.HTTPAdapter):
    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        pool_kwargs.setdefault("blocksize", SEND_BLOCK)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)


def make_session(connections: int) -> oss2.Session:
    """An oss2 session whose pool keeps ``connections`` keep-alive connections and sends 256 KiB blocks."""
    size = max(2, connections)
    return oss2.Session(adapter=_LargeBlockAdapter(pool_connections=size, pool_maxsize=size))


@dataclass
class RetryPolicy:
    """``count`` retries per request, ``duration * backoff**n`` seconds apart (capped at ``max_delay``)."""

    count: int = 3
    duration: float = 2.0
    backoff: float = 2.0
    max_delay: float = 30.0

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.duration * (self.backoff ** attempt))


@dataclass
class Checkpoint:
    """Multipart state that survives the process: saved through ``persist`` before parts are sent."""

    upload_id: str | None = None
    part_size: int | None = None
    persist: Callable[[Checkpoint], None] | None = None

    def save(self) -> None:
        if self.persist is not None:
            self.persist(self)


def choose_part_size(size: int, parallel: int, preferred: int | None = None) -> int:
    """Part size: the user's choice, else enough parts to keep ``parallel`` threads busy
    (at least 2 per thread) but no smaller than 1 MiB nor larger than 10 MiB; then grown until
    the file fits in OSS's 10,000 parts."""
    if preferred:
        part = max(MIN_PART_SIZE, int(preferred))
    else:
        part = min(10 * 1024 * 1024, max(1024 * 1024, math.ceil(size / max(1, 2 * parallel))))
    while math.ceil(size / part) > MAX_PARTS:
        part *= 2
    return part


def classify(exc: BaseException, what: str) -> VodUploadError:
    """Turn an oss2 / OS exception into the vodwidget error tree."""
    if isinstance(exc, VodUploadError):
        return exc
    if isinstance(exc, InconsistentError):
        return NetworkError(f"{what}: CRC64 mismatch between the bytes sent and the bytes stored",
                            "CrcMismatch", request_id=exc.request_id)
    if isinstance(exc, RequestError):
        return NetworkError(f"{what}: {exc.details.get('message') or type(exc).__name__}"
                            if isinstance(exc.details, dict) else f"{what}: connection failed",
                            "RequestError")
    if isinstance(exc, ServerError):
        code = exc.code or f"HTTP{exc.status}"
        text = f"{what}: {exc.message or code} (HTTP {exc.status})"
        if exc.status == 403 and exc.code in _EXPIRY_CODES:
            return TokenExpiredError(text, exc.code, status=exc.status, request_id=exc.request_id)
        if exc.status in (401, 403):
            return CredentialError(text, code, status=exc.status, request_id=exc.request_id)
        retryable = exc.status >= 500 or exc.status in (408, 429)
        return ServiceError(text, code, status=exc.status, request_id=exc.request_id, retryable=retryable)
    if isinstance(exc, ET.ParseError):
        # oss2 parses answers itself; a truncated or garbled body is a server-side hiccup.
        return ServiceError(f"{what}: the service answered with malformed XML ({exc})", "MalformedResponse",
                            retryable=True)
    if isinstance(exc, ClientError):
        return InvalidInputError(f"{what}: {exc}", "ClientError")
    if isinstance(exc, OssError):
        return ServiceError(f"{what}: {exc}", "OssError")
    if isinstance(exc, OSError):
        return InvalidInputError(f"{what}: cannot read the file ({exc.strerror or exc})", "FileNotReadable")
    return VodUploadError(f"{what}: {type(exc).__name__}: {exc}", "InternalError")


class _ExactReader:
    """A file slice that must deliver exactly ``size`` bytes, computing their CRC-64 as it goes.

    A file that shrinks mid-upload would otherwise leave the request short of its declared
    Content-Length, and the upload would hang until the timeout, then fail as a network error.
    The CRC is ours rather than oss2's (``enable_crc=False``): oss2 uses crcmod (~280 MB/s here),
    fastcrc runs at several GB/s, which leaves the CPU to the transfer.
    """

    def __init__(self, fileobj: Any, size: int) -> None:
        self._f = fileobj
        self._left = size
        self.len = size  # what oss2/requests read to set Content-Length
        self.crc = 0

    def read(self, amt: int | None = None) -> bytes:
        want = self._left if amt is None or amt < 0 else min(amt, self._left)
        data = self._f.read(want) if want else b""
        if len(data) < want:
            raise InvalidInputError("the file got shorter during the upload; add it again once it is "
                                    "complete", "FileChanged")
        self._left -= len(data)
        self.crc = crc64.crc(data, self.crc)
        return data

    def check(self, what: str, result: Any) -> Any:
        """Compare with the CRC the service computed (``x-oss-hash-crc64ecma``), when it sent one."""
        if result.crc is not None and result.crc != self.crc:
            raise NetworkError(f"{what}: CRC64 mismatch between the bytes sent and the bytes stored",
                               "CrcMismatch", request_id=result.request_id)
        return result

    def __len__(self) -> int:
        return self.len


class Transfer:
    """Upload one file to one OSS object. Thread-safe counters; call :meth:`run` once."""

    def __init__(
        self,
        path: str,
        size: int,
        address: UploadAddress,
        token: StsToken,
        *,
        renew: Callable[[StsToken], StsToken],
        progress: Callable[[int], None] = lambda n: None,
        on_retry: Callable[[VodUploadError], None] = lambda e: None,
        cancel: threading.Event | None = None,
        checkpoint: Checkpoint | None = None,
        retry: RetryPolicy | None = None,
        parallel: int = 4,
        part_size: int | None = None,
        multipart_threshold: int | None = None,
        timeout: float = 30.0,
        session: oss2.Session | None = None,
    ) -> None:
        self.path, self.size, self.address = path, size, address
        self._token = token
        self._renew_fn = renew
        self._progress = progress
        self._on_retry = on_retry
        self.cancel = cancel or threading.Event()
        self.checkpoint = checkpoint or Checkpoint()
        self.retry = retry or RetryPolicy()
        self.parallel = max(1, parallel)
        self.part_size = checkpoint.part_size if checkpoint and checkpoint.part_size else \
            choose_part_size(size, self.parallel, part_size)
        self.multipart_threshold = multipart_threshold if multipart_threshold is not None else self.part_size
        self.timeout = timeout
        self._session = session or make_session(self.parallel + 2)
        self._lock = threading.Lock()
        self._renew_lock = threading.Lock()
        self._bucket_cache: tuple[StsToken, oss2.Bucket] | None = None
        self._renew_error: BaseException | None = None
        # Set when one part failed for good: the sibling parts stop (the user's cancel is separate).
        self._abort = threading.Event()
        #: Bytes sent again because a request failed part-way (for benchmarks and the UI).
        self.resent_bytes = 0
        #: Part numbers uploaded by this run (the rest were already on the server).
        self.sent_parts: list[int] = []

    # -- credentials -------------------------------------------------------------------------
    def _bucket(self) -> tuple[StsToken, oss2.Bucket]:
        with self._lock:
            token = self._token
            if self._bucket_cache is None or self._bucket_cache[0] is not token:
                auth = oss2.StsAuth(token.access_key_id, token.access_key_secret, token.security_token)
                bucket = oss2.Bucket(auth, self.address.endpoint, self.address.bucket,
                                     connect_timeout=self.timeout, enable_crc=False, session=self._session)
                self._bucket_cache = (token, bucket)
            return self._bucket_cache

    def _renew(self, stale: StsToken) -> None:
        """Get a new token once for all threads that saw ``stale`` expire."""
        with self._renew_lock:
            if self._renew_error is not None:
                raise self._renew_error
            if self._token is not stale:
                return  # another thread already renewed
            try:
                fresh = self._renew_fn(stale)
            except BaseException as exc:
                self._renew_error = exc
                raise
            with self._lock:
                self._token = fresh

    # -- one request with retries --------------------------------------------------------------
    def _stopped(self) -> bool:
        return self.cancel.is_set() or self._abort.is_set()

    def _call(self, what: str, fn: Callable[[oss2.Bucket], T]) -> T:
        attempt = 0
        renewals = 0
        while True:
            if self._stopped():
                raise CanceledError(f"{what}: canceled")
            token, bucket = self._bucket()
            try:
                return fn(bucket)
            except CanceledError:
                raise
            except BaseException as raw:
                if isinstance(raw, (KeyboardInterrupt, SystemExit)):
                    raise
                err = classify(raw, what)
                if isinstance(err, TokenExpiredError):
                    renewals += 1
                    if renewals > 5:
                        raise err from None
                    log.info("%s: token expired; renewing", what)
                    self._renew(token)
                    continue
                if not err.retryable or attempt >= self.retry.count:
                    raise err from None
                delay = self.retry.delay(attempt)
                attempt += 1
                log.info("%s failed (%s); retry %d/%d in %.1fs", what, err.code, attempt, self.retry.count, delay)
                self._on_retry(err)
                if self.cancel.wait(delay) or self._abort.is_set():
                    raise CanceledError(f"{what}: canceled") from None

    def _counting(self) -> tuple[Callable[[int, int | None], None], Callable[[], int]]:
        """A per-request oss2 progress callback that counts bytes and honours cancel."""
        sent = 0

        def callback(consumed: int, total: int | None) -> None:
            nonlocal sent
            if self._stopped():
                raise CanceledError("canceled")
            delta = consumed - sent
            sent = consumed
            if delta:
                self._progress(delta)

        return callback, lambda: sent

    def _take_back(self, nbytes: int) -> None:
        if nbytes:
            with self._lock:
                self.resent_bytes += nbytes
            self._progress(-nbytes)

    # -- the two paths -------------------------------------------------------------------------
    def run(self) -> int | None:
        """Upload; return the object's CRC64 as the server reports it (None if it does not)."""
        if self.size <= self.multipart_threshold:
            return self._put()
        return self._multipart()

    def _put(self) -> int | None:
        key = self.address.object

        def put(bucket: oss2.Bucket) -> Any:
            callback, sent = self._counting()
            try:
                with open(self.path, "rb") as f:
                    reader = _ExactReader(f, self.size)
                    return reader.check("PutObject", bucket.put_object(key, reader, progress_callback=callback))
            except BaseException:
                self._take_back(sent())
                raise

        result = self._call("PutObject", put)
        return result.crc

    def _parts(self) -> list[tuple[int, int, int]]:
        n = max(1, math.ceil(self.size / self.part_size))
        return [(i + 1, i * self.part_size, min(self.part_size, self.size - i * self.part_size)) for i in range(n)]

    def _server_parts(self, upload_id: str) -> dict[int, PartInfo] | None:
        """Parts the server holds for ``upload_id``, or None if the upload is gone."""
        def list_all(bucket: oss2.Bucket) -> dict[int, PartInfo]:
            return {p.part_number: p for p in oss2.PartIterator(bucket, self.address.object, upload_id)}

        try:
            return self._call("ListParts", list_all)
        except ServiceError as exc:
            if exc.code == "NoSuchUpload":
                return None
            raise

    def _multipart(self) -> int | None:
        key = self.address.object
        cp = self.checkpoint
        layout = self._parts()
        done: dict[int, PartInfo] = {}
        if cp.upload_id and cp.part_size == self.part_size:
            server = self._server_parts(cp.upload_id)
            if server is None:
                log.info("remembered multipart upload is gone on the server; starting it again")
                cp.upload_id = None
            else:
                # Trust the server, but only parts whose size matches our layout.
                expected = {n: size for n, _, size in layout}
                done = {n: p for n, p in server.items() if expected.get(n) == p.size}
        if not cp.upload_id:
            cp.upload_id = self._call("InitiateMultipartUpload",
                                      lambda b: b.init_multipart_upload(key).upload_id)
            cp.part_size = self.part_size
        cp.save()  # on disk before the first part goes out
        upload_id = cp.upload_id

        crcs: dict[int, int | None] = {}
        etags: dict[int, str] = {n: p.etag for n, p in done.items()}
        already = sum(size for n, _, size in layout if n in done)
        if already:
            self._progress(already)

        def send(number: int, offset: int, size: int) -> None:
            what = f"UploadPart {number}"

            def put(bucket: oss2.Bucket) -> tuple[Any, int]:
                callback, sent = self._counting()
                try:
                    with open(self.path, "rb") as f:
                        f.seek(offset)
                        reader = _ExactReader(f, size)
                        result = bucket.upload_part(key, upload_id, number, reader, progress_callback=callback)
                        return reader.check(what, result), reader.crc
                except BaseException:
                    self._take_back(sent())
                    raise

            result, crc = self._call(what, put)
            with self._lock:
                etags[number] = result.etag
                crcs[number] = crc
                self.sent_parts.append(number)

        def local_crc(number: int, offset: int, size: int) -> None:
            # Parts sent by an earlier run: their CRC64 comes from our copy of the bytes.
            with open(self.path, "rb") as f:
                f.seek(offset)
                reader = _ExactReader(f, size)
                while reader.read(_READ_CHUNK):
                    pass
            with self._lock:
                crcs[number] = reader.crc

        todo = [p for p in layout if p[0] not in done]
        pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="vodwidget-part")
        try:
            futures = [pool.submit(send, *p) for p in todo]
            futures += [pool.submit(local_crc, *p) for p in layout if p[0] in done]
            finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in finished if f.exception() is not None]
            if failed:
                # Stop the others quickly; their parts stay on the server for a resume.
                self._abort.set()
                wait(futures)
                errors = [f.exception() for f in futures if f.exception() is not None]
                # Prefer the real cause over the cancellations it triggered.
                real = [e for e in errors if not isinstance(e, CanceledError)]
                raise (real or errors)[0]
        finally:
            pool.shutdown(wait=True)

        # Part CRCs are left out of the PartInfo on purpose: oss2 would then combine them itself
        # with its slow pure-Python combine; crc64.combine_all does the same check ~100x faster.
        parts = [PartInfo(n, etags[n], size=size) for n, _, size in layout]
        known = [crcs.get(n) for n, _, _ in layout]
        expected_crc = None if None in known else combine_all(
            (c, size) for c, (_, _, size) in zip(known, layout, strict=True))  # type: ignore[misc]
        try:
            server_crc = self._call("CompleteMultipartUpload",
                                    lambda b: b.complete_multipart_upload(key, upload_id, parts).crc)
        except ServiceError as exc:
            # A Complete whose answer was lost and then retried finds the upload already gone.
            if exc.code != "NoSuchUpload":
                raise
            head = self._call("HeadObject", lambda b: b.head_object(key))
            if head.content_length != self.size:
                raise
            server_crc = head.server_crc
        if server_crc is not None and expected_crc is not None and server_crc != expected_crc:
            raise NetworkError("CompleteMultipartUpload: the stored object's CRC64 differs from the file's",
                               "CrcMismatch", retryable=False)
        return server_crc
