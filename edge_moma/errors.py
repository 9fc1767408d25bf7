"""The one error tree of edge-moma.

Every error a user can act on derives from ``EdgeMomaError`` and says what was
wrong and what to do. Errors from our dependencies (llama_cpp, onnxruntime,
sqlite, HTTP) are turned into ours where we call them (``raise ... from exc``)::

    EdgeMomaError
    ├── ConfigError            a config file is missing, unreadable or invalid (key_path)
    ├── ModelFileError         a GGUF / ONNX file cannot be found or resolved
    ├── BundleError            a router bundle is corrupt, mismatched or incompatible
    ├── DataError              a training / evaluation file is malformed (path, line)
    ├── RequestError           a request (messages, options, context) is malformed (param, code)
    │   ├── TargetMasked       the caller asked for a pinned target only, and a rule masks it
    │   └── DecisionNotFound   no logged decision has this id, or the prefix is ambiguous
    ├── MissingDependency      an optional extra (training, benchmarks, server) is not installed
    ├── LogError               the decision log database cannot be read or written (path)
    ├── DaemonError            the local daemon cannot start, or answered with an error (status)
    ├── ApiError               the daemon answers a request with an HTTP error (status, type, code)
    └── TargetError            a routing target failed to answer (target)
        ├── TargetUnavailable  a target cannot be used at all right now (not loaded, masked)
        ├── TargetBusy         a local model's queue is full; retry later (retry_after_s)
        ├── AllTargetsFailed   every target of a decision's ranking failed (attempts)
        └── StreamInterrupted  a stream broke after delivering text; not switched (text, attempts)

Every exception a caller can receive is here (the built-in agents' parsers use
private signals that never leave them), and this module imports nothing of
edge-moma at run time, so any layer may raise and catch every error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .attempt import Attempt


class EdgeMomaError(Exception):
    """Base of every error raised on purpose by edge-moma."""


class ConfigError(EdgeMomaError):
    """A config file is missing or invalid; ``key_path`` names the offending key."""

    def __init__(self, message: str, *, path: str | None = None, key_path: str | None = None):
        self.path = path
        self.key_path = key_path
        where = ""
        if path:
            where = f"{path}: "
        if key_path:
            where += f"{key_path}: "
        super().__init__(f"{where}{message}")


class ModelFileError(EdgeMomaError):
    """A model file named in the config cannot be found."""


class BundleError(EdgeMomaError):
    """A router bundle (ONNX files + model card) cannot be used."""


class DataError(EdgeMomaError):
    """A training or evaluation data file is malformed."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        where = ""
        if path:
            where = f"{path}:{line}: " if line else f"{path}: "
        super().__init__(f"{where}{message}")


class MissingDependency(EdgeMomaError):
    """A feature needs a package from an optional extra that is not installed."""


class RequestError(EdgeMomaError):
    """A request to route or complete is malformed (empty messages, bad option).

    ``param`` names the offending field where there is one (``messages[1].role``,
    ``context.online``) and ``code`` says what kind of mistake it is
    (``invalid_type``, ``unknown_parameter``), as the daemon's OpenAI-style errors
    report them; both are ``None`` when not known.
    """

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        self.param = param
        self.code = code
        super().__init__(message)


class TargetMasked(RequestError):
    """The caller pinned ``target`` with ``target_only`` and a rule (``masked_by``) masks it.

    Without ``target_only`` the request would have gone to the best eligible
    on-device target instead; nothing was sent anywhere.
    """

    def __init__(self, message: str, *, target: str, masked_by: str):
        self.target = target
        self.masked_by = masked_by
        super().__init__(message, param="target")


class DecisionNotFound(RequestError):
    """No logged decision has this id or id prefix, or the prefix names several
    (``matches`` lists a few of them then)."""

    def __init__(self, message: str, *, matches: tuple[str, ...] = ()):
        self.matches = matches
        super().__init__(message, param="decision_id")


class LogError(EdgeMomaError):
    """The decision log (SQLite) is locked, read-only, full or corrupt; ``path`` names it."""

    def __init__(self, message: str, *, path: str | None = None):
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class TargetError(EdgeMomaError):
    """A routing target (model or agent) failed to answer."""

    def __init__(self, message: str, *, target: str):
        self.target = target
        super().__init__(f"{target}: {message}")


class TargetUnavailable(TargetError):
    """A target cannot be used right now (missing file, failed load, masked)."""


class TargetBusy(TargetError):
    """A local model already has ``[runtime] max_queue`` requests waiting; not a failure.

    The executor falls back without counting it against the target's circuit
    breaker; the daemon answers 429 with ``Retry-After: retry_after_s``.
    """

    def __init__(self, message: str, *, target: str, retry_after_s: float = 1.0):
        self.retry_after_s = retry_after_s
        super().__init__(message, target=target)


class AllTargetsFailed(TargetError):
    """Every target in the decision's ranking failed; ``attempts`` says how."""

    def __init__(
        self, attempts: tuple[Attempt, ...], note: str = "", retry_after_s: float | None = None
    ):
        self.attempts = attempts
        self.retry_after_s = retry_after_s  # set when a target refused for a full queue
        detail = "; ".join(f"{a.target}: {a.error}" for a in attempts) or "no target to try"
        super().__init__(f"every target failed ({detail}){note}", target="*")


class StreamInterrupted(TargetError):
    """A stream failed after delivering text; it is not switched to another target.

    ``text`` is what the reader already received; ``attempts`` every try.
    """

    def __init__(self, target: str, error: str, text: str, attempts: tuple[Attempt, ...]):
        self.text = text
        self.attempts = attempts
        super().__init__(
            f"the answer stopped after {len(text)} characters and was not switched to "
            f"another target: {error}",
            target=target,
        )


class DaemonError(EdgeMomaError):
    """The daemon cannot start (socket in use, unsafe directory) or answered with an error.

    ``status`` is the HTTP status (0 when there was no answer) and ``type`` /
    ``code`` come from the OpenAI-style error object the daemon returned.
    """

    def __init__(
        self, message: str, *, status: int = 0, type: str | None = None, code: str | None = None
    ):
        self.status = status
        self.type = type
        self.code = code
        super().__init__(message)


class ApiError(EdgeMomaError):
    """An answer of the daemon other than 200, as an OpenAI-style error object.

    Raised by the server while it reads a request (``status`` 4xx) and made
    from library errors on the way out; ``body()`` is the JSON it answers,
    ``headers`` (``Retry-After``) go with it. The client raises ``DaemonError``.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.type = status, message, type
        self.param, self.code, self.headers = param, code, dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }
