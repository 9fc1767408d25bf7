from __future__ import annotations

from pathlib import Path

import pytest

from edge_moma.device import DeviceMonitor, probe_battery, probe_online


def supply(root: Path, name: str, kind: str, capacity: str = "", status: str = "") -> None:
    d = root / name
    d.mkdir(parents=True)
    (d / "type").write_text(kind + "\n")
    if capacity:
        (d / "capacity").write_text(capacity + "\n")
        (d / "status").write_text(status + "\n")


def test_battery_from_power_supply_tree(tmp_path: Path) -> None:
    supply(tmp_path, "AC", "Mains")
    supply(tmp_path, "BAT0", "Battery", "42", "Discharging")
    assert probe_battery(tmp_path) == (42.0, False)


def test_no_battery_means_mains(tmp_path: Path) -> None:
    supply(tmp_path, "AC", "Mains")
    assert probe_battery(tmp_path) == (None, True)
    assert probe_battery(tmp_path / "absent") == (None, True)


def test_online_needs_a_default_route(tmp_path: Path) -> None:
    header = "Iface\tDestination\tGateway\tFlags\n"
    table = tmp_path / "route"
    table.write_text(header + "eth0\t00000000\t0101A8C0\t0003\n")
    assert probe_online(table) is True
    table.write_text(header + "eth0\t0000A8C0\t00000000\t0001\n")
    assert probe_online(table) is False


def test_monitor_overrides_and_clears() -> None:
    monitor = DeviceMonitor(start=False)
    probed = monitor.state()
    monitor.set(online=False, battery_percent=12.0)
    assert monitor.state().online is False and monitor.state().battery_percent == 12.0
    monitor.set(online=None, battery_percent=None)
    assert monitor.state() == probed
    with pytest.raises(TypeError):
        monitor.set(volume=3)
