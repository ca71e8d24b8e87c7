"""Remembered uploads: the SDK's localStorage, on disk, shared safely between processes.

A file that was started keeps a record (its VideoId, OSS address, multipart upload id, part size
and the CRC64 of parts sent) so that adding it again - after a crash, a kernel restart, or in
another process - refreshes its credentials and continues instead of creating a second video.

A file's identity is its absolute path, size, mtime and a hash of its first and last 64 KiB:
a file edited in place gets a new identity and starts afresh.

Records are JSON files written atomically (temp file + rename). While a process uploads a file
it holds that record's lock (an OS file lock, released even if the process is killed), so two
processes never upload the same file at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
from filelock import FileLock, Timeout

from vodwidget.errors import InvalidInputError

__all__ = ["ResumeStore", "ResumeRecord", "file_identity", "default_store_dir"]

_SAMPLE = 64 * 1024


def default_store_dir() -> Path:
    """Per-user cache folder; ``VODWIDGET_RESUME_DIR`` overrides it."""
    env = os.environ.get("VODWIDGET_RESUME_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("vodwidget")) / "uploads"


def file_identity(path: str | os.PathLike[str]) -> str:
    """Stable id of a file's current content: sha256 over path, size, mtime, head and tail."""
    p = Path(path).resolve()
    st = p.stat()
    h = hashlib.sha256()
    h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    with open(p, "rb") as f:
        h.update(f.read(_SAMPLE))
        if st.st_size > _SAMPLE:
            f.seek(max(_SAMPLE, st.st_size - _SAMPLE))
            h.update(f.read(_SAMPLE))
    return h.hexdigest()


@dataclass
class ResumeRecord:
    """What is remembered about one started file. Holds no secret."""

    identity: str
    path: str
    size: int
    kind: str
    video_id: str | None = None
    endpoint: str | None = None
    bucket: str | None = None
    object: str | None = None
    upload_id: str | None = None
    part_size: int | None = None
    part_crcs: dict[str, int] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResumeRecord:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


class ResumeStore:
    """A folder of :class:`ResumeRecord` files keyed by :func:`file_identity`.

    >>> import tempfile
    >>> store = ResumeStore(tempfile.mkdtemp())
    >>> store.load("0" * 64) is None
    True
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_store_dir()
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"ResumeStore({str(self.root)!r})"

    def _path(self, identity: str) -> Path:
        if len(identity) != 64 or any(c not in "0123456789abcdef" for c in identity):
            raise ValueError("identity must be a sha256 hex digest")
        return self.root / f"{identity}.json"

    def load(self, identity: str) -> ResumeRecord | None:
        """The record for ``identity``, or None (a corrupt record is treated as absent)."""
        try:
            data = json.loads(self._path(identity).read_text())
            return ResumeRecord.from_json(data)
        except (OSError, ValueError, TypeError):
            return None

    def save(self, record: ResumeRecord) -> None:
        """Write atomically, so a crash mid-write leaves the old record or the new, never half."""
        record.updated = time.time()
        target = self._path(record.identity)
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w") as f:
                json.dump(asdict(record), f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            raise self._unwritable(exc) from None
        finally:
            if tmp is not None and os.path.exists(tmp):
                Path(tmp).unlink(missing_ok=True)

    def _unwritable(self, exc: OSError) -> InvalidInputError:
        return InvalidInputError(
            f"cannot write the resume record in {self.root} ({exc.strerror or exc}); free space there, "
            "point resume_store (or VODWIDGET_RESUME_DIR) elsewhere, or pass resume_store=False",
            "ResumeStoreUnwritable")

    def forget(self, identity: str) -> None:
        self._path(identity).unlink(missing_ok=True)

    def records(self) -> list[ResumeRecord]:
        out = []
        for p in sorted(self.root.glob("*.json")):
            rec = self.load(p.stem) if len(p.stem) == 64 else None
            if rec is not None:
                out.append(rec)
        return out

    def lock(self, identity: str) -> FileLock:
        """An exclusive, non-blocking lock for uploading this file; raises if another holder has it."""
        lock = FileLock(str(self.root / f"{identity}.lock"), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise InvalidInputError("another process or uploader is uploading this same file right now",
                                    "FileBusy") from None
        except OSError as exc:
            raise self._unwritable(exc) from None
        return lock
