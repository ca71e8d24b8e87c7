"""Batch curation: upload every row of a manifest, keep a results table, re-run until all are done.

A manifest is a CSV file or a DataFrame with a ``path`` column and, optionally, ``title``,
``cate_id``, ``tags``, ``description`` and ``user_data`` (a ``{"Vod": {...}}`` JSON string whose
fields the other columns override). Relative paths in a CSV are relative to the CSV's folder.

:func:`upload_manifest` returns one results row per manifest row. Give it ``results=`` (a CSV path)
and a re-run skips the rows that already succeeded and retries the others; the file is rewritten
atomically as rows finish, so a crash loses little (and started videos resume from the resume
store). A bad row (missing file, bad userData, unsupported type) fails alone with a clear
``error_code`` / ``error_message``; the other rows go on.

Pass any :class:`concurrent.futures.Executor` - e.g. ``dask.distributed.Client(...).get_executor()``
- as ``executor=`` to spread chunks of rows over workers; each worker runs its own uploads with its
own resume store. Credentials then travel to the workers, so give a picklable provider
(:class:`~vodwidget.OpenApiCredentials`) or a picklable function that builds one there::

    import functools
    from vodwidget import AppServerCredentials
    from vodwidget.batch import upload_manifest

    creds = functools.partial(AppServerCredentials.from_base, "https://app.example.com/vod")
    table = upload_manifest("manifest.csv", credentials=creds, results="results.csv")
    table[table.state != "Success"]

From a shell: ``vodwidget batch manifest.csv --results results.csv [--scheduler tcp://host:8786]``.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import math
import os
import pickle
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vodwidget.credentials import CredentialProvider
from vodwidget.errors import InvalidInputError, VodUploadError
from vodwidget.metadata import build_user_data, parse_user_data
from vodwidget.models import FINISHED_STATES, UploadInfo
from vodwidget.redact import get_logger, redact

if TYPE_CHECKING:  # pandas is an optional dependency (vodwidget[batch])
    import pandas as pd

__all__ = ["upload_manifest", "read_manifest", "read_results", "write_results", "cli_batch",
           "MANIFEST_COLUMNS", "RESULT_COLUMNS"]

log = get_logger(__name__)

MANIFEST_COLUMNS = ("path", "title", "cate_id", "tags", "description", "user_data")
RESULT_COLUMNS = ("path", "kind", "state", "video_id", "image_id", "image_url", "bytes", "seconds",
                  "retries", "error_code", "error_message")

#: What ``credentials=`` takes: a provider, or a function that builds one (on each worker).
Credentials = CredentialProvider | Callable[[], CredentialProvider]


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("vodwidget.batch needs pandas: pip install 'vodwidget[batch]'") from exc
    return pandas


# ---------------------------------------------------------------------------------- manifest
def _cell(value: Any) -> str | None:
    """A manifest cell as text, or None when empty (NaN, None, blank)."""
    if _missing(value):
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        # A column of ids with a gap becomes float in pandas: 234.0 means "234".
        if value.is_integer():
            return str(int(value))
    text = str(value).strip()
    return text or None


def read_manifest(manifest: str | os.PathLike[str] | pd.DataFrame) -> pd.DataFrame:
    """The manifest as a DataFrame of text cells (None when empty) with absolute ``path`` values.

    Raises :class:`InvalidInputError` when the manifest as a whole is unusable (no such file,
    no ``path`` column, an unknown column); problems of single rows are left to the upload.

    >>> import pandas as pd
    >>> read_manifest(pd.DataFrame({"path": ["/tmp/a.mp4"], "title": ["A"]})).loc[0, "title"]
    'A'
    """
    pd = _pandas()
    if isinstance(manifest, pd.DataFrame):
        frame, base = manifest.copy(), Path.cwd()
    else:
        source = Path(os.fspath(manifest)).expanduser()
        try:
            # dtype=str, no NA parsing: ids such as "0123" and titles such as "NA" stay as written.
            frame = pd.read_csv(source, dtype=str, keep_default_na=False, skipinitialspace=True)
        except FileNotFoundError:
            raise InvalidInputError(f"{source}: no such manifest file", "ManifestNotFound") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"{source}: not a readable CSV manifest ({exc})", "InvalidManifest") from None
        base = source.resolve().parent
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if "path" not in frame.columns:
        raise InvalidInputError(f"the manifest has no 'path' column (columns: {', '.join(frame.columns) or 'none'})",
                                "InvalidManifest")
    unknown = [c for c in frame.columns if c not in MANIFEST_COLUMNS]
    if unknown:
        # Strict on purpose: a misspelt "titel" would otherwise upload everything untitled.
        raise InvalidInputError(f"unknown manifest column(s) {', '.join(unknown)}; "
                                f"known: {', '.join(MANIFEST_COLUMNS)}", "InvalidManifest")
    cells = {c: [_cell(v) for v in frame[c]] if c in frame.columns else [None] * len(frame)
             for c in MANIFEST_COLUMNS}
    cells["path"] = [_absolute(p, base) for p in cells["path"]]
    # Object columns, built explicitly: pandas would otherwise infer a string dtype and turn None into NaN.
    return pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in cells.items()})


def _absolute(path: str | None, base: Path) -> str | None:
    if path is None:
        return None
    p = Path(path).expanduser()
    return os.path.normpath(p if p.is_absolute() else base / p)


# ----------------------------------------------------------------------------------- results
def read_results(results: str | os.PathLike[str] | pd.DataFrame | None) -> pd.DataFrame:
    """Previous results (a CSV path that may not exist yet, a DataFrame, or None) as a DataFrame."""
    pd = _pandas()
    if results is None:
        return _frame([])
    if isinstance(results, pd.DataFrame):
        frame = results.copy()
    else:
        path = Path(os.fspath(results)).expanduser()
        if not path.exists():
            return _frame([])
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"{path}: not a readable results CSV ({exc}); move it away to start afresh",
                                    "InvalidResults") from None
    if "path" not in frame.columns or "state" not in frame.columns:
        raise InvalidInputError("the results table needs 'path' and 'state' columns", "InvalidResults")
    rows = [{c: _cell(r.get(c)) for c in RESULT_COLUMNS} for r in frame.to_dict("records")]
    return _frame(rows)


def _frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows -> DataFrame with the result columns and their types (nullable ints, floats)."""
    pd = _pandas()
    frame = pd.DataFrame([{c: r.get(c) for c in RESULT_COLUMNS} for r in rows], columns=list(RESULT_COLUMNS))
    frame["bytes"] = pd.to_numeric(frame["bytes"], errors="coerce").astype("Int64")
    frame["retries"] = pd.to_numeric(frame["retries"], errors="coerce").astype("Int64")
    frame["seconds"] = pd.to_numeric(frame["seconds"], errors="coerce").astype("float64")
    for col in ("path", "kind", "state", "video_id", "image_id", "image_url", "error_code", "error_message"):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def write_results(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write ``frame`` as CSV atomically (temp file + rename): readers never see half a file."""
    target = Path(os.fspath(path)).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            frame.to_csv(fh, index=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ------------------------------------------------------------------------------ one chunk
@dataclass(frozen=True)
class _Row:
    """What a worker needs to upload one manifest row (plain data: pickles anywhere)."""

    path: str | None
    title: str | None = None
    cate_id: str | None = None
    tags: str | None = None
    description: str | None = None
    user_data: str | None = None


def _failure(path: str | None, code: str, message: str) -> dict[str, Any]:
    size = None
    if path:
        with contextlib.suppress(OSError):
            size = os.path.getsize(path)
    return {"path": path, "kind": None, "state": "Failure", "bytes": size, "retries": 0,
            "error_code": code, "error_message": redact(message)}


def _user_data(row: _Row) -> dict[str, Any]:
    """The row's userData: its ``user_data`` JSON, with the named columns on top (validated)."""
    vod = parse_user_data(row.user_data)
    fields = build_user_data(title=row.title, cate_id=row.cate_id, tags=row.tags, description=row.description)
    return {"Vod": {**vod, **fields["Vod"]}}


def _result(info: UploadInfo) -> dict[str, Any]:
    d = info.as_dict()
    return {"path": d["path"], "kind": d["kind"], "state": d["state"], "video_id": d["video_id"],
            "image_id": d["image_id"], "image_url": d["image_url"], "bytes": d["size"],
            "seconds": d["seconds"], "retries": d["retries"], "error_code": d["error_code"],
            "error_message": redact(d["error_message"]) if d["error_message"] else None}


def _build_credentials(credentials: Credentials) -> CredentialProvider:
    if isinstance(credentials, CredentialProvider):
        return credentials
    provider = credentials()
    if not isinstance(provider, CredentialProvider):
        raise InvalidInputError(f"the credentials function returned {type(provider).__name__}, "
                                "not a credential provider", "InvalidCredentials")
    return provider


def _queue(uploader: Any, rows: list[_Row]) -> list[UploadInfo | dict[str, Any]]:
    """add_file each row; a row that cannot be queued becomes its Failure result right away."""
    out: list[UploadInfo | dict[str, Any]] = []
    for row in rows:
        if not row.path:
            out.append(_failure(None, "MissingPath", "the manifest row has no path"))
            continue
        try:
            out.append(uploader.add_file(row.path, user_data=_user_data(row)))
        except InvalidInputError as exc:
            out.append(_failure(row.path, exc.code, exc.message))
    return out


def _upload_chunk(rows: list[_Row], credentials: Credentials, options: dict[str, Any],
                  run_id: str = "") -> list[dict[str, Any]]:
    """Upload ``rows`` with one VODUpload (runs on an executor worker); one result per row.

    ``run_id`` only makes each submission distinct, so executors that cache by arguments (dask's
    pure tasks) never hand back an old chunk's result instead of uploading again.
    """
    from vodwidget.uploader import VODUpload

    try:
        provider = _build_credentials(credentials)
    except VodUploadError as exc:
        return [_failure(r.path, exc.code, exc.message) for r in rows]
    uploader = VODUpload(credentials=provider, **options)
    queued = _queue(uploader, rows)
    if uploader.list_files():
        uploader.start_upload()
    return [_result(q) if isinstance(q, UploadInfo) else q for q in queued]


# ----------------------------------------------------------------------------- the batch
class _Progress:
    """The overall bar (rows done) and the throttled results writer, shared by both run modes."""

    def __init__(self, table: dict[str, dict[str, Any]], order: list[str], extra: list[dict[str, Any]],
                 results_path: Path | None, total: int, done: int, progress: bool | None,
                 write_interval: float) -> None:
        from tqdm.auto import tqdm

        self.table, self.order, self.extra = table, order, extra
        self.results_path = results_path
        self.write_interval = write_interval
        self._last_write = 0.0
        self._lock = threading.Lock()
        self.bar = tqdm(total=total, initial=done, unit="file", desc="batch", dynamic_ncols=True,
                        disable=None if progress else True, file=sys.stderr)
        self.failed = 0

    def finished(self, key: str, row: Mapping[str, Any], force_write: bool = False) -> None:
        with self._lock:
            self.table[key] = dict(row)
            self.failed += row.get("state") != "Success"
            self.bar.update(1)
            if self.failed:
                self.bar.set_postfix(failed=self.failed, refresh=False)
            now = time.monotonic()
            if force_write or now - self._last_write >= self.write_interval:
                self._write()
                self._last_write = now

    def rows(self) -> list[dict[str, Any]]:
        return [self.table[k] for k in self.order]

    def _write(self) -> None:
        if self.results_path is not None:
            write_results(_frame(self.rows() + self.extra), self.results_path)

    def close(self) -> None:
        with self._lock:
            self._write()
            self.bar.close()


def upload_manifest(
    manifest: str | os.PathLike[str] | pd.DataFrame,
    credentials: Credentials,
    executor: cf.Executor | None = None,
    max_concurrent_files: int = 4,
    results: str | os.PathLike[str] | pd.DataFrame | None = None,
    *,
    chunk_size: int | None = None,
    progress: bool = True,
    write_interval: float = 1.0,
    **uploader_options: Any,
) -> pd.DataFrame:
    """Upload every manifest row not yet done; return the results table (one row per manifest row).

    ``credentials``: a provider, or a function returning one (needed with ``executor=`` when the
    provider holds locks or sessions, e.g. ``functools.partial(AppServerCredentials.from_base, url)``).
    ``executor``: any :class:`concurrent.futures.Executor`; chunks of ``chunk_size`` rows are
    submitted to it, each uploaded by a worker's own VODUpload. Without one, a single in-process
    VODUpload runs ``max_concurrent_files`` files at a time.
    ``results``: previous results - a CSV path (read, then rewritten atomically as rows finish,
    at most every ``write_interval`` s and at the end) or a DataFrame (read only).
    Other keywords (``parallel``, ``retry_count``, ``part_size``, ``resume_store`` ...) go to VODUpload.

    Columns: path, kind, state, video_id, image_id, image_url, bytes, seconds, retries,
    error_code, error_message. A path listed twice fails its second row (``DuplicateRow``).
    """
    pd = _pandas()
    frame = read_manifest(manifest)
    previous = read_results(results)
    results_path = None if results is None or isinstance(results, pd.DataFrame) else \
        Path(os.fspath(results)).expanduser()

    known: dict[str, dict[str, Any]] = {}
    for row in previous.to_dict("records"):
        # A path may appear twice (a DuplicateRow failure next to its done row): Success wins.
        if row["path"] and known.get(row["path"], {}).get("state") != "Success":
            known[row["path"]] = {k: (None if _missing(v) else v) for k, v in row.items()}

    table: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    todo: list[tuple[str, _Row]] = []
    for i, rec in enumerate(frame.to_dict("records")):
        row = _Row(**{k: _cell(v) for k, v in rec.items()})
        # Keys: the absolute path (so a results file survives reordering the manifest); rows that
        # cannot have one get a per-row key that never matches a previous result.
        key = row.path if row.path and row.path not in table else f"\0row{i}"
        order.append(key)
        if row.path is None:
            table[key] = _failure(None, "MissingPath", f"manifest row {i + 1} has no path")
        elif key != row.path:
            table[key] = _failure(row.path, "DuplicateRow",
                                  f"{row.path} is listed more than once in the manifest; row {i + 1} skipped")
        elif known.get(key, {}).get("state") == "Success":
            table[key] = known[key]
        else:
            table[key] = known.get(key) or {"path": key, "state": "Ready"}
            todo.append((key, row))
    wanted = set(order)
    extra = [r for p, r in known.items() if p not in wanted]  # other manifests' rows stay in the file

    done = len(order) - len(todo)
    prog = _Progress(table, order, extra, results_path, len(order), done, progress, write_interval)
    options = {"max_concurrent_files": max_concurrent_files, **uploader_options}
    try:
        if todo and executor is None:
            _run_in_process(todo, credentials, options, prog)
        elif todo:
            _run_on_executor(todo, credentials, options, executor, chunk_size, prog)
    finally:
        prog.close()
    return _frame(prog.rows())


def _missing(value: Any) -> bool:
    """None, NaN, pd.NA or NaT (a scalar that pandas counts as missing)."""
    if value is None or isinstance(value, (str, bytes)):
        return value is None
    try:
        return bool(_pandas().isna(value))
    except (TypeError, ValueError):  # list-likes are values, not gaps
        return False


def _run_in_process(todo: list[tuple[str, _Row]], credentials: Credentials, options: dict[str, Any],
                    prog: _Progress) -> None:
    from vodwidget.uploader import VODUpload

    try:
        provider = _build_credentials(credentials)
    except VodUploadError as exc:
        for key, row in todo:
            prog.finished(key, _failure(row.path, exc.code, exc.message))
        return
    uploader = VODUpload(credentials=provider, **options)
    queued = _queue(uploader, [row for _, row in todo])
    keys = {}
    for (key, _), q in zip(todo, queued, strict=True):
        if isinstance(q, UploadInfo):
            keys[q] = key
        else:
            prog.finished(key, q)

    def on_state(change: Mapping[str, Any]) -> None:
        # Called on the file's worker thread the moment it ends: the bar and the file follow live.
        if change["new"] in FINISHED_STATES:
            prog.finished(keys[change["owner"]], _result(change["owner"]))

    for info in keys:
        info.observe(on_state, names="state")
    if keys:
        try:
            uploader.start_upload()
        finally:
            # Interrupted: files still in flight are recorded as they are (Stopped), retried next run.
            for info, key in keys.items():
                info.unobserve(on_state, names="state")
                if info.state not in FINISHED_STATES:
                    prog.table[key] = _result(info)


def _picklable(credentials: Credentials) -> Credentials:
    try:
        pickle.dumps(credentials)
    except Exception as exc:
        raise InvalidInputError(
            f"{type(credentials).__name__} cannot be sent to executor workers ({type(exc).__name__}: "
            f"{redact(str(exc))}); pass a function that builds it on the worker instead, e.g. "
            "functools.partial(AppServerCredentials.from_base, app_server_url)", "CredentialsNotPicklable",
        ) from None
    return credentials


def _run_on_executor(todo: list[tuple[str, _Row]], credentials: Credentials, options: dict[str, Any],
                     executor: cf.Executor, chunk_size: int | None, prog: _Progress) -> None:
    if not isinstance(executor, cf.ThreadPoolExecutor):
        # Threads share this process; anything else (processes, dask) needs to pickle the spec.
        credentials = _picklable(credentials)
    if chunk_size is None:
        # Small enough that the bar moves and a lost worker costs little; big enough that each
        # task keeps its uploader's max_concurrent_files slots busy.
        chunk_size = max(1, min(2 * int(options["max_concurrent_files"]), math.ceil(len(todo) / 8)))
    run_id = uuid.uuid4().hex
    futures: dict[cf.Future, list[tuple[str, _Row]]] = {}
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start:start + chunk_size]
        fut = executor.submit(_upload_chunk, [r for _, r in chunk], credentials, options, f"{run_id}-{start}")
        futures[fut] = chunk
    try:
        for fut in cf.as_completed(futures):
            chunk = futures.pop(fut)
            try:
                rows = fut.result()
            except Exception as exc:  # a lost worker or a bug: this chunk fails, the others go on
                code = exc.code if isinstance(exc, VodUploadError) else "WorkerError"
                msg = exc.message if isinstance(exc, VodUploadError) else f"{type(exc).__name__}: {exc}"
                rows = [_failure(r.path, code, f"the worker running this row failed: {msg}") for _, r in chunk]
            for (key, _), row in zip(chunk, rows, strict=True):
                prog.finished(key, row, force_write=row is rows[-1])
    finally:
        for fut in futures:
            fut.cancel()



def cli_batch(args: argparse.Namespace) -> int:
    """``vodwidget batch MANIFEST.csv [--results out.csv] [--local] [--scheduler ADDRESS]``.

    Prints a summary to stdout and one line per failed row to stderr; returns 1 if any row failed.
    """
    from vodwidget.cli import _credentials

    manifest = Path(args.manifest)
    results = Path(args.results) if args.results else manifest.with_name(manifest.stem + ".results.csv")
    with ExitStack() as stack:
        # Providers pickle, so the same object travels to dask workers.
        credentials, _ = _credentials(args, stack)
        executor = None
        if args.scheduler:
            from dask.distributed import Client

            client = stack.enter_context(Client(args.scheduler))
            executor = client.get_executor()
        print(f"vodwidget: results go to {results}", file=sys.stderr)
        table = upload_manifest(manifest, credentials=credentials, executor=executor,
                                max_concurrent_files=args.max_files, results=results)
    states = table["state"].value_counts().to_dict()
    print(f"{len(table)} rows: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))
    failed = table[table["state"] != "Success"]
    for idx, row in failed.iterrows():
        print(f"vodwidget: row {idx + 1} failed: {row['path']}: {row['error_code']}: {row['error_message']}",
              file=sys.stderr)
    if len(failed):
        print(f"vodwidget: {len(failed)} of {len(table)} rows failed; fix them and run the same command "
              f"again (rows already done are skipped)", file=sys.stderr)
        return 1
    return 0

