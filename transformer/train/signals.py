"""Stopping a training run cleanly: the first SIGINT (Ctrl-C) or SIGTERM asks
the loop to stop at the end of the current step, with a checkpoint; a repeat
more than 2 seconds later stops at once.

Under torchrun a Ctrl-C reaches each worker twice at once (from the terminal,
and relayed by torchrun), hence the 2 seconds before a repeat counts.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# a repeat sooner than this is the same signal delivered twice
REPEAT_AFTER_S = 2.0


class StopSignals:
    """``requested`` turns true at the first SIGINT or SIGTERM received between
    :meth:`install` and :meth:`restore`; a repeat more than
    :data:`REPEAT_AFTER_S` later raises ``KeyboardInterrupt``. Outside the main
    thread (where Python cannot install handlers) it installs nothing."""

    def __init__(self) -> None:
        self.requested = False
        self._requested_at = 0.0
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if self._previous:
            raise RuntimeError(
                "StopSignals.install() was called twice: call restore()"
                " first, or the handlers it replaced would be lost"
            )
        if threading.current_thread() is not threading.main_thread():
            return
        self._previous = {
            sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS
        }

    def restore(self) -> None:
        """Put back the handlers that :meth:`install` replaced."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum: int, frame: Any) -> None:
        now = time.monotonic()
        if self.requested and now - self._requested_at > REPEAT_AFTER_S:
            raise KeyboardInterrupt
        if not self.requested:
            self.requested, self._requested_at = True, now
