"""The local daemon: an OpenAI-compatible API over one ``Runtime`` on a Unix socket.

``server`` (the ASGI app: bodies, errors, streaming), ``batching`` (routing
requests of one event-loop step decided together), ``metrics`` (Prometheus
text), ``daemon`` (the socket, its permissions, signals, ``serve``) and
``client`` (``Client`` / ``AsyncClient`` for apps), with ``connection_guard``
(timeouts and the connection cap) and ``heap`` (handing freed memory back). The server needs the
``[server]`` extra; the client only httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy

if TYPE_CHECKING:
    from .client import AsyncClient, Client
    from .daemon import serve

_EXPORTS = {"AsyncClient": ".client", "Client": ".client", "serve": ".daemon"}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy(__name__, _EXPORTS)
