"""The vodwidget command: real subprocesses against the real local service."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "vodwidget"]


def run(args, env=None, timeout=120):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=timeout, env=full_env)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _no_secrets(svc, *texts):
    for text in texts:
        assert svc.access_key_secret not in text
        assert "SecurityToken" not in text or "***" in text


def test_upload_with_app_server_prints_json_lines(local_vod, make_media):
    video, image = make_media("cli.mp4"), make_media("cli.png")
    out = run(["upload", str(video), str(image), "--app-server", local_vod.app_server,
               "--vod-endpoint", local_vod.vod_endpoint, "--title", "From CLI", "--tags", "x,y", "--json"])
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["state"] for r in rows] == ["Success", "Success"]
    assert local_vod.video(rows[0]["video_id"])["Title"] == "From CLI"
    assert rows[1]["image_url"].startswith("http://127.0.0.1")
    _no_secrets(local_vod, out.stdout, out.stderr)


def test_access_key_from_environment(local_vod, make_media):
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": local_vod.access_key_id,
           "ALIBABA_CLOUD_ACCESS_KEY_SECRET": local_vod.access_key_secret}
    out = run(["upload", str(make_media("env.mp4")), "--vod-endpoint", local_vod.vod_endpoint], env=env)
    assert out.returncode == 0, out.stderr
    assert "Success" in out.stdout and "FILE" in out.stdout.splitlines()[0]
    _no_secrets(local_vod, out.stdout, out.stderr)


def test_failed_file_gives_nonzero_exit_and_others_still_upload(local_vod, make_media, tmp_path):
    out = run(["upload", str(tmp_path / "missing.mp4"), str(make_media("ok.png")), "--app-server",
               local_vod.app_server, "--vod-endpoint", local_vod.vod_endpoint])
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert any("missing.mp4" in line and "FileNotFound" in line for line in lines), out.stdout
    assert any("ok.png" in line and "Success" in line for line in lines), out.stdout


def test_no_credentials_is_a_clear_usage_error(make_media):
    env = {k: "" for k in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET")}
    out = run(["upload", str(make_media("nocred.mp4"))], env=env)
    assert out.returncode == 2
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_local_starts_a_service_for_the_run_and_says_so(make_media, tmp_path):
    env = {"VODWIDGET_LOCAL_PORT": str(_free_port()), "VODWIDGET_LOCAL_DATA": str(tmp_path / "svc")}
    out = run(["upload", str(make_media("local.mp4")), "--local", "--json"], env=env)
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout.splitlines()[0])
    assert row["state"] == "Success" and row["play_url"].startswith("http://127.0.0.1:" + env["VODWIDGET_LOCAL_PORT"])
    assert "started the local service" in out.stderr
    assert "stopped the local service this command started" in out.stderr
    secret = json.loads((tmp_path / "svc" / "credentials.json").read_text())["access_key_secret"]
    assert secret not in out.stdout + out.stderr


@pytest.mark.slow
def test_local_reuses_a_running_service(make_media, tmp_path):
    port = _free_port()
    svc = subprocess.Popen(CLI + ["local", "--port", str(port), "--data", str(tmp_path / "svc")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(svc.stdout.readline())
        out = run(["upload", str(make_media("reuse.png")), "--local"], env={"VODWIDGET_LOCAL_PORT": str(port)})
        assert out.returncode == 0, out.stderr
        assert f"using the local service running at {first['vod_endpoint']}" in out.stderr
        assert "stopped" not in out.stderr
        assert first["access_key_secret"] not in out.stdout + out.stderr
    finally:
        svc.terminate()
        svc.wait(10)


@pytest.mark.slow
def test_demo_uploads_a_video_and_an_image(tmp_path):
    env = {"VODWIDGET_LOCAL_PORT": str(_free_port()), "VODWIDGET_LOCAL_DATA": str(tmp_path / "svc")}
    out = run(["demo"], env=env)
    assert out.returncode == 0, out.stderr
    fields = dict(line.split(": ", 1) for line in out.stdout.splitlines())
    assert len(fields["videoId"].strip()) == 32
    assert "/_media/" in fields["play URL"] and fields["play URL"].strip().endswith(".mp4")
    assert "/_media/" in fields["imageUrl"] and fields["imageUrl"].strip().endswith(".png")
