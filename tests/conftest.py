"""Hypothesis profiles for the whole suite.

``ci`` (the default) is derandomized: every run tries the same examples, so a red build means
a change broke something, not that the dice finally rolled badly. ``long`` (``make
test-long``, or ``HYPOTHESIS_PROFILE=long``) explores many more, fresh examples each run.
"""

from __future__ import annotations

import os

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
