"""A small circuit breaker for one guard endpoint.

``closed`` (calls go through) -> after ``failures`` consecutive failures -> ``open`` (calls
fail at once, the tenant's fail mode decides) for ``reset_s`` -> ``half_open``: exactly one
trial call goes through; its success closes the circuit, its failure opens it again.

Written here rather than taken from a library: the maintained breakers are synchronous or
tied to another framework (pybreaker's async support needs Tornado), and this one is a
state machine of a few lines that the event loop never waits on.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["CircuitBreaker"]


class CircuitBreaker:
    def __init__(
        self, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = failures
        self.reset_s = reset_s
        self.clock = clock
        self.state = "closed"
        self.failures = 0
        self.opened_at = 0.0
        self.opened = 0  # how many times the circuit opened (for metrics)
        self._trial = False

    def allow(self) -> bool:
        """Whether a call may go to the guard now (takes the trial slot when half-open)."""
        if self.state == "closed":
            return True
        if self.state == "open":
            if self.clock() - self.opened_at < self.reset_s:
                return False
            self.state = "half_open"
            self._trial = False
        if self._trial:
            return False
        self._trial = True
        return True

    def success(self) -> None:
        self.state = "closed"
        self.failures = 0
        self._trial = False

    def failure(self) -> None:
        self._trial = False
        if self.state == "half_open":
            self._open()
            return
        self.failures += 1
        if self.state == "closed" and self.failures >= self.threshold:
            self._open()

    def release(self) -> None:
        """A call ended with neither success nor failure (cancelled): free the trial slot."""
        self._trial = False

    def _open(self) -> None:
        self.state = "open"
        self.opened_at = self.clock()
        self.opened += 1
