"""The tutorial notebooks run top to bottom, headless, on the venv's kernel, and do what they say.

Each notebook starts its own local service in a temp dir and, last, writes a small JSON summary
to ``$VODWIDGET_NB_SUMMARY``; the checks below reopen that service's data and ask it (GetVideoInfo,
GetImageInfo) whether the uploads are really there, and search the executed notebook for every
key the service ever issued.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest

from vodwidget.local import LocalVod
from vodwidget.openapi import VodApiClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
NAMES = ["01-quickstart", "02-credentials", "03-batch-curation", "04-scale-out"]

# Shapes of keys that must never be written into a notebook's source.
_KEY_SHAPES = [
    re.compile(r"LTAI[0-9A-Za-z]{12,}"),                                    # AccessKeyId
    re.compile(r"STS\.[0-9A-Za-z]{12,}"),                                   # STS AccessKeyId
    re.compile(r"CAIS[0-9A-Za-z_-]{20,}"),                                  # SecurityToken
    re.compile(r"eyJBY2Nlc3NLZXlJZCI"),                                     # base64 '{"AccessKeyId"' (UploadAuth)
    re.compile(r"""(?i)access_?key_?secret["']?\s*[:=]\s*["'][^"']{8,}"""),  # secret = "literal"
]


def test_the_four_tutorials_are_there() -> None:
    assert [p.stem for p in NOTEBOOKS] == NAMES


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_is_clean(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: outputs not cleared"
        assert "widgets" not in cell.metadata
    assert "widgets" not in nb.metadata  # no saved widget state
    source = "\n".join(c.source for c in nb.cells)
    for shape in _KEY_SHAPES:
        assert not shape.search(source), f"{path.name} contains something shaped like a key: {shape.pattern}"


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A kernelspec that runs this interpreter (the venv's), found first via JUPYTER_PATH."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (vodwidget venv)", "language": "python"}))
    return {
        "JUPYTER_PATH": os.pathsep.join([str(root), os.environ.get("JUPYTER_PATH", "")]).rstrip(os.pathsep),
        # The kernel and dask's worker processes import vodwidget from this checkout.
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }


def _execute(name: str, tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    from nbclient import NotebookClient

    nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
    probe = nbformat.v4.new_code_cell("import json as _j, sys as _s\n"
                                      "print(_j.dumps({'executable': _s.executable, 'prefix': _s.prefix}))")
    nb.cells.insert(0, probe)
    summary_path = tmp_path / "summary.json"
    for key, value in {**env, "VODWIDGET_NB_SUMMARY": str(summary_path)}.items():
        monkeypatch.setenv(key, value)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    client.execute()

    kernel = json.loads(nb.cells[0].outputs[0]["text"])
    assert kernel == {"executable": sys.executable, "prefix": sys.prefix}, "the notebook ran on another Python"
    return nb, json.loads(summary_path.read_text())


def _check_service(summary: dict, nb) -> None:
    """Reopen the notebook's (stopped) service: every id is there and uploaded; no key leaked."""
    data_dir = Path(summary["data_dir"])
    with LocalVod(data_dir=data_dir, port=0) as svc:
        api = VodApiClient(svc.access_key_id, svc.access_key_secret, endpoint=svc.vod_endpoint)
        for row in summary["rows"]:
            if row.get("video_id"):
                assert api.call("GetVideoInfo", {"VideoId": row["video_id"]})["Video"]["Status"] == "Normal"
            if row.get("image_id"):
                assert api.call("GetImageInfo", {"ImageId": row["image_id"]})["ImageInfo"]["Status"] == "Normal"
        issued = [svc.access_key_secret, svc.media_key]
        for r in svc.store.query("SELECT secret, token FROM creds"):
            issued += [r["secret"], r["token"]]
    text = nbformat.writes(nb)
    leaked = [s for s in issued if s and s in text]
    assert not leaked, f"{len(leaked)} secret(s) in the executed notebook"
    outputs = json.dumps([c.get("outputs", []) for c in nb.cells])
    for shape in _KEY_SHAPES[2:]:
        assert not shape.search(outputs), shape.pattern


@pytest.mark.slow
def test_01_quickstart(tmp_path: Path, kernel_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    nb, summary = _execute("01-quickstart", tmp_path, kernel_env, monkeypatch)
    rows = summary["rows"]
    assert sorted(r["kind"] for r in rows) == ["image", "video", "video"]
    assert all(r["state"] == "Success" for r in rows)
    assert all(r["play_url"] for r in rows if r["kind"] == "video")
    assert summary["scripted"] == {**summary["scripted"], "state": "Success", "title": "Quickstart clip"}
    summary["rows"].append({"video_id": summary["scripted"]["video_id"]})
    _check_service(summary, nb)
    # The panel rendered as a widget in the output (what a person sees in JupyterLab).
    mimes = {m for c in nb.cells for o in c.get("outputs", []) for m in o.get("data", {})}
    assert "application/vnd.jupyter.widget-view+json" in mimes


@pytest.mark.slow
def test_02_credentials(tmp_path: Path, kernel_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    nb, summary = _execute("02-credentials", tmp_path, kernel_env, monkeypatch)
    rows = summary["rows"]
    assert {r["flow"] for r in rows} == {"appserver", "sts", "accesskey"}
    assert all(r["state"] == "Success" for r in rows), rows
    assert len({r["video_id"] or r["image_id"] for r in rows}) == len(rows)  # one media each, no reuse
    assert summary["expired_calls"] >= 1  # the token expired mid-upload and the callback answered
    assert summary["long_clip"]["state"] == "Success"
    _check_service(summary, nb)


@pytest.mark.slow
def test_03_batch_curation(tmp_path: Path, kernel_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    nb, summary = _execute("03-batch-curation", tmp_path, kernel_env, monkeypatch)
    rows = summary["rows"]
    assert len(rows) == 12 and all(r["state"] == "Success" for r in rows)
    [bad] = summary["first_run_failures"]
    assert bad["path"].endswith("shot-2.mp4") and bad["error_code"] == "InvalidUserData"
    assert summary["second_run_created"] == ["CreateUploadVideo"]  # only the fixed row
    assert summary["third_run_requests"] == 0
    assert summary["saved_states"] == ["Success"] * 12
    assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))  # the plot
    _check_service(summary, nb)


@pytest.mark.slow
def test_04_scale_out(tmp_path: Path, kernel_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    nb, summary = _execute("04-scale-out", tmp_path, kernel_env, monkeypatch)
    rows = summary["rows"]
    assert len(rows) == 36 and all(r["state"] == "Success" for r in rows)
    assert summary["workers"] == 2
    assert summary["rerun_requests"] == 0
    _check_service(summary, nb)
