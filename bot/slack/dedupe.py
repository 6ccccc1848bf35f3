"""Remember what was already handled, so a retried or re-delivered request never answers twice.

Slack retries an HTTP event it thinks was not acknowledged (X-Slack-Retry-Num), Socket Mode
re-delivers envelopes after a reconnect, and one message can arrive as two events (app_mention
and message.channels). Keys are event ids and (channel, ts) pairs; each is kept for `ttl` seconds.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Hashable


class Dedupe:
    def __init__(self, ttl: float = 3600.0, max_size: int = 100_000, clock=time.monotonic):
        self.ttl = ttl
        self.max_size = max_size
        self._clock = clock
        self._seen: OrderedDict[Hashable, float] = OrderedDict()
        self._lock = threading.Lock()

    def _purge(self, now: float) -> None:
        while self._seen:
            key, at = next(iter(self._seen.items()))
            if now - at < self.ttl and len(self._seen) <= self.max_size:
                break
            self._seen.popitem(last=False)

    def first(self, *keys: Hashable | None) -> bool:
        """True if none of `keys` was seen within the TTL; marks them all as seen (atomically).

        None keys are skipped; with no key at all the request is treated as new.
        """
        keys = tuple(k for k in keys if k is not None)
        now = self._clock()
        with self._lock:
            self._purge(now)
            if any(k in self._seen for k in keys):
                return False
            for k in keys:
                self._seen[k] = now
            return True

    def seen(self, key: Hashable) -> bool:
        now = self._clock()
        with self._lock:
            self._purge(now)
            return key in self._seen

    def add(self, key: Hashable) -> None:
        with self._lock:
            self._seen[key] = self._clock()
            self._seen.move_to_end(key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)
