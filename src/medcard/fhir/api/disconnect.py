"""Stop the work of a request whose client has gone: its handler is cancelled, and with it its query.

Without this, a search the client gave up on runs to its end in PostgreSQL (minutes, for the
worst), holding a connection of the pool and the backend's memory. :class:`CancelOnDisconnect`
watches the connection for ``http.disconnect``, in a task of its own, while the request's handler
runs in the request's task; when the client goes before the response is complete, the request's
task is cancelled (and the cancellation taken back once the handler has stopped, so the server's
own cancellations stay what they are). psycopg 3 answers the cancellation of a coroutine waiting
for a statement by sending PostgreSQL a cancel request for it and waiting until the server
stopped, so the connection goes back to the pool idle; the request's transaction is rolled back.
The handler does not run in a task of its own: what follows its answer (the request's log line)
then comes at once, not a turn of the event loop later.

Reading the connection must not take the request body from the handler, nor read a large
upload into memory ahead of it. So the watch starts only once the body is complete: at once for
a request without a body, else when the handler has read the last chunk. Until then the handler
reads the connection itself, as it would without this module (a handler that never reads its
body is not watched; it is one that fails fast). What the watch reads is handed on to the
handler in order, so Starlette's ``request.body()``, its form parser and a streaming response's
own watch for disconnects see what they would see without it. A response that is complete is
never cancelled: after it, the server reports ``http.disconnect`` to every reader.
"""

from __future__ import annotations

import asyncio
from collections import deque

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Logged for a request whose client went away before its answer (nginx's code for it).
CLIENT_CLOSED_REQUEST = 499
_DISCONNECT: Message = {"type": "http.disconnect"}


class CancelOnDisconnect:
    """ASGI middleware: cancel the handler of a request whose client disconnected."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = asyncio.current_task()
        assert request is not None
        watch = _Watch(receive, send, has_body=_has_body(scope))
        watcher = asyncio.create_task(watch.run(request))
        try:
            await self.app(scope, watch.receive, watch.send)
        except (asyncio.CancelledError, ClientDisconnect):
            if not watch.disconnected:
                raise
            if watch.cancelled:
                watch.cancelled = False
                if request.uncancel() > 0:
                    raise  # cancelled by the server as well (shutdown)
            # The client is gone: the answer goes nowhere (the server drops it); the access log shows 499.
            await send({"type": "http.response.start", "status": CLIENT_CLOSED_REQUEST, "headers": []})
        finally:
            watcher.cancel()  # not awaited: the loop runs the cancelled task to its end
            if watch.cancelled:  # the handler turned the cancellation into another error
                request.uncancel()


def _has_body(scope: Scope) -> bool:
    for name, value in scope.get("headers") or ():
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"0", b"")):
            return True
    return False


class _Watch:
    """The connection of one request, shared between its handler and the watch for a disconnect."""

    def __init__(self, receive: Receive, send: Send, *, has_body: bool) -> None:
        self._receive = receive
        self._send = send
        self.body_done = asyncio.Event()
        if not has_body:
            self.body_done.set()
        self.response_done = False
        self.disconnected = False
        self.cancelled = False  # the watch cancelled the request's task
        self._read: deque[Message] = deque()  # what the watch read, for the handler
        self._arrived = asyncio.Event()

    async def run(self, request: asyncio.Task[None]) -> None:
        """Once the body is complete, read the connection until the client goes (or the response is done).

        The request's task is suspended inside the handler whenever this runs (nothing else of the
        request awaits), so the cancellation lands in the handler.
        """
        await self.body_done.wait()
        while True:
            message = await self._receive()
            self._read.append(message)  # the empty body of a request without one, or the disconnect
            self._arrived.set()
            if message["type"] == "http.disconnect":
                self.disconnected = not self.response_done
                if self.disconnected:
                    self.cancelled = True
                    request.cancel()
                return

    async def receive(self) -> Message:
        """The handler's ``receive``: the connection itself until the body is complete, then what the watch read."""
        if not self.body_done.is_set():
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True  # gone in the middle of the body (Starlette raises ClientDisconnect)
                self.body_done.set()
            elif not message.get("more_body", False):
                self.body_done.set()
            return message
        while not self._read:
            if self.disconnected or self.response_done:
                return _DISCONNECT
            self._arrived.clear()
            await self._arrived.wait()
        return self._read.popleft()

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.response_done = True  # before the server can report the end of the response as a disconnect
        await self._send(message)
