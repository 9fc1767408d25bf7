"""The local daemon: the OpenAI-compatible server, its socket, batching, client and metrics."""
