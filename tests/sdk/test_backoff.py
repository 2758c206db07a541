"""The one reconnection policy: exponential, capped, jittered within its bounds."""

from __future__ import annotations

import itertools

from sdk.backoff import Backoff
from sdk.xmpp.connection import XMPP_BACKOFF


def take(backoff: Backoff, count: int, rand: float) -> list[float]:
    return list(itertools.islice(backoff.delays(lambda: rand), count))


def test_delays_double_up_to_the_maximum_without_jitter() -> None:
    policy = Backoff(initial=0.1, maximum=1.0, factor=2.0, jitter=0.25)
    assert take(policy, 6, 0.5) == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_jitter_stays_within_its_fraction_either_way() -> None:
    policy = Backoff(initial=1.0, maximum=1.0, jitter=0.25)
    assert take(policy, 1, 0.0) == [0.75]
    assert take(policy, 1, 0.999999)[0] < 1.25
    delays = list(itertools.islice(policy.delays(), 200))
    assert all(0.75 <= d <= 1.25 for d in delays)
    assert len(set(delays)) > 100  # really random by default: clients spread out


def test_a_new_iterator_starts_over() -> None:
    policy = Backoff(initial=0.1, maximum=10.0)
    first = policy.delays(lambda: 0.5)
    for _ in range(5):
        next(first)
    assert next(policy.delays(lambda: 0.5)) == 0.1


def test_the_xmpp_connection_waits_longer_than_a_websocket() -> None:
    # An XMPP server restart takes seconds; a WebSocket hiccup is retried at once.
    assert XMPP_BACKOFF.initial > Backoff().initial
    assert XMPP_BACKOFF.maximum > Backoff().maximum
