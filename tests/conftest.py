"""Hypothesis profiles for the whole suite, and garbage collected after every test.

``ci`` (the default) is derandomized: every run tries the same examples, so a red build means
a change broke something, not that the dice finally rolled badly. ``long`` (``make
test-long``, or ``HYPOTHESIS_PROFILE=long``) explores many more, fresh examples each run.
"""

from __future__ import annotations

import gc
import os

import pytest
from hypothesis import HealthCheck, Phase, settings

# Simulations vary in cost from example to example (a 5 KB paste, a snapshot merge), so a
# per-example deadline would only measure the machine.
_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large]

# No explain phase in CI: it reruns a failing example about a hundred times to say which
# arguments matter, and this Hypothesis version (6.170) prints the arguments blank anyway.
settings.register_profile(
    "ci",
    max_examples=100,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=_SLOW_IS_FINE,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
settings.register_profile(
    "long",
    max_examples=3000,
    deadline=None,
    print_blob=True,
    suppress_health_check=_SLOW_IS_FINE,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# What a test leaves behind unclosed (a transport, a socket, a subprocess) warns when it is
# collected, and pytest fails the test that is running then: with the cyclic collector's own
# timing, that can be any later test (CI once failed test_private_files on two such warnings
# that no run of it alone gives). Collecting after each test blames the one that leaked. What
# survives a collection is frozen (never scanned again), so each scans only what the last
# test made: a few milliseconds, where a full collection took ~100 ms late in a worker.


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    gc.collect()
    gc.freeze()


# trylast: after the fixtures' teardown (the runner's own hook), and before pytest's check
# for unraisable exceptions (registered earlier, so it runs after this among the trylast).
@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    gc.collect()
    gc.freeze()  # what outlived the test (caches, the Hypothesis database): not scanned again
