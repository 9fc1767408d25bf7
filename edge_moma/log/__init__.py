"""The decision log: SQLite schema, store, writer thread, sinks, spend ledger and fleet sync."""
