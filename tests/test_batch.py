"""vodwidget.batch in-process and on a thread pool, against a real local service over HTTP."""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from vodwidget.batch import RESULT_COLUMNS, read_manifest, upload_manifest
from vodwidget.errors import InvalidInputError
from vodwidget.local import LocalVod
from vodwidget.local.attach import local_credentials
from vodwidget.samples import make_sample_image, make_sample_video

REPO = Path(__file__).resolve().parents[1]
# Requests that mean "something was uploaded or created".
UPLOAD_OPS = {"CreateUploadVideo", "CreateUploadImage", "RefreshUploadVideo", "PutObject",
              "InitiateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
              "app:create-upload-video", "app:create-upload-image", "app:refresh-upload-video"}


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory):
    # A service of our own: request_log counts and faults must not mix with other modules' tests.
    with LocalVod(data_dir=tmp_path_factory.mktemp("batch-vod"), port=0) as s:
        yield s


@pytest.fixture
def creds(svc):
    return local_credentials(svc, "openapi")


def _uploads(svc) -> list[str]:
    return [e.op for e in svc.request_log if e.op in UPLOAD_OPS]


def _media(d: Path, videos: int, images: int) -> list[Path]:
    out = [make_sample_video(d / f"clip-{i}.mp4", seconds=0.2, width=64, height=48, label=i) for i in range(videos)]
    out += [make_sample_image(d / f"still-{i}.png", 48, 32, label=i) for i in range(images)]
    return out


def test_csv_manifest_relative_paths_and_metadata(svc, creds, media_dir: Path) -> None:
    video, image = _media(media_dir, 1, 1)
    manifest = media_dir / "manifest.csv"
    manifest.write_text("path,title,cate_id,tags,description,user_data\n"
                        f"{video.name},Sea clip,17,\"sea,blue\",A clip,\n"
                        f"{image.name},,,,,\"{{\"\"Vod\"\": {{\"\"Title\"\": \"\"Still life\"\"}}}}\"\n")
    table = upload_manifest(manifest, credentials=creds, progress=False)

    assert list(table.columns) == list(RESULT_COLUMNS)
    assert table["state"].tolist() == ["Success", "Success"]
    assert table["path"].tolist() == [str(video), str(image)]  # resolved against the CSV's folder
    assert table["bytes"].tolist() == [video.stat().st_size, image.stat().st_size]
    v = svc.video(table.loc[0, "video_id"])
    assert (v["Title"], str(v["CateId"]), v["Tags"], v["Description"], v["Status"]) == \
        ("Sea clip", "17", "sea,blue", "A clip", "Normal")
    img = svc.image(table.loc[1, "image_id"])
    assert img["Title"] == "Still life" and img["Status"] == "Normal"
    assert table.loc[1, "image_url"].startswith(svc.base_url)


def test_bad_rows_fail_alone_with_clear_messages(svc, creds, media_dir: Path) -> None:
    good = _media(media_dir, 1, 2)
    text = media_dir / "notes.txt"
    text.write_text("not media")
    frame = pd.DataFrame({
        "path": [str(good[0]), str(media_dir / "gone.mp4"), str(good[1]), str(good[2]), str(text), None],
        "user_data": [None, None, "{not json", '{"Title": "no Vod level"}', None, None],
    })
    table = upload_manifest(frame, credentials=creds, progress=False, max_concurrent_files=2)

    assert table["state"].tolist() == ["Success", "Failure", "Failure", "Failure", "Failure", "Failure"]
    assert svc.video(table.loc[0, "video_id"])["Status"] == "Normal"
    codes = table["error_code"].tolist()
    assert codes[1:] == ["FileNotFound", "InvalidUserData", "InvalidUserData", "UnsupportedFileType", "MissingPath"]
    messages = table["error_message"].tolist()
    assert "gone.mp4: no such file" in messages[1]
    assert "not valid JSON" in messages[2]
    assert 'first level of userData must be "Vod"' in messages[3]
    assert "unsupported file type" in messages[4]
    assert "no path" in messages[5]


def test_duplicate_path_fails_its_second_row(creds, media_dir: Path) -> None:
    [image] = _media(media_dir, 0, 1)
    table = upload_manifest(pd.DataFrame({"path": [str(image), str(image)]}), credentials=creds, progress=False)
    assert table["state"].tolist() == ["Success", "Failure"]
    assert table.loc[1, "error_code"] == "DuplicateRow"


def test_manifest_level_errors() -> None:
    with pytest.raises(InvalidInputError) as exc:
        read_manifest(pd.DataFrame({"file": ["a.mp4"]}))
    assert exc.value.code == "InvalidManifest" and "'path' column" in exc.value.message
    with pytest.raises(InvalidInputError) as exc:
        read_manifest(pd.DataFrame({"path": ["a.mp4"], "titel": ["typo"]}))
    assert "titel" in exc.value.message
    with pytest.raises(InvalidInputError) as exc:
        read_manifest("/nonexistent/manifest.csv")
    assert exc.value.code == "ManifestNotFound"
    # Ids keep their text form; a float column with gaps ("17.0") comes back as "17".
    m = read_manifest(pd.DataFrame({"path": ["/x/a.mp4", "/x/b.mp4"], "cate_id": [17.0, float("nan")]}))
    assert m["cate_id"].tolist() == ["17", None]


def test_results_file_makes_a_rerun_upload_nothing(svc, creds, media_dir: Path) -> None:
    paths = _media(media_dir, 2, 3)
    manifest = pd.DataFrame({"path": [str(p) for p in paths]})
    results = media_dir / "out" / "results.csv"
    first = upload_manifest(manifest, credentials=creds, results=results, progress=False)
    assert (first["state"] == "Success").all()
    saved = pd.read_csv(results)
    assert saved["video_id"].dropna().tolist() == first["video_id"].dropna().tolist()
    assert not list(results.parent.glob(".*.tmp"))  # the atomic write left no temp file

    svc.clear_log()
    again = upload_manifest(manifest, credentials=creds, results=results, progress=False)
    assert _uploads(svc) == []
    assert again["video_id"].tolist() == first["video_id"].tolist()
    assert again["image_url"].tolist() == first["image_url"].tolist()
    assert (again["state"] == "Success").all()


def test_rerun_retries_only_the_failures(svc, creds, media_dir: Path) -> None:
    paths = _media(media_dir, 1, 2)
    late = media_dir / "late.png"
    manifest = media_dir / "m.csv"
    pd.DataFrame({"path": [str(p) for p in paths] + [str(late)]}).to_csv(manifest, index=False)
    results = media_dir / "results.csv"
    first = upload_manifest(manifest, credentials=creds, results=results, progress=False)
    assert first["state"].tolist() == ["Success", "Success", "Success", "Failure"]
    assert first.loc[3, "error_code"] == "FileNotFound"

    make_sample_image(late, label=99)  # the fix: the missing file arrives
    svc.clear_log()
    second = upload_manifest(manifest, credentials=creds, results=results, progress=False)
    assert (second["state"] == "Success").all()
    assert sorted(_uploads(svc)) == ["CreateUploadImage", "PutObject"]  # the fixed row only
    assert second["video_id"].tolist()[:3] == first["video_id"].tolist()[:3]
    assert svc.image(second.loc[3, "image_id"])["Status"] == "Normal"
    on_disk = pd.read_csv(results)
    assert on_disk["state"].tolist() == ["Success"] * 4


def test_thread_pool_executor_in_chunks(svc, creds, media_dir: Path) -> None:
    paths = _media(media_dir, 2, 7)
    svc.clear_log()
    with cf.ThreadPoolExecutor(3) as pool:
        table = upload_manifest(pd.DataFrame({"path": [str(p) for p in paths]}), credentials=creds,
                                executor=pool, chunk_size=2, max_concurrent_files=2, progress=False)
    assert (table["state"] == "Success").all()
    assert table["path"].tolist() == [str(p) for p in paths]  # manifest order, whatever finished first
    ops = _uploads(svc)
    assert ops.count("CreateUploadVideo") == 2 and ops.count("CreateUploadImage") == 7


def test_providers_travel_to_process_workers(svc, media_dir: Path) -> None:
    [image] = _media(media_dir, 0, 1)
    with cf.ProcessPoolExecutor(1) as pool:
        table = upload_manifest(pd.DataFrame({"path": [str(image)]}), credentials=local_credentials(svc, "appserver"),
                                executor=pool, progress=False)
    assert table["state"].tolist() == ["Success"]


def test_unpicklable_credentials_get_a_clear_error_before_any_upload(svc, media_dir: Path) -> None:
    from vodwidget import StsCredentials

    [image] = _media(media_dir, 0, 1)
    svc.clear_log()
    creds = StsCredentials(source=lambda: svc.issue_sts(), endpoint=svc.vod_endpoint)  # a lambda can't travel
    with cf.ProcessPoolExecutor(1) as pool, pytest.raises(InvalidInputError) as exc:
        upload_manifest(pd.DataFrame({"path": [str(image)]}), credentials=creds, executor=pool, progress=False)
    assert exc.value.code == "CredentialsNotPicklable"
    assert "functools.partial" in exc.value.message
    assert _uploads(svc) == []


def test_credentials_that_cannot_be_built_fail_every_row_clearly(media_dir: Path) -> None:
    [image] = _media(media_dir, 0, 1)

    def broken():
        from vodwidget.credentials import OpenApiCredentials

        return OpenApiCredentials.from_env(endpoint="http://127.0.0.1:9")

    env = {k: os.environ.pop(k) for k in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET")
           if k in os.environ}
    try:
        table = upload_manifest(pd.DataFrame({"path": [str(image)]}), credentials=broken, progress=False)
    finally:
        os.environ.update(env)
    assert table.loc[0, "state"] == "Failure" and table.loc[0, "error_code"] == "MissingCredentials"


def test_no_secret_in_results(svc, media_dir: Path) -> None:
    paths = _media(media_dir, 1, 1)
    results = media_dir / "r.csv"
    table = upload_manifest(pd.DataFrame({"path": [str(p) for p in paths]}),
                            credentials=local_credentials(svc, "sts"), results=results, progress=False)
    assert (table["state"] == "Success").all()
    text = results.read_text() + table.to_csv()
    secrets = [svc.access_key_secret] + [r["secret"] for r in svc.store.query("SELECT secret FROM creds")] + \
        [r["token"] for r in svc.store.query("SELECT token FROM creds")]
    assert len(secrets) > 2
    assert not [s for s in secrets if s and s in text]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "vodwidget", "batch", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_cli_names_the_failing_row_then_succeeds_after_the_fix(svc, media_dir: Path) -> None:
    paths = _media(media_dir, 1, 1)
    manifest = media_dir / "batch.csv"
    manifest.write_text("path,title\n" + "".join(f"{p.name},T{i}\n" for i, p in enumerate(paths)) + "later.png,L\n")
    where = ["--app-server", svc.app_server, "--vod-endpoint", svc.vod_endpoint]

    first = _cli(str(manifest), "--results", "res.csv", *where, cwd=media_dir)
    assert first.returncode == 1, first.stderr
    assert "row 3 failed" in first.stderr and "later.png" in first.stderr and "FileNotFound" in first.stderr
    assert "3 rows: 1 Failure, 2 Success" in first.stdout

    make_sample_image(media_dir / "later.png", label=5)
    svc.clear_log()
    second = _cli(str(manifest), "--results", "res.csv", *where, cwd=media_dir)
    assert second.returncode == 0, second.stderr
    assert "3 rows: 3 Success" in second.stdout
    assert sorted(_uploads(svc)) == ["PutObject", "app:create-upload-image"]
    rows = pd.read_csv(media_dir / "res.csv")
    assert rows["state"].tolist() == ["Success"] * 3
    assert svc.video(rows.loc[0, "video_id"])["Title"] == "T0"
    out = first.stdout + first.stderr + second.stdout + second.stderr
    assert svc.access_key_secret not in out
    assert "SecurityToken" not in out and "CAIS" not in out
    assert json.dumps(rows.to_dict("records"))  # a plain table, no objects in it
