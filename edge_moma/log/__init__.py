"""The decision log: every decision, its attempts and feedback, in SQLite, and its sync.

``writer.DecisionLog`` is the runtime's sink (a queue and a writer thread);
``store.LogStore`` reads and writes the file (``schema``: tables and
migrations); ``sinks.LogRecord`` is what every sink gets; ``ledger`` keeps the
spend the budgets read; ``sync`` writes the batches the fleet collects.
Importing any of it loads no model, backend or numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy

if TYPE_CHECKING:
    from .ledger import Ledger, MemoryLedger
    from .sinks import DecisionSink, LogRecord
    from .store import Feedback, LogStore
    from .sync import export_batch
    from .writer import DecisionLog, LogSettings, exit_on_sigterm

_EXPORTS = {
    "DecisionLog": ".writer",
    "DecisionSink": ".sinks",
    "Feedback": ".store",
    "Ledger": ".ledger",
    "LogRecord": ".sinks",
    "LogSettings": ".writer",
    "LogStore": ".store",
    "MemoryLedger": ".ledger",
    "exit_on_sigterm": ".writer",
    "export_batch": ".sync",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy(__name__, _EXPORTS)
