"""Progress messages from steps running elsewhere back to the driver, through a queue.

The process and Ray executors differ only in the queue (a manager proxy, a Ray queue actor)
and in how a gone queue shows itself; the channel steps put into and the thread that hands
each message to the handler in this process are the same, so they live here once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

STOP = "__sparkle_channel_closed__"


class QueueChannel:
    """Picklable: the queue handle travels to the worker and puts from there."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def put(self, message: Any) -> None:
        self.queue.put(message)  # returns once the queue holds it: before the step's result


@contextmanager
def relayed(
    queue: Any,
    handler: Callable[[Any], None],
    *,
    gone: tuple[type[BaseException], ...],
    name: str,
) -> Iterator[QueueChannel]:
    """A channel over ``queue`` whose messages reach ``handler`` on a thread of this process;
    closing it delivers what is still in flight. ``gone``: what the queue raises once its
    owner has stopped (the run is stopping: the thread ends quietly)."""

    def pump() -> None:
        while True:
            try:
                message = queue.get()
            except gone:
                return
            if isinstance(message, str) and message == STOP:
                return
            handler(message)

    thread = threading.Thread(target=pump, name=name, daemon=True)
    thread.start()
    try:
        yield QueueChannel(queue)
    finally:
        try:
            queue.put(STOP)
        except gone:
            pass
        thread.join(timeout=10)
