"""Whether a process we started is the one listening on a port (Linux, from /proc).

A server we start on a port that another program holds may not exit: Prosody logs "Failed
to open server port" and runs on, serving nothing, while a connection to the port reaches the
other program. Connecting is not proof that ours listens; the socket's owner is.
"""

from __future__ import annotations

import enum
import ipaddress
import os
from pathlib import Path

_LISTEN = "0A"  # the state column of /proc/net/tcp for a listening socket


def _listening_inodes(host: str, port: int) -> set[str] | None:
    """The inodes of the sockets listening on ``host:port`` (or on every address, at that
    port); None if /proc says nothing (not Linux)."""
    try:
        wanted = ipaddress.ip_address(host)
    except ValueError:
        wanted = None  # a name: any address will do
    found: set[str] = set()
    seen_a_table = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        seen_a_table = True
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            address_hex, _, port_hex = fields[1].partition(":")
            if int(port_hex, 16) != port:
                continue
            address = _address(address_hex)
            if wanted is None or address is None or address == wanted or address.is_unspecified:
                found.add(fields[9])
    return found if seen_a_table else None


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    # /proc/net/tcp writes addresses as 32-bit words in the host's (little-endian) order.
    try:
        raw = bytes.fromhex(hex_address)
    except ValueError:
        return None
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(words)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _socket_inodes(pid: int) -> set[str] | None:
    try:
        entries = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    inodes = set()
    for entry in entries:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{entry}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


class Listener(enum.Enum):
    OURS = "ours"  # the process holds the listening socket
    OTHER = "other"  # something listens there, and it is not the process
    NONE = "none"  # nothing listens there
    UNKNOWN = "unknown"  # this system cannot tell (no /proc, or the process is gone)


def who_listens(pid: int, host: str, port: int) -> Listener:
    """Who listens on ``host:port``: process ``pid``, another, or nobody."""
    listening = _listening_inodes(host, port)
    held = _socket_inodes(pid)
    if listening is None or held is None:
        return Listener.UNKNOWN
    if not listening:
        return Listener.NONE
    return Listener.OURS if listening & held else Listener.OTHER
