"""Security: secrets stay out of logs, reprs, exceptions, CLI output and widget state; the local
service binds loopback, refuses unsigned, badly signed, expired and out-of-scope requests, and
keeps every object inside its data dir.

The secrets looked for are the real ones of each run: the service's root AccessKeySecret and every
STS secret and SecurityToken it issued (found from the request log's AccessKeyIds), plus the
base64 UploadAuth strings handed out.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import oss2
import pytest
import requests

from vodwidget import VODUpload
from vodwidget.errors import VodUploadError
from vodwidget.local import LocalVod
from vodwidget.local.attach import local_credentials

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[LocalVod]:
    with LocalVod(data_dir=tmp_path / "svc", port=0) as s:
        yield s


def issued_secrets(svc: LocalVod) -> set[str]:
    """Root secret + every secret and token behind an AccessKeyId the service has seen."""
    found = {svc.access_key_secret}
    for ak in {e.access_key_id for e in svc.request_log if e.access_key_id}:
        cred = svc.lookup_key(ak)
        if cred:
            found |= {v for v in (cred.get("secret"), cred.get("token")) if v}
    return found


def leaks(text: str, secrets: set[str]) -> list[str]:
    """The secrets (shown by their first 6 characters only) that occur in ``text``."""
    return [s[:6] + "..." for s in secrets if s and s in text]


def small_video(tmp_path: Path, name: str = "s.mp4", size: int = 300 * 1024) -> Path:
    p = tmp_path / name
    p.write_bytes(os.urandom(size))
    return p


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}: {self.format(record)}")


@pytest.fixture
def captured() -> Iterator[dict[str, Capture]]:
    """DEBUG handlers on the ``vodwidget`` and ``oss2`` loggers (the real ones, not caplog's root)."""
    handlers = {}
    saved = {}
    for name in ("vodwidget", "oss2"):
        logger = logging.getLogger(name)
        saved[name] = logger.level
        logger.setLevel(logging.DEBUG)
        handlers[name] = Capture()
        logger.addHandler(handlers[name])
    yield handlers
    for name, h in handlers.items():
        logging.getLogger(name).removeHandler(h)
        logging.getLogger(name).setLevel(saved[name])


def _upload_all_modes(svc: LocalVod, tmp_path: Path) -> list:
    infos = []
    for mode in ("openapi", "appserver", "sts"):
        # Multipart (3 parts) and a token expiry so refresh paths log too.
        svc.set_faults("expire_after_parts=2", seed=1)
        up = VODUpload(credentials=local_credentials(svc, mode), part_size=128 * 1024, resume_store=False,
                       retry_count=1, retry_duration=0.05)
        infos.append(up.add_file(small_video(tmp_path, f"{mode}.mp4")))
        up.start_upload()
        svc.set_faults(None)
        # And one failure, whose message and log line must be clean too.
        bad = VODUpload(credentials=local_credentials(svc, mode), resume_store=False, retry_count=0)
        bad_info = bad.add_file(small_video(tmp_path, f"{mode}-bad.mp4", 1000))
        svc.set_faults("503=1,scope=oss", seed=1)
        bad.start_upload()
        svc.set_faults(None)
        assert bad_info.state == "Failure"
        infos.append(bad_info)
    assert [i.state for i in infos[::2]] == ["Success"] * 3
    return infos


def test_no_secret_in_vodwidget_logs_reprs_or_results(svc, tmp_path: Path, captured) -> None:
    infos = _upload_all_modes(svc, tmp_path)
    secrets = issued_secrets(svc)
    assert len(secrets) > 5  # root + several STS secrets and tokens really were issued
    assert captured["vodwidget"].lines  # DEBUG logging really ran
    assert not leaks("\n".join(captured["vodwidget"].lines), secrets)
    texts = [repr(i) for i in infos] + [json.dumps(i.as_dict(), default=str) for i in infos]
    texts += [f"{i.error_code} {i.error_message} {i.message}" for i in infos]
    texts += [repr(local_credentials(svc, m)) for m in ("openapi", "appserver", "sts")]
    texts += [repr(VODUpload(credentials=local_credentials(svc))), repr(svc)]
    assert not leaks("\n".join(texts), secrets)


def test_oss2_debug_log_does_not_leak_tokens(svc, tmp_path: Path, captured) -> None:
    """oss2 logs request headers and strings-to-sign at DEBUG, and the SecurityToken is in both;
    vodwidget redacts oss2's own logger too (this failed before that fix)."""
    _upload_all_modes(svc, tmp_path)
    secrets = issued_secrets(svc)
    lines = "\n".join(captured["oss2"].lines)
    assert "Send request" in lines, "oss2 logged no request at DEBUG: the check would be hollow"
    assert not leaks(lines, secrets)


def test_exceptions_redact_registered_secrets(svc) -> None:
    secret = svc.access_key_secret
    err = VodUploadError(f"it failed with AccessKeySecret={secret} and token {secret}", "X")
    assert secret not in str(err) and secret not in err.message and secret not in repr(err)
    # A real failure: a wrong secret for the root key id; the message must not echo either secret.
    from vodwidget.credentials import OpenApiCredentials

    wrong = "definitely-wrong-secret-42"
    provider = OpenApiCredentials(svc.access_key_id, wrong, endpoint=svc.vod_endpoint)
    with pytest.raises(VodUploadError) as exc:
        provider.create_video({"Title": "t", "FileName": "a.mp4"})
    assert exc.value.code == "SignatureDoesNotMatch"
    assert wrong not in str(exc.value) and secret not in str(exc.value)


def test_cli_output_has_no_secret(svc, tmp_path: Path) -> None:
    path = small_video(tmp_path, "cli.mp4")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["VODWIDGET_RESUME_DIR"] = str(tmp_path / "resume")
    proc = subprocess.run([sys.executable, "-m", "vodwidget", "upload", "--app-server", svc.app_server,
                           "--vod-endpoint", svc.vod_endpoint, "--json", str(path)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    assert row["state"] == "Success" and row["video_id"]
    secrets = issued_secrets(svc)
    assert len(secrets) >= 3
    assert not leaks(proc.stdout + proc.stderr, secrets)


def test_widget_state_has_no_secret(svc, tmp_path: Path) -> None:
    pytest.importorskip("ipywidgets")
    from ipywidgets import Widget

    from vodwidget.widgets import UploadPanel

    panel = UploadPanel(credentials=svc, root=str(tmp_path), part_size=128 * 1024, resume_store=False)
    try:
        panel.add_files([small_video(tmp_path, "w.mp4")])
        panel.start()
        assert panel.wait(60)
        assert panel.uploader.list_files()[0].state == "Success"
        time.sleep(0.3)  # throttled views settle
        state = Widget.get_manager_state(drop_defaults=False)
        assert len(state["state"]) > 10  # the panel's widgets really are in the serialized state
        text = json.dumps(state, default=str) + panel.text() + repr(panel) + str(panel.results)
        secrets = issued_secrets(svc)
        assert not leaks(text, secrets)
    finally:
        panel.close()


# -- the local service ------------------------------------------------------------------------------------
def test_service_binds_loopback_by_default(tmp_path: Path) -> None:
    with LocalVod(data_dir=tmp_path / "d") as s:
        assert s.host == "127.0.0.1"
        import psutil

        addrs = {c.laddr.ip for c in psutil.Process().net_connections("tcp")
                 if c.status == "LISTEN" and c.laddr.port == s.port}
        assert addrs == {"127.0.0.1"}
    from vodwidget.local.__main__ import build_parser

    assert build_parser().parse_args([]).host == "127.0.0.1"


def _b64json(s: str) -> dict:
    return json.loads(base64.b64decode(s))


def test_service_refuses_unsigned_and_badly_signed_requests(svc, tmp_path: Path) -> None:
    # VOD API without a signature, and with a wrong one.
    r = requests.post(svc.vod_endpoint + "/", params={"Action": "CreateUploadVideo", "Title": "t",
                                                      "FileName": "a.mp4"}, timeout=10)
    assert r.status_code in (400, 403) and r.json()["Code"].startswith(("MissingParameter", "Missing", "Invalid"))
    from vodwidget.openapi import VodApiClient

    client = VodApiClient(svc.access_key_id, "wrong-secret-xyz", endpoint=svc.vod_endpoint)
    with pytest.raises(VodUploadError) as exc:
        client.call("CreateUploadVideo", {"Title": "t", "FileName": "a.mp4"})
    assert exc.value.code == "SignatureDoesNotMatch"
    # OSS: an anonymous PUT and a PUT signed with the wrong secret.
    r = requests.put(f"{svc.oss_endpoint}/{svc.bucket}/anon/x.mp4", data=b"x", timeout=10)
    assert r.status_code == 403
    bad = oss2.Bucket(oss2.Auth(svc.access_key_id, "wrong-secret-xyz"), svc.oss_endpoint, svc.bucket)
    with pytest.raises(oss2.exceptions.ServerError) as oss_exc:
        bad.put_object("bad/x.mp4", b"x")
    assert oss_exc.value.status == 403 and oss_exc.value.code == "SignatureDoesNotMatch"
    root = oss2.Bucket(oss2.Auth(svc.access_key_id, svc.access_key_secret), svc.oss_endpoint, svc.bucket)
    assert not root.object_exists("anon/x.mp4") and not root.object_exists("bad/x.mp4")


def test_service_refuses_expired_tokens_and_keys_outside_their_scope(svc) -> None:
    provider = local_credentials(svc)
    ticket = provider.create_video({"Title": "t", "FileName": "a.mp4"})
    tok, addr = ticket.token, ticket.address
    bucket = oss2.Bucket(oss2.StsAuth(tok.access_key_id, tok.access_key_secret, tok.security_token),
                         addr.endpoint, addr.bucket)
    bucket.put_object(addr.object, b"inside scope")  # allowed: the one object it was issued for
    for key in ("sv/someone-else/x.mp4", addr.object + ".extra", "image/default/x.png"):
        with pytest.raises(oss2.exceptions.ServerError) as exc:
            bucket.put_object(key, b"outside")
        assert exc.value.status == 403, key
    # A token past its lifetime.
    svc.token_ttl = 0.5
    short = provider.create_video({"Title": "t2", "FileName": "b.mp4"})
    time.sleep(1.0)
    t2 = short.token
    expired = oss2.Bucket(oss2.StsAuth(t2.access_key_id, t2.access_key_secret, t2.security_token),
                          short.address.endpoint, short.address.bucket)
    with pytest.raises(oss2.exceptions.ServerError) as exc:
        expired.put_object(short.address.object, b"late")
    assert exc.value.status == 403 and exc.value.code == "SecurityTokenExpired"


@pytest.mark.parametrize("key", ["../escape.mp4", "a/../../escape.mp4", "/abs/escape.mp4", "..%2Fescape.mp4",
                                 "a/./../../../escape.mp4"])
def test_service_keeps_objects_inside_its_data_dir(svc, tmp_path: Path, key: str) -> None:
    root = oss2.Bucket(oss2.Auth(svc.access_key_id, svc.access_key_secret), svc.oss_endpoint, svc.bucket)
    before = {p for p in tmp_path.rglob("*")}
    try:
        root.put_object(key, b"escape attempt")
    except oss2.exceptions.OssError:
        pass  # refused: fine
    except ValueError:
        pass  # refused by oss2 itself before sending: fine
    new = {p for p in tmp_path.rglob("*")} - before
    data_dir = Path(svc.data_dir).resolve()
    outside = [p for p in new if not p.resolve().is_relative_to(data_dir)]
    assert not outside, outside
    assert not list(tmp_path.parent.glob("escape.mp4")) and not (tmp_path / "escape.mp4").exists()
