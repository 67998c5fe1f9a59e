"""The local stack's record of AWS calls (`stack.boundary.calls`), bounded.

SdkBoundary records every AWS call the process makes, with its parameters: in a long-running
`bulk-import serve` that is 2 KB (a PutItem) to 95 KB (a BatchExecuteStatement of 25 INSERTs) per
call, hundreds of MB for an import of 100,000 users. A CallLog
keeps the latest `keep` calls and indexes them as if none had been dropped, so code that notes
`len(calls)` before a flow and reads `calls[first:]` after it works as with a list, as long as the
flow made fewer than `keep` calls (an older index raises IndexError rather than answering wrong).
Subscribers see every call as it is recorded (bench/import_run.py counts them there): counting
needs no history.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any


class CallLog:
    """A list-like record of the latest `keep` calls; see the module docstring. Thread-safe."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._calls: deque[Any] = deque(maxlen=keep)
        self._dropped = 0
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[Any], None]] = []

    def subscribe(self, subscriber: Callable[[Any], None]) -> Callable[[], None]:
        """Calls `subscriber(call)` for every call recorded from now on (in the recording thread);
        returns the unsubscribe."""
        with self._lock:
            self._subscribers.append(subscriber)
        return lambda: self._unsubscribe(subscriber)

    def _unsubscribe(self, subscriber: Callable[[Any], None]) -> None:
        with self._lock:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

    def append(self, call: Any) -> None:
        with self._lock:
            if self.keep and len(self._calls) == self.keep:
                self._dropped += 1
            if self.keep:
                self._calls.append(call)
            else:
                self._dropped += 1
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber(call)

    def clear(self) -> None:
        with self._lock:
            self._dropped += len(self._calls)
            self._calls.clear()

    def __len__(self) -> int:
        with self._lock:
            return self._dropped + len(self._calls)

    def __iter__(self) -> Iterator[Any]:
        with self._lock:
            return iter(list(self._calls))

    def __getitem__(self, index: int | slice) -> Any:
        with self._lock:
            total = self._dropped + len(self._calls)
            if isinstance(index, slice):
                positions = range(*index.indices(total))
            else:
                position = index + total if index < 0 else index
                if not 0 <= position < total:
                    raise IndexError("call index out of range")
                positions = range(position, position + 1)
            if positions and min(positions[0], positions[-1]) < self._dropped:
                raise IndexError(
                    f"calls before #{self._dropped} are no longer kept (the log keeps the last "
                    f"{self.keep}); read them sooner, or subscribe"
                )
            found = [self._calls[position - self._dropped] for position in positions]
        return found if isinstance(index, slice) else found[0]
