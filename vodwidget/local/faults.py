"""Deterministic fault injection for the local service.

A spec such as ``"reset=0.05,503=0.05,slow=0.1,delay=1.0,expire_after_parts=3,scope=oss"`` says how
often a request in scope is answered with a connection reset, a 503, or a delay. One
``random.Random(seed)`` draws exactly one number per in-scope request in arrival order, so the same
seed gives the same sequence of decisions.

>>> f = Faults("503=1", seed=1)
>>> f.decide("oss", "PutObject")
'503'
>>> f.log
[(1, 'PutObject', '503')]
"""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["FaultSpec", "Faults", "SCOPES", "inject"]

SCOPES = ("oss", "vod", "all")


@dataclass(frozen=True)
class FaultSpec:
    """Parsed fault spec; all rates are probabilities in [0, 1]."""

    reset: float = 0.0
    e503: float = 0.0
    slow: float = 0.0
    delay: float = 1.0
    expire_after_parts: int = 0
    scope: str = "oss"

    @classmethod
    def parse(cls, spec: str | None) -> FaultSpec:
        """Parse ``k=v,k=v``; unknown keys or bad values raise ValueError."""
        values: dict[str, object] = {}
        for item in (spec or "").replace(";", ",").split(","):
            item = item.strip()
            if not item:
                continue
            name, sep, raw = item.partition("=")
            name, raw = name.strip().lower(), raw.strip()
            if not sep:
                raise ValueError(f"fault spec item {item!r} is not name=value")
            if name in ("reset", "503", "slow"):
                rate = float(raw)
                if not 0.0 <= rate <= 1.0:
                    raise ValueError(f"fault rate {name}={raw} is not within 0..1")
                values["e503" if name == "503" else name] = rate
            elif name == "delay":
                values["delay"] = max(0.0, float(raw))
            elif name == "expire_after_parts":
                values["expire_after_parts"] = max(0, int(raw))
            elif name == "scope":
                if raw not in SCOPES:
                    raise ValueError(f"fault scope must be one of {', '.join(SCOPES)}, not {raw!r}")
                values["scope"] = raw
            else:
                raise ValueError(f"unknown fault {name!r} (known: reset, 503, slow, delay, expire_after_parts, scope)")
        return cls(**values)  # type: ignore[arg-type]

    @property
    def active(self) -> bool:
        return bool(self.reset or self.e503 or self.slow or self.expire_after_parts)

    def __str__(self) -> str:
        if not self.active:
            return ""
        return (
            f"reset={self.reset:g},503={self.e503:g},slow={self.slow:g},delay={self.delay:g},"
            f"expire_after_parts={self.expire_after_parts},scope={self.scope}"
        )


class Faults:
    """The live fault state: spec, seeded generator and the decision log."""

    def __init__(self, spec: str | None = None, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self.log: list[tuple[int, str, str]] = []
        self.set(spec, seed)

    def set(self, spec: str | None, seed: int | None = None) -> None:
        """Replace the spec (ValueError if bad) and restart the generator and the log."""
        parsed = FaultSpec.parse(spec)
        with self._lock:
            self.spec = parsed
            self.seed = seed
            self._rng = random.Random(seed)
            self._seq = 0
            self.log = []

    def in_scope(self, kind: str) -> bool:
        scope = self.spec.scope
        return scope == "all" or scope == kind

    def decide(self, kind: str, op: str) -> str:
        """``"ok"``, ``"reset"``, ``"503"`` or ``"slow"`` for one request of ``kind`` (oss/vod/app/media)."""
        with self._lock:
            spec = self.spec
            if not (spec.reset or spec.e503 or spec.slow) or not self.in_scope(kind):
                return "ok"
            # Exactly one draw per in-scope request keeps the sequence a function of the seed alone.
            r = self._rng.random()
            if r < spec.reset:
                decision = "reset"
            elif r < spec.reset + spec.e503:
                decision = "503"
            elif r < spec.reset + spec.e503 + spec.slow:
                decision = "slow"
            else:
                decision = "ok"
            self._seq += 1
            self.log.append((self._seq, op, decision))
            return decision

    def snapshot(self) -> list[tuple[int, str, str]]:
        with self._lock:
            return list(self.log)


async def inject(faults: Faults, kind: str, op: str, request: Any) -> str:
    """Act on this request's fault decision: sleep for ``slow``, drop the connection for ``reset``
    (after taking a little of the body, so the client is mid-send). Returns the decision; the
    caller answers ``"503"`` in its own protocol's error shape, and nothing for ``"reset"``."""
    decision = faults.decide(kind, op)
    if decision == "slow":
        await asyncio.sleep(faults.spec.delay)
    elif decision == "reset":
        try:
            if request.can_read_body:
                await asyncio.wait_for(request.content.read(64 * 1024), timeout=2)
        except Exception:  # the connection is going away either way
            pass
        if request.transport is not None:
            request.transport.abort()
    return decision
