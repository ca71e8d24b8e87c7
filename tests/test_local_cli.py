"""``python -m vodwidget.local`` as a real subprocess: first JSON line, signed call, clean SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from aliyunsdkcore.client import AcsClient

from vodwidget.local import DEFAULT_PORT
from vodwidget.local.__main__ import build_parser

ROOT = Path(__file__).resolve().parents[1]


def test_defaults():
    args = build_parser().parse_args([])
    assert (args.host, args.port, DEFAULT_PORT) == ("127.0.0.1", 8777, 8777)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_runs_and_stops_cleanly(tmp_path, vod_call, sig):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vodwidget.local", "--port", "0", "--data", str(tmp_path / "d"),
         "--token-ttl", "600", "--verbose"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        info = json.loads(proc.stdout.readline())
        assert {"vod_endpoint", "oss_endpoint", "app_server", "region", "access_key_id", "access_key_secret",
                "data_dir", "bucket", "port", "pid"} <= set(info)
        assert info["pid"] == proc.pid and info["vod_endpoint"] == f"http://127.0.0.1:{info['port']}"
        assert (tmp_path / "d" / "credentials.json").stat().st_mode & 0o077 == 0

        class Svc:
            vod_endpoint = info["vod_endpoint"]

        client = AcsClient(info["access_key_id"], info["access_key_secret"], "cn-shanghai")
        resp = vod_call(Svc, "CreateUploadVideo", {"Title": "cli", "FileName": "c.mp4"}, client=client)
        assert resp["VideoId"]
        assert requests.get(info["app_server"] + "/sts", timeout=10).status_code == 200
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read()
    assert info["access_key_secret"] not in stderr
    assert "listening" in stderr  # --verbose logged, yet no secret
    assert proc.stdout.read() == ""  # the JSON line is the only output
