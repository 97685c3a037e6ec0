"""The scheduler's clock: the system's, or for tests one that runs fast.

``PLAIT_SCHEDULER_CLOCK`` is read only by the scheduler, and only tests set it: since cron
has minute resolution, a test that wants a hundred firings in seconds runs the
scheduler's clock at, say, 600 times real speed. Everything else (the API, the runs, the
database) keeps the real time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

CLOCK_ENV = "PLAIT_SCHEDULER_CLOCK"


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class AcceleratedClock:
    """A clock that reads ``start`` at the Unix time ``epoch`` and runs ``speed`` times
    faster than real time from there (before ``epoch`` it reads earlier than ``start``).

    Processes given the same three values share one clock, across restarts.
    """

    start: datetime
    speed: float
    epoch: float

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.time() - self.epoch) * self.speed)


def clock_from_env(environ: Mapping[str, str] = os.environ) -> Clock:
    """The clock ``PLAIT_SCHEDULER_CLOCK`` asks for, else the system's.

    The value is ``<start>@<speed>[@<epoch>]``: an ISO-8601 instant with an offset, a
    positive speed factor, and the Unix time at which the clock reads ``start`` (default:
    now). For tests only.

    Raises:
        ValueError: A value that is not of that shape; the message says what to write.
    """
    value = environ.get(CLOCK_ENV, "").strip()
    if not value:
        return SystemClock()
    usage = (
        f"{CLOCK_ENV} must be <start>@<speed>[@<unix epoch>], e.g."
        f" 2026-03-29T00:00:00+00:00@600 (a test clock), got {value!r}"
    )
    parts = value.split("@")
    if len(parts) not in (2, 3):
        raise ValueError(usage)
    try:
        start = datetime.fromisoformat(parts[0])
        speed = float(parts[1])
        epoch = float(parts[2]) if len(parts) == 3 else time.time()
    except ValueError:
        raise ValueError(usage) from None
    if start.tzinfo is None or not speed > 0:
        raise ValueError(usage)
    return AcceleratedClock(start.astimezone(UTC), speed, epoch)
