"""A raw TCP fake upstream for connection-level tests: it answers with exactly the bytes a test
scripts, so it can write what no HTTP server library would (bytes past ``Content-Length``, a
second response nobody asked for, an answer split across requests) and it reports what arrived
on which connection."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# A script gets the request head and body and returns the raw bytes to write (or a list of
# byte pieces, written one after the other).
Script = Callable[[bytes, bytes], bytes | list[bytes]]


@dataclass
class RawUpstream:
    scripts: list[Script] = field(default_factory=list)  # one per request, in order
    heads: list[tuple[int, bytes, bytes]] = field(default_factory=list)  # (conn, head, body)
    after: list[bytes] = field(default_factory=list)  # written on the last conn when asked
    connections: int = 0
    port: int = 0
    closed: threading.Event = field(default_factory=threading.Event)  # a peer closed
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = self.connections
        self._writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length) if length else b""
                self.heads.append((conn, head, body))
                script = self.scripts.pop(0) if self.scripts else _empty
                out = script(head, body)
                for piece in out if isinstance(out, list) else [out]:
                    writer.write(piece)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.closed.set()
            writer.close()

    def write_late(self, loop: asyncio.AbstractEventLoop, data: bytes) -> None:
        """Write ``data`` on the newest connection, after its answer went out."""

        async def write() -> None:
            self._writers[-1].write(data)
            await self._writers[-1].drain()

        asyncio.run_coroutine_threadsafe(write(), loop).result(10)


def _empty(head: bytes, body: bytes) -> bytes:
    return b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n"


@contextmanager
def raw_upstream() -> Iterator[tuple[RawUpstream, str, asyncio.AbstractEventLoop]]:
    """Run a ``RawUpstream`` on loopback in a thread; yield it, its URL and its loop."""
    fake = RawUpstream()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    port: list[int] = []
    server: list[asyncio.Server] = []

    async def start() -> None:
        srv = await asyncio.start_server(fake._serve, "127.0.0.1", 0)
        server.append(srv)
        port.append(srv.sockets[0].getsockname()[1])
        fake.port = port[0]
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop)
    if not started.wait(20):
        raise TimeoutError("raw upstream did not start in 20 s")
    try:
        yield fake, f"http://127.0.0.1:{port[0]}", loop
    finally:

        async def stop() -> None:
            server[0].close()
            for w in fake._writers:
                w.close()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
