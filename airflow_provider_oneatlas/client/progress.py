"""Progress lines for long transfers (downloads, uploads, extraction), at a steady pace.

A multi-GB delivery takes minutes; a log that only says when it started and ended looks hung. A
:class:`TransferProgress` logs one line every ``interval`` seconds (30) or every ``step`` of the
item (10 %), whichever comes first, with bytes, percent, MB/s and time left, for the item and for
the whole task::

    Downloading S2_1 (item 1 of 3): 41.9 MB of 104.9 MB (40%), 12.3 MB/s, about 5 s left;
        in total 41.9 MB, 13% of 3 items, about 22 s left

The pace and the clock are injectable (``interval``, ``step``, ``clock``) so that tests need not wait.
Whoever moves the bytes calls :meth:`~TransferProgress.sized` once the size is known and
:meth:`~TransferProgress.advance` after each write; whoever knows the items (the operator) calls
:meth:`~TransferProgress.begin` and :meth:`~TransferProgress.end` around each one. Free of Airflow:
it takes any logger.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import IO, Any, Protocol, cast

#: Seconds between two progress lines when fewer than ``step`` of the item moved meanwhile.
DEFAULT_INTERVAL = 30.0
#: Fraction of an item between two progress lines when that comes sooner than ``interval``.
DEFAULT_STEP = 0.1


class _Logger(Protocol):
    def info(self, msg: Any, /, *args: Any) -> Any: ...


def megabytes(size: float) -> str:
    """``size`` bytes in decimal megabytes, as transfer rates are usually quoted."""
    return f"{size / 1e6:.1f} MB"


def duration(seconds: float) -> str:
    """A short readable duration: ``45 s``, ``3 min 20 s``, ``1 h 05 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class TransferProgress:
    """Logs the progress of one or several items moving, at a steady pace.

    :param logger: where the lines go (a ``logging.Logger``, an Airflow task's ``self.log``).
    :param verb: the -ing form shown first: ``Downloading``, ``Uploading``, ``Extracting``.
    :param items: how many items the task moves (for "item 2 of 3" and the total); None: unknown.
    :param interval: seconds between lines at most (while bytes move).
    :param step: fraction of an item between lines at most.
    :param clock: a monotonic clock (tests pass a fake one).
    """

    def __init__(
        self,
        logger: _Logger,
        *,
        verb: str = "Downloading",
        items: int | None = None,
        interval: float = DEFAULT_INTERVAL,
        step: float = DEFAULT_STEP,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval <= 0 or not 0 < step <= 1:
            raise ValueError("interval must be positive and step within (0, 1]")
        self.log = logger
        self.verb = verb
        self.items = items
        self.interval = interval
        self.step = step
        self.clock = clock
        self.lines = 0  # progress lines logged (tests and benchmarks read it)
        self._started = clock()
        self._finished_items = 0
        self._finished_bytes = 0
        self._name = ""
        self._size: int | None = None
        self._done = 0
        self._item_started = self._started
        self._last_time = self._started
        self._next_mark = self.step

    # -- called by whoever knows the items -----------------------------------------------------------

    def begin(self, name: str, size: int | None = None) -> None:
        """Item ``name`` starts (its size may come later, through :meth:`sized`)."""
        now = self.clock()
        self._name, self._size, self._done = name, size, 0
        self._item_started = self._last_time = now
        self._next_mark = self.step

    def end(self) -> None:
        """The current item is complete: one closing line with its size, time and mean rate."""
        elapsed = max(self.clock() - self._item_started, 1e-9)
        position = self._position()
        self._finished_items += 1
        self._finished_bytes += self._done
        self.log.info(
            "%s %s%s: %s in %s (%.1f MB/s)%s",
            f"{self.verb[:-3]}ed" if self.verb.endswith("ing") else self.verb,
            self._name,
            position,
            megabytes(self._done),
            duration(elapsed),
            self._done / 1e6 / elapsed,
            self._total_text(0.0),
        )
        self._name, self._size, self._done = "", None, 0

    # -- called by whoever moves the bytes -----------------------------------------------------------

    def sized(self, size: int | None) -> None:
        """The current item's size is now known (the download's headers)."""
        if size is not None and size >= 0:
            self._size = size

    def advance(self, nbytes: int) -> None:
        """``nbytes`` more of the current item were written; logs when a line is due."""
        self._done += nbytes
        now = self.clock()
        fraction = self._done / self._size if self._size else 0.0
        due = now - self._last_time >= self.interval or (self._size and fraction >= self._next_mark - 1e-9)
        if due and not (self._size and self._done >= self._size):  # the last bytes: end() says it
            self._report(now, fraction)

    def rewind(self) -> None:
        """The current item starts over (the server could not resume): its bytes so far are void."""
        self._done = 0
        self._next_mark = self.step

    # -- the lines ---------------------------------------------------------------------------------------

    def _position(self) -> str:
        if self.items is None or self.items < 1:
            return ""
        return f" (item {min(self._finished_items + 1, self.items)} of {self.items})"

    def _total_text(self, item_fraction: float) -> str:
        if not self.items or self.items < 2:
            return ""
        fraction = min(1.0, (self._finished_items + item_fraction) / self.items)
        moved = megabytes(self._finished_bytes + (self._done if item_fraction else 0))
        text = f"; in total {moved}, {fraction:.0%} of {self.items} items"
        elapsed = self.clock() - self._started
        if 0 < fraction < 1:
            text += f", about {duration(elapsed * (1 - fraction) / fraction)} left"
        return text

    def _report(self, now: float, fraction: float) -> None:
        elapsed = max(now - self._item_started, 1e-9)
        rate = self._done / elapsed
        if self._size:
            left = (self._size - self._done) / rate if rate > 0 else None
            amount = f"{megabytes(self._done)} of {megabytes(self._size)} ({fraction:.0%})"
        else:
            left = None
            amount = f"{megabytes(self._done)} of an unknown size"
        self.log.info(
            "%s %s%s: %s, %.1f MB/s%s%s",
            self.verb,
            self._name,
            self._position(),
            amount,
            rate / 1e6,
            "" if left is None else f", about {duration(left)} left",
            self._total_text(fraction if self._size else 0.0),
        )
        self.lines += 1
        self._last_time = now
        # The next mark is the next whole step (10 %, 20 %, ...), even after a line the interval paced.
        self._next_mark = (math.floor(fraction / self.step + 1e-9) + 1) * self.step


class CountingSink:
    """A writable stream that reports what goes through it to a :class:`TransferProgress` (uploads,
    extracted files): wraps any object with a ``write`` method."""

    def __init__(self, sink: IO[bytes], progress: TransferProgress) -> None:
        self._sink = sink
        self._progress = progress

    def write(self, data: Any) -> int | None:
        written = self._sink.write(data)
        self._progress.advance(len(data) if written is None else written)
        return written

    def seek(self, offset: int, whence: int = 0) -> int:
        if offset == 0 and whence == 0:  # a transfer starting over: its bytes so far are void
            self._progress.rewind()
        return self._sink.seek(offset, whence)

    def __getattr__(self, name: str) -> Any:  # seekable, truncate, flush, ... of the real sink
        return getattr(self._sink, name)


def counting(sink: IO[bytes], progress: TransferProgress) -> IO[bytes]:
    """``sink``, reporting each write to ``progress`` (a stream like any other to its writer)."""
    return cast("IO[bytes]", CountingSink(sink, progress))
