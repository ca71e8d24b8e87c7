"""Session fixtures: one real local VOD + OSS service over HTTP for the whole test run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Tests talk to 127.0.0.1 only; a proxy from the environment would swallow that traffic.
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_var, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


@pytest.fixture(scope="session", autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the per-user resume store out of the real home directory during tests."""
    os.environ["VODWIDGET_RESUME_DIR"] = str(tmp_path_factory.mktemp("resume-store"))


@pytest.fixture(scope="session")
def local_vod(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """The embedded local service, started once per session on a free port."""
    from vodwidget.local import LocalVod

    data_dir = tmp_path_factory.mktemp("local-vod")
    with LocalVod(data_dir=data_dir, port=0) as svc:
        yield svc


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    d = tmp_path / "media"
    d.mkdir()
    return d


# -- helpers for the local service tests (real HTTP, unmodified Alibaba clients) -------------------
def _vod_call(svc, action: str, params: dict | None = None, *, client=None, method: str | None = None) -> dict:
    """Call a VOD action through aliyunsdkcore + aliyunsdkvod against ``svc``; return the JSON."""
    import importlib
    import json

    from aliyunsdkcore.client import AcsClient

    module = importlib.import_module(f"aliyunsdkvod.request.v20170321.{action}Request")
    request = getattr(module, f"{action}Request")()
    request.set_endpoint(svc.vod_endpoint.split("://", 1)[1])
    request.set_protocol_type("http")
    if method:
        request.set_method(method)
    for name, value in (params or {}).items():
        getattr(request, f"set_{name}")(value)
    client = client or AcsClient(svc.access_key_id, svc.access_key_secret, "cn-shanghai")
    return json.loads(client.do_action_with_exception(request))


@pytest.fixture(scope="session")
def vod_call():
    """``vod_call(svc, "CreateUploadVideo", {"Title": ..., "FileName": ...})`` via the real SDK."""
    return _vod_call


def _decode_upload(resp: dict) -> tuple[dict, dict]:
    import base64
    import json

    address = json.loads(base64.b64decode(resp["UploadAddress"]))
    auth = json.loads(base64.b64decode(resp["UploadAuth"]))
    return address, auth


@pytest.fixture(scope="session")
def upload_bucket():
    """``upload_bucket(resp)`` -> (oss2.Bucket with the UploadAuth's STS key, object key)."""
    import oss2

    def make(resp: dict, endpoint: str | None = None):
        address, auth = _decode_upload(resp)
        sts = oss2.StsAuth(auth["AccessKeyId"], auth["AccessKeySecret"], auth["SecurityToken"])
        return oss2.Bucket(sts, endpoint or address["Endpoint"], address["Bucket"], enable_crc=True), address["FileName"]

    return make


@pytest.fixture(scope="session")
def root_bucket():
    """``root_bucket(svc)`` -> oss2.Bucket signed with the service's root key."""
    import oss2

    def make(svc):
        return oss2.Bucket(oss2.Auth(svc.access_key_id, svc.access_key_secret), svc.oss_endpoint, svc.bucket)

    return make


# -- helpers for the uploader tests --------------------------------------------------------------
@pytest.fixture(scope="session")
def make_media(tmp_path_factory: pytest.TempPathFactory):
    """``make_media(name, size=None)``: a real small video/image by extension, or ``size`` random
    bytes behind a real MP4 header (big files are random so they don't compress or dedupe)."""
    from vodwidget.samples import make_sample_image, make_sample_video

    root = tmp_path_factory.mktemp("made-media")
    counter = iter(range(1_000_000))

    def make(name: str, size: int | None = None, folder: Path | None = None) -> Path:
        path = (folder or root) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        label = next(counter)
        if size is None:
            if path.suffix.lower() == ".png":
                return make_sample_image(path, label=label)
            return make_sample_video(path, seconds=0.4, width=96, height=64, label=label)
        with open(path, "wb") as f:
            f.write(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom")
            left = size - 24
            while left > 0:
                chunk = os.urandom(min(left, 1 << 20))
                f.write(chunk)
                left -= len(chunk)
        return path

    return make


@pytest.fixture
def object_md5(root_bucket):
    """``object_md5(svc, key)``: MD5 hex of an object as the service stores it (read with oss2)."""
    import hashlib

    def md5(svc, key: str) -> str:
        h = hashlib.md5()
        for chunk in root_bucket(svc).get_object(key):
            h.update(chunk)
        return h.hexdigest()

    return md5


def file_md5(path) -> str:
    import hashlib

    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
