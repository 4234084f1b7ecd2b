"""A progress line for the passes of a cell that take longer than a second (--check on large
inputs, a high --order): shown in place in a notebook, as a line now and then in a terminal."""
from __future__ import annotations

import time
from typing import Any, Optional

from IPython.display import display


class ProgressLine:
    """An ``extras.Progress`` that shows 'what: done of total (seconds)' once a cell's passes have run
    ``delay`` seconds, at most once every ``interval`` seconds, and always for the last step."""

    def __init__(self, delay: float = 1.0, interval: float = 1.0) -> None:
        self.delay, self.interval = delay, interval
        self.start = time.perf_counter()
        self.shown_at = -float("inf")
        self.handle: Optional[Any] = None

    def __call__(self, what: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - self.start < self.delay or (now - self.shown_at < self.interval and done < total):
            return
        self.shown_at = now
        bundle = {"text/plain": f"{what}: {done:,} of {total:,} ({now - self.start:.1f} s)"}
        if self.handle is None:
            self.handle = display(bundle, raw=True, display_id=True)
        else:
            self.handle.update(bundle, raw=True)
