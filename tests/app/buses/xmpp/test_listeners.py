"""``listens``: whether a process holds the socket listening on a port, from /proc."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from app.buses.xmpp.listeners import listens


def test_a_process_listening_on_a_port_is_found_and_no_other() -> None:
    with socket.socket() as mine:
        mine.bind(("127.0.0.1", 0))
        port = mine.getsockname()[1]
        assert listens(os.getpid(), "127.0.0.1", port) is False, "bound, not listening yet"
        mine.listen()
        assert listens(os.getpid(), "127.0.0.1", port) is True
        assert listens(os.getpid(), "localhost", port) is True  # a name: any address
        assert listens(os.getpid(), "127.0.0.2", port) is False  # not that address
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            assert listens(other.pid, "127.0.0.1", port) is False
        finally:
            other.kill()
            other.wait()
    assert listens(os.getpid(), "127.0.0.1", port) is False, "closed"


def test_every_address_and_ipv6_listeners_count() -> None:
    with socket.socket() as anywhere:
        anywhere.bind(("0.0.0.0", 0))
        anywhere.listen()
        assert listens(os.getpid(), "127.0.0.1", anywhere.getsockname()[1]) is True
    with socket.socket(socket.AF_INET6) as six:
        six.bind(("::1", 0))
        six.listen()
        assert listens(os.getpid(), "::1", six.getsockname()[1]) is True
        assert listens(os.getpid(), "127.0.0.1", six.getsockname()[1]) is False


def test_a_process_that_is_gone_cannot_be_told() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert listens(gone.pid, "127.0.0.1", 1) is None
