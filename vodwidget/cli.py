"""Command line: ``vodwidget upload | local | demo | batch``.

Progress goes to stderr; one result per file goes to stdout (a table, or JSON lines with
``--json``); the exit code is non-zero if any file failed. Secrets never reach either stream.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

from vodwidget.credentials import AppServerCredentials, CredentialProvider, OpenApiCredentials
from vodwidget.errors import VodUploadError
from vodwidget.redact import redact

__all__ = ["main"]


def _add_metadata(p: argparse.ArgumentParser) -> None:
    p.add_argument("--title", help="Title (default: each file's name)")
    p.add_argument("--cate-id", help="Category id")
    p.add_argument("--tags", help="Comma-separated tags")
    p.add_argument("--description", help="Description")
    p.add_argument("--user-data", help='Full userData JSON, e.g. \'{"Vod":{"Title":"t"}}\'')


def _add_credentials(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("credentials (default: ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET from the environment)")
    g.add_argument("--local", action="store_true",
                   help="use the embedded local service (reuses a running `vodwidget local`, else starts one)")
    g.add_argument("--app-server", metavar="URL",
                   help="AppServer base URL with create-upload-video, refresh-upload-video, "
                        "create-upload-image and sts below it")
    g.add_argument("--vod-endpoint", metavar="URL", help="VOD OpenAPI endpoint (default: the region's)")
    g.add_argument("--region", default=os.environ.get("ALIBABA_CLOUD_REGION_ID", "cn-shanghai"))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vodwidget", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("upload", help="upload files to VOD")
    up.add_argument("paths", nargs="+", metavar="PATH")
    _add_credentials(up)
    _add_metadata(up)
    up.add_argument("--parallel", type=int, default=4, help="parts in flight per file (default 4)")
    up.add_argument("--max-files", type=int, default=2, help="files in flight at once (default 2)")
    up.add_argument("--retry-count", type=int, default=3)
    up.add_argument("--no-resume", action="store_true", help="do not remember uploads for resuming")
    up.add_argument("--json", action="store_true", help="print one JSON object per file")
    up.add_argument("--quiet", action="store_true", help="no progress bars")

    sub.add_parser("local", help="run the local VOD + OSS service in the foreground", add_help=False)
    demo = sub.add_parser("demo", help="upload a generated sample video and image to the local service")
    demo.add_argument("--keep", action="store_true", help="keep the sample files")

    batch = sub.add_parser("batch", help="upload every row of a manifest CSV")
    batch.add_argument("manifest")
    batch.add_argument("--results", help="results CSV: read to skip rows already done, then rewritten")
    _add_credentials(batch)
    batch.add_argument("--scheduler", metavar="ADDRESS", help="dask scheduler address to scale out on")
    batch.add_argument("--max-files", type=int, default=4)
    return parser


def _credentials(args: argparse.Namespace, stack: ExitStack) -> tuple[CredentialProvider, Any]:
    if args.local:
        from vodwidget.local.attach import attach_or_start

        svc = stack.enter_context(attach_or_start())
        return svc.credentials(), svc
    if args.app_server:
        return AppServerCredentials.from_base(args.app_server, vod_endpoint=args.vod_endpoint,
                                              region=args.region), None
    return OpenApiCredentials.from_env(region=args.region, endpoint=args.vod_endpoint), None


def _play_url(creds: CredentialProvider, video_id: str) -> str | None:
    """The video's play URL through the provider (GetPlayInfo), or None if it has none yet."""
    try:
        return creds.play_url(video_id)
    except VodUploadError:
        return None


def _print_rows(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return
    width = max([len(r["name"] or "") for r in rows] + [4])
    print(f"{'FILE':<{width}}  {'STATE':<8}  RESULT")
    for r in rows:
        if r["state"] == "Success":
            result = r.get("video_id") or r.get("image_url") or r.get("object") or ""
            if r.get("play_url"):
                result += f"  {r['play_url']}"
        else:
            result = f"{r['error_code']}: {r['error_message']}"
        print(f"{r['name']:<{width}}  {r['state']:<8}  {result}")


def _upload_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run an upload as the CLI flags say; the local service's play URL is added to video rows."""
    from vodwidget.metadata import build_user_data
    from vodwidget.script import upload

    with ExitStack() as stack:
        creds, svc = _credentials(args, stack)
        user_data: Any = args.user_data
        if user_data is None:
            fields = build_user_data(title=args.title, cate_id=args.cate_id, tags=args.tags,
                                     description=args.description)
            user_data = fields if fields["Vod"] else None
        rows = upload(args.paths, creds, user_data=user_data, progress=not args.quiet,
                      parallel=args.parallel, max_concurrent_files=args.max_files,
                      retry_count=args.retry_count, resume_store=False if args.no_resume else None)
        if svc is not None:
            for row in rows:
                if row["state"] == "Success" and row.get("video_id"):
                    row["play_url"] = _play_url(creds, row["video_id"])
    return rows


def _cmd_upload(args: argparse.Namespace) -> int:
    rows = _upload_rows(args)
    _print_rows(rows, args.json)
    return 0 if all(r["state"] == "Success" for r in rows) else 1


def _cmd_demo(args: argparse.Namespace) -> int:
    import tempfile

    from vodwidget.samples import make_sample_image, make_sample_video

    folder = tempfile.mkdtemp(prefix="vodwidget-demo-")
    print(f"making a sample video and image in {folder}", file=sys.stderr)
    paths = [str(make_sample_video(os.path.join(folder, "sample.mp4"), seconds=4)),
             str(make_sample_image(os.path.join(folder, "sample.png")))]
    ns = argparse.Namespace(paths=paths, local=True, app_server=None, vod_endpoint=None, region="cn-shanghai",
                            title=None, cate_id=None, tags="demo,vodwidget", description="vodwidget demo",
                            user_data=None, parallel=4, max_files=2, retry_count=3, no_resume=True,
                            json=False, quiet=False)
    rows = _upload_rows(ns)
    for row in rows:
        if row["state"] != "Success":
            print(f"{row['name']}: {row['error_code']}: {row['error_message']}")
        elif row.get("video_id"):
            print(f"videoId:  {row['video_id']}\nplay URL: {row.get('play_url')}")
        else:
            print(f"imageUrl: {row['image_url']}")
    code = 0 if all(r["state"] == "Success" for r in rows) else 1
    if code == 0:
        print("(open the URLs while `vodwidget local` runs; `make test` runs the tests)", file=sys.stderr)
    if not args.keep:
        for p in paths:
            os.unlink(p)
        os.rmdir(folder)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["local"]:
        from vodwidget.local.__main__ import main as local_main

        return local_main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        if args.command == "upload":
            return _cmd_upload(args)
        if args.command == "demo":
            return _cmd_demo(args)
        if args.command == "batch":
            from vodwidget.batch import cli_batch

            return cli_batch(args)
    except VodUploadError as exc:
        print(f"vodwidget: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vodwidget: interrupted; started uploads are remembered and resume next time", file=sys.stderr)
        return 130
    except Exception as exc:  # last resort: a readable line, redacted
        print(f"vodwidget: {type(exc).__name__}: {redact(str(exc))}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
