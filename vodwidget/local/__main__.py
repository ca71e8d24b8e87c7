"""``python -m vodwidget.local``: run the local VOD + OSS service in the foreground.

The first stdout line is one JSON object with the endpoints and the root AccessKey (the only
place a secret is ever printed); SIGINT/SIGTERM stop the service and exit 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence

from vodwidget.local.server import DEFAULT_PORT, LocalVod, default_data_dir

__all__ = ["main", "build_parser"]


def build_parser(prog: str = "python -m vodwidget.local") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Local ApsaraVideo VOD + OSS service.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any free port)")
    p.add_argument("--data", default=None, help=f"data directory (default {default_data_dir()})")
    p.add_argument("--token-ttl", type=float, default=3000.0, help="STS token lifetime in seconds")
    p.add_argument("--url-auth-ttl", type=float, default=None, help="sign media URLs, valid this many seconds")
    p.add_argument("--faults", default=None, help="fault spec, e.g. reset=0.05,503=0.05,scope=oss")
    p.add_argument("--seed", type=int, default=None, help="seed for fault decisions")
    p.add_argument("--verbose", action="store_true", help="log to stderr (secrets redacted)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run until SIGINT/SIGTERM; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    try:
        svc = LocalVod(data_dir=args.data, host=args.host, port=args.port, token_ttl=args.token_ttl,
                       url_auth_ttl=args.url_auth_ttl, faults=args.faults, seed=args.seed)
        svc.start()
    except (OSError, ValueError) as exc:
        print(f"error: cannot start the local service: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        info = {
            "vod_endpoint": svc.vod_endpoint, "oss_endpoint": svc.oss_endpoint,
            "app_server": svc.app_server, "region": svc.region,
            "access_key_id": svc.access_key_id, "access_key_secret": svc.access_key_secret,
            "data_dir": str(svc.data_dir), "bucket": svc.bucket, "port": svc.port, "pid": os.getpid(),
        }
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        svc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
