"""Keep secrets out of logs, reprs, exceptions and CLI output.

Secrets (AccessKeySecret, SecurityToken, UploadAuth) are registered the moment vodwidget sees them;
:func:`redact` then replaces every registered value, plus anything shaped like a known secret field,
with ``***``. A :class:`logging.Filter` applies it to the ``vodwidget`` loggers.

>>> register_secret("s3cr3t-value-123")
>>> redact("key=s3cr3t-value-123")
'key=***'
"""

from __future__ import annotations

import logging
import re
import threading

__all__ = ["register_secret", "redact", "RedactingFilter", "get_logger"]

_lock = threading.Lock()
# Insertion-ordered, so the oldest go first when the cap is reached (a long-lived kernel that
# uploads many thousands of files would otherwise grow this without bound).
_secrets: dict[str, None] = {}
_MAX_SECRETS = 50_000
_pattern: re.Pattern[str] | None = None
_dirty = False

# Field-shaped secrets, in JSON, query strings, headers and reprs: the value is replaced, the name kept.
_FIELD = re.compile(
    r"(?P<name>AccessKeySecret|access_key_secret|SecurityToken|security_token|SecretToken|"
    r"UploadAuth|upload_auth|x-oss-security-token|Signature)"
    r"(?P<sep>[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\"'&\s,}]+)",
    re.IGNORECASE,
)

# Values shorter than this are too likely to collide with ordinary text ("a", "1") to redact blindly.
_MIN_LEN = 8


def register_secret(value: str | None) -> None:
    """Remember ``value`` so that :func:`redact` hides it from now on (cheap: no regex work here)."""
    global _dirty
    if not value or len(value) < _MIN_LEN:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets[value] = None
        if len(_secrets) > _MAX_SECRETS:
            del _secrets[next(iter(_secrets))]
        _dirty = True


def _current_pattern() -> re.Pattern[str] | None:
    # Compiled lazily: every upload registers new secrets, but redaction is rare (log records that
    # are actually emitted, error messages), so compiling on each registration was the hot path.
    global _pattern, _dirty
    with _lock:
        if _dirty:
            # Longest first, so a secret that contains another is hidden whole.
            alts = sorted(_secrets, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(s) for s in alts)) if alts else None
            _dirty = False
        return _pattern


def redact(text: str) -> str:
    """Return ``text`` with every known secret replaced by ``***``."""
    if not text:
        return text
    pattern = _current_pattern()
    if pattern is not None:
        text = pattern.sub("***", text)
    return _FIELD.sub(lambda m: f"{m.group('name')}{m.group('sep')}***", text)


class RedactingFilter(logging.Filter):
    """Logging filter that redacts the formatted message (args included) in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not hide the record
            return True
        record.msg = redact(message)
        record.args = ()
        return True


def get_logger(name: str) -> logging.Logger:
    """A logger whose records are redacted (logger filters are not inherited, so each gets one)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger
