"""``GatewayHttpProtocol`` sends an answer's head with its first body bytes (one write), and a
head that nothing follows at once still goes out at the end of the event-loop iteration."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from service.limits import ConnectionGuard, ConnectionLimits


class RecordingTransport(asyncio.Transport):
    """A socket transport stand-in: every write call, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[bytes] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.calls.append(bytes(data))

    def writelines(self, parts: Any) -> None:
        self.calls.append(b"".join(parts))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(
            name, default
        )


async def serve_one(app: Any, request: bytes, during: Any = None) -> RecordingTransport:
    config = uvicorn.Config(app, lifespan="off", log_level="error")
    config.load()
    state = ServerState()
    factory = ConnectionGuard(ConnectionLimits()).protocol_factory()
    protocol = factory(
        config=config, server_state=state, app_state={}, _loop=asyncio.get_running_loop()
    )
    transport = RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(request)
    if during is not None:
        await during(transport)
    while state.tasks:
        await asyncio.sleep(0)
    protocol.connection_lost(None)
    return transport


def whole_answer(body: bytes) -> Any:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        await receive()
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def test_a_whole_answer_is_one_write() -> None:
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    transport = asyncio.run(serve_one(whole_answer(b"hello"), request))
    assert len(transport.calls) == 1
    assert transport.calls[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.calls[0].endswith(b"\r\n\r\nhello")


def test_a_head_answer_without_body_bytes_is_still_sent() -> None:
    request = b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
    transport = asyncio.run(serve_one(whole_answer(b"hello"), request))
    assert b"".join(transport.calls).startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"".join(transport.calls).endswith(b"\r\n\r\n")


def test_a_head_that_waits_for_its_body_goes_out_in_the_meantime() -> None:
    async def scenario() -> RecordingTransport:
        go = asyncio.Event()

        async def app(scope: dict, receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await go.wait()
            await send({"type": "http.response.body", "body": b"late", "more_body": False})

        async def during(transport: RecordingTransport) -> None:
            for _ in range(5):  # a few loop iterations: the app sent its head and waits
                await asyncio.sleep(0)
            assert transport.calls and transport.calls[0].startswith(b"HTTP/1.1 200 OK\r\n")
            assert b"late" not in b"".join(transport.calls)
            go.set()

        return await serve_one(app, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", during)

    transport = asyncio.run(scenario())
    assert b"late" in b"".join(transport.calls)
