"""A TCP proxy in front of Redis that counts round trips, for the peers benchmark's counting runs.

A round trip is a client's send that waits for the server: on each connection,
the proxy counts the first chunk the client sends and every chunk it sends after
data came back from the server. A pipeline of any length sent at once is one
round trip; each of its replies coming back in pieces changes nothing; a
blocking pop that times out and is sent again is two. Replies the server pushes
unasked (pub/sub messages) make the client's next send count, as it would after
any reply.

The proxy runs an asyncio loop in a thread of the caller's process: it slows the
workers behind it (which is why throughput is measured without it) but not what
it counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType


class _Flow:
    """One client connection's state: whether the server has answered since the client last sent."""

    __slots__ = ("answered",)

    def __init__(self) -> None:
        self.answered = True


class CountingProxy:
    """``with CountingProxy(host, port) as proxy``: clients connect to ``proxy.url``; ``proxy.round_trips``."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.round_trips = 0  # written only by the loop's thread, summed over every connection
        self.connections = 0
        self.listen_port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="counting-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.listen_port}/0"

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.listen_port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            server_in, server_out = await asyncio.open_connection(self.host, self.port)
        except OSError:
            client_out.close()
            self._tasks.discard(task)
            return
        self.connections += 1
        flow = _Flow()
        try:
            await asyncio.gather(
                self._pump(client_in, server_out, flow, upstream=True),
                self._pump(server_in, client_out, flow, upstream=False),
            )
        finally:
            for writer in (client_out, server_out):
                writer.close()
            self._tasks.discard(task)

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, flow: _Flow, upstream: bool
    ) -> None:
        try:
            while data := await source.read(65536):
                if upstream:
                    if flow.answered:
                        self.round_trips += 1
                        flow.answered = False
                else:
                    flow.answered = True
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            # One side hung up: so does the other, which ends the other pump too.
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                sink.close()
