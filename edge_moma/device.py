"""Device state: battery and network, read in the background, never on the routing path.

Battery comes from Linux's ``/sys/class/power_supply`` (other systems report
"unknown" and the app can set it per call or in the config). Network
reachability is judged without sending a packet: a default route through a
non-loopback interface in ``/proc/net/route``. Apps that know better (an OS
connectivity callback) set it with ``DeviceMonitor.set``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path

POWER_SUPPLY = Path("/sys/class/power_supply")
PROC_ROUTE = Path("/proc/net/route")


@dataclass(frozen=True)
class DeviceState:
    """A snapshot; ``battery_percent`` is None on mains-only or unknown devices."""

    battery_percent: float | None = None
    charging: bool = True
    online: bool = True


def probe_battery(root: Path = POWER_SUPPLY) -> tuple[float | None, bool]:
    """(percent, charging) of the first battery, or (None, True) when there is none."""
    try:
        supplies = sorted(root.iterdir())
    except OSError:
        return None, True
    for supply in supplies:
        try:
            if (supply / "type").read_text().strip() != "Battery":
                continue
            percent = float((supply / "capacity").read_text().strip())
            status = (supply / "status").read_text().strip()
        except (OSError, ValueError):
            continue
        return percent, status in ("Charging", "Full", "Not charging")
    return None, True


def probe_online(route_table: Path = PROC_ROUTE) -> bool:
    """True when a default route exists (no packet is sent); True if unknown."""
    try:
        lines = route_table.read_text().splitlines()[1:]
    except OSError:
        return True
    for line in lines:
        parts = line.split()
        if len(parts) > 1 and parts[1] == "00000000" and parts[0] != "lo":
            return True
    return False


def probe() -> DeviceState:
    percent, charging = probe_battery()
    return DeviceState(battery_percent=percent, charging=charging, online=probe_online())


class DeviceMonitor:
    """Keeps a cached ``DeviceState`` fresh from a background thread.

    ``state()`` is a field read, so routing never waits on the file system.
    Values set by the app (``set(online=False)``) override the probe until
    cleared with ``set(online=None)``.
    """

    def __init__(self, interval_s: float = 10.0, *, start: bool = True):
        self._interval = interval_s
        self._overrides: dict[str, object] = {}
        self._probed = probe()
        self._state = self._probed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if start:
            self._thread = threading.Thread(target=self._run, name="edge-moma-device", daemon=True)
            self._thread.start()

    def state(self) -> DeviceState:
        return self._state

    def set(self, **overrides: object) -> None:
        """Override probed fields (``battery_percent``, ``charging``, ``online``)."""
        for key, value in overrides.items():
            if key not in DeviceState.__dataclass_fields__:
                raise TypeError(f"unknown device field {key!r}")
            if value is None:
                self._overrides.pop(key, None)
            else:
                self._overrides[key] = value
        self._state = replace(self._probed, **self._overrides)  # type: ignore[arg-type]

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._probed = probe()
            self._state = replace(self._probed, **self._overrides)  # type: ignore[arg-type]

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
