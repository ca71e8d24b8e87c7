"""End to end in a real browser: JupyterLab 4 + headless Chromium (Playwright) + the local service.

The notebook (written here) starts a LocalVod in the kernel and displays an UploadPanel. The test
clicks a video and an image in the picker, presses Start, waits for the result links, fetches the
play link and the image URL, saves the notebook (widget state included) and checks that no secret
reached the file. Screenshots go to ``artifacts/`` at the repository root.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import requests

from vodwidget.openapi import VodApiClient
from vodwidget.samples import make_sample_image, make_sample_video

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = shutil.which("chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
KERNEL = "vodwidget-test"

NOTEBOOK_CODE = """\
import sys
print("KERNEL_PY=" + sys.executable)
from vodwidget.local import LocalVod
from vodwidget.widgets import UploadPanel
svc = LocalVod(data_dir={data_dir!r}, port=0).start()
# Slow the OSS side a little so the screenshot can catch the upload in flight.
svc.set_faults("slow=1,delay=0.25,scope=oss")
panel = UploadPanel(credentials=svc, root={root!r}, part_size=100 * 1024, parallel=1)
panel"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _require_chromium() -> str:
    if CHROMIUM:
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed, and CI is set: the browser test must run in CI")
    pytest.skip("chromium is not installed (apt-get install chromium)")


@pytest.fixture
def lab(tmp_path: Path):
    """A JupyterLab server on a free port, rooted at tmp_path, with the venv's kernel."""
    _require_chromium()
    root = tmp_path
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--prefix", str(root / "kernel"),
                    "--name", KERNEL, "--display-name", "vodwidget test"], check=True, capture_output=True)
    settings = root / "settings"
    (settings / "@jupyter-widgets" / "jupyterlab-manager").mkdir(parents=True)
    # Save widget state with the notebook, so the saved file shows everything the front end held.
    (settings / "@jupyter-widgets" / "jupyterlab-manager" / "plugin.jupyterlab-settings").write_text(
        json.dumps({"saveState": True}))
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = {**os.environ, "JUPYTER_PATH": str(root / "kernel" / "share" / "jupyter"),
           "JUPYTER_CONFIG_DIR": str(root / "config"), "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
           "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(var, None)
    port = _free_port()
    log = open(root / "lab.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         "--IdentityProvider.token=", "--ServerApp.password=", "--allow-root", f"--ServerApp.root_dir={root}",
         "--ServerApp.disable_check_xsrf=True", f"--LabApp.user_settings_dir={settings}",
         f"--LabApp.workspaces_dir={root / 'workspaces'}", "--ServerApp.port_retries=0"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise AssertionError("JupyterLab exited:\n" + (root / "lab.log").read_text()[-3000:])
            try:
                if requests.get(f"{base}/api/status", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("JupyterLab did not answer /api/status in 90 s")
            time.sleep(0.3)
        specs = requests.get(f"{base}/api/kernelspecs", timeout=5).json()["kernelspecs"]
        assert specs[KERNEL]["spec"]["argv"][0] == sys.executable
        yield base, root
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def _button(scope, name: str):
    """A widget button by its exact label (icons and tooltips make role names unreliable)."""
    return scope.locator("button", has_text=re.compile(rf"^\s*{re.escape(name)}\s*$"))


def _secrets(data_dir: Path) -> list[str]:
    ident = json.loads((data_dir / "credentials.json").read_text())
    found = [ident["access_key_secret"], ident["media_key"]]
    db = sqlite3.connect(f"file:{data_dir / 'meta.sqlite3'}?mode=ro", uri=True)
    try:
        for secret, token in db.execute("SELECT secret, token FROM creds"):
            found += [secret, token]
    finally:
        db.close()
    return [s for s in found if s]


def test_upload_panel_in_jupyterlab(lab) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, root = lab
    media = root / "media"
    video = make_sample_video(media / "holiday.mp4", seconds=6, width=640, height=480)
    image = make_sample_image(media / "cover.png", width=320, height=240)
    data_dir = root / "svc"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(NOTEBOOK_CODE.format(data_dir=str(data_dir), root=str(media)))]
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "vodwidget test", "language": "python"}
    nb_path = root / "panel.ipynb"
    nbformat.write(nb, nb_path)
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            page.goto(f"{base}/lab/tree/panel.ipynb")
            page.locator(".jp-Notebook").wait_for(timeout=60_000)
            # JupyterLab may still ask which kernel to use; answer with ours.
            dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
            try:
                dialog.wait_for(timeout=8_000)
            except Exception:  # no dialog: the notebook's kernelspec was taken as is
                pass
            else:
                dialog.locator("select").select_option(label="vodwidget test")
                dialog.get_by_role("button", name="Select", exact=True).click()
            expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(
                1, timeout=60_000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            out = page.locator(".jp-OutputArea-output")
            panel = out.locator(".vodwidget-panel")
            panel.wait_for(timeout=60_000)
            printed = out.filter(has_text="KERNEL_PY=").inner_text()
            assert printed.strip().split("KERNEL_PY=")[1].splitlines()[0] == sys.executable

            files = panel.locator("select[multiple]")
            expect(files.locator("option")).to_have_count(2)
            page.screenshot(path=str(ARTIFACTS / "browser-1-start.png"), full_page=True)
            files.locator("option", has_text="holiday.mp4").click()
            files.locator("option", has_text="cover.png").click(modifiers=["Control"])
            expect(panel.get_by_text("2 selected")).to_be_visible()
            panel.get_by_role("textbox", name="Tags").fill("beach,browser")
            _button(panel, "Add to queue").click()
            expect(panel.locator(".vodwidget-row")).to_have_count(2)
            _button(panel, "Start").click()
            expect(panel.locator(".vodwidget-state", has_text="Uploading").first).to_be_visible(timeout=30_000)
            page.wait_for_timeout(700)
            page.screenshot(path=str(ARTIFACTS / "browser-2-uploading.png"), full_page=True)

            play = panel.locator("a.vodwidget-play")
            image_link = panel.locator("a.vodwidget-image-url")
            expect(play).to_have_count(1, timeout=60_000)
            expect(image_link).to_have_count(1, timeout=60_000)
            expect(panel.locator(".vodwidget-summary", has_text="2 files: Success 2")).to_be_visible()
            panel.locator(".vodwidget-row").last.scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            page.screenshot(path=str(ARTIFACTS / "browser-3-done.png"), full_page=True)
            video_id = panel.locator("code.vodwidget-video-id").inner_text().strip()
            play_url = play.get_attribute("href")
            image_url = image_link.get_attribute("href")

            # The links serve exactly the files that were picked.
            got = requests.get(play_url, timeout=10)
            assert got.status_code == 200 and got.content == video.read_bytes()
            got = requests.get(image_url, timeout=10)
            assert got.status_code == 200 and got.content == image.read_bytes()
            # The videoId shown is the service's video, with the form's tags.
            ident = json.loads((data_dir / "credentials.json").read_text())
            endpoint = re.match(r"https?://[^/]+", play_url).group(0)
            info = VodApiClient(ident["access_key_id"], ident["access_key_secret"], endpoint=endpoint).call(
                "GetVideoInfo", {"VideoId": video_id})["Video"]
            assert (info["Title"], info["Tags"]) == ("holiday", "beach,browser")

            before = nb_path.stat().st_mtime_ns
            page.locator(".jp-Notebook").click()
            page.keyboard.press("Control+s")
            deadline = time.monotonic() + 20
            while nb_path.stat().st_mtime_ns == before and time.monotonic() < deadline:
                time.sleep(0.2)
            assert nb_path.stat().st_mtime_ns != before, "the notebook was not saved"
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "browser-failure.png"), full_page=True)
            raise
        finally:
            browser.close()

    saved = nb_path.read_text()
    assert "application/vnd.jupyter.widget-state+json" in saved   # widget state was saved too
    assert video_id in saved and "holiday.mp4" in saved
    secrets = _secrets(data_dir)
    assert len(secrets) >= 4
    for secret in secrets:
        assert secret not in saved
    for word in ("AccessKeySecret", "SecurityToken", "UploadAuth"):
        assert word not in saved
