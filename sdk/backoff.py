"""The one reconnection policy every client here uses: exponential, capped, with jitter.

The WebSocket client and the XMPP connection (bots, ``collab follow`` and the app's own
bridge) wait like this between attempts, each with its own numbers, so a restarted server is
not hit by every client in the same instant. The web page has the same policy in
``frontend/src/lib/connection.js`` (``backoffDelay``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = 0.05  # seconds before the first retry
    maximum: float = 2.0  # the delay never grows past this
    factor: float = 2.0
    jitter: float = 0.25  # each delay varies by up to this fraction either way

    def delays(self, rand: Callable[[], float] = random.random) -> Iterator[float]:
        """The delays before each attempt, forever; start a new iterator after a success.

        ``rand`` gives numbers in [0, 1); tests pass their own to make the delays exact.
        """
        delay = self.initial
        while True:
            yield delay * (1 + self.jitter * (2 * rand() - 1))
            delay = min(self.maximum, delay * self.factor)
