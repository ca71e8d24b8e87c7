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
