"""Credential providers: decoding, pickling for executor workers, play URLs, environment keys."""

from __future__ import annotations

import asyncio
import base64
import json
import pickle

import pytest

from vodwidget import CredentialError, OpenApiCredentials, StsCredentials, VODUpload
from vodwidget.credentials import decode_upload_address, decode_upload_auth, sts_from_mapping
from vodwidget.local import LocalVod


def b64(obj) -> str:
    return base64.b64encode(json.dumps(obj).encode()).decode()


def test_decode_upload_auth_and_address():
    token = decode_upload_auth(b64({"AccessKeyId": "STS.a", "AccessKeySecret": "sec-ret-1234",
                                    "SecurityToken": "tok-en-5678", "Expiration": "3600"}))
    assert token.access_key_id == "STS.a" and token.expiration is not None
    assert "sec-ret-1234" not in repr(token) and "tok-en-5678" not in repr(token)
    addr = decode_upload_address(b64({"Endpoint": "http://x", "Bucket": "b", "FileName": "sv/1.mp4"}))
    assert (addr.endpoint, addr.bucket, addr.object) == ("http://x", "b", "sv/1.mp4")
    with pytest.raises(CredentialError, match="lacks AccessKeySecret"):
        decode_upload_auth(b64({"AccessKeyId": "x", "SecurityToken": "y"}))
    with pytest.raises(CredentialError, match="not base64-encoded JSON"):
        decode_upload_address("%%%")


def test_sts_answer_shapes():
    app = {"SecurityTokenInfo": {"AccessKeyId": "STS.1", "AccessKeySecret": "s" * 10, "SecretToken": "t" * 10,
                                 "Expiration": "2030-01-01T00:00:00Z"}}
    assert sts_from_mapping(app).security_token == "t" * 10
    plain = {"AccessKeyId": "STS.2", "AccessKeySecret": "s" * 10, "SecurityToken": "u" * 10}
    assert sts_from_mapping(plain).security_token == "u" * 10
    with pytest.raises(CredentialError):
        sts_from_mapping({"AccessKeyId": "x"})


@pytest.mark.parametrize("mode", ["openapi", "appserver", "sts"])
def test_providers_pickle_and_work_after(local_vod, make_media, mode):
    creds = pickle.loads(pickle.dumps(local_vod.credentials(mode)))
    up = VODUpload(credentials=creds, resume_store=False)
    info = up.add_file(make_media(f"pickled-{mode}.mp4"))
    up.start_upload()
    assert info.state == "Success"
    url = creds.play_url(info.video_id)
    assert url and url.startswith(local_vod.oss_endpoint)


def test_from_env_reads_the_standard_variables(local_vod, monkeypatch, make_media):
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", local_vod.access_key_id)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", local_vod.access_key_secret)
    monkeypatch.delenv("ALIBABA_CLOUD_SECURITY_TOKEN", raising=False)
    creds = OpenApiCredentials.from_env(endpoint=local_vod.vod_endpoint)
    up = VODUpload(credentials=creds, resume_store=False)
    info = up.add_file(make_media("env-creds.png"))
    up.start_upload()
    assert info.state == "Success"
    sts = local_vod.issue_sts()
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", sts["AccessKeyId"])
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", sts["AccessKeySecret"])
    monkeypatch.setenv("ALIBABA_CLOUD_SECURITY_TOKEN", sts["SecurityToken"])
    up = VODUpload(credentials=OpenApiCredentials.from_env(endpoint=local_vod.vod_endpoint), resume_store=False)
    info = up.add_file(make_media("env-sts.png"))
    up.start_upload()
    assert info.state == "Success"


def test_sts_credentials_refetch_when_expired(local_vod, make_media):
    fetched = []

    def source():
        fetched.append(1)
        return local_vod.issue_sts()

    old = local_vod.token_ttl
    local_vod.token_ttl = 1.0
    try:
        creds = StsCredentials(source=source, endpoint=local_vod.vod_endpoint)
        up = VODUpload(credentials=creds, resume_store=False)
        up.add_file(make_media("refetch-1.png"))
        up.start_upload()
        import time
        time.sleep(1.2)
        up.add_file(make_media("refetch-2.png"))
        files = up.start_upload()
    finally:
        local_vod.token_ttl = old
    assert [f.state for f in files] == ["Success", "Success"]
    assert len(fetched) >= 2


def test_local_service_stops_from_inside_a_running_event_loop(tmp_path):
    """A Jupyter kernel runs an event loop on the thread that calls stop()."""
    svc = LocalVod(data_dir=tmp_path, port=0).start()

    async def inside_a_loop():
        svc.stop()

    asyncio.run(inside_a_loop())
    again = LocalVod(data_dir=tmp_path, port=0).start()  # the data dir is free to reuse
    again.stop()
