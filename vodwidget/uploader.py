"""VODUpload: the ApsaraVideo VOD upload SDK's API in Python - a queue of files and its callbacks.

Snake_case names, with the SDK's camelCase names as aliases (``addFile``, ``startUpload``,
``onUploadstarted``, ...). Each file's state is an :class:`~vodwidget.models.UploadInfo` whose
traits widgets and progress bars observe.

Credentials, as in the SDK: with ``credentials=None`` your ``on_upload_started(info)`` answers with
:meth:`VODUpload.set_upload_auth_and_address` or :meth:`VODUpload.set_sts_token`, and
``on_upload_token_expired(info)`` with :meth:`VODUpload.resume_upload_with_auth` or
:meth:`VODUpload.resume_upload_with_sts_token`. With a provider (see :mod:`vodwidget.credentials`)
the provider answers by itself; your callbacks still fire.

Example, on the embedded local service::

    from vodwidget import VODUpload
    from vodwidget.local import LocalVod

    with LocalVod() as svc:
        up = VODUpload(credentials=svc.credentials())
        up.add_file("clip.mp4", user_data='{"Vod": {"Title": "My clip"}}')
        [info] = up.start_upload()
        print(info.state, info.video_id)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from traitlets import HasTraits, Tuple

from vodwidget.credentials import (
    CredentialProvider,
    OpenApiCredentials,
    StsToken,
    UploadAddress,
    UploadTicket,
    decode_upload_address,
    decode_upload_auth,
)
from vodwidget.errors import (
    CanceledError,
    CredentialError,
    InvalidInputError,
    NotFoundError,
    TokenExpiredError,
    VodUploadError,
)
from vodwidget.media import MediaType, detect
from vodwidget.metadata import image_params, parse_user_data, video_params
from vodwidget.models import (
    CANCELED,
    FAILURE,
    READY,
    STOPPED,
    SUCCESS,
    UPLOADING,
    UploadInfo,
)
from vodwidget.progress import ProgressMeter, ProgressSnapshot
from vodwidget.redact import get_logger, redact
from vodwidget.resume import ResumeRecord, ResumeStore, file_identity
from vodwidget.transfer import Checkpoint, RetryPolicy, Transfer, make_session

__all__ = ["VODUpload", "UploadRun"]

log = get_logger(__name__)
T = TypeVar("T")

_CALLBACKS = ("started", "succeed", "failed", "progress", "token_expired", "end", "canceled")
# The SDK's option names -> ours.
_SDK_OPTIONS = {
    "userId": "user_id", "retryCount": "retry_count", "retryDuration": "retry_duration",
    "partSize": "part_size", "onUploadstarted": "on_upload_started", "onUploadStarted": "on_upload_started",
    "onUploadSucceed": "on_upload_succeed", "onUploadFailed": "on_upload_failed",
    "onUploadProgress": "on_upload_progress", "onUploadTokenExpired": "on_upload_token_expired",
    "onUploadEnd": "on_upload_end", "onUploadCanceled": "on_upload_canceled",
    "maxConcurrentFiles": "max_concurrent_files", "vodEndpoint": "vod_endpoint",
}


class _Restart(Exception):
    """An image's token expired: images have no refresh call, so the file starts over."""


class _Job:
    """One run of one file: its cancel switch and why it was pulled."""

    def __init__(self, info: UploadInfo) -> None:
        self.info = info
        self.cancel = threading.Event()
        self.reason: str | None = None  # "cancel" | "stop" | "delete"
        self.provider: CredentialProvider | None = None
        self.waiting: str | None = None  # the callback whose answer this job awaits
        self.note: str | None = None  # something the user must hear even after success


class _Entry:
    """What the uploader keeps about a queued file beyond its public UploadInfo."""

    def __init__(self, media: MediaType, direct: UploadAddress | None) -> None:
        self.media = media
        self.direct = direct
        self.answer: tuple[str, Any] | None = None  # ("ticket"|"sts"|"auth", value)


class UploadRun:
    """Handle of a background run (``start_upload(wait=False)``)."""

    def __init__(self, uploader: VODUpload, thread: threading.Thread) -> None:
        self._uploader = uploader
        self._thread = thread

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the queue settles (or ``timeout`` s pass); True if it settled."""
        self._thread.join(timeout)
        return self.done

    def stop(self) -> None:
        self._uploader.stop_upload()


class VODUpload(HasTraits):
    """A queue of files to upload to ApsaraVideo VOD, with the upload SDK's callbacks.

    Callbacks (all optional, called from worker threads; exceptions in them are logged, not raised):
    ``on_upload_started(info)``, ``on_upload_succeed(info)``, ``on_upload_failed(info, code, message)``,
    ``on_upload_canceled(info, code, message)``, ``on_upload_progress(info, total_size, loaded_percent)``
    (``loaded_percent`` is 0..1, as in the SDK), ``on_upload_token_expired(info)``, and
    ``on_upload_end(info)`` once each time the queue settles, with the last file that finished.

    The ``files`` trait mirrors the list (observe it to follow additions and removals).
    """

    files = Tuple(help="The queue, in order. Read-only: change it with add_file / delete_file / clean_list.")

    def __init__(
        self,
        user_id: str | None = None,
        region: str = "cn-shanghai",
        retry_count: int = 3,
        retry_duration: float = 2.0,
        credentials: CredentialProvider | None = None,
        on_upload_started: Callable[..., Any] | None = None,
        on_upload_succeed: Callable[..., Any] | None = None,
        on_upload_failed: Callable[..., Any] | None = None,
        on_upload_progress: Callable[..., Any] | None = None,
        on_upload_token_expired: Callable[..., Any] | None = None,
        on_upload_end: Callable[..., Any] | None = None,
        on_upload_canceled: Callable[..., Any] | None = None,
        part_size: int | None = None,
        parallel: int = 4,
        max_concurrent_files: int = 2,
        resume_store: ResumeStore | str | os.PathLike[str] | bool | None = None,
        *,
        vod_endpoint: str | None = None,
        auth_timeout: float = 60.0,
        timeout: float = 30.0,
        multipart_threshold: int | None = None,
        progress_interval: float = 0.1,
        **sdk_options: Any,
    ) -> None:
        super().__init__()
        local = dict(locals())
        for name, value in sdk_options.items():
            if name not in _SDK_OPTIONS:
                raise TypeError(f"VODUpload() got an unexpected keyword argument {name!r}")
            local[_SDK_OPTIONS[name]] = value
        self.user_id = local["user_id"]
        self.region = local["region"]
        self.credentials = local["credentials"]
        self.vod_endpoint = local["vod_endpoint"] or getattr(self.credentials, "vod_endpoint", None)
        self.retry = RetryPolicy(count=int(local["retry_count"]), duration=float(local["retry_duration"]))
        self.part_size = local["part_size"]
        self.parallel = max(1, int(local["parallel"]))
        self.max_concurrent_files = max(1, int(local["max_concurrent_files"]))
        self.auth_timeout = auth_timeout
        self.timeout = timeout
        self.multipart_threshold = multipart_threshold
        self.progress_interval = progress_interval
        self._callbacks: dict[str, Callable[..., Any] | None] = {
            name: local[f"on_upload_{name}"] for name in _CALLBACKS
        }
        store = local["resume_store"]
        if store is False:
            self.resume_store: ResumeStore | None = None
        elif isinstance(store, ResumeStore):
            self.resume_store = store
        else:
            self.resume_store = ResumeStore(None if store in (None, True) else store)

        self._files: list[UploadInfo] = []
        self._entries: dict[UploadInfo, _Entry] = {}
        self._active: dict[UploadInfo, _Job] = {}
        self._cond = threading.Condition(threading.RLock())
        self._runner: threading.Thread | None = None
        self._stopping = False
        self._last_finished: UploadInfo | None = None
        # One connection pool for the whole queue: keep-alive connections carry over between files.
        self._session = make_session(self.parallel * self.max_concurrent_files + 2)

    def __repr__(self) -> str:
        states: dict[str, int] = {}
        for info in self.list_files():
            states[info.state] = states.get(info.state, 0) + 1
        summary = ", ".join(f"{k}={v}" for k, v in states.items()) or "empty"
        return f"VODUpload({len(self._files)} files: {summary}; credentials={self.credentials!r})"

    # ------------------------------------------------------------------ queue
    def add_file(self, file: str | os.PathLike[str], endpoint: str | None = None, bucket: str | None = None,
                 object: str | None = None, user_data: str | Mapping[str, Any] | None = None) -> UploadInfo:  # noqa: A002
        """Queue ``file``; return its :class:`UploadInfo`.

        ``user_data`` is a JSON string or dict whose first level is ``"Vod"``. ``endpoint``,
        ``bucket`` and ``object`` (all three) send the bytes to that OSS object with an STS token
        instead of creating VOD media. Bad input raises :class:`InvalidInputError` and queues nothing.
        """
        path = Path(os.fspath(file)).expanduser()
        if not path.exists():
            raise InvalidInputError(f"{path}: no such file", "FileNotFound")
        if not path.is_file():
            raise InvalidInputError(f"{path}: not a regular file", "NotAFile")
        if not os.access(path, os.R_OK):
            raise InvalidInputError(f"{path}: permission denied (cannot read it)", "FileNotReadable")
        vod = parse_user_data(user_data)
        direct = None
        given = [v for v in (endpoint, bucket, object) if v]
        if given and len(given) != 3:
            raise InvalidInputError("give endpoint, bucket and object together (or none of them)",
                                    "InvalidAddress")
        if given:
            direct = UploadAddress(str(endpoint), str(bucket), str(object))
        try:
            media = detect(path)
        except PermissionError:
            raise InvalidInputError(f"{path}: permission denied (cannot read it)", "FileNotReadable") from None
        resolved = path.resolve()
        info = UploadInfo(file=str(resolved), name=path.name, size=resolved.stat().st_size, kind=media.kind,
                          ext=media.ext, user_data=vod)
        if direct:
            info.endpoint, info.bucket, info.object = direct.endpoint, direct.bucket, direct.object
        with self._cond:
            self._files.append(info)
            self._entries[info] = _Entry(media, direct)
            self._cond.notify_all()
        self._publish()
        return info

    def _publish(self) -> None:
        with self._cond:
            files = tuple(self._files)
        self.files = files

    def list_files(self) -> list[UploadInfo]:
        """The queue, in order."""
        with self._cond:
            return list(self._files)

    def _at(self, index: int | UploadInfo) -> UploadInfo:
        with self._cond:
            if isinstance(index, UploadInfo):
                if index not in self._entries:
                    raise InvalidInputError("that file is not in this uploader's list", "NoSuchFile")
                return index
            try:
                return self._files[index]
            except (IndexError, TypeError):
                raise InvalidInputError(f"no file at index {index!r} (the list has {len(self._files)})",
                                        "NoSuchFile") from None

    def delete_file(self, index: int | UploadInfo) -> UploadInfo:
        """Remove a file from the list, stopping it first if it is uploading (it stays resumable)."""
        info = self._at(index)
        self._pull(info, "delete")
        with self._cond:
            self._files.remove(info)
            self._entries.pop(info, None)
            self._cond.notify_all()
        self._publish()
        return info

    def cancel_file(self, index: int | UploadInfo) -> UploadInfo:
        """Stop one file within about a second; it stays resumable with :meth:`resume_file`."""
        info = self._at(index)
        with self._cond:
            running = info in self._active
            if not running and info.state in (READY, STOPPED):
                info.state = CANCELED
        if running:
            self._pull(info, "cancel")
        return info

    def resume_file(self, index: int | UploadInfo) -> UploadInfo:
        """Put a canceled, stopped or failed file back in the queue (a running queue picks it up;
        otherwise call :meth:`start_upload`). Finished parts are not sent again."""
        info = self._at(index)
        with self._cond:
            if info.state in (CANCELED, STOPPED, FAILURE) and info not in self._active:
                with info.hold_trait_notifications():
                    info.error_code = None
                    info.error_message = None
                    info.message = ""
                    info.state = READY
                self._cond.notify_all()
        return info

    def clean_list(self) -> None:
        """Empty the list; files uploading are stopped first."""
        for info in self.list_files():
            self._pull(info, "delete")
        with self._cond:
            self._files.clear()
            self._entries.clear()
            self._cond.notify_all()
        self._publish()

    def _pull(self, info: UploadInfo, reason: str, wait: bool = True) -> None:
        with self._cond:
            job = self._active.get(info)
            if job is None:
                return
            job.reason = reason
            job.cancel.set()
            self._cond.notify_all()
            if wait:
                self._cond.wait_for(lambda: info not in self._active, timeout=30)

    # ------------------------------------------------------------------ running
    def start_upload(self, wait: bool = True) -> list[UploadInfo] | UploadRun:
        """Upload every Ready (and Stopped) file, ``max_concurrent_files`` at a time.

        ``wait=True`` blocks until the queue settles and returns the files; ``wait=False`` runs on
        a background thread and returns an :class:`UploadRun` (for notebooks and widgets).
        """
        with self._cond:
            for info in self._files:
                if info.state == STOPPED:
                    info.state = READY
            self._stopping = False
            if self._runner is None or not self._runner.is_alive():
                self._runner = threading.Thread(target=self._run_queue, name="vodwidget-queue", daemon=True)
                self._runner.start()
            runner = self._runner
            self._cond.notify_all()
        if not wait:
            return UploadRun(self, runner)
        try:
            while runner.is_alive():
                runner.join(0.2)
        except KeyboardInterrupt:
            # Interrupting the cell pauses the queue; nothing sent is lost.
            self.stop_upload()
            runner.join(30)
            raise
        return self.list_files()

    def stop_upload(self) -> None:
        """Pause the queue: files in flight become Stopped (resumable); Ready files wait."""
        with self._cond:
            self._stopping = True
            jobs = list(self._active.values())
            for job in jobs:
                job.reason = job.reason or "stop"
                job.cancel.set()
            self._cond.notify_all()
            self._cond.wait_for(lambda: not self._active, timeout=30)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a background run settles; True if it did."""
        runner = self._runner
        if runner is None:
            return True
        runner.join(timeout)
        return not runner.is_alive()

    @property
    def running(self) -> bool:
        return self._runner is not None and self._runner.is_alive()

    def _run_queue(self) -> None:
        pool = ThreadPoolExecutor(self.max_concurrent_files, thread_name_prefix="vodwidget-file")
        try:
            while True:
                with self._cond:
                    ready = [] if self._stopping else [
                        i for i in self._files if i.state == READY and i not in self._active]
                    free = self.max_concurrent_files - len(self._active)
                    for info in ready[:max(0, free)]:
                        job = _Job(info)
                        self._active[info] = job
                        pool.submit(self._run_job, job)
                    if not self._active and not (set(ready) - set(self._active)):
                        break
                    self._cond.wait(0.5)
        finally:
            pool.shutdown(wait=True)
        last = self._last_finished
        if last is not None:
            self._fire("end", last)

    # ------------------------------------------------------------------ one file
    def _run_job(self, job: _Job) -> None:
        info = job.info
        lock = None
        try:
            with info.hold_trait_notifications():
                info.started_at = None
                info.finished_at = None
                info.state = UPLOADING
                info.message = "starting"
            entry = self._entries.get(info)
            if entry is None:
                raise CanceledError("removed from the list")
            self._check_file(info)
            identity = None
            record = None
            if self.resume_store is not None and info.kind != "image" and entry.direct is None:
                identity = file_identity(info.file)
                lock = self.resume_store.lock(identity)
                record = self.resume_store.load(identity)
                if record and record.video_id:
                    info.video_id = record.video_id
                    info.resumed = True
            ticket = self._first_ticket(job, entry)
            for attempt in range(4):
                record = self._prepare(info, ticket, identity, record)
                try:
                    self._transfer(job, entry, ticket, record)
                    break
                except _Restart:
                    if attempt == 3:
                        raise TokenExpiredError("the image's credentials kept expiring", "SecurityTokenExpired") from None
                    ticket = self._create(job, entry)
            with info.hold_trait_notifications():
                info.loaded, info.percent, info.eta = info.size, 100.0, 0.0
                info.message = f"done; {job.note}" if job.note else "done"
                info.state = SUCCESS
            if identity is not None and self.resume_store is not None:
                self.resume_store.forget(identity)
            self._fire("succeed", info)
        except CanceledError as exc:
            state = STOPPED if job.reason == "stop" else CANCELED
            with info.hold_trait_notifications():
                info.message = "stopped; start again to continue" if state == STOPPED else "canceled; resume to continue"
                info.state = state
            if state == CANCELED:
                self._fire("canceled", info, exc.code, exc.message)
        except VodUploadError as exc:
            self._fail(info, exc.code, exc.message)
        except Exception as exc:  # never let one file take the queue down
            log.exception("unexpected error uploading %s", info.name)
            self._fail(info, "InternalError", redact(f"{type(exc).__name__}: {exc}"))
        finally:
            if lock is not None:
                lock.release()
            with self._cond:
                self._entries_answer_clear(info)
                self._active.pop(info, None)
                self._last_finished = info
                self._cond.notify_all()

    def _fail(self, info: UploadInfo, code: str, message: str) -> None:
        with info.hold_trait_notifications():
            info.error_code = code
            info.error_message = message
            info.message = f"failed: {code}"
            info.state = FAILURE
        log.warning("upload of %s failed: %s: %s", info.name, code, message)
        self._fire("failed", info, code, message)

    def _check_file(self, info: UploadInfo) -> None:
        try:
            st = os.stat(info.file)
            with open(info.file, "rb"):
                pass
        except FileNotFoundError:
            raise InvalidInputError(f"{info.file}: the file is gone", "FileNotFound") from None
        except PermissionError:
            raise InvalidInputError(f"{info.file}: permission denied (cannot read it)", "FileNotReadable") from None
        except OSError as exc:
            raise InvalidInputError(f"{info.file}: cannot read it ({exc.strerror})", "FileNotReadable") from None
        if st.st_size != info.size:
            info.size = st.st_size
        if st.st_size == 0:
            raise InvalidInputError(f"{info.name} is empty; there is nothing to upload", "EmptyFile")

    def _prepare(self, info: UploadInfo, ticket: UploadTicket, identity: str | None,
                 record: ResumeRecord | None) -> ResumeRecord | None:
        """Publish the ticket's ids and address, and remember the file before bytes go out."""
        a = ticket.address
        with info.hold_trait_notifications():
            if ticket.kind == "video":
                info.video_id = ticket.media_id
            elif ticket.kind == "image":
                info.image_id = ticket.media_id
                info.image_url = ticket.image_url
            info.endpoint, info.bucket, info.object = a.endpoint, a.bucket, a.object
        if identity is None or self.resume_store is None:
            return None
        same = record is not None and record.video_id == ticket.media_id and \
            (record.endpoint, record.bucket, record.object) == (a.endpoint, a.bucket, a.object)
        if not same:
            record = ResumeRecord(identity, info.file, info.size, info.kind, ticket.media_id,
                                  a.endpoint, a.bucket, a.object)
        assert record is not None
        self.resume_store.save(record)
        return record

    def _transfer(self, job: _Job, entry: _Entry, ticket: UploadTicket, record: ResumeRecord | None) -> None:
        info = job.info
        store = self.resume_store

        def persist(cp: Checkpoint) -> None:
            if record is not None and store is not None:
                record.upload_id, record.part_size = cp.upload_id, cp.part_size
                store.save(record)

        checkpoint = Checkpoint(record.upload_id, record.part_size, persist) if record else Checkpoint()
        meter = ProgressMeter(info.size, lambda snap: self._on_progress(info, snap),
                              interval=self.progress_interval)

        def on_retry(err: VodUploadError) -> None:
            info.retries += 1
            info.message = f"retrying after {err.code}"

        transfer = Transfer(
            info.file, info.size, ticket.address, ticket.token,
            renew=lambda stale: self._renew(job, entry, ticket),
            progress=meter.add, on_retry=on_retry, cancel=job.cancel, checkpoint=checkpoint,
            retry=self.retry, parallel=self.parallel, part_size=self.part_size,
            multipart_threshold=self.multipart_threshold, timeout=self.timeout, session=self._session,
        )
        info.message = "uploading"
        try:
            transfer.run()
        finally:
            info.resent_bytes += transfer.resent_bytes
            meter.flush()

    def _on_progress(self, info: UploadInfo, snap: ProgressSnapshot) -> None:
        with info.hold_trait_notifications():
            info.loaded = snap.loaded
            info.percent = snap.percent
            info.speed = snap.speed
            info.eta = snap.eta
        self._fire("progress", info, snap.total, (snap.loaded / snap.total) if snap.total else 1.0)

    # ------------------------------------------------------------------ credentials
    def _entries_answer_clear(self, info: UploadInfo) -> None:
        entry = self._entries.get(info)
        if entry is not None:
            entry.answer = None

    def _answer(self, info: UploadInfo, kind: str, value: Any) -> None:
        with self._cond:
            entry = self._entries.get(info)
            if entry is None:
                raise InvalidInputError("that file is not in this uploader's list", "NoSuchFile")
            entry.answer = (kind, value)
            self._cond.notify_all()

    def _await_answer(self, job: _Job, entry: _Entry, waiting_for: str) -> tuple[str, Any]:
        with self._cond:
            if entry.answer is None and self._callbacks[waiting_for] is None:
                raise CredentialError(
                    "no credentials: pass credentials=... to VODUpload, or answer on_upload_started with "
                    "set_upload_auth_and_address() or set_sts_token()", "MissingCredentials")
            job.info.message = "waiting for credentials"
            try:
                ok = self._cond.wait_for(lambda: entry.answer is not None or job.cancel.is_set(),
                                         timeout=self.auth_timeout)
            finally:
                job.waiting = None
            if job.cancel.is_set():
                raise CanceledError("canceled while waiting for credentials")
            if not ok:
                what = ("set_upload_auth_and_address() or set_sts_token()" if waiting_for == "started"
                        else "resume_upload_with_auth() or resume_upload_with_sts_token()")
                code = "AuthTimeout" if waiting_for == "started" else "SecurityTokenExpired"
                raise CredentialError(f"no credentials arrived within {self.auth_timeout:g} s: "
                                      f"on_upload_{waiting_for} should call {what}", code)
            answer = entry.answer
            entry.answer = None
            assert answer is not None
            if answer[0] == "error":
                raise answer[1]
            return answer

    def _sts_provider(self, token: StsToken) -> CredentialProvider:
        return OpenApiCredentials(token.access_key_id, token.access_key_secret, token.security_token,
                                  region=self.region, endpoint=self.vod_endpoint, timeout=self.timeout)

    def _first_ticket(self, job: _Job, entry: _Entry) -> UploadTicket:
        info = job.info
        # Marked before the callback fires: the SDK's callbacks answer synchronously, from inside.
        job.waiting = "started"
        self._fire("started", info)
        if self.credentials is not None:
            job.waiting = None
            job.provider = self.credentials
            return self._create(job, entry)
        kind, value = self._await_answer(job, entry, "started")
        if kind == "ticket":
            return value
        job.provider = self._sts_provider(value)
        if entry.direct is not None:
            return UploadTicket("oss", None, entry.direct, value)
        return self._create(job, entry)

    def _create(self, job: _Job, entry: _Entry) -> UploadTicket:
        """Create the media (or refresh a remembered video) through the job's provider."""
        info, provider = job.info, job.provider
        assert provider is not None
        if entry.direct is not None:
            return UploadTicket("oss", None, entry.direct, provider.sts_token())
        name_title = Path(info.name).stem
        if info.kind == "image":
            params = image_params(info.user_data, entry.media.ext, info.name, name_title)
            return self._with_retries(lambda: provider.create_image(params), job)
        if info.video_id:
            video_id = info.video_id
            try:
                info.message = "refreshing credentials of the remembered video"
                return self._with_retries(lambda: provider.refresh_video(video_id), job)
            except NotFoundError:
                if self.resume_store is not None:
                    self.resume_store.forget(file_identity(info.file))
                job.note = f"the remembered video {video_id} no longer exists on the service, so a new one was created"
                with info.hold_trait_notifications():
                    info.video_id = None
                    info.resumed = False
                    info.message = job.note
                log.warning("%s: remembered video %s was deleted; creating a new one", info.name, video_id)
        params = video_params(info.user_data, info.name, info.size, name_title)
        return self._with_retries(lambda: provider.create_video(params), job)

    def _with_retries(self, fn: Callable[[], T], job: _Job) -> T:
        attempt = 0
        while True:
            try:
                return fn()
            except VodUploadError as exc:
                if not exc.retryable or attempt >= self.retry.count:
                    raise
                delay = self.retry.delay(attempt)
                attempt += 1
                job.info.retries += 1
                job.info.message = f"retrying after {exc.code}"
                if job.cancel.wait(delay):
                    raise CanceledError("canceled") from None

    def _renew(self, job: _Job, entry: _Entry, ticket: UploadTicket) -> StsToken:
        """Called by the transfer (once for all its threads) when the OSS token expired."""
        info = job.info
        info.message = "credentials expired; refreshing"
        with self._cond:
            entry.answer = None
            job.waiting = "token_expired" if job.provider is None else None
        self._fire("token_expired", info)
        if job.provider is None:
            kind, value = self._await_answer(job, entry, "token_expired")
            if kind == "auth":
                return value
            if kind == "ticket":
                return value.token
            job.provider = self._sts_provider(value)
            if ticket.kind == "oss":
                return value
        provider = job.provider
        assert provider is not None
        if ticket.kind == "oss":
            return provider.sts_token()
        if ticket.kind == "image":
            raise _Restart()
        assert ticket.media_id
        media_id = ticket.media_id
        fresh = self._with_retries(lambda: provider.refresh_video(media_id), job)
        info.message = "uploading"
        return fresh.token

    # SDK credential calls -------------------------------------------------------------------
    def set_upload_auth_and_address(self, info: UploadInfo, upload_auth: str, upload_address: str,
                                    video_id: str | None = None, *, image_url: str | None = None) -> None:
        """Answer ``on_upload_started`` with what your app server got from CreateUploadVideo /
        RefreshUploadVideo / CreateUploadImage (for an image, pass its ImageId and ``image_url``)."""
        try:
            token = decode_upload_auth(upload_auth)
            address = decode_upload_address(upload_address)
        except CredentialError as exc:
            self._answer(info, "error", exc)  # the waiting file fails with this, not a timeout
            raise
        kind = "image" if info.kind == "image" else "video"
        self._answer(info, "ticket", UploadTicket(kind, video_id, address, token, image_url=image_url))

    def set_sts_token(self, info: UploadInfo, access_key_id: str, access_key_secret: str,
                      security_token: str, expiration: str | None = None) -> None:
        """Answer ``on_upload_started`` with an STS triple; the uploader then calls
        CreateUploadVideo / CreateUploadImage (or RefreshUploadVideo) itself, signed with it."""
        self._answer(info, "sts", StsToken(access_key_id, access_key_secret, security_token))

    def _waiting(self, info: UploadInfo | None) -> UploadInfo:
        if info is not None:
            return info
        with self._cond:
            for candidate, job in self._active.items():
                if job.waiting == "token_expired":
                    return candidate
        raise InvalidInputError("no file is waiting for new credentials", "NoFileWaiting")

    def resume_upload_with_auth(self, upload_auth: str, info: UploadInfo | None = None) -> None:
        """Answer ``on_upload_token_expired`` with a new UploadAuth (from RefreshUploadVideo)."""
        target = self._waiting(info)
        try:
            token = decode_upload_auth(upload_auth)
        except CredentialError as exc:
            self._answer(target, "error", exc)
            raise
        self._answer(target, "auth", token)

    def resume_upload_with_sts_token(self, access_key_id: str, access_key_secret: str, security_token: str,
                                     expire_time: str | None = None, info: UploadInfo | None = None) -> None:
        """Answer ``on_upload_token_expired`` with a new STS triple."""
        self._answer(self._waiting(info), "sts", StsToken(access_key_id, access_key_secret, security_token))

    def get_checkpoint(self, file: str | os.PathLike[str]) -> ResumeRecord | None:
        """What is remembered about ``file`` (its VideoId, multipart upload id), or None."""
        if self.resume_store is None:
            return None
        return self.resume_store.load(file_identity(file))

    # ------------------------------------------------------------------ callbacks
    def _fire(self, name: str, *args: Any) -> None:
        callback = self._callbacks.get(name)
        if callback is None:
            return
        try:
            callback(*args)
        except Exception as exc:  # a user's bug must not break the upload
            log.error("on_upload_%s callback raised %s: %s", name, type(exc).__name__, redact(str(exc)))

    # ------------------------------------------------------------------ SDK aliases
    addFile = add_file
    listFiles = list_files
    deleteFile = delete_file
    cancelFile = cancel_file
    resumeFile = resume_file
    cleanList = clean_list
    startUpload = start_upload
    stopUpload = stop_upload
    setUploadAuthAndAddress = set_upload_auth_and_address
    setSTSToken = set_sts_token
    resumeUploadWithAuth = resume_upload_with_auth
    resumeUploadWithSTSToken = resume_upload_with_sts_token
    getCheckpoint = get_checkpoint

