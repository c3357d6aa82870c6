"""The sandbox's clock: the "now" of its catalogue and of the dates it shows.

By default it follows real UTC time. It can start elsewhere (``clock_start``), run faster or slower
than real time (``clock_speed`` simulated seconds per real second; 0 stops it), and be set or
advanced at runtime (``POST /_sandbox/clock``), so that tests simulate days in seconds.

The clock decides what search finds (an image only once its ``publicationDate`` has passed) and the
dates of orders and debits. Token lifetimes and order processing delays stay in real seconds.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from airflow_provider_oneatlas.sandbox.filters import parse_datetime

if TYPE_CHECKING:
    from airflow_provider_oneatlas.sandbox.config import SandboxConfig

US = 1_000_000
#: Bounds that keep every date the sandbox writes within what ISO 8601 years (1 to 9999) can show.
MAX_ADVANCE = 100 * 366 * 86_400.0  # a century, per call
MAX_SPEED = 10_000_000.0  # about 116 simulated days per real second
LATEST = 253_402_300_799.0  # 9999-12-31T23:59:59Z


def quantize(epoch: float) -> float:
    """``epoch`` rounded to the microsecond."""
    return round(epoch * US) / US


class ClockError(ValueError):
    """A bad clock setting; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def parse_instant(field: str, value: object) -> float:
    """An ISO 8601 date-time (UTC when no offset is given) -> POSIX seconds. Raises :class:`ClockError`."""
    if not isinstance(value, str) or not value.strip():
        raise ClockError(field, f"expected an ISO 8601 date-time such as '2024-05-01T00:00:00Z', got {value!r}")
    try:
        micros = parse_datetime(value)
    except (ValueError, OverflowError) as exc:
        raise ClockError(field, f"{exc}; expected e.g. '2024-05-01T00:00:00Z'") from None
    if not 0 <= micros / US <= LATEST - MAX_ADVANCE:
        raise ClockError(field, f"{value!r} is out of range: from 1970 to 9899")
    return micros / US


def format_instant(epoch: float) -> str:
    """``2024-05-01T00:00:00.000000Z``: the form the API writes dates in."""
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Clock:
    """Simulated time: ``now() = anchor + (real_now - real_anchor) * speed``.

    Thread-safe. ``real`` is the real clock (``time.time``), replaceable in tests.
    """

    def __init__(self, start: float | None = None, speed: float = 1.0, real: Callable[[], float] = time.time) -> None:
        if not 0 <= speed <= MAX_SPEED:
            raise ClockError("speed", f"must be from 0 to {MAX_SPEED:g}, got {speed!r}")
        self._real = real
        self._lock = threading.Lock()
        self._real_anchor = real()
        self._anchor = self._real_anchor if start is None else start
        self._speed = float(speed)

    @property
    def speed(self) -> float:
        with self._lock:
            return self._speed

    def now(self) -> float:
        """Simulated POSIX seconds, to the microsecond (so that a date written from it and read back
        is not later than ``now_us()``)."""
        with self._lock:
            return quantize(self._anchor + (self._real() - self._real_anchor) * self._speed)

    def now_us(self) -> int:
        """Simulated microseconds since the epoch (the catalogue's unit)."""
        return round(self.now() * US)

    def at_real(self, real_time: float) -> float:
        """The simulated time at real instant ``real_time``, under the current setting."""
        with self._lock:
            return self._anchor + (real_time - self._real_anchor) * self._speed

    def set(self, epoch: float) -> float:
        """Jump to ``epoch`` (simulated seconds); the clock runs on from there at its speed."""
        with self._lock:
            self._real_anchor = self._real()
            self._anchor = epoch
            return self._anchor

    def advance(self, seconds: float) -> float:
        """Move ``seconds`` forward (not backward: an advance never un-publishes an image)."""
        if seconds < 0:
            raise ClockError("advance", f"must not be negative, got {seconds!r}; to go back, set 'now'")
        with self._lock:
            self._anchor += seconds
            return self._anchor + (self._real() - self._real_anchor) * self._speed

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on, keeping the current simulated time."""
        if not 0 <= speed <= MAX_SPEED:
            raise ClockError("speed", f"must be from 0 to {MAX_SPEED:g}, got {speed!r}")
        with self._lock:
            real_now = self._real()
            self._anchor += (real_now - self._real_anchor) * self._speed
            self._real_anchor = real_now
            self._speed = float(speed)

    def to_json(self) -> dict[str, object]:
        now = self.now()
        return {"now": format_instant(now), "epoch": now, "speed": self.speed}


def clock_from_config(config: SandboxConfig) -> Clock:
    """A clock at ``config.clock_start`` (real UTC now when unset), running at ``config.clock_speed``."""
    start = None if config.clock_start is None else parse_instant("clock_start", config.clock_start)
    return Clock(start, config.clock_speed)
