"""How uvicorn serves the app: the same choices for ``collab serve``, the tests' live servers
and the benchmarks, so what is measured and tested is what runs.

- uvloop and httptools: the fastest event loop and HTTP parser uvicorn has (profiling the
  full stack under 16 editors, uvloop alone cut the server's CPU by about a sixth).
- ``websockets-sansio``: the websockets library's protocol without its own I/O layer, driven
  by uvicorn's transport directly.
- No permessage-deflate: our messages are small JSON (a keystroke's revision is about 200
  bytes), compressing each costs CPU per member, and a deflate context per connection costs
  memory (about 100 KB each at the defaults).
"""

from __future__ import annotations

import importlib.util
from typing import Any


def uvicorn_options() -> dict[str, Any]:
    fast = importlib.util.find_spec("uvloop") is not None
    return {
        "loop": "uvloop" if fast else "asyncio",
        "http": "httptools" if importlib.util.find_spec("httptools") else "h11",
        "ws": "websockets-sansio",
        "ws_per_message_deflate": False,
    }
