"""The daemon process: its Unix socket, who may connect, one instance, clean shutdown.

- The socket is created mode 0600 (umask around ``bind``) in a directory of
  mode 0700 owned by the daemon's user; a directory anyone else can enter is
  refused rather than silently tightened.
- One daemon per socket: a ``<socket>.pid`` file held with ``flock`` names the
  running pid ("already running, pid N"); a socket file left by a daemon that
  died is stale and replaced. The pid file is opened without following a
  symbolic link and must be a regular file of ours with one link: a link
  planted there is refused, never written through.
- Every connection's peer uid is read with ``SO_PEERCRED`` and checked against
  ``[server] allowed_uids`` (default: the daemon's own) before any byte of
  HTTP is parsed; others are closed at once.
- Connections: at most ``[server] max_connections``, each closed when it idles
  or its request trickles in past the timeouts (``connection_guard.py``); the
  file-descriptor limit is raised to fit them.
- SIGTERM / SIGINT (``Graceful``): stop accepting, give requests in flight
  ``[server] grace_s``, then cancel generations between two tokens: their
  requests are answered with an OpenAI-style error (a final SSE error event and
  ``[DONE]`` for a stream) and logged as cancelled. A request whose target does
  not stop (a remote that never answers) is answered ``CANCEL_WAIT_S`` later and
  logged as cancelled by ``Runtime.close``. The decision log is flushed, the
  socket and pid file removed, and the process ends at once (``_exit_now``): it
  exits within ``grace_s`` + 1 s.
- Under systemd socket activation (``LISTEN_FDS``) the socket passed as fd 3
  is used as is and left for systemd to remove.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import resource
import signal
import socket
import stat
import struct
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from ..config import APP_NAME, Config, load_config
from ..errors import DaemonError
from . import heap
from .connection_guard import close_unfinished, guarded, sweep

if TYPE_CHECKING:
    from .server import Service

logger = logging.getLogger(__name__)

SOCKET_NAME = "edge-moma.sock"
_BACKLOG = 512  # connections the kernel queues; asyncio accepts up to this many at once
_FDS_BESIDES_CONNECTIONS = 256  # models, the log, ONNX Runtime, the listener...
SD_LISTEN_FDS_START = 3
_UCRED = struct.Struct("3i")  # pid, uid, gid


def default_socket_path() -> Path:
    """``edge-moma.sock`` in the user runtime dir (``$XDG_RUNTIME_DIR/edge-moma`` on Linux).

    Without ``$XDG_RUNTIME_DIR`` platformdirs falls back to ``/tmp/runtime-<uid>``
    and warns; the fallback is fine (the daemon makes its directory 0700), so
    the warning is not passed on to users.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Path(platformdirs.user_runtime_dir(APP_NAME)) / SOCKET_NAME


def socket_path(config: Config, override: str | os.PathLike[str] | None = None) -> Path:
    """The socket to serve on: ``--socket``, else ``[server] socket``, else the default."""
    chosen = override or config.server.socket
    return Path(chosen).expanduser().absolute() if chosen else default_socket_path()


def running_daemon(config: Config) -> dict[str, Any]:
    """The daemon serving on the config's socket, as its ``/healthz`` says (for ``doctor``)."""
    from .client import Client

    path = socket_path(config)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:  # first a raw probe: httpcore leaves a socket it failed to connect unclosed
            probe.connect(str(path))
        except OSError:
            return {"socket": str(path), "running": False}
    try:
        with Client(path, timeout=2.0) as client:
            return {"socket": str(path), "running": True, **client.health()}
    except DaemonError:
        return {"socket": str(path), "running": False}


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """``(pid, uid, gid)`` of the process at the other end of a Unix socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return pid, uid, gid


def private_dir(path: Path) -> None:
    """Create ``path`` mode 0700, or check an existing one is ours and closed to others."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.stat()
    except (OSError, ValueError) as exc:  # a file in the way, no permission, a NUL byte
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise DaemonError(
            f"cannot use {path} as the socket directory ({why}); choose another with --socket"
        ) from None
    if st.st_uid != os.geteuid():
        raise DaemonError(
            f"the socket directory {path} belongs to uid {st.st_uid}, not {os.geteuid()}; "
            "choose a directory of your own with --socket"
        )
    if st.st_mode & 0o077:
        raise DaemonError(
            f"the socket directory {path} is mode {stat.S_IMODE(st.st_mode):04o}; other users "
            f"could reach the socket. Use a private directory (chmod 700 {path}) or --socket"
        )


@contextlib.contextmanager
def single_instance(sock_path: Path) -> Iterator[Path]:
    """Hold ``<socket>.pid`` (flock) for the daemon's life; refuse if another holds it."""
    pid_path = sock_path.with_name(sock_path.name + ".pid")
    fd = _open_pid_file(pid_path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise DaemonError(
                f"edge-moma is already running, pid {pid} (socket {sock_path}); "
                f"stop it first (kill {pid}) or serve on another --socket"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield pid_path
        finally:
            with contextlib.suppress(OSError):
                pid_path.unlink()
    finally:
        os.close(fd)


def _open_pid_file(path: Path) -> int:
    """Open (creating) the pid file; refuse a symbolic link, or anything but our own file."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DaemonError(
                f"{path} is a symbolic link; the daemon never writes through one. "
                f"Remove it (rm {path}) or serve on another --socket"
            ) from None
        raise DaemonError(f"cannot open the pid file {path}: {exc}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_nlink != 1:
        os.close(fd)
        raise DaemonError(
            f"{path} is not a plain file of this user (a hard link or someone else's); "
            "remove it or serve on another --socket"
        )
    return fd


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft limit on open files to ``wanted`` (within the hard one); the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
        except (OSError, ValueError) as exc:
            logger.warning("cannot raise the open-file limit to %d: %s", wanted, exc)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        logger.warning(
            "the open-file limit is %d; [server] max_connections needs about %d "
            "(raise LimitNOFILE= or ulimit -n, or lower max_connections)",
            soft,
            wanted,
        )
    return int(soft)


def bind_socket(path: Path, backlog: int = 1024) -> socket.socket:
    """A listening socket at ``path`` (mode 0600), replacing a stale socket file."""
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise DaemonError(f"{path} exists and is not a socket; remove it or choose --socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:  # nobody listens: left by a daemon that died
            logger.info("replacing the stale socket %s", path)
            path.unlink()
        else:
            pid = peer_credentials(probe)[0]
            raise DaemonError(f"a daemon is already listening on {path}, pid {pid}")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        raise DaemonError(f"cannot create the socket {path}: {exc}") from exc
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def activated_socket() -> socket.socket | None:
    """The listening socket systemd passed (socket activation), if any."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    if int(os.environ.get("LISTEN_FDS", "0")) < 1:
        return None
    for key in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(key, None)
    sock = socket.socket(fileno=SD_LISTEN_FDS_START)
    if sock.family != socket.AF_UNIX:
        raise DaemonError(
            "systemd passed a socket that is not a Unix socket; use ListenStream=PATH"
        )
    sock.setblocking(False)
    return sock


class CoalescedWrites:
    """A transport whose writes in one event-loop step leave as one ``send()``.

    uvicorn writes a response's status line and headers, then its body, as two
    writes; on a Unix socket each wakes the client, and the daemon spent more
    of its CPU in those two system calls than in either ONNX model. Writes are
    joined and flushed when the loop finishes the step; ``close`` flushes first.
    Everything else is the wrapped transport's.
    """

    def __init__(self, transport: Any):
        self._transport = transport
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(bytes(data))

    def _flush(self) -> None:
        data, self._pending = b"".join(self._pending), []
        if data and not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def peer_checked(base: type[Any], allowed: frozenset[int]) -> type[Any]:
    """uvicorn's HTTP protocol class: peer uid checked, writes coalesced (``CoalescedWrites``)."""

    class PeerChecked(base):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(CoalescedWrites(transport))
            sock = transport.get_extra_info("socket")
            try:
                pid, uid, _ = peer_credentials(sock)
            except (OSError, AttributeError, TypeError):
                pid, uid = 0, -1
            if uid not in allowed:
                logger.warning("refused a connection from uid %s (pid %s)", uid, pid)
                transport.close()

    return PeerChecked


def graceful(base: type[Any], service: Service, grace_s: float) -> type[Any]:
    """uvicorn's ``Server`` with the daemon's shutdown (module docstring) and the sweep of
    connections past their deadlines."""
    from .server import CANCEL_WAIT_S

    async def until(done: Callable[[], bool], seconds: float) -> bool:
        end = time.monotonic() + seconds
        while not done() and time.monotonic() < end:
            await asyncio.sleep(0.02)
        return done()

    class Graceful(base):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            self._sweeper = asyncio.get_running_loop().create_task(
                sweep(self.server_state.connections)
            )

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            logger.info("shutting down: requests in flight get %g s", grace_s)
            self._sweeper.cancel()
            service.stopping = True
            for server in self.servers:
                server.close()
            for sock in sockets or []:
                sock.close()
            state = self.server_state
            for connection in list(state.connections):
                connection.shutdown()  # idle ones close; the others after their answer

            if not await until(lambda: not state.tasks, grace_s):
                unfinished = close_unfinished(state.connections)
                cancelled = service.cancel_all()
                logger.warning(
                    "grace period over: cancelled %d generations, closed %d requests still "
                    "arriving",
                    cancelled,
                    unfinished,
                )
                if not await until(lambda: not state.tasks, CANCEL_WAIT_S):
                    logger.warning(
                        "answering %d requests whose target did not stop", service.abandon()
                    )
                    if not await until(lambda: not state.tasks, 0.2):
                        for task in list(state.tasks):
                            task.cancel()
            for connection in list(state.connections):
                connection.transport.close()
            await self.lifespan.shutdown()

    return Graceful


def serve(
    config_path: str | os.PathLike[str] | None = None,
    socket_override: str | os.PathLike[str] | None = None,
    *,
    http: str = "auto",
) -> None:
    """Run the daemon in the foreground until SIGTERM or SIGINT, then end the process
    (``_exit_now``, exit code 0); it returns only if the daemon failed to start."""
    try:
        import uvicorn
        from uvicorn.config import HTTP_PROTOCOLS
        from uvicorn.importer import import_from_string
    except ImportError as exc:
        raise DaemonError(
            f"the daemon needs its server extra ({exc}): pip install 'edge-moma[server]'"
        ) from None

    from ..runtime import Runtime
    from .server import Service, create_app, serving_config

    config = serving_config(load_config(config_path))
    settings = config.server
    listener = activated_socket()
    path = socket_path(config, socket_override)
    if listener is not None:
        path = Path(listener.getsockname())
    else:
        private_dir(path.parent)
    with single_instance(path):
        heap.limit_arenas()  # before the runtime starts its threads
        runtime = Runtime(config)
        try:
            own = listener is None
            listener = listener or bind_socket(path)
        except BaseException:
            runtime.close()
            raise
        service = Service(runtime, config_path=str(config.path))
        app = create_app(service, max_body_bytes=settings.max_body_bytes)
        allowed = frozenset(settings.allowed_uids or [os.geteuid()])
        raise_fd_limit(settings.max_connections + _BACKLOG + _FDS_BESIDES_CONNECTIONS)
        base = import_from_string(HTTP_PROTOCOLS[http])
        protocol = peer_checked(guarded(base, settings, service.metrics.connection_closed), allowed)
        server_class = graceful(uvicorn.Server, service, settings.grace_s)
        server = server_class(
            uvicorn.Config(
                app,
                http=protocol,
                lifespan="on",
                access_log=False,
                log_config=None,
                # A Unix socket has no proxies in front and needs no "server" header:
                # both would be work on every request.
                proxy_headers=False,
                server_header=False,
                timeout_keep_alive=settings.idle_timeout_s,  # type: ignore[arg-type]
                backlog=_BACKLOG,
                ws="none",
            )
        )
        service.connection_count = lambda: len(server.server_state.connections)
        # uvicorn re-raises the signal it stopped on once it is done; let that be a no-op
        # so the socket and pid file below are still removed and the exit code is 0.
        previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGTERM, signal.SIGINT)}
        logger.info("serving on %s (pid %d, %s)", path, os.getpid(), runtime.router_version)
        try:
            server.run(sockets=[listener])
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if own:
                with contextlib.suppress(OSError):
                    path.unlink()
            listener.close()
            if not server.started:  # startup failed: the lifespan did not close it
                service.close(0)
    if server.started:
        _exit_now()


def _exit_now() -> None:
    """End the process once the daemon has stopped: the log is flushed and closed, the
    socket and pid file removed. Tearing the interpreter down took 0.4 s more (freeing the
    models and ONNX sessions), and with a generation still inside llama.cpp (a prompt being
    evaluated has no token boundary to stop at) it would free the model under it: a crash."""
    from .server import GENERATION_THREAD

    busy = [t for t in threading.enumerate() if t.name == GENERATION_THREAD and t.is_alive()]
    if busy:
        logger.warning("%d generations did not stop in time; exiting without them", len(busy))
    logger.info("stopped")
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
