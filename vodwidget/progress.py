"""Progress arithmetic: bytes in, throttled (loaded, percent, speed, eta) out.

As in tqdm, the engine counts and a front end shows; this module sits between them and keeps the
front end calm: at most ``1 / interval`` updates per second per file (default 10), speed smoothed
with an exponential moving average so a burst or a stall does not make the ETA jump about.

>>> seen = []
>>> meter = ProgressMeter(100, seen.append, interval=0)
>>> meter.add(50); meter.add(50)
>>> seen[-1].loaded, seen[-1].percent
(100, 100.0)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ProgressMeter", "ProgressSnapshot"]


@dataclass(frozen=True)
class ProgressSnapshot:
    loaded: int
    total: int
    percent: float
    speed: float
    eta: float | None


class ProgressMeter:
    """Thread-safe byte counter that emits throttled :class:`ProgressSnapshot` values."""

    def __init__(self, total: int, emit: Callable[[ProgressSnapshot], None], *,
                 interval: float = 0.1, smoothing: float = 0.3, loaded: int = 0) -> None:
        self.total = max(0, int(total))
        self._emit = emit
        self._interval = interval
        self._alpha = smoothing
        self._lock = threading.Lock()
        self._loaded = loaded
        self._speed = 0.0
        now = time.monotonic()
        self._last_emit = float("-inf")
        self._last_t = now
        self._last_loaded = loaded

    @property
    def loaded(self) -> int:
        return self._loaded

    def add(self, nbytes: int) -> None:
        """Count ``nbytes`` more (negative to take back bytes of a part that must be re-sent)."""
        with self._lock:
            self._loaded = min(self.total, max(0, self._loaded + nbytes))
            snap = self._snapshot_if_due(force=self._loaded >= self.total)
        if snap is not None:
            self._emit(snap)

    def set(self, loaded: int) -> None:
        with self._lock:
            self._loaded = min(self.total, max(0, loaded))
            snap = self._snapshot_if_due(force=True)
        if snap is not None:
            self._emit(snap)

    def flush(self) -> None:
        """Emit the current state now (at the end of a run, or when it pauses)."""
        with self._lock:
            snap = self._snapshot_if_due(force=True)
        if snap is not None:
            self._emit(snap)

    def _snapshot_if_due(self, force: bool) -> ProgressSnapshot | None:
        now = time.monotonic()
        if not force and now - self._last_emit < self._interval:
            return None
        dt = now - self._last_t
        if dt > 0.05:
            # EMA of instantaneous rate, computed on >=50 ms windows so tiny windows don't spike it.
            rate = max(0.0, (self._loaded - self._last_loaded) / dt)
            self._speed = rate if self._speed == 0 else self._alpha * rate + (1 - self._alpha) * self._speed
            self._last_t, self._last_loaded = now, self._loaded
        self._last_emit = now
        remaining = self.total - self._loaded
        eta = remaining / self._speed if self._speed > 0 else (0.0 if remaining == 0 else None)
        percent = 100.0 if self.total == 0 else 100.0 * self._loaded / self.total
        return ProgressSnapshot(self._loaded, self.total, percent, self._speed, eta)
