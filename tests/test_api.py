"""The public surface: pinned names, the core's independence from ipywidgets, runnable docstrings."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys

import pytest

import vodwidget

CORE_MODULES = ["vodwidget", "vodwidget.cli", "vodwidget.credentials", "vodwidget.errors", "vodwidget.media",
                "vodwidget.metadata", "vodwidget.models", "vodwidget.openapi", "vodwidget.progress",
                "vodwidget.redact", "vodwidget.resume", "vodwidget.samples", "vodwidget.script",
                "vodwidget.transfer", "vodwidget.uploader", "vodwidget.local", "vodwidget.local.attach"]


def test_public_names_are_pinned():
    assert sorted(vodwidget.__all__) == sorted([
        "VODUpload", "UploadRun", "UploadInfo", "AppServerCredentials", "OpenApiCredentials", "StsCredentials",
        "StsToken", "CredentialProvider", "ResumeStore", "build_user_data", "upload", "VodUploadError",
        "InvalidInputError", "CredentialError", "TokenExpiredError", "NetworkError", "ServiceError",
        "NotFoundError", "CanceledError", "__version__",
    ])
    for name in vodwidget.__all__:
        assert getattr(vodwidget, name) is not None


def test_the_core_never_imports_ipywidgets():
    code = ("import sys\n" + "".join(f"import {m}\n" for m in CORE_MODULES) +
            "import vodwidget.local.server, vodwidget.local.__main__\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('ipywidgets', 'IPython'))\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_error_tree():
    e = vodwidget.TokenExpiredError("x")
    assert isinstance(e, vodwidget.CredentialError) and isinstance(e, vodwidget.VodUploadError)
    assert vodwidget.NetworkError("x").retryable and not vodwidget.InvalidInputError("x").retryable
    assert isinstance(vodwidget.NotFoundError("x"), vodwidget.ServiceError)
    assert str(vodwidget.InvalidInputError("bad thing", "BadThing")) == "BadThing: bad thing"


WIDGET_MODULES = ["vodwidget.widgets", "vodwidget.widgets.fs", "vodwidget.widgets.form", "vodwidget.widgets.picker",
                  "vodwidget.widgets.queue", "vodwidget.widgets.panel", "vodwidget.widgets.thumbs",
                  "vodwidget.batch", "vodwidget.crc64"]


@pytest.mark.parametrize("module", CORE_MODULES + WIDGET_MODULES)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
