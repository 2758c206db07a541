"""From the client processes' records to latencies, and the checks that decide whether a cell's
numbers may be reported at all. A failed check makes the cell FAILED with its reason.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench.peers.plan import MARKER
from bench.peers.stats import summary


def markers(protocol: str, workers: list[dict[str, Any]], expected: int) -> dict[str, Any]:
    """S1 and S3: latency of every (edit, other participant) pair."""
    peers = [peer for worker in workers for peer in worker["peers"]]
    made = [
        (peer["author"], name, stamp, ident)
        for peer in peers
        for name, stamp, _planned, ident in peer["made"]
    ]
    latencies: list[float] = []
    undelivered = via_snapshot = 0
    for observer in peers:
        arrived = _arrival_finder(protocol, observer)
        snapshot = _snapshot_arrivals(observer)
        for author, name, stamp, ident in made:
            if author == observer["author"]:
                continue
            t = arrived(author, name, ident)
            late = snapshot.get(name)
            if late is not None and (t is None or late < t):
                t, via_snapshot = late, via_snapshot + 1
            if t is None:
                undelivered += 1
            else:
                latencies.append(t - stamp)
    pairs = len(made) * (len(peers) - 1)
    failures = []
    if len(made) != expected:
        failures.append(f"the clients made {len(made)} of the {expected} planned edits")
    if undelivered:
        failures.append(f"{undelivered} of {pairs} (edit, other client) pairs never arrived")
    texts = Counter(peer["sha1"] for peer in peers)
    if len(texts) > 1:
        failures.append(f"final texts differ: {len(texts)} distinct among {len(peers)} clients")
    # One client's final text (all are equal, or that failed above) holds each marker once.
    sample = next((worker["text"] for worker in workers if worker["peers"]), "")
    found = Counter(m.group(0) for m in MARKER.finditer(sample))
    names = Counter(name for _author, name, _stamp, _ident in made)
    if found != names:
        missing, extra = len(names - found), len(found - names)
        failures.append(f"final text: {missing} markers missing, {extra} extra or doubled")
    if not all(worker["drained"] for worker in workers):
        failures.append("some clients did not receive every edit before the drain timeout")
    errors = Counter(
        e.get("code", "?") for peer in peers for e in peer.get("errors", []) if isinstance(e, dict)
    )
    if failures and errors:  # what the clients were told may say why
        failures.append(
            "the clients saw: " + ", ".join(f"{code} ({n})" for code, n in errors.most_common())
        )
    return {
        "ok": not failures,
        "failure": "; ".join(failures) or None,
        "latency": summary(latencies),
        "edits": len(made),
        "pairs": pairs,
        "delivered": len(latencies),
        "via_snapshot": via_snapshot,
        "client_lag": summary(lag for worker in workers for lag in worker["lags"]),
        "client_errors": dict(errors),
        "reconnects": sum(max(0, peer.get("joins", 1) - 1) for peer in peers),
        "messages_sent": sum(peer.get("edits_sent", 0) for peer in peers),
        "last_edit": max((stamp for _a, _n, stamp, _i in made), default=None),
    }


def _arrival_finder(protocol: str, observer: dict[str, Any]) -> Any:
    if protocol == "yjs":  # by marker: when it appeared in this copy's text
        by_name: dict[str, float] = observer["arrivals"]
        return lambda _author, name, _ident: by_name.get(name)
    by_seq = {a: dict(log) for a, log in observer["arrivals"].items()}

    def ours(author: str, _name: str, seq: int | None) -> float | None:
        return None if seq is None else by_seq.get(author, {}).get(seq)

    return ours


def _snapshot_arrivals(observer: dict[str, Any]) -> dict[str, float]:
    first: dict[str, float] = {}
    for t, names in observer.get("snapshots", []):
        for name in names:
            first.setdefault(name, t)
    return first


def trace(writer: dict[str, Any], observer: dict[str, Any], t0: float) -> dict[str, Any]:
    """S2: when the observer's text first equalled the end of the trace."""
    failures = []
    if not writer.get("equal"):
        failures.append("the writer's own text is not the trace's end")
    if observer.get("reached") is None:
        failures.append(
            f"the observer's text never equalled the trace's end (length "
            f"{observer.get('length')} of {observer.get('target_length')})"
        )
    return {
        "ok": not failures,
        "failure": "; ".join(failures) or None,
        "seconds": round(observer["reached"] - t0, 3) if observer.get("reached") else None,
        "typing_seconds": round(writer["typed"] - t0, 3),
        "writer_messages": writer.get("messages"),
        "observer_messages": observer.get("messages"),
    }
