"""``who_listens``: whether a process holds the socket listening on a port, from /proc."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from app.buses.xmpp.listeners import Listener, who_listens


def test_the_listening_process_is_told_from_another_and_from_nobody() -> None:
    with socket.socket() as mine:
        mine.bind(("127.0.0.1", 0))
        port = mine.getsockname()[1]
        assert who_listens(os.getpid(), "127.0.0.1", port) is Listener.NONE, "not listening yet"
        mine.listen()
        assert who_listens(os.getpid(), "127.0.0.1", port) is Listener.OURS
        assert who_listens(os.getpid(), "localhost", port) is Listener.OURS  # a name: any address
        assert who_listens(os.getpid(), "127.0.0.2", port) is Listener.NONE  # not that address
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            assert who_listens(other.pid, "127.0.0.1", port) is Listener.OTHER
        finally:
            other.kill()
            other.wait()
    assert who_listens(os.getpid(), "127.0.0.1", port) is Listener.NONE, "closed"


def test_every_address_and_ipv6_listeners_count() -> None:
    with socket.socket() as anywhere:
        anywhere.bind(("0.0.0.0", 0))
        anywhere.listen()
        assert who_listens(os.getpid(), "127.0.0.1", anywhere.getsockname()[1]) is Listener.OURS
    with socket.socket(socket.AF_INET6) as six:
        six.bind(("::1", 0))
        six.listen()
        port = six.getsockname()[1]
        assert who_listens(os.getpid(), "::1", port) is Listener.OURS
        assert who_listens(os.getpid(), "127.0.0.1", port) is Listener.NONE


def test_a_process_that_is_gone_cannot_be_told() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert who_listens(gone.pid, "127.0.0.1", 1) is Listener.UNKNOWN
