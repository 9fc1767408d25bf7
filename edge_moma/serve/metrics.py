"""The daemon's counters, rendered in the Prometheus text exposition format (0.0.4).

``Metrics`` is also a decision sink (``Runtime.add_sink``): it counts
decisions by target and stage, and fallbacks, from the same ``LogRecord``
the SQLite log gets, so the numbers cannot drift from what was logged.
Request counts and latency histograms are fed by the server. Gauges that
belong to other parts (loaded models, queue depth, dropped log records) are
read when ``/metrics`` is scraped and passed to ``render``.

Example::

    m = Metrics()
    m.request("/v1/route", 200, 0.0004)
    text = m.render(gauges={"edge_moma_log_dropped_total": 0})
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping

from ..log.sinks import LogRecord

# Seconds; routing answers in well under a millisecond, generation takes seconds.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

Labels = tuple[tuple[str, str], ...]
Gauge = float | Mapping[Labels, float]


class Metrics:
    """Thread-safe counters and histograms for one daemon process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[Labels, int] = defaultdict(int)
        self._decisions: dict[Labels, int] = defaultdict(int)
        self._fallbacks = 0
        self._closed: dict[Labels, int] = defaultdict(int)
        self._hist: dict[str, list[int]] = {}
        self._hist_sum: dict[str, float] = defaultdict(float)

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        """Count one answered request and add its latency to the endpoint's histogram."""
        i = bisect.bisect_left(BUCKETS, seconds)
        with self._lock:
            self._requests[(("endpoint", endpoint), ("status", str(status)))] += 1
            counts = self._hist.get(endpoint)
            if counts is None:
                counts = self._hist[endpoint] = [0] * (len(BUCKETS) + 1)
            counts[i] += 1
            self._hist_sum[endpoint] += seconds

    def connection_closed(self, reason: str) -> None:
        """Count a connection the daemon closed on its own (a timeout, the connection cap)."""
        with self._lock:
            self._closed[(("reason", reason),)] += 1

    def __call__(self, record: LogRecord) -> None:
        """The decision-sink hook: count the decision and whether it fell back."""
        d = record.decision
        key = (("target", d.target or ""), ("stage", d.stage))
        with self._lock:
            self._decisions[key] += 1
            if len(record.attempts) > 1:
                self._fallbacks += 1

    def render(self, gauges: Mapping[str, Gauge] | None = None) -> str:
        """All series as Prometheus text; ``gauges`` adds point-in-time values by name."""
        with self._lock:
            requests = dict(self._requests)
            decisions = dict(self._decisions)
            fallbacks = self._fallbacks
            closed = dict(self._closed)
            hist = {k: list(v) for k, v in self._hist.items()}
            sums = dict(self._hist_sum)
        out: list[str] = []
        _family(out, "edge_moma_requests_total", "counter", "HTTP requests answered", requests)
        _family(out, "edge_moma_decisions_total", "counter", "Routing decisions", decisions)
        _family(out, "edge_moma_fallbacks_total", "counter", "Requests that fell back", fallbacks)
        _family(
            out,
            "edge_moma_connections_closed_total",
            "counter",
            "Connections the daemon closed: idle, header or body timeout, connection cap",
            closed,
        )
        out.append("# HELP edge_moma_request_seconds Time to answer a request (to the last byte)")
        out.append("# TYPE edge_moma_request_seconds histogram")
        for endpoint, counts in sorted(hist.items()):
            label = f'endpoint="{_escape(endpoint)}"'
            total = 0
            for bound, n in zip((*BUCKETS, float("inf")), counts, strict=True):
                total += n
                le = "+Inf" if bound == float("inf") else repr(float(bound))
                out.append(f'edge_moma_request_seconds_bucket{{{label},le="{le}"}} {total}')
            out.append(f"edge_moma_request_seconds_sum{{{label}}} {sums[endpoint]!r}")
            out.append(f"edge_moma_request_seconds_count{{{label}}} {total}")
        for name, value in (gauges or {}).items():
            kind = "counter" if name.endswith("_total") else "gauge"
            _family(out, name, kind, name.removeprefix("edge_moma_").replace("_", " "), value)
        return "\n".join(out) + "\n"


def _family(out: list[str], name: str, kind: str, help_: str, value: Gauge) -> None:
    out.append(f"# HELP {name} {help_}")
    out.append(f"# TYPE {name} {kind}")
    if isinstance(value, Mapping):
        for labels, v in sorted(value.items()):
            out.append(f"{name}{{{_labels(labels)}}} {_number(v)}")
    else:
        out.append(f"{name} {_number(value)}")


def _labels(labels: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in labels)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
