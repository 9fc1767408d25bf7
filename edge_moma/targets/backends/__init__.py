"""Backends: the one protocol every target implements (``base``) and the two built-in kinds.

``local`` runs a GGUF model with llama.cpp, ``remote`` calls an OpenAI-compatible
endpoint; each is created on first use through the kinds registry
(``targets/kinds.py``), so routing never imports them.
"""

from __future__ import annotations

from .base import Backend, BackendOptions, ChatRequest, Completion

__all__ = ["Backend", "BackendOptions", "ChatRequest", "Completion"]
