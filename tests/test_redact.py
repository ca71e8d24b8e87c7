"""Redaction of secrets in logs, messages and reprs."""

from __future__ import annotations

import logging

from vodwidget.errors import CredentialError
from vodwidget.redact import get_logger, redact, register_secret


def test_registered_secret_is_hidden_everywhere(caplog):
    register_secret("zz-secret-value-000111")
    assert redact("a zz-secret-value-000111 b") == "a *** b"
    err = CredentialError("key zz-secret-value-000111 rejected")
    assert "zz-secret-value-000111" not in str(err) and "***" in err.message
    log = get_logger("vodwidget.test")
    with caplog.at_level(logging.INFO, logger="vodwidget.test"):
        log.info("token=%s", "zz-secret-value-000111")
    assert "zz-secret-value-000111" not in caplog.text


def test_field_shaped_secrets_are_hidden_even_if_unregistered():
    text = '{"AccessKeySecret": "abcd1234efgh", "SecurityToken": "tok-xyz-123456", "Title": "ok"}'
    out = redact(text)
    assert "abcd1234efgh" not in out and "tok-xyz-123456" not in out and '"Title": "ok"' in out
    assert "x-oss-security-token: ***" in redact("x-oss-security-token: CAISabcdefgh12345")


def test_short_values_are_not_redacted_blindly():
    register_secret("abc")
    assert redact("abc def") == "abc def"


def test_many_secrets_stay_cheap():
    import time

    t = time.perf_counter()
    for i in range(5000):
        register_secret(f"bulk-secret-{i:06d}-padding-padding")
    assert time.perf_counter() - t < 1.0
    assert redact("x bulk-secret-004999-padding-padding y") == "x *** y"
