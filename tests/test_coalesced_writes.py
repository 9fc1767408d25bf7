"""The daemon's write coalescing: one send per event-loop step, order kept, close flushes."""

from __future__ import annotations

import asyncio
import socket

from edge_moma.serve.daemon import CoalescedWrites


async def _pair() -> tuple[CoalescedWrites, socket.socket, list[int]]:
    """A real Unix socket transport wrapped, its peer, and a log of the wrapped writes' sizes."""
    ours, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
    sizes: list[int] = []
    real_write = transport.write

    def write(data: bytes) -> None:
        sizes.append(len(data))
        real_write(data)

    transport.write = write  # type: ignore[method-assign]
    return CoalescedWrites(transport), peer, sizes


def _read(peer: socket.socket, n: int) -> bytes:
    peer.settimeout(5)
    out = b""
    while len(out) < n:
        out += peer.recv(65536)
    return out


def test_writes_of_one_step_leave_as_one_in_order() -> None:
    async def main() -> None:
        wrapped, peer, sizes = await _pair()
        wrapped.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        wrapped.write(bytearray(b"ok"))
        assert sizes == []  # nothing sent until the step ends
        await asyncio.sleep(0)
        assert sizes == [40]
        assert _read(peer, 40).endswith(b"\r\n\r\nok")
        wrapped.write(b"next")
        await asyncio.sleep(0)
        assert sizes == [40, 4]
        wrapped.close()
        peer.close()

    asyncio.run(main())


def test_close_flushes_what_is_pending() -> None:
    async def main() -> None:
        wrapped, peer, _ = await _pair()
        wrapped.write(b"last words")
        wrapped.close()
        await asyncio.sleep(0.01)
        assert _read(peer, 10) == b"last words"
        assert peer.recv(10) == b""  # then the connection is closed
        assert wrapped.is_closing()  # the rest is the wrapped transport's
        peer.close()

    asyncio.run(main())
