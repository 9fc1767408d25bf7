"""Deprecated alias of ``edge_moma.serve.client`` (``from edge_moma.serve import Client``)."""

from __future__ import annotations

from ._lazy import moved
from .serve.client import AsyncClient, Client

moved("edge_moma.client", "edge_moma.serve.client")

__all__ = ["AsyncClient", "Client"]
