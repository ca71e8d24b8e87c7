"""Persistent state of the local service: SQLite metadata plus object and part files.

Object files are named after a hash of ``bucket/key`` (never after the key itself), so no key can
point outside ``data_dir``. Request bodies stream to a temp file, hashed (MD5 + CRC-64) in ~1 MiB
batches on a worker thread; the file is renamed into place only once the whole body arrived.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import oss2.utils

__all__ = ["Store", "Received", "IncompleteBody", "receive_body", "UPLOAD_ID_RE"]

UPLOAD_ID_RE = re.compile(r"^[0-9A-F]{32}$")
_BATCH = 1 << 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);
CREATE TABLE IF NOT EXISTS creds (
    ak TEXT PRIMARY KEY, secret TEXT, token TEXT, kind TEXT, bucket TEXT, object_key TEXT,
    expires REAL, parts_used INTEGER DEFAULT 0, created REAL);
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT, key TEXT, file TEXT, size INTEGER, etag TEXT, crc64 TEXT, content_type TEXT,
    mtime REAL, object_type TEXT, PRIMARY KEY (bucket, key));
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY, bucket TEXT, key TEXT, content_type TEXT, initiated REAL);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT, part_number INTEGER, file TEXT, size INTEGER, etag TEXT, crc64 TEXT, mtime REAL,
    PRIMARY KEY (upload_id, part_number));
CREATE TABLE IF NOT EXISTS videos (
    video_id TEXT PRIMARY KEY, bucket TEXT, object_key TEXT, status TEXT, data TEXT, created REAL);
CREATE INDEX IF NOT EXISTS videos_key ON videos (bucket, object_key);
CREATE TABLE IF NOT EXISTS images (
    image_id TEXT PRIMARY KEY, bucket TEXT, object_key TEXT, status TEXT, data TEXT, created REAL);
CREATE INDEX IF NOT EXISTS images_key ON images (bucket, object_key);
"""


class IncompleteBody(Exception):
    """The client sent fewer bytes than it announced (aborted upload)."""


@dataclass
class Received:
    path: Path
    size: int
    md5: bytes
    crc64: int

    @property
    def etag(self) -> str:
        return self.md5.hex().upper()


class _Sink:
    """Temp file plus running MD5/CRC-64; touched only from worker threads, one batch at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh = open(path, "wb")  # noqa: SIM115 - closed in finish()/discard()
        self.md5 = hashlib.md5()
        self.crc = oss2.utils.Crc64(0)
        self.size = 0

    def write(self, data: bytes) -> None:
        self.fh.write(data)
        self.md5.update(data)
        self.crc.update(data)
        self.size += len(data)

    def finish(self) -> Received:
        self.fh.close()
        return Received(self.path, self.size, self.md5.digest(), self.crc.crc)

    def discard(self) -> None:
        self.fh.close()
        self.path.unlink(missing_ok=True)


async def receive_body(request: Any, tmp_dir: Path, limit: int | None = None) -> Received:
    """Stream ``request``'s body to a temp file; raise IncompleteBody if it ended early.

    Reading the socket overlaps with hashing/writing of the previous batch, which runs in the
    loop's executor so parallel part uploads do not serialize on the event loop.
    """
    loop = asyncio.get_running_loop()
    expected = request.content_length
    sink = _Sink(tmp_dir / f"recv-{uuid.uuid4().hex}")
    pending: asyncio.Future | None = None
    buf = bytearray()
    try:
        while True:
            chunk = await request.content.readany()
            if chunk:
                buf += chunk
            if len(buf) >= _BATCH or (not chunk and buf):
                if pending is not None:
                    await pending
                pending = loop.run_in_executor(None, sink.write, bytes(buf))
                buf = bytearray()
            if not chunk:
                break
            if limit is not None and sink.size + len(buf) > limit:
                raise IncompleteBody("body too large")
        if pending is not None:
            await pending
        received = await loop.run_in_executor(None, sink.finish)
    except BaseException:
        if pending is not None and not pending.done():
            try:
                await pending
            except Exception:  # the original error matters more
                pass
        sink.discard()
        raise
    if expected is not None and received.size != expected:
        received.path.unlink(missing_ok=True)
        raise IncompleteBody(f"got {received.size} of {expected} bytes")
    return received


class Store:
    """SQLite (WAL) metadata and the file layout under ``data_dir``; thread-safe via one lock."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.objects_dir = data_dir / "objects"
        self.parts_dir = data_dir / "parts"
        self.tmp_dir = data_dir / "tmp"
        for d in (self.objects_dir, self.parts_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)
        # Leftovers of bodies that were being received when a previous run died.
        for leftover in self.tmp_dir.iterdir():
            leftover.unlink(missing_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            data_dir / "meta.sqlite3", check_same_thread=False, isolation_level=None
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def query(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    def one(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Row | None:
        rows = self.query(sql, args)
        return rows[0] if rows else None

    def execute(self, sql: str, args: Iterable[Any] = ()) -> int:
        with self._lock:
            return self._db.execute(sql, tuple(args)).rowcount

    # -- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.one("SELECT v FROM meta WHERE k=?", (key,))
        return row["v"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.execute("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (key, value))

    # -- objects ----------------------------------------------------------------------------
    def object_path(self, bucket: str, key: str) -> Path:
        digest = hashlib.sha256(f"{bucket}\0{key}".encode()).hexdigest()
        return self.objects_dir / digest[:2] / digest

    def get_object(self, bucket: str, key: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM objects WHERE bucket=? AND key=?", (bucket, key))

    def commit_object(
        self, bucket: str, key: str, src: Path, size: int, etag: str, crc64: int,
        content_type: str, object_type: str,
    ) -> Path:
        """Move ``src`` into place and record it (replacing an older version)."""
        dest = self.object_path(bucket, key)
        dest.parent.mkdir(exist_ok=True)
        with self._lock:
            os.replace(src, dest)
            self._db.execute(
                "INSERT OR REPLACE INTO objects VALUES (?,?,?,?,?,?,?,?,?)",
                (bucket, key, str(dest.relative_to(self.data_dir)), size, etag, str(crc64),
                 content_type, time.time(), object_type),
            )
        return dest

    def delete_object(self, bucket: str, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM objects WHERE bucket=? AND key=?", (bucket, key))
            self.object_path(bucket, key).unlink(missing_ok=True)

    # -- multipart --------------------------------------------------------------------------
    def part_dir(self, upload_id: str) -> Path:
        if not UPLOAD_ID_RE.match(upload_id):  # the id reaches a path: only our own format
            raise ValueError("bad upload id")
        return self.parts_dir / upload_id

    def create_upload(self, bucket: str, key: str, content_type: str) -> str:
        upload_id = uuid.uuid4().hex.upper()
        self.part_dir(upload_id).mkdir()
        self.execute(
            "INSERT INTO uploads VALUES (?,?,?,?,?)", (upload_id, bucket, key, content_type, time.time())
        )
        return upload_id

    def get_upload(self, upload_id: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM uploads WHERE upload_id=?", (upload_id,))

    def put_part(self, upload_id: str, number: int, received: Received) -> None:
        dest = self.part_dir(upload_id) / str(number)
        with self._lock:
            os.replace(received.path, dest)
            self._db.execute(
                "INSERT OR REPLACE INTO parts VALUES (?,?,?,?,?,?,?)",
                (upload_id, number, str(dest.relative_to(self.data_dir)), received.size,
                 received.etag, str(received.crc64), time.time()),
            )

    def list_parts(self, upload_id: str) -> list[sqlite3.Row]:
        return self.query(
            "SELECT * FROM parts WHERE upload_id=? ORDER BY part_number", (upload_id,)
        )

    def drop_upload(self, upload_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM parts WHERE upload_id=?", (upload_id,))
            self._db.execute("DELETE FROM uploads WHERE upload_id=?", (upload_id,))
        d = self.part_dir(upload_id)
        if d.exists():
            for f in d.iterdir():
                f.unlink(missing_ok=True)
            d.rmdir()

    # -- credentials ------------------------------------------------------------------------
    def add_cred(self, ak: str, secret: str, token: str, kind: str, bucket: str | None,
                 object_key: str | None, expires: float) -> None:
        self.execute(
            "INSERT INTO creds VALUES (?,?,?,?,?,?,?,0,?)",
            (ak, secret, token, kind, bucket, object_key, expires, time.time()),
        )

    def get_cred(self, ak: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM creds WHERE ak=?", (ak,))

    def count_part(self, ak: str) -> None:
        self.execute("UPDATE creds SET parts_used = parts_used + 1 WHERE ak=?", (ak,))

    # -- videos / images --------------------------------------------------------------------
    def put_media(self, table: str, media_id: str, bucket: str, key: str, status: str, data: dict) -> None:
        assert table in ("videos", "images")
        self.execute(
            f"INSERT OR REPLACE INTO {table} VALUES (?,?,?,?,?,?)",
            (media_id, bucket, key, status, json.dumps(data), time.time()),
        )

    def get_media(self, table: str, media_id: str) -> dict | None:
        assert table in ("videos", "images")
        id_col = "video_id" if table == "videos" else "image_id"
        row = self.one(f"SELECT * FROM {table} WHERE {id_col}=?", (media_id,))
        if row is None:
            return None
        return {**json.loads(row["data"]), "Status": row["status"], "Bucket": row["bucket"],
                "ObjectKey": row["object_key"]}

    def media_by_key(self, table: str, bucket: str, key: str) -> list[str]:
        assert table in ("videos", "images")
        id_col = "video_id" if table == "videos" else "image_id"
        return [r[0] for r in self.query(
            f"SELECT {id_col} FROM {table} WHERE bucket=? AND object_key=?", (bucket, key))]

    def update_media(self, table: str, media_id: str, status: str | None = None, **fields: Any) -> None:
        assert table in ("videos", "images")
        id_col = "video_id" if table == "videos" else "image_id"
        with self._lock:
            row = self._db.execute(f"SELECT data FROM {table} WHERE {id_col}=?", (media_id,)).fetchone()
            if row is None:
                return
            data = {**json.loads(row[0]), **fields}
            if status is None:
                self._db.execute(f"UPDATE {table} SET data=? WHERE {id_col}=?", (json.dumps(data), media_id))
            else:
                self._db.execute(
                    f"UPDATE {table} SET data=?, status=? WHERE {id_col}=?", (json.dumps(data), status, media_id)
                )

    def delete_media(self, table: str, media_id: str) -> bool:
        assert table in ("videos", "images")
        id_col = "video_id" if table == "videos" else "image_id"
        return self.execute(f"DELETE FROM {table} WHERE {id_col}=?", (media_id,)) > 0
