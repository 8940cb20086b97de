"""The one background thread that owns all Nacos I/O of a process, and how other code reaches it.

Sync callers block on a ``concurrent.futures.Future`` with a timeout; async callers on any other loop
await a wrapped future, so their loop never blocks and an app that blocks its own loop can never starve
our heartbeats.

Fork: gRPC's core cannot survive a ``fork`` while a channel is open or a thread is inside it (the child
aborts or hangs). So just before a fork the runtime *suspends*: every connection closes its channel and
drops it, the loop stops and its thread ends. The parent resumes right after the fork (connections come
back and redo their registrations, subscriptions and listeners); the child forgets the parent's runtime
and builds its own on first use.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import os
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

log = logging.getLogger("nacos.auto")

T = TypeVar("T")

_lock = threading.Lock()
_current: Runtime | None = None
_fork_hooks: list[Callable[[], None]] = []


class Suspendable(Protocol):
    """Something holding gRPC resources that must be released around a fork."""

    async def suspend(self) -> None: ...

    def resume(self) -> None: ...


class Runtime:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.pid = os.getpid()
        self.suspendables: weakref.WeakSet[Any] = weakref.WeakSet()
        self.suspended = False
        self._start_thread()

    def _start_thread(self) -> None:
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="nacos-serving-runtime", daemon=True)
        self.thread.start()
        self._ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()

    def suspend(self, timeout: float = 5.0) -> None:
        """Release every gRPC resource and stop the thread (before a fork)."""
        if self.suspended or self.in_runtime() or not self.thread.is_alive():
            return

        async def release() -> None:
            for item in list(self.suspendables):
                await item.suspend()
            gc.collect()  # gRPC's aio engine shuts down only when its last object is gone

        try:
            asyncio.run_coroutine_threadsafe(release(), self.loop).result(timeout)
        except Exception as exc:  # pragma: no cover - best effort; the fork goes ahead anyway
            log.warning("could not release Nacos connections before fork: %s", exc)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)
        self.suspended = True

    def resume(self) -> None:
        """Start the thread again and let connections reconnect (in the parent, after a fork)."""
        if not self.suspended:
            return
        self.suspended = False
        self._start_thread()
        for item in list(self.suspendables):
            self.loop.call_soon_threadsafe(item.resume)

    def in_runtime(self) -> bool:
        return threading.current_thread() is self.thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        """Run ``coro`` on the runtime and wait for it (from sync code, never from the runtime itself)."""
        if self.in_runtime():
            coro.close()
            raise RuntimeError("a blocking call was made from the nacos-serving runtime thread")
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` run on the runtime, from any event loop (or the runtime's own)."""
        if self.in_runtime():
            return await coro
        return await asyncio.wrap_future(self.submit(coro))

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        if not self.in_runtime():
            self.thread.join(5)


def runtime() -> Runtime:
    """The process's runtime, started on first use (and again in a forked child)."""
    global _current
    current = _current
    if current is not None and current.pid == os.getpid():
        return current
    with _lock:
        if _current is None or _current.pid != os.getpid():
            _current = Runtime()
        return _current


def on_fork_in_child(hook: Callable[[], None]) -> None:
    """Register state to drop in a forked child (clients, caches bound to the parent's runtime)."""
    _fork_hooks.append(hook)


def _before_fork() -> None:
    current = _current
    if current is not None and current.pid == os.getpid():
        current.suspend()


def _after_fork_in_parent() -> None:
    current = _current
    if current is not None and current.pid == os.getpid():
        current.resume()


def _after_fork_in_child() -> None:
    global _current, _lock
    _current = None  # the parent's thread does not exist here; its loop must not be touched
    _lock = threading.Lock()
    for hook in _fork_hooks:
        try:
            hook()
        except Exception:  # pragma: no cover - a hook must not break the child
            log.exception("fork hook failed")


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)
