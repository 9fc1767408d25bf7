"""Repeated warnings once per interval per kind, with a count of the ones held back."""

from __future__ import annotations

import logging
import time

import pytest

from edge_moma._throttled_log import ThrottledLog


def test_a_repeated_warning_is_written_once_per_interval_with_the_count_held_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    throttled = ThrottledLog(logging.getLogger("edge_moma.test"), every_s=0.3)
    with caplog.at_level(logging.INFO, logger="edge_moma.test"):
        written = [throttled.warning("full", "the disk is full (%d)", i) for i in range(100)]
        assert throttled.info("other", "another kind of message")  # its own interval
        time.sleep(0.35)
        assert throttled.warning("full", "the disk is full (%d)", 100)
    assert written.count(True) == 1 and written[0]
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "the disk is full (0)",
        "another kind of message",
        "the disk is full (100) (99 more like this in the last 0.3 s not shown)",
    ]
