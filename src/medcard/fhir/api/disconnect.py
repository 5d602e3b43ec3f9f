"""Stop the work of a request whose client has gone: its handler is cancelled, and with it its query.

Without this, a search the client gave up on runs to its end in PostgreSQL (minutes, for the
worst), holding a connection of the pool and the backend's memory. :class:`CancelOnDisconnect`
runs each HTTP request's handler in a task of its own and watches the connection for
``http.disconnect`` while the handler runs; when the client goes before the response is
complete, the task is cancelled. psycopg 3 answers the cancellation of a coroutine waiting for
a statement by sending PostgreSQL a cancel request for it and waiting until the server stopped,
so the connection goes back to the pool idle; the request's transaction is rolled back.

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
import contextlib

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
        watch = _Watch(receive, send, has_body=_has_body(scope))
        handler = asyncio.create_task(_run(self.app, scope, watch.receive, watch.send))
        watcher = asyncio.create_task(watch.run(handler))
        try:
            await handler  # cancelling this task (server shutdown) cancels the handler too
        except (asyncio.CancelledError, ClientDisconnect):
            current = asyncio.current_task()
            if not watch.disconnected or (current is not None and current.cancelling()):
                raise
            # The client is gone: the answer goes nowhere (the server drops it); the access log shows 499.
            await send({"type": "http.response.start", "status": CLIENT_CLOSED_REQUEST, "headers": []})
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


async def _run(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    await app(scope, receive, send)


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
        self._read: asyncio.Queue[Message] = asyncio.Queue()  # what the watch read, for the handler

    async def run(self, handler: asyncio.Task[None]) -> None:
        """Once the body is complete, read the connection until the client goes (or the response is done)."""
        await self.body_done.wait()
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.disconnected = not self.response_done
                self._read.put_nowait(message)
                if self.disconnected:
                    handler.cancel()
                return
            self._read.put_nowait(message)  # the empty body of a request without one

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
        if self._read.empty() and (self.disconnected or self.response_done):
            return _DISCONNECT
        return await self._read.get()

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.response_done = True  # before the server can report the end of the response as a disconnect
        await self._send(message)
